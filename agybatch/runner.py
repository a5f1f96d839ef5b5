"""Fan-out, wait, join: the one loop that drives a run.

The runner journals every intent, job ID and state change, then tells the
hooks. It submits ready tasks (``stagger``, ``max_parallel``), waits on
backend events or polls with capped exponential backoff (one bulk call a
round, never for settled jobs), enforces the deadline, ``queued_timeout`` and
per-task timeouts, and ends with a :class:`~agybatch.model.RunSummary`.
"""
from __future__ import annotations

import signal
import sys
import time

from .errors import PollError, SubmitError
from .manager import call_hook
from .model import JobState, JobStatus, Outcome, RunSummary
from .records import TaskRecord

#: Consecutive failed polls after which the unsettled jobs are reported lost.
MAX_POLL_FAILURES = 20
#: Seconds to wait for cancelled jobs to report a final state before giving up on them.
CANCEL_SETTLE = 10.0
CANCEL_CHECK_EVERY = 1.0


class _Interrupt(Exception):
    pass


class Runner:
    """Drives one session (a new run or a join) to its summary."""

    def __init__(self, session, backend, records: list, started_at: float, cancel_on_interrupt=False):
        self.session = session
        self.batch = session.batch
        self.journal = session.journal
        self.pm = session.config.pluginmanager
        self.backend = backend
        self.records = records
        self.by_job = {r.job_id: r for r in records if r.job_id}
        self.started_at = started_at
        self.cancel_on_interrupt = cancel_on_interrupt
        self.errors: list[str] = []
        self.poll_failures = 0
        self._consecutive_failures = 0
        self._policy = self.batch.poll_policy(backend.poll_defaults).intervals()
        self._next_poll = 0.0
        self._next_submit = 0.0
        self._next_cancel_check = 0.0
        self._next_tick = 0.0
        self._settle_by = None
        self._interrupted = 0
        self._blocking = False
        deadline = self.batch.deadline
        self.deadline_at = started_at + deadline if deadline else None

    # -- the loop -------------------------------------------------------------

    def run(self) -> RunSummary:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._recover()
            while not self._done():
                now = time.time()
                if self._interrupted and not self._cancelling_for_interrupt():
                    break
                self._check_limits(now)
                self._submit_ready(now)
                if self._done():
                    break
                self._watch(now)
                self._tick()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self._summary()

    def _done(self) -> bool:
        return all(r.phase == "final" for r in self.records)

    def _on_signal(self, signum, frame) -> None:
        self._interrupted += 1
        if self._blocking:
            self._blocking = False
            raise _Interrupt()

    def _cancelling_for_interrupt(self) -> bool:
        if not self.cancel_on_interrupt or self._interrupted > 1:
            return False
        if self._settle_by is None:
            self._stop_all(Outcome.CANCELLED, "cancelled on interrupt", Outcome.CANCELLED)
        return True

    def _tick(self) -> None:
        now = time.time()
        if now >= self._next_tick:
            self._next_tick = now + 1.0
            call_hook(self.pm, "on_tick", self.errors, session=self.session, records=self.records)

    # -- recovery after a crash ------------------------------------------------

    def _recover(self) -> None:
        for rec in self.records:
            if rec.phase != "intent":
                continue
            try:
                job_id = self.backend.recover(rec.submit_key)
            except NotImplementedError:
                self._finish(rec, Outcome.LOST, None, reason=(
                    f"the runner stopped mid-submission and the {self.batch.backend} backend "
                    "cannot tell whether the job was submitted"))
                continue
            if job_id is None:
                rec.phase, rec.attempts = "pending", max(0, rec.attempts - 1)
                self._journal(rec, ("recovered", None, None, "not submitted"))
            else:
                rec.phase, rec.job_id = "submitted", job_id
                rec.submitted_at = rec.submitted_at or time.time()
                self.by_job[job_id] = rec
                self._journal(rec, ("recovered", job_id, None, "submitted before the crash"))

    # -- fan-out ---------------------------------------------------------------

    def _submit_ready(self, now: float) -> None:
        cap = self.batch.max_parallel
        for rec in self.records:
            if rec.phase != "pending":
                continue
            if self._interrupted or self._settle_by is not None or time.time() < self._next_submit:
                return
            if cap and sum(1 for r in self.records if r.active) >= cap:
                return
            if self._check_cancel_request():
                return
            self._submit(rec)
            self._next_submit = time.time() + self.batch.stagger
            self._next_poll = min(self._next_poll, time.time() + self.batch.poll_policy(
                self.backend.poll_defaults).initial)

    def _submit(self, rec: TaskRecord) -> None:
        rec.attempts += 1
        rec.phase = "intent"
        rec.submit_key = f"{self.session.run_id}.{rec.seq}.{rec.attempts}"
        self._journal(rec, ("intent", None, None, rec.submit_key))
        try:
            job = self.backend.submit(rec.task, rec.submit_key)
        except SubmitError as exc:
            self._finish(rec, Outcome.ERROR, None, reason=f"submission failed: {exc}")
            return
        except Exception as exc:
            self._finish(rec, Outcome.ERROR, None, reason=f"submission failed: {type(exc).__name__}: {exc}")
            return
        rec.phase, rec.job_id, rec.state = "submitted", job.job_id, job.state
        rec.submitted_at, rec.started_at = time.time(), job.started_at
        self.by_job[job.job_id] = rec
        self._journal(rec, ("submitted", job.job_id, job.state.value, None))
        call_hook(self.pm, "on_submit", self.errors, session=self.session, task=rec.task, job=job)
        if job.state.final:
            self._apply({job.job_id: job})

    # -- wait --------------------------------------------------------------------

    def _wake_at(self, now: float) -> float:
        wake = [now + CANCEL_CHECK_EVERY, self._next_tick]
        if any(r.phase == "pending" for r in self.records) and not self._settle_by:
            wake.append(self._next_submit)
        if self.deadline_at and not self._settle_by:
            wake.append(self.deadline_at)
        if self._settle_by:
            wake.append(self._settle_by)
        qt = self.batch.queued_timeout
        for rec in self.records:
            if not rec.active:
                continue
            if qt and rec.state is JobState.QUEUED and rec.stop_outcome is None:
                wake.append(rec.submitted_at + qt)
            limit = self._task_limit(rec)
            if limit and rec.stop_outcome is None:
                wake.append(limit)
        return min(wake)

    def _watch(self, now: float) -> None:
        active = [r.job_id for r in self.records if r.active]
        wake = self._wake_at(now)
        changes = {}
        self._blocking = True
        try:
            if self.backend.supports_events and active:
                changes = self.backend.wait(active, max(0.0, wake - time.time()))
            else:
                if active:
                    wake = min(wake, self._next_poll)
                delay = wake - time.time()
                if delay > 0:
                    time.sleep(delay)
                self._blocking = False
                if active and time.time() >= self._next_poll:
                    changes = self._poll(active)
        except _Interrupt:
            return
        finally:
            self._blocking = False
        self._apply(changes)

    def _poll(self, active: list) -> dict:
        self._next_poll = time.time() + next(self._policy)
        try:
            changes = self.backend.poll(active)
        except PollError as exc:
            self.poll_failures += 1
            self._consecutive_failures += 1
            if self.session.config.option.verbose > 0:
                print(f"agybatch: poll failed ({self.poll_failures} so far): {exc}", file=sys.stderr)
            if self._consecutive_failures >= MAX_POLL_FAILURES:
                reason = f"{MAX_POLL_FAILURES} polls in a row failed (last: {exc})"
                return {j: JobStatus(j, JobState.LOST, reason=reason) for j in active}
            return {}
        self._consecutive_failures = 0
        return changes

    def _apply(self, changes: dict) -> None:
        told = []
        with self.journal.transaction():
            for job_id, job in changes.items():
                rec = self.by_job.get(job_id)
                if rec is None or rec.phase == "final":
                    continue
                if job.state is rec.state and not job.state.final:
                    continue
                previous = rec.state
                rec.state = job.state
                rec.exit_code = job.exit_code if job.exit_code is not None else rec.exit_code
                rec.started_at = job.started_at or rec.started_at or (
                    time.time() if job.state is JobState.RUNNING else None)
                if job.state.final:
                    self._finish(rec, rec.outcome_for(job.state), job, reason=rec.stop_reason or job.reason,
                                 ended_at=job.ended_at, notify=False)
                else:
                    self._journal(rec, ("state", job_id, job.state.value, job.reason))
                told.append((rec, job, previous))
        for rec, job, previous in told:
            call_hook(self.pm, "on_state_change", self.errors, session=self.session, task=rec.task,
                      job=job, previous=previous, outcome=rec.outcome)

    # -- limits -----------------------------------------------------------------

    def _task_limit(self, rec: TaskRecord):
        timeout = rec.task.timeout
        if not timeout or getattr(self.backend, "enforces_timeout", False) or rec.state is not JobState.RUNNING:
            return None
        return (rec.started_at or rec.submitted_at) + timeout

    def _check_limits(self, now: float) -> None:
        if now >= self._next_cancel_check:
            self._check_cancel_request()
        if self.deadline_at and now >= self.deadline_at and self._settle_by is None:
            self._stop_all(Outcome.TIMED_OUT, "overall deadline reached", Outcome.SKIPPED)
        if self._settle_by is not None and now >= self._settle_by:
            for rec in self.records:
                if rec.active:
                    self._finish(rec, rec.stop_outcome, None, reason=f"{rec.stop_reason}; no final state reported")
        stalled, timed_out = [], []
        qt = self.batch.queued_timeout
        for rec in self.records:
            if not rec.active or rec.stop_outcome is not None:
                continue
            if qt and rec.state is JobState.QUEUED and now >= rec.submitted_at + qt:
                stalled.append(rec)
            limit = self._task_limit(rec)
            if limit and now >= limit:
                timed_out.append(rec)
        for rec in stalled:
            reason = f"still queued after {self.batch.queued_timeout:g}s"
            if self.batch.on_stalled == "leave":
                self._finish(rec, Outcome.STALLED, None, reason=reason + " (left running)")
            else:
                self._stop([rec], Outcome.STALLED, reason)
        if timed_out:
            self._stop(timed_out, Outcome.TIMED_OUT, "task timeout reached")

    def _check_cancel_request(self) -> bool:
        self._next_cancel_check = time.time() + CANCEL_CHECK_EVERY
        if self._settle_by is None and self.journal.cancel_requested(self.session.run_id):
            self._stop_all(Outcome.CANCELLED, "cancelled with agybatch cancel", Outcome.CANCELLED)
            return True
        return False

    def _stop_all(self, running_outcome: Outcome, reason: str, pending_outcome: Outcome) -> None:
        for rec in self.records:
            if rec.phase == "pending":
                self._finish(rec, pending_outcome, None, reason=f"{reason} before submission")
        active = [r for r in self.records if r.active]
        queued = [r for r in active if r.state is JobState.QUEUED]
        self._stop([r for r in active if r not in queued], running_outcome, reason)
        stalled = Outcome.STALLED if running_outcome is Outcome.TIMED_OUT else running_outcome
        self._stop(queued, stalled, reason)
        self._settle_by = time.time() + CANCEL_SETTLE + getattr(self.backend, "grace", 0)

    def _stop(self, records: list, outcome: Outcome, reason: str) -> None:
        if not records:
            return
        for rec in records:
            rec.stop_outcome, rec.stop_reason = outcome, reason
            self._journal(rec, ("stop", rec.job_id, outcome.value, reason))
        try:
            self.backend.cancel([r.job_id for r in records])
        except Exception as exc:
            self.errors.append(f"cancel failed: {type(exc).__name__}: {exc}")

    # -- journal and results -------------------------------------------------------

    def _journal(self, rec: TaskRecord, event) -> None:
        self.journal.update_task(self.session.run_id, rec.label, event=event, **rec.row())

    def _finish(self, rec, outcome, job, reason=None, ended_at=None, notify=True) -> None:
        rec.phase, rec.outcome, rec.reason = "final", outcome, reason
        if rec.submitted_at is not None:
            rec.ended_at = ended_at or time.time()
        if rec.job_id and rec.log_path is None and hasattr(self.backend, "log_path"):
            rec.log_path = str(self.backend.log_path(rec.job_id))
        self._journal(rec, ("final", rec.job_id, outcome.value, reason))
        if notify:
            call_hook(self.pm, "on_state_change", self.errors, session=self.session, task=rec.task,
                      job=job, previous=rec.state, outcome=outcome)

    def _summary(self) -> RunSummary:
        return RunSummary(
            run_id=self.session.run_id, batch=self.batch.name, backend=self.batch.backend,
            started_at=self.started_at, ended_at=time.time(),
            tasks=[r.result() for r in self.records], interrupted=bool(self._interrupted),
            poll_failures=self.poll_failures, plugin_errors=self.errors,
        )
