"""SIGTERM and SIGINT at awkward moments: exit 130, jobs keep running, ``join`` finishes them;
``--cancel-on-interrupt`` cancels instead, and a second signal stops waiting for the cancel."""
from __future__ import annotations

import json
import signal

import pytest

from tests.helpers.jobs import DONE_JOB, ledger_batch, ledger_lines
from tests.helpers.state import journal_rows, phases
from agybatch.backends._supervisor import start_ticks



def done_batch(project, sleeps, batch=""):
    """Tasks that write their label to ``done.txt`` only when they finish."""
    done = project.root / "done.txt"
    tasks = "".join(
        f'[[task]]\nlabel = "t{i}"\ncommand = ["python3", "-c", {json.dumps(DONE_JOB)}, "{done}", "{s:g}", "t{i}"]\n'
        for i, s in enumerate(sleeps))
    project.batch("b", f"[batch]\n{batch}\n{tasks}")
    return done


def job_children(project) -> list:
    """PIDs of the commands the local backend has started (from the run's job records)."""
    return [started["child"] for started in project.job_records("started").values()]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    return start_ticks(pid) is not None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_fan_out_leaves_jobs_running_and_join_submits_the_rest_once(project, wait, sig):
    ledger = ledger_batch(project, "b", [0.8] * 5, batch='stagger = "250ms"')
    runner = project.spawn("run", "b", "--json")
    wait(lambda: phases(project.state).get("submitted", 0) >= 2)
    runner.send_signal(sig)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, err
    data = json.loads(out)
    assert data["verdict"] == "interrupted"
    started = [t["label"] for t in data["tasks"] if t["job_id"]]
    waiting = [t["label"] for t in data["tasks"] if not t["job_id"]]
    assert started and waiting, data["tasks"]
    assert all(t["outcome"] is None for t in data["tasks"] if not t["job_id"])
    # The interrupted runner is gone; the jobs it had started run to their end on their own.
    wait(lambda: all(t["job_id"] in project.job_ends() for t in data["tasks"] if t["job_id"]), timeout=30)
    assert sorted(ledger_lines(ledger)) == sorted(started), "no task was submitted after the signal"
    result = project.run("join", "--json")
    assert result.code == 0, result
    assert all(t["outcome"] == "succeeded" and t["attempts"] == 1 for t in result.json()["tasks"])
    assert sorted(ledger_lines(ledger)) == [f"t{i}" for i in range(5)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_join_then_join_again(project, wait, sig):
    done = done_batch(project, [1.0, 1.5])
    runner = project.spawn("run", "b", "-q")
    wait(lambda: phases(project.state).get("submitted", 0) == 2)
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=30) == 130
    joiner = project.spawn("join")
    wait(lambda: joiner.poll() is not None or journal_rows(
        project.state, "SELECT 1 FROM runs WHERE exit_code IS NULL"), timeout=30)
    joiner.send_signal(sig)
    out, err = joiner.communicate(timeout=30)
    assert joiner.returncode == 130, err
    assert "agybatch join" in out + err, "the interrupted join says how to resume"
    result = project.run("join", "--json")
    assert result.code == 0, result
    assert sorted(done.read_text().split()) == ["t0", "t1"]


def test_cancel_on_interrupt_stops_running_jobs_and_submits_no_more(project, wait):
    done = done_batch(project, [4.0, 4.0, 4.0], batch="max_parallel = 2")
    runner = project.spawn("run", "b", "--json", "--cancel-on-interrupt")
    wait(lambda: len(job_children(project)) == 2)
    children = job_children(project)
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, err
    tasks = {t["label"]: t for t in json.loads(out)["tasks"]}
    assert all(t["outcome"] == "cancelled" for t in tasks.values()), tasks
    assert sum(1 for t in tasks.values() if t["job_id"] is None) == 1, "the waiting task was never submitted"
    assert not any(alive(pid) for pid in children), "cancelled jobs are stopped, not left running"
    assert not done.exists()
    # Nothing is left to do: a join re-submits nothing and keeps the cancellations.
    result = project.run("join", "--json")
    assert result.code == 1, result
    assert [t["outcome"] for t in result.json()["tasks"]] == ["cancelled"] * 3
    assert len(list(project.state.glob("jobs/*.log"))) == 2


def test_second_sigint_stops_waiting_for_a_slow_cancel(project, wait):
    """A job that ignores SIGTERM holds the cancel for the grace period; a second SIGINT leaves at once."""
    project.batch("b", """
        [batch.local]
        grace = "2s"
        [[task]]
        label = "stubborn"
        command = ["sh", "-c", "trap '' TERM; sleep 30"]
    """)
    runner = project.spawn("run", "b", "--json", "--cancel-on-interrupt")
    wait(lambda: len(job_children(project)) == 1)
    child = job_children(project)[0]
    runner.send_signal(signal.SIGINT)
    wait(lambda: journal_rows(project.state, "SELECT 1 FROM events WHERE kind='stop'"))
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, err
    assert json.loads(out)["tasks"][0]["outcome"] is None, "not settled: the job had not ended yet"
    # The supervisor escalates to SIGKILL after the grace period, runner or not; join records it.
    wait(lambda: not alive(child), timeout=30)
    result = project.run("join", "--json")
    assert result.code == 1, result
    assert result.json()["tasks"][0]["outcome"] == "cancelled"
