"""The enums every command knows: exit codes, job states and task outcomes.

They live apart from :mod:`agybatch.model` (which builds dataclasses) so that
commands that only read the journal start fast; ``agybatch.model`` exports
them too.
"""
from __future__ import annotations

import enum

#: ``result`` values that are not result formats: judge by the exit code; pick the format from the command.
EXIT_CODE, AUTO = "exit-code", "auto"


class ExitCode(enum.IntEnum):
    """Exit codes of every ``agybatch`` command."""

    OK = 0  #: every task succeeded
    WIPEOUT = 1  #: no task succeeded
    PARTIAL = 2  #: some succeeded, some did not
    INTERNAL_ERROR = 3  #: agybatch itself, its state folder or a plugin failed
    USAGE_ERROR = 4  #: bad flags, batch file, plugin or backend
    NO_TASKS = 5  #: nothing selected to run
    LOCK_HELD = 6  #: another run of this batch holds the lock
    INTERRUPTED = 130  #: SIGINT/SIGTERM; jobs keep running, ``agybatch join`` re-attaches


class JobState(str, enum.Enum):
    """What a backend says about one job."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    LOST = "lost"

    @property
    def final(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


class Outcome(str, enum.Enum):
    """How one task ended; every task of a joined run has exactly one."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    STALLED = "stalled"
    RATE_LIMITED = "rate_limited"
    LOST = "lost"
    SKIPPED = "skipped"
    ERROR = "error"

    @property
    def text(self) -> str:
        return self.value.replace("_", " ")


OUTCOME_ORDER = tuple(Outcome)


def where(phase: str, state, last_outcome) -> str:
    """Where an unsettled task stands, in one word: its job's ``state``, ``checking``, ``parked`` (waiting
    out a rate limit), ``retrying`` (waiting for its next attempt), or its ``phase``
    (:attr:`agybatch.records.TaskRecord.where`; ``agybatch status`` asks it of journal rows)."""
    if phase == "pending" and last_outcome:
        return "parked" if last_outcome == Outcome.RATE_LIMITED.value else "retrying"
    if phase == "checking" or not state:
        return phase
    return state
