"""The local backend's state table (agybatch/backends/_jobstate.py), row by row: first the table itself,
then the rows that need a real backend to reach (the others are met in test_local_backend.py and
test_local_supervisor_faults.py: ended jobs everywhere, a live supervisor in every join, a dead one in
the SIGKILL tests)."""
from __future__ import annotations

import os
import signal
import time

import pytest

from agybatch.backends import BackendContext, _jobstate
from agybatch.backends._jobstate import STARTUP_GRACE, Facts, Then, decide
from agybatch.backends.local import LocalBackend
from agybatch.model import JobState, Task

ENDED = {"state": "failed", "exit_code": 3, "started_at": 1.0, "ended_at": 2.0, "reason": None}
STARTED = {"pid": 10, "start_ticks": 20, "child": 11, "child_ticks": 21, "started_at": 1.0}
OLD = STARTUP_GRACE + 1

ROWS = [  # (row, facts, state, reason contains, then)
    (1, Facts(ended=ENDED, started=STARTED, voided="never started: x", log_age=0.0), JobState.FAILED, None,
     Then.NOTHING),
    (2, Facts(voided="never started: its supervisor exited first", log_age=0.0), JobState.LOST,
     "its supervisor exited first", Then.NOTHING),
    (3, Facts(started=STARTED, supervisor_alive=True, log_age=OLD), JobState.RUNNING, None, Then.NOTHING),
    (4, Facts(started=STARTED, supervisor_alive=False, log_age=0.0), JobState.LOST, "supervisor died",
     Then.STOP_GROUP),
    (5, Facts(log_age=0.0), JobState.RUNNING, None, Then.NOTHING),
    (6, Facts(log_age=OLD, in_flight=True), JobState.LOST, "claimed but never started", Then.NOTHING),
    (7, Facts(unclaimed_for=OLD, in_flight=True), JobState.RUNNING, None, Then.NOTHING),
    (7, Facts(unclaimed_for=1.0), JobState.RUNNING, None, Then.NOTHING),
    (8, Facts(unclaimed_for=OLD), JobState.RUNNING, None, Then.VOID),
]


@pytest.mark.parametrize("row, facts, state, reason, then", ROWS, ids=[f"row{r[0]}" for r in ROWS])
def test_each_row_of_the_table(row, facts, state, reason, then):
    status, next_step = decide("j", facts)
    assert (status.state, next_step) == (state, then)
    if reason:
        assert reason in status.reason
    if row == 1:
        assert (status.exit_code, status.started_at, status.ended_at) == (3, 1.0, 2.0)
    if row == 3:
        assert status.started_at == 1.0


@pytest.fixture
def backend(tmp_path):
    context = BackendContext(run_id="r", state_dir=tmp_path / "state", run_dir=tmp_path / "state" / "runs" / "r",
                             batch_folder=tmp_path)
    backend = LocalBackend(context)
    yield backend
    backend.close()


def test_row6_a_log_claimed_long_ago_with_no_start_is_lost(backend):
    backend.jobs_dir.mkdir(parents=True)
    log = backend.log_path("r.t.1")
    log.touch()
    assert backend.poll(["r.t.1"])["r.t.1"].state is JobState.RUNNING  # row 5: being started
    os.utime(log, (time.time() - OLD, time.time() - OLD))
    status = backend.poll(["r.t.1"])["r.t.1"]
    assert status.state is JobState.LOST and status.reason == "claimed but never started"


def test_rows_7_and_8_a_job_nobody_claims_is_voided_after_the_grace(backend, monkeypatch, wait):
    monkeypatch.setattr(_jobstate, "STARTUP_GRACE", 0.3)
    backend.jobs_dir.mkdir(parents=True)
    first = backend.poll(["r.t.1"])["r.t.1"]
    assert first.state is JobState.RUNNING, "row 7: a supervisor may still claim it"
    status = wait(lambda: (s := backend.poll(["r.t.1"])["r.t.1"]).state.final and s)
    assert status.state is JobState.LOST and status.reason == "never started: no supervisor claimed it"
    assert backend.log_path("r.t.1").exists(), "row 8 voided it: no supervisor can claim it any more"
    assert backend.poll(["r.t.1"])["r.t.1"] == status, "row 2 from then on"


def test_row8_a_job_whose_log_cannot_be_created_is_lost_and_says_why(backend, monkeypatch):
    monkeypatch.setattr(_jobstate, "STARTUP_GRACE", 0.0)  # no jobs folder: nobody can claim the job
    status = backend.poll(["r.t.1"])["r.t.1"]
    assert status.state is JobState.LOST
    assert status.reason == f"never started: cannot create {backend.log_path('r.t.1')}"


def test_row2_a_job_handed_to_a_supervisor_that_died_before_reading_it_is_voided(backend, tmp_path, wait):
    task = Task(label="t", command=["sh", "-c", "echo started > started.txt"], cwd=str(tmp_path))
    backend.submit(task, "r.t.0")  # starts the supervisor
    supervisor = backend._link.pid
    os.kill(supervisor, signal.SIGSTOP)
    backend.submit(task, "r.t.1")
    os.kill(supervisor, signal.SIGKILL)
    statuses: dict = {}
    wait(lambda: statuses.update(backend.wait(["r.t.0", "r.t.1"], 0.2)) or
         all(j in statuses and statuses[j].state.final for j in ("r.t.0", "r.t.1")))
    assert statuses["r.t.1"].state is JobState.LOST
    assert statuses["r.t.1"].reason == "never started: its supervisor exited first"
    assert backend.log_path("r.t.1").stat().st_size == 0, "voided: its log was claimed empty"
