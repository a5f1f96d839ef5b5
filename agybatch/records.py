"""The runner's record of one task, and how it maps to journal rows and results."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from .model import JobState, Outcome, Task, TaskResult
from .states import where

#: Natural outcome of a final job state.
OUTCOME_OF = {
    JobState.SUCCEEDED: Outcome.SUCCEEDED,
    JobState.FAILED: Outcome.FAILED,
    JobState.CANCELLED: Outcome.CANCELLED,
    JobState.TIMED_OUT: Outcome.TIMED_OUT,
    JobState.LOST: Outcome.LOST,
}


@dataclass
class TaskRecord:
    """Where one task stands: ``phase`` is pending, intent, submitted, checking or final.

    A task waiting for a retry is ``pending`` again with ``attempts`` > 0,
    ``last_outcome`` set and ``not_before`` the earliest time to resubmit; a
    rate-limited task waits the same way, counted in ``parks`` instead of its
    retries. ``checking``: the job succeeded and the task's ``check`` runs
    (``check_run`` says which process, and where its output goes).

    ``stop_outcome`` is the outcome the runner decided when it stopped the job
    itself (deadline, stall, cancel, silence); a job that still succeeds keeps
    success.

    ``session_id``, ``response_excerpt`` and ``result_reason`` are what the
    last attempt's result format found (see :mod:`agybatch.judge`).
    """

    seq: int
    task: Task
    phase: str = "pending"
    submit_key: Optional[str] = None
    job_id: Optional[str] = None
    attempts: int = 0
    state: Optional[JobState] = None
    exit_code: Optional[int] = None
    submitted_at: Optional[float] = None
    started_at: Optional[float] = None
    ended_at: Optional[float] = None
    outcome: Optional[Outcome] = None
    reason: Optional[str] = None
    log_path: Optional[str] = None
    not_before: Optional[float] = None
    last_outcome: Optional[Outcome] = None
    stop_outcome: Optional[Outcome] = None
    stop_reason: Optional[str] = None
    duration_label: Optional[str] = None
    parks: int = 0
    session_id: Optional[str] = None
    response_excerpt: Optional[str] = None
    result_reason: Optional[str] = None
    check_run: Optional[dict] = None

    @property
    def retried(self) -> int:
        """Attempts beyond the first that were retries (resubmissions after a rate limit do not count)."""
        return max(0, self.attempts - 1 - self.parks)

    @property
    def label(self) -> str:
        return self.task.label

    @property
    def active(self) -> bool:
        return self.phase == "submitted"

    def outcome_for(self, state: JobState) -> Outcome:
        if self.stop_outcome is not None and state is not JobState.SUCCEEDED:
            return self.stop_outcome
        return OUTCOME_OF[state]

    def next_key(self, run_id: str, spent_on_recovery: bool) -> str:
        """The submission key of the attempt about to start: ``<run>.<seq>.<attempt>``, plus
        ``.r<n>`` when ``spent_on_recovery`` and a crash left that key unsubmitted."""
        key = f"{run_id}.{self.seq}.{self.attempts}"
        previous = self.submit_key or ""
        if not spent_on_recovery:
            return key
        if previous == key:
            return f"{key}.r2"
        if previous.startswith(f"{key}.r"):
            return f"{key}.r{int(previous.rsplit('.r', 1)[1]) + 1}"
        return key

    def row(self) -> dict:
        """The journal columns this record owns."""
        return {
            "phase": self.phase, "submit_key": self.submit_key, "job_id": self.job_id,
            "attempts": self.attempts, "state": self.state.value if self.state else None,
            "exit_code": self.exit_code, "submitted_at": self.submitted_at,
            "started_at": self.started_at, "ended_at": self.ended_at,
            "outcome": self.outcome.value if self.outcome else None, "reason": self.reason,
            "log_path": self.log_path, "not_before": self.not_before,
            "last_outcome": self.last_outcome.value if self.last_outcome else None,
            "parks": self.parks, "session_id": self.session_id, "response_excerpt": self.response_excerpt,
            "result_reason": self.result_reason,
            "check_run": json.dumps(self.check_run) if self.check_run else None,
            "stop_outcome": self.stop_outcome.value if self.stop_outcome else None, "stop_reason": self.stop_reason,
        }

    @classmethod
    def from_row(cls, row) -> "TaskRecord":
        return cls(
            seq=row["seq"], task=Task.from_dict(json.loads(row["spec"])), phase=row["phase"],
            submit_key=row["submit_key"], job_id=row["job_id"], attempts=row["attempts"],
            state=JobState(row["state"]) if row["state"] else None, exit_code=row["exit_code"],
            submitted_at=row["submitted_at"], started_at=row["started_at"], ended_at=row["ended_at"],
            outcome=Outcome(row["outcome"]) if row["outcome"] else None, reason=row["reason"],
            log_path=row["log_path"], not_before=row["not_before"],
            last_outcome=Outcome(row["last_outcome"]) if row["last_outcome"] else None,
            duration_label=_column(row, "duration_label"), parks=_column(row, "parks") or 0,
            session_id=_column(row, "session_id"), response_excerpt=_column(row, "response_excerpt"),
            result_reason=_column(row, "result_reason"),
            check_run=json.loads(_column(row, "check_run") or "null"),
            stop_outcome=Outcome(_column(row, "stop_outcome")) if _column(row, "stop_outcome") else None,
            stop_reason=_column(row, "stop_reason"),
        )

    @property
    def where(self) -> str:
        """Where an unsettled task stands, in one word: its job's state, ``checking``, ``parked`` (for a
        rate limit), ``retrying`` (waiting for its next attempt) or its phase."""
        return where(self.phase, self.state.value if self.state else None,
                     self.last_outcome.value if self.last_outcome else None)

    def result(self) -> TaskResult:
        return TaskResult(
            label=self.label, outcome=self.outcome, job_id=self.job_id, attempts=self.attempts,
            exit_code=self.exit_code, submitted_at=self.submitted_at, started_at=self.started_at,
            ended_at=self.ended_at, reason=self.reason, log_path=self.log_path,
            state=self.where, duration_label=self.duration_label, session_id=self.session_id,
            response_excerpt=self.response_excerpt, result_reason=self.result_reason,
            check_log=(self.check_run or {}).get("log"),
        )


def _column(row, name: str):
    """``row[name]``, or None for a journal read read-only before an upgrade added the column."""
    return row[name] if name in row.keys() else None
