"""SIGKILL the runner at seeded random points of fan-out, wait and join; ``agybatch join`` then
finishes the run with every task submitted exactly once, as the jobs' own ledger shows.

Each trial picks a phase and a point inside it from a seeded generator:

* ``fan-out``: after ``k`` of the tasks have a journalled intent or job ID, plus a few ms
  (a stagger keeps the fan-out long enough to land in);
* ``wait``: once every task is submitted, somewhere inside the jobs' run time;
* ``join``: once every task is final in the journal, while the runner calls the last
  ``on_state_change`` hooks, builds the summary, records the verdict and calls ``on_join``
  (a local plugin makes those hooks take a little time, so the kill lands among them).

Some trials also kill the ``agybatch join`` that resumes the run, before the last one finishes.
After each kill the journal passes SQLite's integrity check and the run has all its tasks;
after the ``join`` the run's ``on_join`` hooks have run (``joined_at``), even when the kill came
between the verdict and them.
"""
from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

from tests.helpers.jobs import ledger_batch, ledger_lines
from tests.helpers.state import integrity, journal_rows, phases

SEED = 20261126
TRIALS = 21
N_TASKS = 5


SLOW_HOOKS = """
import time
from agybatch import hookimpl

@hookimpl
def on_state_change(outcome):
    if outcome is not None:
        time.sleep(0.02)

@hookimpl
def on_join():
    time.sleep(0.5)
"""


def trial_plan(seed: int, count: int) -> list:
    rng = random.Random(seed)
    plan = []
    for i in range(count):
        phase = ("fan-out", "wait", "join")[i % 3]
        sleeps = [round(rng.uniform(0.05, 0.4), 2) for _ in range(N_TASKS)]
        plan.append({
            "phase": phase,
            "after": rng.randint(0, N_TASKS - 1),  # fan-out: submissions seen before the kill
            # wait: before the longest job can end; join: inside the slowed hooks
            "delay": rng.uniform(0.0, {"fan-out": 0.03, "wait": 0.8 * max(sleeps), "join": 0.25}[phase]),
            "kill_join_too": rng.random() < 0.3,
            "sleeps": sleeps,
        })
    return plan


def lock_holder(state, batch: str):
    """The PID recorded in the batch's lock file (None before anyone took the lock)."""
    try:
        return json.loads((state / "locks" / f"{batch}.lock").read_text() or "{}").get("pid")
    except (OSError, ValueError):
        return None


def started(state) -> int:
    counts = phases(state)
    return sum(n for phase, n in counts.items() if phase != "pending")


def kill_when(proc, state, wait, plan) -> None:
    if plan["phase"] == "fan-out":
        wait(lambda: proc.poll() is not None or (phases(state) and started(state) >= plan["after"]), timeout=60)
    elif plan["phase"] == "wait":
        wait(lambda: proc.poll() is not None or phases(state).get("submitted", 0) + phases(state).get("final", 0)
             == N_TASKS, timeout=60, interval=0.005)
    else:
        wait(lambda: proc.poll() is not None or phases(state).get("final", 0) == N_TASKS, timeout=60,
             interval=0.002)
    time.sleep(plan["delay"])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("index,plan", list(enumerate(trial_plan(SEED, TRIALS))),
                         ids=lambda value: value["phase"] if isinstance(value, dict) else str(value))
def test_sigkill_then_join_submits_each_task_once(project, wait, index, plan):
    ledger = ledger_batch(project, "b", plan["sleeps"], batch='stagger = "60ms"')
    (project.root / "batches" / "b" / "batchconf.py").write_text(SLOW_HOOKS)
    runner = project.spawn("run", "b", "-q")
    kill_when(runner, project.state, wait, plan)
    assert runner.returncode == -signal.SIGKILL, f"the kill missed: runner ended with {runner.returncode}"
    assert integrity(project.state) == "ok"
    counts = phases(project.state)
    assert sum(counts.values()) == N_TASKS, f"run recorded partly: {counts}"
    if plan["kill_join_too"]:
        joiner = project.spawn("join", "-q")
        wait(lambda: lock_holder(project.state, "b") == joiner.pid or joiner.poll() is not None, timeout=60)
        time.sleep(min(plan["delay"], 0.2))  # the seeded kill point, inside the join's slowed on_join
        os.kill(joiner.pid, signal.SIGKILL)
        assert joiner.wait() == -signal.SIGKILL, "the kill missed: the join had already ended"
        assert integrity(project.state) == "ok"
    run = journal_rows(project.state, "SELECT exit_code, joined_at FROM runs")
    assert len(run) == 1
    exit_code, joined_at = run[0]
    if exit_code is None or exit_code == 130 or joined_at is None:  # unfinished, or nobody told yet
        result = project.run("join", "--json")
        assert result.code == 0, result
    assert journal_rows(project.state, "SELECT joined_at FROM runs")[0][0] is not None, "on_join ran"
    result = project.run("status", "--json")
    data = result.json()
    assert data["exit_code"] == 0 and data["verdict"] == "ok", data
    assert all(t["outcome"] == "succeeded" for t in data["tasks"]), data["tasks"]
    assert sorted(ledger_lines(ledger)) == [f"t{i}" for i in range(N_TASKS)], "a task ran twice or never"
    assert all(t["attempts"] == 1 for t in data["tasks"])
