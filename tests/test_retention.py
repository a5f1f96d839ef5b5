"""A year unattended: retention keeps the last runs' files and nothing else; prune by hand; bad settings."""
from __future__ import annotations

import json
import os
import signal

import pytest

from tests.helpers.state import journal_rows

BATCH = """
[[task]]
label = "works"
command = ["sh", "-c", "echo fine"]

[[task]]
label = "fails"
command = ["sh", "-c", "echo broken >&2; exit 3"]
"""


def run_ids(project) -> list:
    """The runs in the journal, oldest first."""
    return [r for (r,) in journal_rows(project.state, "SELECT run_id FROM runs ORDER BY started_at, rowid")]


def kept(project) -> set:
    """The runs whose files are still in the state folder (a run folder or a job log)."""
    found = {path.name for path in (project.state / "runs").iterdir()}
    found |= {path.name.split(".")[0] for path in (project.state / "jobs").iterdir()}
    return found


def test_retention_keeps_the_last_runs_files_the_journal_keeps_every_row(project):
    (project.root / "agybatch.toml").write_text("[state]\nkeep_runs = 5\n")
    project.batch("nightly", BATCH)
    for night in range(40):
        result = project.run("run", "nightly", "-q")
        assert result.code == 2, result
    runs = run_ids(project)
    assert len(runs) == 40
    assert kept(project) == set(runs[-5:])  # the run that just finished counts as one of the five
    assert journal_rows(project.state, "SELECT COUNT(*) FROM tasks") == [(80,)]
    assert len(journal_rows(project.state, "SELECT run_id FROM runs WHERE pruned_at IS NOT NULL")) == 35
    history = project.run("history", "nightly", "--json").json()
    assert len(history["runs"]) == 40 and {s["label"]: s["runs"] for s in history["labels"]} == {"works": 20, "fails": 20}
    rerun = project.run("run", "nightly", "--lf", "--json")
    assert [t["label"] for t in rerun.json()["tasks"]] == ["fails"]
    old = project.run("logs", "fails", "--run", runs[0])
    assert old.code == 4 and old.err.count("\n") == 1 and "removed by retention" in old.err, old
    recent = project.run("logs", "fails", "--run", runs[-1])
    assert recent.code == 0 and recent.out == "broken\n", recent


def test_keep_days_keeps_recent_runs_beyond_keep_runs(project):
    (project.root / "agybatch.toml").write_text("[state]\nkeep_runs = 1\nkeep_days = 1\n")
    project.batch("nightly", BATCH)
    for night in range(3):
        assert project.run("run", "nightly", "-q").code == 2
    assert kept(project) == set(run_ids(project))  # all three are less than a day old
    dry = project.run("prune", "--keep-days", "0", "--dry-run", "--json")
    assert dry.code == 0, dry
    assert [r["run_id"] for r in dry.json()["runs"]] == run_ids(project)[:2] and dry.json()["bytes_freed"] == 0
    assert kept(project) == set(run_ids(project))  # a dry run changes nothing
    done = project.run("prune", "--keep-days", "0", "--json")
    assert [r["run_id"] for r in done.json()["runs"]] == run_ids(project)[:2]
    assert done.json()["bytes_freed"] == sum(r["bytes"] for r in dry.json()["runs"]) > 0
    assert kept(project) == set(run_ids(project)[2:])
    again = project.run("prune", "--keep-days", "0")
    assert again.out == "freed 0 B from 0 runs\n", again


def test_an_unfinished_run_is_never_pruned(project, wait):
    project.batch("nightly", BATCH)
    project.batch("slow", '[[task]]\nlabel = "long"\ncommand = ["sleep", "30"]\n')
    runner = project.spawn("run", "slow", "-q")
    wait(lambda: journal_rows(project.state, "SELECT job_id FROM tasks WHERE job_id IS NOT NULL"))
    runner.send_signal(signal.SIGINT)  # interrupted: no verdict, join would pick it
    assert runner.wait(timeout=30) == 130
    for night in range(3):
        assert project.run("run", "nightly", "-q").code == 2
    slow = run_ids(project)[0]
    result = project.run("prune", "--keep-runs", "1", "--json")
    assert slow not in [r["run_id"] for r in result.json()["runs"]]
    assert slow in kept(project) and len(kept(project)) == 2
    project.run("cancel", slow)


def test_sigkill_during_prune_loses_nothing_kept_and_prune_again_finishes(project, wait):
    project.batch("nightly", BATCH)
    for night in range(12):
        assert project.run("run", "nightly", "-q").code == 2
    runs = run_ids(project)
    for run_id in runs:  # make each run heavy enough for a kill to land halfway through a prune
        extra = project.state / "runs" / run_id / "extra"
        extra.mkdir()
        for i in range(1500):
            (extra / str(i)).write_text("x")
    pruner = project.spawn("prune", "--keep-runs", "4")
    wait(lambda: journal_rows(project.state, "SELECT COUNT(*) FROM runs WHERE pruned_at IS NOT NULL") >= [(1,)],
         interval=0.002, what="the first run pruned")
    os.kill(pruner.pid, signal.SIGKILL)
    assert pruner.wait() == -signal.SIGKILL
    pruned = journal_rows(project.state, "SELECT COUNT(*) FROM runs WHERE pruned_at IS NOT NULL")[0][0]
    assert pruned < 8, "the kill landed before the prune ended"
    assert set(runs[-4:]) <= kept(project)  # nothing retention keeps was touched
    for run_id in runs[-4:]:
        assert len(list((project.state / "runs" / run_id / "extra").iterdir())) == 1500
    result = project.run("prune", "--keep-runs", "4", "--json")
    assert result.code == 0, result
    assert kept(project) == set(runs[-4:])
    assert journal_rows(project.state, "SELECT COUNT(*) FROM runs WHERE pruned_at IS NOT NULL") == [(8,)]


