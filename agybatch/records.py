"""The runner's record of one task, and how it maps to journal rows and results."""
from __future__ import annotations

import json
from typing import Optional

import attrs

from .model import JobState, Outcome, Task, TaskResult

#: Natural outcome of a final job state.
OUTCOME_OF = {
    JobState.SUCCEEDED: Outcome.SUCCEEDED,
    JobState.FAILED: Outcome.FAILED,
    JobState.CANCELLED: Outcome.CANCELLED,
    JobState.TIMED_OUT: Outcome.TIMED_OUT,
    JobState.LOST: Outcome.LOST,
}


@attrs.define
class TaskRecord:
    """Where one task stands: ``phase`` is pending, intent, submitted or final.

    A task waiting for a retry is ``pending`` again with ``attempts`` > 0,
    ``last_outcome`` set and ``not_before`` the earliest time to resubmit.

    ``stop_outcome`` is the outcome the runner decided when it stopped the job
    itself (deadline, stall, cancel); a job that still succeeds keeps success.
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
            duration_label=_column(row, "duration_label"),
        )

    def result(self) -> TaskResult:
        return TaskResult(
            label=self.label, outcome=self.outcome, job_id=self.job_id, attempts=self.attempts,
            exit_code=self.exit_code, submitted_at=self.submitted_at, started_at=self.started_at,
            ended_at=self.ended_at, reason=self.reason, log_path=self.log_path,
            state=self.state.value if self.state else self.phase, duration_label=self.duration_label,
        )


def _column(row, name: str):
    """``row[name]``, or None for a journal read read-only before an upgrade added the column."""
    return row[name] if name in row.keys() else None
