"""The HTML report: written by ``run --html`` and by ``agybatch report``, self-contained and escaped."""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from urllib.parse import unquote

from tests.report_fixtures import HOSTILE, MIXED, OUTCOMES, Page


def test_run_writes_one_page_with_a_bar_per_task_and_every_label_escaped(project):
    project.batch("nightly", MIXED)
    result = project.run("run", "nightly", "--html", "out/report.html", "--json")
    assert result.code == 2, result
    data = result.json()
    assert {t["label"]: t["outcome"] for t in data["tasks"]} == OUTCOMES
    path = project.root / "out" / "report.html"
    assert f"report: out{os.sep}report.html" in result.err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    html = path.read_text()
    page = Page(html)

    # one row and one bar per task, coloured and named by outcome
    rows = page.find("g", "task")
    assert len(rows) == len(page.find("rect", "bar")) == 6
    assert [r["data-outcome"] for r in rows] == list(OUTCOMES.values())
    assert len(page.find("rect", "attempt")) == 1, "flaky's first attempt is drawn"
    assert "never submitted: needs" in page.text, "the skipped task says why it has no bar time"

    # header: verdict, counts and the total duration
    assert "partial" in page.find("span", "badge")[0]["class"]
    assert "3 of 6 succeeded; 1 failed, 1 timed out, 1 skipped" in page.text
    assert "exit 2" in page.text

    # the pace setter is the task that ended last
    last = max((t for t in data["tasks"] if t["ended_at"]), key=lambda t: t["ended_at"])
    paced = [r for r in rows if r.get("data-pace") == "yes"]
    assert len(paced) == 1 and f"{last['label']} (ended" in page.text

    # hostile text is text: no script element, no raw markup from labels or logs
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in html
    assert HOSTILE in page.text
    assert "<b>not bold</b>" in page.text and "<b>" not in html

    # self-contained: nothing to fetch, scripts forbidden by the page's own policy
    assert not page.find("script") and not page.find("link") and not page.find("img")
    assert not [a for _, a in page.elements if "src" in a]
    csp = [a for a in page.find("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]
    assert not re.search(r"https?://", html)


def test_failed_log_link_points_at_the_saved_tail(project):
    project.batch("nightly", MIXED)
    data = project.run("run", "nightly", "--html", "report.html", "--json").json()
    bad = next(t for t in data["tasks"] if t["label"] == HOSTILE)
    page = Page((project.root / "report.html").read_text())
    links = [a["href"] for a in page.find("a") if a.get("href", "").endswith(".log")]
    assert links, "a link to each failed log"
    targets = {Path(project.root, unquote(h)).resolve() if not h.startswith("file://")
               else Path(unquote(h[len("file://"):])) for h in links}
    assert Path(bad["log_path"]).resolve() in targets
    assert all(t.is_file() for t in targets)
    assert "it broke" in page.text, "the tail of the failed log is in the page"
    ok = next(t for t in data["tasks"] if t["label"] == "slow-ok")
    assert ok["log_path"], "the local backend keeps every job's log"
    assert os.path.basename(ok["log_path"]) not in page.text, "no link to the log of a task that succeeded"


def test_report_command_draws_the_same_page_later(project):
    project.batch("nightly", MIXED)
    run = project.run("run", "nightly", "--html", "at-join.html", "--junitxml", "at-join.xml", "--json")
    run_id = run.json()["run_id"]
    later = project.run("report", run_id, "--html", "later.html", "--junitxml", "later.xml")
    assert later.code == 0, later
    assert later.out.splitlines() == ["report: later.html", "report: later.xml"]

    def body(name):
        return re.sub(r"<footer>.*</footer>", "", (project.root / name).read_text())

    assert body("at-join.html") == body("later.html")
    assert (project.root / "at-join.xml").read_text() == (project.root / "later.xml").read_text()


def test_usual_durations_come_from_the_runs_before_the_reported_one(project):
    project.batch("b", '[[task]]\nlabel = "one"\ncommand = ["true"]\n')
    ids = [project.run("run", "b", "--json").json()["run_id"] for _ in range(3)]
    assert project.run("report", ids[0], "--html", "1.html").code == 0
    assert project.run("report", ids[2], "--html", "3.html").code == 0
    first = Page((project.root / "1.html").read_text())
    third = Page((project.root / "3.html").read_text())
    assert "median of" not in first.text
    assert "(median of 2)" in third.text


def test_report_paths_are_checked_before_anything_runs(project):
    project.batch("nightly", MIXED)
    (project.root / "adir").mkdir()
    result = project.run("run", "nightly", "--html", "adir")
    assert result.code == 4 and "--html adir: is a folder" in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert not project.state.exists(), "refused before the state folder was made"
    assert project.run("run", "nightly", "-p", "no:reports", "--html", "x.html").code == 4


def test_an_unwritable_report_is_a_warning_not_a_new_verdict(project):
    project.batch("b", '[[task]]\nlabel = "one"\ncommand = ["true"]\n')
    (project.root / "blocker").write_text("a file where a folder is needed\n")
    result = project.run("run", "b", "--html", "blocker/r.html", "--json")
    assert result.code == 0, result
    assert "reports: cannot write the html report blocker/r.html" in result.err
    assert any("reports:" in e for e in result.json()["plugin_errors"])


def test_a_run_still_in_progress_reports_as_unfinished(project, wait):
    project.batch("b", """
        [[task]]
        label = "quick"
        command = ["true"]
        [[task]]
        label = "long"
        command = ["sleep", "30"]
    """)
    proc = project.spawn("run", "b")
    try:
        journal = project.journal()
        run = wait(lambda: journal.latest_run())
        wait(lambda: any(t["outcome"] == "succeeded" for t in journal.tasks(run["run_id"])))
        result = project.run("report", "--json", "--html", "now.html", "--junitxml", "now.xml")
        assert result.code == 0, result
        data = result.json()
        assert data["unfinished"] is True and set(data["reports"]) == {"html", "junitxml"}
        page = Page((project.root / "now.html").read_text())
        assert "no verdict yet" in page.text and f"agybatch join {run['run_id']}" in page.text
        assert len(page.find("rect", "bar")) == 2
        assert 'type="unsettled"' in (project.root / "now.xml").read_text()
    finally:
        proc.kill()
        proc.communicate()