@pytest.mark.parametrize("where, text, key", [
    ("agybatch.toml", "[state]\nkeep_runs = -1\n", "keep_runs must be a whole number >= 1, got -1"),
    ("pyproject.toml", '[project]\nname = "x"\n[tool.agybatch.state]\nmax_log_size = "lots"\n',
     "max_log_size: bad size 'lots'"),
    ("batch.toml", '[batch]\nmax_log_size = "lots"\n', "max_log_size: bad size 'lots'"),
    ("batch.toml", "[state]\nkeep_runs = 3\n", "[state] is project-wide"),
])
def test_bad_retention_settings_exit_4_naming_file_and_key(project, where, text, key):
    folder = project.batch("b", '[[task]]\nlabel = "a"\ncommand = ["true"]\n')
    path = folder / "batch.toml" if where == "batch.toml" else project.root / where
    path.write_text(text + (path.read_text() if where == "batch.toml" else ""))
    for command in (("run", "b"), ("prune",)) if where != "batch.toml" else (("run", "b"),):
        result = project.run(*command)
        assert result.code == 4, result
        assert result.err.startswith(f"agybatch: error: {path}:") and result.err.count("\n") == 1, result
        assert key in result.err


def test_a_capped_log_keeps_its_head_and_tail_and_the_failed_log_tail_is_right(project):
    writer = ("import sys\nfor i in range(400000):\n    print(f'line {i:06d} ' + 'x' * 60)\n"
              "print('the end', file=sys.stderr)\nsys.exit(1)\n")
    project.batch("loud", '[batch]\nmax_log_size = "1MB"\n[[task]]\nlabel = "loud"\n'
                  f'command = ["python3", "-c", {json.dumps(writer)}]\n')
    result = project.run("run", "loud", "--json")
    assert result.code == 1, result
    task = result.json()["tasks"][0]
    log = project.state / "jobs" / f"{task['job_id']}.log"
    size = log.stat().st_size
    assert 500_000 < size <= 1_000_000  # the head (half the cap), the marker, the tail: never past the cap
    text = log.read_text()
    assert text.startswith("line 000000 ") and text.endswith("line 399999 " + "x" * 60 + "\nthe end\n")
    assert text.count("bytes of output dropped here (max_log_size)]") == 1
    tail = open(task["log_path"]).read().splitlines()
    assert len(tail) == 40 and tail[-1] == "the end" and tail[-2].startswith("line 399999 ")
    logs = project.run("logs", "loud", "--tail", "3")
    assert logs.out.splitlines()[-1] == "the end", logs


def test_join_of_an_older_run_keeps_that_runs_files(project, wait):
    (project.root / "agybatch.toml").write_text("[state]\nkeep_runs = 1\n")
    project.batch("slow", '[[task]]\nlabel = "s"\ncommand = ["sh", "-c", "sleep 1; echo late >&2; exit 3"]\n')
    project.batch("quick", BATCH)
    runner = project.spawn("run", "slow", "-q")
    wait(lambda: journal_rows(project.state, "SELECT job_id FROM tasks WHERE job_id IS NOT NULL"))
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    old = run_ids(project)[0]
    assert project.run("run", "slow", "-q").code == 1  # a newer run of the same batch
    result = project.run("join", old, "--json")
    assert result.code == 1, result
    assert open(result.json()["tasks"][0]["log_path"]).read() == "late\n"  # its failed-log tail is there
    assert project.run("logs", "s", "--run", old).out == "late\n"


def test_follow_of_a_pruned_run_says_the_logs_are_gone(project):
    (project.root / "agybatch.toml").write_text("[state]\nkeep_runs = 1\n")
    project.batch("nightly", BATCH)
    for night in range(2):
        assert project.run("run", "nightly", "-q").code == 2
    result = project.run("logs", "fails", "--run", run_ids(project)[0], "-f")
    assert result.code == 4 and "removed by retention" in result.err and result.err.count("\n") == 1, result


def test_the_report_of_a_pruned_run_shows_no_log_that_is_gone(project, tmp_path):
    (project.root / "agybatch.toml").write_text("[state]\nkeep_runs = 1\n")
    project.batch("nightly", BATCH)
    for night in range(2):
        assert project.run("run", "nightly", "-q").code == 2
    old, recent = run_ids(project)
    text = project.run("report", old)
    assert text.code == 0 and "removed by retention" in text.out, text
    assert "log:" not in text.out  # no path that leads nowhere
    data = project.run("report", old, "--json").json()
    assert [t["log_path"] for t in data["tasks"]] == [None, None]
    page = tmp_path / "old.html"
    assert project.run("report", old, "--html", page).code == 0
    assert "Retention removed this run" in page.read_text() and ".log" not in page.read_text()
    kept_log = project.run("report", recent, "--json").json()["tasks"][1]["log_path"]
    assert kept_log and os.path.exists(kept_log)  # the run retention kept still names its log
    assert "removed by retention" not in project.run("report", recent).out
