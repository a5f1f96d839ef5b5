"""Watching a run live: ``logs --follow`` streams a job's output; ``status --watch`` shows what changed."""
from __future__ import annotations

import json

from tests.helpers.state import journal_rows

TICKER = "import sys, time\nfor i in range(8):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.5)\nsys.exit(int(sys.argv[1]))\n"


def ticker(label: str, code: int = 0, **keys) -> str:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    return f'[[task]]\nlabel = "{label}"\ncommand = ["python3", "-c", {json.dumps(TICKER)}, "{code}"]\n{extra}'


def test_follow_streams_every_line_once_and_exits_with_the_outcome(project):
    project.batch("b", ticker("good") + ticker("bad", 1))
    good = project.spawn("logs", "good", "-f")  # before the run: it waits for a run with the task
    runner = project.spawn("run", "b", "-q")
    bad = project.spawn("logs", "bad", "--follow")
    out, err = good.communicate(timeout=60)
    assert good.returncode == 0, err
    assert out == "".join(f"tick {i}\n" for i in range(8))
    out, err = bad.communicate(timeout=60)
    assert bad.returncode == 1 and out == "".join(f"tick {i}\n" for i in range(8)), err
    assert runner.wait(timeout=60) == 2
    again = project.run("logs", "bad", "-f")  # settled: the whole log, and the same exit code
    assert again.code == 1 and again.out.count("tick") == 8


def test_follow_waits_for_a_task_not_yet_submitted_and_follows_its_retry(project, tmp_path):
    gate = tmp_path / "gate"
    flaky = (f"import os, sys\nprint('try', os.environ['AGYBATCH_JOB_ID'], flush=True)\n"
             f"sys.exit(0 if os.path.exists({str(gate)!r}) else (open({str(gate)!r}, 'w') and 1))\n")
    project.batch("b", '[[task]]\nlabel = "first"\ncommand = ["sleep", "1"]\n'
                       f'[[task]]\nlabel = "flaky"\ncommand = ["python3", "-c", {json.dumps(flaky)}]\n'
                       'needs = ["first"]\nretries = 1\nretry_backoff = "1s"\n')
    runner = project.spawn("run", "b", "-q")
    follower = project.spawn("logs", "flaky", "-f")
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    jobs = [row[0] for row in journal_rows(project.state, "SELECT job_id FROM events WHERE kind='submitted' "
                                                          "AND label='flaky' ORDER BY id")]
    assert len(jobs) == 2
    assert out == f"try {jobs[0]}\n--- attempt 2: job {jobs[1]} ---\ntry {jobs[1]}\n"
    assert runner.wait(timeout=60) == 0


def test_status_watch_prints_each_change_once_until_the_verdict(project):
    project.batch("b", ticker("slow") + '[[task]]\nlabel = "quick"\ncommand = ["true"]\n')
    runner = project.spawn("run", "b", "-q")
    project.run("logs", "quick", "-f")  # the run is under way
    watch = project.run("status", "--watch", timeout=60)
    assert watch.code == 0, watch
    lines = watch.out.splitlines()
    assert lines[0].startswith("run ") and lines[-1].endswith(": ok")
    slow = [line.split()[0] for line in lines if line.split()[1:2] == ["slow"]]
    assert slow == ["running", "succeeded"]  # each state once, in order
    assert [line.split()[0] for line in lines if line.split()[1:2] == ["quick"]] == ["succeeded"]
    assert runner.wait(timeout=60) == 0
