"""Fan-out, wait, join: the one loop that drives a run.

The runner journals every intent, job ID and state change, then tells the
hooks. It submits ready tasks (``stagger``, ``max_parallel``), waits on
backend events or polls on a :class:`~agybatch.schedule.PollSchedule` (one
bulk call a round, never for settled jobs), enforces the deadline,
``queued_timeout`` and per-task timeouts, and ends with a
:class:`~agybatch.model.RunSummary`.
"""
from __future__ import annotations

import heapq
import itertools
import signal
import sys
import time

from .errors import CannotTell, PollError, SubmitError
from .manager import call_hook
from .model import JobState, JobStatus, Outcome, RunSummary
from .queue import TaskQueue
from .records import TaskRecord
from .schedule import PollSchedule

#: Consecutive failed polls after which the unsettled jobs are reported lost.
MAX_POLL_FAILURES = 20
#: Seconds to wait for cancelled jobs to report a final state before giving up on them.
CANCEL_SETTLE = 10.0
CANCEL_CHECK_EVERY = 1.0


class _Interrupt(Exception):
    pass


class Runner:
    """Drives one session (a new run or a join) to its summary.

    ``expected`` maps labels to their usual duration in seconds (from the
    journal's history); polling backends use it to poll around expected ends.
    """

    def __init__(self, session, backend, records: list, started_at: float,
                 cancel_on_interrupt: bool = False, expected: dict | None = None):
        self.session = session
        self.batch = session.batch
        self.journal = session.journal
        self.pm = session.config.pluginmanager
        self.backend = backend
        self.records = records
        self.expected = expected or {}
        self.started_at = started_at
        self.cancel_on_interrupt = cancel_on_interrupt
        self.errors: list[str] = []
        self.poll_failures = 0
        self.deadline_at = started_at + self.batch.deadline if self.batch.deadline else None
        self._queue = TaskQueue(records, self.expected,
                                longest_first=bool(self.batch.max_parallel or self.batch.stagger))
        self._outbox: list = []
        self._active = {r.job_id: r for r in records if r.phase == "submitted"}
        self._unsettled = sum(1 for r in records if r.phase != "final")
        self._timers: list = []
        self._timer_seq = itertools.count()
        self._schedule = PollSchedule(self.batch.poll_policy(backend.poll_defaults))
        self._consecutive_failures = 0
        self._next_submit = 0.0
        self._next_cancel_check = 0.0
        self._next_tick = 0.0
        self._settle_by = None
        self._interrupted = 0
        self._blocking = False

    # -- the loop -------------------------------------------------------------

    def run(self) -> RunSummary:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._recover()
            for rec in self._active.values():
                self._watch_job(rec)
            for rec in self.records:
                if rec.phase == "pending":
                    self._enqueue(rec)
            self._flush()
            while self._unsettled:
                if self._interrupted and not self._cancelling_for_interrupt():
                    break
                self._check_limits(time.time())
                self._flush()
                self._submit_ready()
                if not self._unsettled:
                    break
                self._wait()
                self._tick()
            self._flush()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self._summary()

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
            except CannotTell:
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
                self._active[job_id] = rec
                self._journal(rec, ("recovered", job_id, None, "submitted before the crash"))

    # -- fan-out ---------------------------------------------------------------

    def _enqueue(self, rec: TaskRecord) -> None:
        blocked = self._queue.push(rec)
        if blocked:
            self._finish(rec, Outcome.SKIPPED, None, reason=blocked)

    def _at_capacity(self) -> bool:
        return bool(self.batch.max_parallel) and len(self._active) >= self.batch.max_parallel

    def _submit_ready(self) -> None:
        while self._queue.has_ready(time.time()):
            if self._interrupted or self._settle_by is not None or time.time() < self._next_submit:
                return
            if self._at_capacity():
                return
            if self._check_cancel_request():
                return
            self._submit(self._queue.pop_ready(time.time()))
            self._flush()
            self._next_submit = time.time() + self.batch.stagger

    def _submit(self, rec: TaskRecord) -> None:
        rec.attempts += 1
        rec.phase = "intent"
        rec.submit_key = rec.next_key(self.session.run_id, self.backend.spends_recovered_keys)
        self._journal(rec, ("intent", None, None, rec.submit_key))
        try:
            job = self.backend.submit(rec.task, rec.submit_key)
        except Exception as exc:
            detail = str(exc) if isinstance(exc, SubmitError) else f"{type(exc).__name__}: {exc}"
            self._settle(rec, Outcome.ERROR, None, reason=f"submission failed: {detail}")
            return
        rec.phase, rec.job_id, rec.state = "submitted", job.job_id, job.state
        rec.submitted_at, rec.started_at = time.time(), job.started_at
        self._active[job.job_id] = rec
        self._journal(rec, ("submitted", job.job_id, job.state.value, None))
        self._watch_job(rec)
        self._tell("on_submit", task=rec.task, job=job)
        if job.state.final:
            self._apply({job.job_id: job})

    def _watch_job(self, rec: TaskRecord) -> None:
        usual = self.expected.get(rec.label)
        self._schedule.watch(rec.job_id, time.time(), rec.submitted_at + usual if usual else None)
        if self.batch.queued_timeout and rec.state in (None, JobState.QUEUED):
            self._add_timer(rec.submitted_at + self.batch.queued_timeout, rec, "queued")
        self._arm_task_timeout(rec)

    # -- wait --------------------------------------------------------------------

    def _wake_at(self) -> float:
        wake = [time.time() + CANCEL_CHECK_EVERY, self._next_tick]
        if self._settle_by is None:
            if self._queue.has_ready(time.time()) and not self._at_capacity():
                wake.append(self._next_submit)
            wake.append(self._queue.next_time())
            if self.deadline_at:
                wake.append(self.deadline_at)
        else:
            wake.append(self._settle_by)
        if self._timers:
            wake.append(self._timers[0][0])
        return min(wake)

    def _wait(self) -> None:
        active = list(self._active)
        wake = self._wake_at()
        changes = {}
        self._blocking = True
        try:
            if self.backend.supports_events and active:
                changes = self.backend.wait(active, max(0.0, wake - time.time()))
            else:
                if active:
                    wake = min(wake, self._schedule.next_poll())
                delay = wake - time.time()
                if delay > 0:
                    time.sleep(delay)
                self._blocking = False
                if active and time.time() >= self._schedule.next_poll():
                    changes = self._poll(active)
        except _Interrupt:
            return
        finally:
            self._blocking = False
        self._apply(changes)

    def _poll(self, active: list) -> dict:
        self._schedule.polled(time.time())
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
        news = [(j, self._active[j], job) for j, job in changes.items() if j in self._active
                and (job.state is not self._active[j].state or job.state.final)]
        if not news:
            return
        with self.journal.transaction():
            for job_id, rec, job in news:
                previous = rec.state
                rec.state = job.state
                if job.exit_code is not None:
                    rec.exit_code = job.exit_code
                rec.started_at = job.started_at or rec.started_at or (
                    time.time() if job.state is JobState.RUNNING else None)
                if job.state.final:
                    self._settle(rec, rec.outcome_for(job.state), job, reason=rec.stop_reason or job.reason,
                                 ended_at=job.ended_at, previous=previous)
                else:
                    self._journal(rec, ("state", job_id, job.state.value, job.reason))
                    self._arm_task_timeout(rec)
                    self._tell("on_state_change", task=rec.task, job=job, previous=previous, outcome=None)
        self._flush()

    # -- limits -----------------------------------------------------------------

    def _add_timer(self, at: float, rec: TaskRecord, kind: str) -> None:
        heapq.heappush(self._timers, (at, next(self._timer_seq), kind, rec))

    def _arm_task_timeout(self, rec: TaskRecord) -> None:
        timeout = rec.task.timeout
        if timeout and rec.state is JobState.RUNNING and not self.backend.enforces_timeout:
            self._add_timer((rec.started_at or rec.submitted_at) + timeout, rec, "timeout")

    def _due_timers(self, now: float):
        while self._timers and self._timers[0][0] <= now:
            _, _, kind, rec = heapq.heappop(self._timers)
            if not rec.active:
                continue
            if kind == "settle" and rec.stop_outcome is not None:
                yield kind, rec
            elif rec.stop_outcome is None:
                if kind == "timeout" and rec.state is JobState.RUNNING:
                    yield kind, rec
                elif kind == "queued" and rec.state in (None, JobState.QUEUED):
                    yield kind, rec

    def _check_limits(self, now: float) -> None:
        if now >= self._next_cancel_check:
            self._check_cancel_request()
        if self.deadline_at and now >= self.deadline_at and self._settle_by is None:
            self._stop_all(Outcome.TIMED_OUT, "overall deadline reached", Outcome.SKIPPED)
        if self._settle_by is not None and now >= self._settle_by:
            for rec in list(self._active.values()):
                self._finish(rec, rec.stop_outcome, None, reason=f"{rec.stop_reason}; no final state reported")
        for kind, rec in list(self._due_timers(now)):
            if kind == "settle":
                self._finish(rec, rec.stop_outcome, None, reason=f"{rec.stop_reason}; no final state reported")
            elif kind == "timeout":
                self._stop([rec], Outcome.TIMED_OUT, f"task timeout reached ({rec.task.timeout:g}s)")
            elif self.batch.on_stalled == "leave":
                self._finish(rec, Outcome.STALLED, None,
                             reason=f"still queued after {self.batch.queued_timeout:g}s (left running)")
            else:
                self._stop([rec], Outcome.STALLED, f"still queued after {self.batch.queued_timeout:g}s")

    def _check_cancel_request(self) -> bool:
        self._next_cancel_check = time.time() + CANCEL_CHECK_EVERY
        if self._settle_by is None and self.journal.cancel_requested(self.session.run_id):
            self._stop_all(Outcome.CANCELLED, "cancelled with agybatch cancel", Outcome.CANCELLED)
            return True
        return False

    def _stop_all(self, running_outcome: Outcome, reason: str, pending_outcome: Outcome) -> None:
        for rec in self._queue.drain():
            if rec.last_outcome is not None:
                self._finish(rec, rec.last_outcome, None, reason=f"{reason} before the next attempt")
            else:
                self._finish(rec, pending_outcome, None, reason=f"{reason} before submission")
        active = list(self._active.values())
        queued = [r for r in active if r.state is JobState.QUEUED]
        self._stop([r for r in active if r.state is not JobState.QUEUED], running_outcome, reason)
        stalled = Outcome.STALLED if running_outcome is Outcome.TIMED_OUT else running_outcome
        self._stop(queued, stalled, reason)
        self._settle_by = time.time() + CANCEL_SETTLE + self.backend.grace

    def _stop(self, records: list, outcome: Outcome, reason: str) -> None:
        if not records:
            return
        settle_by = time.time() + CANCEL_SETTLE + self.backend.grace
        with self.journal.transaction():
            for rec in records:
                rec.stop_outcome, rec.stop_reason = outcome, reason
                self._journal(rec, ("stop", rec.job_id, outcome.value, reason))
                self._add_timer(settle_by, rec, "settle")
        try:
            self.backend.cancel([r.job_id for r in records])
        except Exception as exc:
            self.errors.append(f"cancel failed: {type(exc).__name__}: {exc}")

    # -- journal and results -------------------------------------------------------

    def _journal(self, rec: TaskRecord, event) -> None:
        self.journal.update_task(self.session.run_id, rec.label, event=event, **rec.row())

    def _tell(self, hook: str, **kwargs) -> None:
        """Queue a hook call; :meth:`_flush` makes it once the journal has committed."""
        self._outbox.append((hook, kwargs))

    def _flush(self) -> None:
        while self._outbox:
            hook, kwargs = self._outbox.pop(0)
            call_hook(self.pm, hook, self.errors, session=self.session, **kwargs)

    def _settle(self, rec, outcome, job, reason=None, ended_at=None, previous=None) -> None:
        """An attempt ended with ``outcome``: retry it if the task allows, else finish the task."""
        task = rec.task
        delay = task.retry_backoff * 2 ** (rec.attempts - 1)
        retry_at = time.time() + delay
        if (outcome.value not in task.retry_on or rec.attempts > task.retries or self._interrupted
                or self._settle_by is not None or (self.deadline_at and retry_at >= self.deadline_at)):
            self._finish(rec, outcome, job, reason=reason, ended_at=ended_at, previous=previous)
            return
        if rec.job_id:
            self._active.pop(rec.job_id, None)
            self._schedule.forget(rec.job_id)
        rec.phase, rec.last_outcome, rec.not_before = "pending", outcome, retry_at
        rec.stop_outcome = rec.stop_reason = None
        detail = f"attempt {rec.attempts} {outcome.text}; retrying in {delay:g}s" + (f" ({reason})" if reason else "")
        self._journal(rec, ("retry", rec.job_id, outcome.value, detail))
        self._tell("on_state_change", task=task, job=job, previous=previous, outcome=None)
        self._enqueue(rec)

    def _finish(self, rec, outcome, job, reason=None, ended_at=None, previous=None) -> None:
        rec.phase, rec.outcome, rec.reason, rec.not_before = "final", outcome, reason, None
        self._unsettled -= 1
        if rec.job_id:
            self._active.pop(rec.job_id, None)
            self._schedule.forget(rec.job_id)
        if rec.submitted_at is not None:
            rec.ended_at = ended_at or time.time()
        if rec.job_id and rec.log_path is None:
            path = self.backend.log_path(rec.job_id)
            rec.log_path = str(path) if path is not None else None
        self._journal(rec, ("final", rec.job_id, outcome.value, reason))
        self._tell("on_state_change", task=rec.task, job=job, previous=previous or rec.state, outcome=outcome)
        for dependent, why in self._queue.settled(rec):
            self._finish(dependent, Outcome.SKIPPED, None, reason=why)

    def _summary(self) -> RunSummary:
        return RunSummary(
            run_id=self.session.run_id, batch=self.batch.name, backend=self.batch.backend,
            started_at=self.started_at, ended_at=time.time(),
            tasks=[r.result() for r in self.records], interrupted=bool(self._interrupted),
            poll_failures=self.poll_failures, plugin_errors=self.errors,
        )
