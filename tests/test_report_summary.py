"""One place formats a run summary: the terminal, notifications, the digest and ``agybatch report`` agree."""
from __future__ import annotations

import json
import subprocess
import sys

from agybatch.model import Outcome, RunSummary, TaskResult
from agybatch.report import data
from agybatch.report import summary as render
from agybatch.sinks.notification import from_summary
from tests.report_fixtures import MIXED

BATCH = """
[[task]]
label = "chatty"
command = ["sh", "-c", "echo line; exit 2"]
[[task]]
label = "fine"
command = ["true"]
"""


def sample(interrupted=False) -> RunSummary:
    tasks = [
        TaskResult("ok", Outcome.SUCCEEDED, submitted_at=0.0, ended_at=5.0),
        TaskResult("audit:*links*", Outcome.FAILED, exit_code=3, reason="3 broken", submitted_at=0.0,
                   ended_at=12.0, log_path="/s/failed-audit.log", duration_label="audit:*links* (12s, failed)"),
        TaskResult("late", None if interrupted else Outcome.TIMED_OUT, submitted_at=1.0,
                   ended_at=None if interrupted else 9.0, reason=None if interrupted else "timed out after 8s",
                   state="running" if interrupted else None),
    ]
    return RunSummary("r1", "nightly", "local", 0.0, 12.5, tasks, interrupted=interrupted)


def test_terminal_lines_list_failures_then_the_status_line():
    assert render.terminal_lines(sample()) == [
        "  audit:*links* (12s, failed): exit 3, 3 broken",
        "      log: /s/failed-audit.log",
        "  late (8.0s, timed out): timed out after 8s",
        "== 1 succeeded, 1 failed, 1 timed out in 12s ==",
    ]
    assert render.terminal_lines(sample(), verbosity=-1) == ["== 1 succeeded, 1 failed, 1 timed out in 12s =="]
    assert render.terminal_lines(sample(), verbosity=-2) == []


def test_paint_gets_outcome_and_verdict_keys():
    seen = []

    def paint(text, key=None, bold=False):
        seen.append(key)
        return f"<{key}>{text}"

    line = render.status_line(sample(), paint)
    assert line == "<partial>== <succeeded>1 succeeded, <failed>1 failed, <timed_out>1 timed out in 12s<partial> =="
    render.terminal_lines(sample(), paint)
    assert "failed" in seen and "timed_out" in seen


def test_an_interrupted_run_counts_what_is_unsettled():
    s = sample(interrupted=True)
    assert render.headline(s) == "1 of 3 succeeded; 1 failed, 1 unsettled"
    lines = render.terminal_lines(s)
    assert lines[-2] == "== interrupted: 1 succeeded, 1 failed, 1 unsettled in 12s =="
    assert lines[-1] == "The jobs keep running. Re-attach with: agybatch join r1"
    assert "- late (?, running)" in render.text(s), "notifications list unsettled tasks too"


def test_notifications_are_rendered_by_the_summary_module():
    s = sample()
    n = from_summary(s)
    assert n.title == render.title(s) == "nightly: partial, 1 of 3 succeeded; 1 failed, 1 timed out"
    assert n.text == render.text(s) and n.markdown == render.markdown(s)
    assert "- `audit:*links* (12s, failed)`: exit 3, 3 broken\n  log: `/s/failed-audit.log`" in n.markdown


def test_report_prints_what_the_run_printed_at_its_end(project):
    project.batch("nightly", BATCH)
    run = project.run("run", "nightly")
    assert run.code == 2
    report = project.run("report")
    assert report.code == 0, report
    lines = report.out.splitlines()
    assert lines[0].startswith("run ") and "batch nightly · local · partial (exit 2)" in lines[0]
    assert lines[1:] == run.out.splitlines()[-len(lines[1:]):]
    assert lines[-1].startswith("== 1 succeeded, 1 failed in ")
    assert project.run("report", "-q").out.splitlines() == [lines[-1]]
    assert "\x1b[" in project.run("report", "--color", "yes").out


def test_the_digest_holds_the_markdown_the_journal_rebuilds(project):
    project.batch("nightly", """
        [notify]
        partial = ["digest"]
        [notify.sinks.digest]
        type = "digest"
        path = "digest.md"
    """ + MIXED)
    run = project.run("run", "nightly", "--json")
    assert run.code == 2, run
    rebuilt = data.from_journal(project.journal(), run.json()["run_id"])
    digest = (project.root / "digest.md").read_text()
    assert render.markdown(rebuilt.summary) in digest
    assert render.title(rebuilt.summary) in digest


def test_report_json_is_the_run_json(project):
    project.batch("nightly", MIXED)
    run = project.run("run", "nightly", "--json").json()
    report = project.run("report", "--json").json()
    assert report["unfinished"] is False and report["reports"] == {}
    for key in ("run_id", "batch", "verdict", "exit_code", "counts", "duration_s", "tasks"):
        assert report[key] == run[key], key


def test_report_errors_are_one_line_with_exit_4(project):
    none = project.run("report")
    assert none.code == 4 and none.err.count("\n") == 1 and "no runs yet" in none.err
    project.batch("b", '[[task]]\nlabel = "one"\ncommand = ["true"]\n')
    assert project.run("run", "b").code == 0
    missing = project.run("report", "nope")
    assert missing.code == 4 and "no run 'nope'" in missing.err
    (project.root / "adir").mkdir()
    folder = project.run("report", "--html", "adir")
    assert folder.code == 4 and folder.err.startswith("agybatch: error: --html adir: cannot write")
    assert "Traceback" not in folder.err


LOADED = """
import json, sys
from agybatch.cli.main import main
main(sys.argv[1:])
print("MODULES=" + json.dumps(sorted(m for m in sys.modules if m.startswith("agybatch"))), file=sys.stderr)
"""


def _imported(project, args) -> set:
    """The agybatch modules loaded by ``agybatch ARGS`` (importtime misses importlib.import_module)."""
    proc = subprocess.run([sys.executable, "-c", LOADED, *args], cwd=project.root, env=project.env,
                          capture_output=True, text=True, timeout=120)
    line = next(line for line in proc.stderr.splitlines() if line.startswith("MODULES="))
    return set(json.loads(line[len("MODULES="):]))


def test_reports_are_imported_only_when_asked_for(project):
    project.batch("b", '[[task]]\nlabel = "one"\ncommand = ["true"]\n')
    startup = _imported(project, ["plugins"])
    assert "agybatch.builtin.reports" in startup
    assert not {m for m in startup if m.startswith("agybatch.report")}
    plain = _imported(project, ["run", "b"])
    assert not {"agybatch.report.html", "agybatch.report.junit", "agybatch.report.data"} & plain
    asked = _imported(project, ["run", "b", "--html", "r.html"])
    assert {"agybatch.report.html", "agybatch.report.data"} <= asked
    assert "reports" in project.run("plugins").out
