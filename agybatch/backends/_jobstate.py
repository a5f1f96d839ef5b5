"""Which state a local job is in: the one place the local backend decides it.

The runner sees a job through a few facts (:class:`Facts`, gathered by
``LocalBackend._facts``); :func:`decide` turns them into a state with this
table. Rows are tried top to bottom; the first that matches wins.

=== ============== ============================================== ============================================
row ended event?   and                                            state
=== ============== ============================================== ============================================
1   yes                                                           the state it records
2   no             this runner voided it (claimed its log so      ``lost``: never started, and why
                   that it never starts)
3   no             a started event, and its supervisor runs       ``running``
4   no             a started event, and its supervisor is gone    ``lost``; its process group is killed
5   no             no started event; its log was claimed          ``running``: being started
                   less than 30 s ago
6   no             no started event; its log was claimed          ``lost``: claimed but never started
                   30 s ago or more
7   no             no log; handed to this runner's live           ``running``: waiting for its supervisor
                   supervisor, or first seen without a log by
                   this runner less than 30 s ago
8   no             no log, and none of the above                  void it, then decide again: row 2, or row
                                                                  5 if a supervisor claimed it first
=== ============== ============================================== ============================================

Why the rows hold:

- A supervisor appends a job's ``ended`` event before it exits, and the
  events are read again once a supervisor is seen gone, so row 4 means that
  nobody will ever record the job's end. Its command is killed so that a retry
  of the task never runs beside it.
- A job's log is created with ``O_EXCL`` by exactly one party: the supervisor
  that runs the job (its claim), or a runner that gives the job up (its void).
  So voiding (row 8) never races a start: it wins, or the job is running.
- A supervisor claims and starts a job within milliseconds of reading it;
  :data:`STARTUP_GRACE` (30 s) covers a loaded machine or a supervisor
  stopped for a while. A log with no started event is also what a recovering
  runner leaves when it spends a key (row 6, once the grace is over): the
  runner then follows the task's next key instead.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

from ..model import JobState, JobStatus

#: How long a job may go unclaimed, or claimed and not started, before it counts as lost.
STARTUP_GRACE = 30.0


class Then(enum.Enum):
    """What the backend must do after a decision."""

    NOTHING = "nothing"
    STOP_GROUP = "stop the job's process group"  #: row 4
    VOID = "void the job, then decide again"  #: row 8


@dataclass(frozen=True)
class Facts:
    """What the runner knows about one job.

    :ivar ended: its ``ended`` event, or None.
    :ivar started: its ``started`` event, or None.
    :ivar supervisor_alive: the supervisor named in ``started`` still runs (same PID and start time).
    :ivar voided: why this runner claimed the job's log so that it never starts, or None.
    :ivar log_age: seconds since its log was last changed, or None if it has no log.
    :ivar unclaimed_for: seconds since this runner first saw it without a log.
    :ivar in_flight: handed to this runner's live supervisor, and no end heard of yet.
    """

    ended: Optional[dict] = None
    started: Optional[dict] = None
    supervisor_alive: bool = False
    voided: Optional[str] = None
    log_age: Optional[float] = None
    unclaimed_for: float = 0.0
    in_flight: bool = False


def decide(job_id: str, facts: Facts) -> "tuple[JobStatus, Then]":
    """The job's status by the table above, and what to do next."""
    if facts.ended is not None:  # 1
        return ended_status(job_id, facts.ended), Then.NOTHING
    if facts.voided is not None:  # 2
        return JobStatus(job_id, JobState.LOST, reason=facts.voided), Then.NOTHING
    if facts.started is not None:
        if facts.supervisor_alive:  # 3
            return JobStatus(job_id, JobState.RUNNING, started_at=facts.started["started_at"]), Then.NOTHING
        return JobStatus(job_id, JobState.LOST,  # 4
                         reason="supervisor died without recording an exit status (its command was stopped)"
                         ), Then.STOP_GROUP
    if facts.log_age is not None:
        if facts.log_age < STARTUP_GRACE:  # 5
            return JobStatus(job_id, JobState.RUNNING), Then.NOTHING
        return JobStatus(job_id, JobState.LOST, reason="claimed but never started"), Then.NOTHING  # 6
    if facts.in_flight or facts.unclaimed_for < STARTUP_GRACE:  # 7
        return JobStatus(job_id, JobState.RUNNING), Then.NOTHING
    return JobStatus(job_id, JobState.RUNNING), Then.VOID  # 8


def ended_status(job_id: str, event: dict) -> JobStatus:
    """The status an ``ended`` event records."""
    return JobStatus(job_id, JobState(event["state"]), event["exit_code"],
                     event["started_at"], event["ended_at"], event.get("reason"))
