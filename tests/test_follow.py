"""Watching a run live: ``logs --follow`` streams a job's output; ``status --watch`` shows what changed."""
from __future__ import annotations

import json
import os
import signal
import subprocess

from tests.helpers.state import journal_rows
from tests.helpers.waiting import wait_for

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


def test_follow_of_a_capped_log_shows_the_head_the_drop_and_the_tail(project):
    loud = "import sys\nfor i in range(100000):\n    print(f'line {i:06d} ' + 'x' * 40)\nprint('{\"done\": true}')\n"
    project.batch("loud", f'[batch]\nmax_log_size = "64KiB"\n[[task]]\nlabel = "loud"\n'
                          f'command = ["python3", "-c", {json.dumps(loud)}]\n')
    assert project.run("run", "loud", "-q").code == 0
    result = project.run("logs", "loud", "-f")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == "line 000000 " + "x" * 40 and lines[-1] == '{"done": true}'
    drop = [i for i, line in enumerate(lines) if line.startswith("[agybatch: ")]
    assert len(drop) == 1 and lines[drop[0]].endswith(" bytes dropped by the log cap]")  # on a line of its own
    dropped = int(lines[drop[0]].split()[1])
    job_bytes = result.out.replace(lines[drop[0]] + "\n", "")
    if not lines[drop[0] - 1].endswith("x" * 40):  # the cut fell mid-line: follow ended that line for the marker
        job_bytes = job_bytes.replace(lines[drop[0] - 1] + "\n", lines[drop[0] - 1], 1)
    assert len(job_bytes.encode()) + dropped == 100000 * 53 + 15  # every byte the job wrote, shown or counted


def test_follow_shows_all_of_an_attempt_that_a_quick_retry_follows(project, tmp_path):
    gate = tmp_path / "second"
    lines = (f"import os, sys, time\nfirst = not os.path.exists({str(gate)!r})\nopen({str(gate)!r}, 'a').close()\n"
             "for i in range(10):\n    print('first' if first else 'second', i, flush=True)\n    time.sleep(0.05)\n"
             "sys.exit(1 if first else 0)\n")
    project.batch("b", f'[[task]]\nlabel = "t"\ncommand = ["python3", "-c", {json.dumps(lines)}]\n'
                       'retries = 1\nretry_backoff = "0s"\n')
    follower = project.spawn("logs", "t", "-f")
    assert project.run("run", "b", "-q").code == 0
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    shown = [line for line in out.splitlines() if not line.startswith("---")]
    assert shown == [f"first {i}" for i in range(10)] + [f"second {i}" for i in range(10)]


def test_follow_and_watch_say_the_runner_is_gone_and_end_when_a_join_settles_the_task(project, tmp_path):
    gate = tmp_path / "gate"
    job = (f"import os, time\nprint('waiting', flush=True)\nwhile not os.path.exists({str(gate)!r}):\n"
           "    time.sleep(0.05)\nprint('through', flush=True)\n")
    project.batch("b", f'[[task]]\nlabel = "t"\ncommand = ["python3", "-c", {json.dumps(job)}]\n')
    runner = project.spawn("run", "b", "-q")
    follow_err, watch_out = tmp_path / "follow.err", tmp_path / "watch.out"
    with open(follow_err, "w") as err:
        follower = subprocess.Popen(project.command("logs", "t", "-f"), cwd=project.root, env=project.env,
                                    stdout=subprocess.PIPE, stderr=err, text=True, stdin=subprocess.DEVNULL)
    assert follower.stdout.readline() == "waiting\n"  # the job runs and follow streams it
    assert project.run("status", "--json").json()["runner"] == {"pid": runner.pid, "alive": True}
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    with open(watch_out, "w") as out:
        watcher = subprocess.Popen(project.command("status", "--watch"), cwd=project.root, env=project.env,
                                   stdout=out, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    gone = f"(pid {runner.pid}) is gone"
    wait_for(lambda: gone in follow_err.read_text(), what="logs -f saying the runner is gone")
    wait_for(lambda: gone in watch_out.read_text(), what="status --watch saying the runner is gone")
    assert project.run("status", "--json").json()["runner"] == {"pid": runner.pid, "alive": False}
    assert gone in project.run("status").out
    gate.touch()
    assert project.run("join", "-q").code == 0
    out, _ = follower.communicate(timeout=60)
    assert follower.returncode == 0 and out == "through\n"
    assert follow_err.read_text().count(gone) == 1
    assert watcher.wait(timeout=60) == 0
    lines = watch_out.read_text().splitlines()
    assert sum(gone in line for line in lines) == 1 and lines[-1].endswith(": ok")
    assert project.run("status", "--json").json()["runner"] is None  # a run with its verdict
