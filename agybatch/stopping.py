"""Stopping jobs: timeouts, stalls, silence, the deadline, ``agybatch cancel`` and the budget (part of the runner).

:class:`Stopping` is a part of :class:`agybatch.runner.Runner` (a mixin: it
uses the runner's journal, records and backend). A job the runner stops gets
the outcome the runner decided (``rec.stop_outcome``) unless it still
succeeds, and the reason it gave; a stopped job that reports no final state
within the backend's grace plus :data:`STOP_GRACE` gets that outcome anyway.
"""
from __future__ import annotations

import sys
import time

from .model import JobState, Outcome
from .records import TaskRecord
from .units import format_duration

#: Seconds a stopped job has, beyond the backend's grace, to report a final state before the runner gives up.
STOP_GRACE = 10.0
CANCEL_CHECK_EVERY = 1.0


class Stopping:
    """Limits and stops, for the :class:`~agybatch.runner.Runner`."""

    def _arm_task_timeout(self, rec: TaskRecord) -> None:
        timeout = rec.task.timeout
        if timeout and rec.state is JobState.RUNNING and not self.backend.enforces_timeout:
            self._timers.add((rec.started_at or rec.submitted_at) + timeout, rec, "timeout")

    def _check_limits(self, now: float) -> None:
        if now >= self._next_cancel_check:
            self._check_cancel_request()
        if self.budget.reached:
            self._stop_for_budget()
        if self.deadline_at and now >= self.deadline_at and self._stopping_since is None:
            self._stop_all(Outcome.TIMED_OUT, "overall deadline reached", Outcome.SKIPPED)
        if self._stopping_since is not None and now >= self._stopping_since + STOP_GRACE + self.backend.grace:
            for rec in list(self._active.values()):
                self._finish(rec, rec.stop_outcome, None, reason=f"{rec.stop_reason}; no final state reported")
        if now >= self._idle.next_time():
            self._check_silence(now)
        for kind, rec in self._timers.due(now):
            if not rec.active:
                continue
            if kind == "give_up" and rec.stop_outcome is not None:
                self._finish(rec, rec.stop_outcome, None, reason=f"{rec.stop_reason}; no final state reported")
            elif rec.stop_outcome is not None:
                continue
            elif kind == "timeout" and rec.state is JobState.RUNNING:
                self._stop([rec], Outcome.TIMED_OUT, f"task timeout reached ({rec.task.timeout:g}s)")
            elif kind == "queued" and rec.state in (None, JobState.QUEUED):
                self._stalled(rec)

    def _stalled(self, rec: TaskRecord) -> None:
        if self.batch.on_stalled == "leave":
            self._finish(rec, Outcome.STALLED, None,
                         reason=f"still queued after {self.batch.queued_timeout:g}s (left running)")
        else:
            self._stop([rec], Outcome.STALLED, f"still queued after {self.batch.queued_timeout:g}s")

    def _check_silence(self, now: float) -> None:
        watched = [j for j in self._idle.watched() if j in self._active]
        try:
            marks = self.backend.output_marks(watched) if watched else {}
        except Exception as exc:  # a failed look is no evidence of silence
            marks = {}
            if self.session.config.option.verbose > 0:
                print(f"agybatch: cannot read job output for idle_timeout: {exc}", file=sys.stderr)
        for job_id, idle in self._idle.silent(marks, now):
            rec = self._active.get(job_id)
            if rec is not None and rec.stop_outcome is None:
                self._idle.forget(job_id)
                self._stop([rec], Outcome.TIMED_OUT, f"no output for {format_duration(idle)}")

    def _check_cancel_request(self) -> bool:
        self._next_cancel_check = time.time() + CANCEL_CHECK_EVERY
        if self._stopping_since is None and self.journal.cancel_requested(self.session.run_id):
            self._stop_all(Outcome.CANCELLED, "cancelled with agybatch cancel", Outcome.CANCELLED)
            return True
        return False

    def _drain_queue(self, reason: str, pending_outcome: Outcome) -> None:
        for rec in self._queue.drain():
            if rec.last_outcome is not None:
                self._finish(rec, rec.last_outcome, None, reason=f"{reason} before the next attempt")
            else:
                self._finish(rec, pending_outcome, None, reason=f"{reason} before submission")

    def _stop_for_budget(self) -> None:
        """The budget is spent: submit nothing more; cancel running jobs if ``on_budget = "cancel"``.

        Called whenever the budget is found reached (after any attempt, and again by a ``join``):
        it does only what is not done yet.
        """
        reason = f"budget reached ({self.budget.describe()})"
        waiting = self._queue.drain()
        if self.stopped_by is None or waiting:
            with self.journal.transaction():
                if self.stopped_by is None:
                    self.stopped_by = "budget"
                    self.journal.mark_stopped_by(self.session.run_id, self.stopped_by)
                for rec in waiting:
                    self._finish(rec, rec.last_outcome or Outcome.SKIPPED, None, reason=reason)
        if self.batch.on_budget == "cancel":
            self._stop([r for r in self._active.values() if r.stop_outcome is None], Outcome.CANCELLED, reason)

    def _stop_all(self, running_outcome: Outcome, reason: str, pending_outcome: Outcome) -> None:
        self._drain_queue(reason, pending_outcome)
        for label, check in list(self._checks.items()):
            check.stop()
            rec = next(r for r in self.records if r.label == label)
            self._finish(rec, running_outcome, None, reason=f"{reason} during its check")
        active = list(self._active.values())
        queued = [r for r in active if r.state is JobState.QUEUED]
        self._stop([r for r in active if r.state is not JobState.QUEUED], running_outcome, reason)
        stalled = Outcome.STALLED if running_outcome is Outcome.TIMED_OUT else running_outcome
        self._stop(queued, stalled, reason)
        self._stopping_since = time.time()

    def _stop(self, records: list, outcome: Outcome, reason: str) -> None:
        if not records:
            return
        give_up_at = time.time() + STOP_GRACE + self.backend.grace
        with self.journal.transaction():
            for rec in records:
                rec.stop_outcome, rec.stop_reason = outcome, reason
                self._journal(rec, ("stop", rec.job_id, outcome.value, reason))
                self._timers.add(give_up_at, rec, "give_up")
        try:
            self.backend.cancel([r.job_id for r in records])
        except Exception as exc:
            self.errors.append(f"cancel failed: {type(exc).__name__}: {exc}")
