"""Fan-out, wait, join: the one loop that drives a run.

The runner journals every intent, job ID and state change, then tells the
hooks. It submits ready tasks (``stagger``, ``max_parallel``, the budget),
waits on backend events or polls on a :class:`~agybatch.schedule.PollSchedule`
(one bulk call a round, never for settled jobs), enforces the deadline,
``queued_timeout``, per-task timeouts and ``idle_timeout``, and ends with a
:class:`~agybatch.model.RunSummary`.

An attempt whose job ended goes through one pipeline: **judged** (by the
task's result format, else its exit code; :mod:`agybatch.judge`), then
**checked** (the task's ``check``, if it succeeded; :mod:`agybatch.checks`),
then **decided** (finish, retry or park; :mod:`agybatch.outcomes`).
"""
from __future__ import annotations

import dataclasses
import signal
import sys
import time

from .budget import Budget
from .endings import Endings
from .errors import CannotTell, PollError, SubmitError
from .judge import choose, judge, with_budget
from .ledger import attach
from .limits import IdleWatch, Timers
from .manager import call_hook
from .model import JobState, JobStatus, Outcome, RunSummary
from .queue import TaskQueue
from .records import TaskRecord
from .schedule import PollSchedule
from .stopping import CANCEL_CHECK_EVERY, Stopping
from .template import submit_argv
from .usage import from_row, total

#: Consecutive failed polls after which the unsettled jobs are reported lost.
MAX_POLL_FAILURES = 20
#: How often running checks are looked at.
CHECK_POLL = 0.05


class _Interrupt(Exception):
    pass


class Runner(Stopping, Endings):
    """Drives one session (a new run or a join) to its summary.

    ``expected`` maps labels to their usual duration in seconds (from the
    journal's history); polling backends use it to poll around expected ends.
    ``formats`` maps result format names to formats; ``workspaces`` is the
    run's :class:`~agybatch.workspace.Workspaces`, or None when no task uses one.
    """

    def __init__(self, session, backend, records: list, started_at: float, cancel_on_interrupt: bool = False,
                 expected: dict | None = None, formats: dict | None = None, workspaces=None):
        self.session = session
        self.batch = session.batch
        self.journal = session.journal
        self.pm = session.config.pluginmanager
        self.backend = backend
        self.records = records
        self.expected = expected or {}
        self.formats = formats or {}
        self.workspaces = workspaces
        self.started_at = started_at
        self.cancel_on_interrupt = cancel_on_interrupt
        self.errors: list[str] = []
        self.poll_failures = 0
        run_row = self.journal.run(session.run_id)
        self.stopped_by = run_row["stopped_by"] if run_row is not None and "stopped_by" in run_row.keys() else None
        self.deadline_at = started_at + self.batch.deadline if self.batch.deadline else None
        self.budget = Budget(self.batch.max_cost_usd, self.batch.max_tokens)
        self._queue = TaskQueue(records, self.expected,
                                longest_first=bool(self.batch.max_parallel or self.batch.stagger))
        self._outbox: list = []
        self._active = {r.job_id: r for r in records if r.phase == "submitted"}
        self._checks: dict = {}
        self._unsettled = sum(1 for r in records if r.phase != "final")
        self._timers = Timers()
        self._idle = IdleWatch()
        self._schedule = PollSchedule(self.batch.poll_policy(backend.poll_defaults))
        self._consecutive_failures = 0
        self._next_submit = 0.0
        self._next_cancel_check = 0.0
        self._next_tick = 0.0
        self._stopping_since = None
        self._interrupted = 0
        self._blocking = False

    # -- the loop -------------------------------------------------------------

    def run(self) -> RunSummary:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._resume()
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
            for check in self._checks.values():
                check.stop()
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
        if self._stopping_since is None:
            self._stop_all(Outcome.CANCELLED, "cancelled on interrupt", Outcome.CANCELLED)
        return True

    def _tick(self) -> None:
        now = time.time()
        if now >= self._next_tick:
            self._next_tick = now + 1.0
            call_hook(self.pm, "on_tick", self.errors, session=self.session, records=self.records)

    # -- picking up where a run stopped ------------------------------------------

    def _resume(self) -> None:
        """Resolve interrupted submissions, re-run interrupted checks, queue what is pending."""
        self.budget.add(total(from_row(row) for row in self.journal.attempts(self.session.run_id)))
        for rec in self.records:
            if rec.phase == "intent":
                self._recover(rec)
        for rec in self._active.values():
            self._watch_job(rec)
        for rec in self.records:
            if rec.phase == "checking":  # its check starts again (what is left of the old one is stopped)
                self._start_check(rec, self._response(rec))
            elif rec.phase == "pending":
                self._enqueue(rec)
            elif rec.phase == "final" and self.workspaces is not None:
                self.workspaces.conclude(rec)
        self._flush()

    def _recover(self, rec: TaskRecord) -> None:
        try:
            job_id = self.backend.recover(rec.submit_key)
        except CannotTell:
            self._finish(rec, Outcome.LOST, None, reason=(
                f"the runner stopped mid-submission and the {self.batch.backend} backend "
                "cannot tell whether the job was submitted"))
            return
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
            if self._interrupted or self._stopping_since is not None or time.time() < self._next_submit:
                return
            if self._at_capacity() or self._check_cancel_request():
                return
            if self.budget.reached or self.stopped_by is not None:
                self._stop_for_budget()
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
            task = self._attempt_task(rec)
            job = self.backend.submit(task, rec.submit_key)
        except Exception as exc:
            detail = str(exc) if isinstance(exc, SubmitError) else f"{type(exc).__name__}: {exc}"
            self.journal.note_attempt(self.session.run_id, rec.label, rec.attempts, outcome=Outcome.ERROR.value,
                                      reason=f"submission failed: {detail}", ended_at=time.time())
            self._attempt_over(rec, Outcome.ERROR, None, reason=f"submission failed: {detail}")
            return
        rec.phase, rec.job_id, rec.state = "submitted", job.job_id, job.state
        rec.submitted_at, rec.started_at = time.time(), job.started_at
        self._active[job.job_id] = rec
        self._journal(rec, ("submitted", job.job_id, job.state.value, None))
        self._watch_job(rec)
        self._tell("on_submit", task=rec.task, job=job)
        if job.state.final:
            self._apply({job.job_id: job})

    def _attempt_task(self, rec: TaskRecord):
        """The task as this attempt runs it: ``{previous_session}`` filled, in its worktree if it has one."""
        task = rec.task
        command = with_budget(submit_argv(task.command, rec.session_id if rec.attempts > 1 else None), task,
                              choose(task, self.backend, self.formats)[0])
        task = dataclasses.replace(task, command=command) if command is not task.command else task
        if self.workspaces is not None and task.workspace == "worktree":
            task = dataclasses.replace(task, cwd=self.workspaces.prepare(rec),
                                       env={**task.env, "AGYBATCH_BASE_COMMIT": task.base_commit})
        return task

    def _watch_job(self, rec: TaskRecord) -> None:
        now = time.time()
        usual = self.expected.get(rec.label)
        self._schedule.watch(rec.job_id, now, rec.submitted_at + usual if usual else None)
        if self.batch.queued_timeout and rec.state in (None, JobState.QUEUED):
            self._timers.add(rec.submitted_at + self.batch.queued_timeout, rec, "queued")
        self._watch_output(rec, now)
        self._arm_task_timeout(rec)

    def _watch_output(self, rec: TaskRecord, now: float) -> None:
        """Start the silence watchdog of a running job: silence counts from when it runs, not while queued."""
        if rec.task.idle_timeout and rec.state is JobState.RUNNING:
            self._idle.watch(rec.job_id, rec.task.idle_timeout, now)

    def _unwatch(self, job_id) -> None:
        """Stop watching a job that ended (or was given up on)."""
        if job_id:
            self._active.pop(job_id, None)
            self._schedule.forget(job_id)
            self._idle.forget(job_id)

    # -- wait --------------------------------------------------------------------

    def _wake_at(self) -> float:
        now = time.time()
        wake = [now + CANCEL_CHECK_EVERY, self._next_tick, self._timers.next_time(), self._idle.next_time()]
        if self._checks:
            wake.append(now + CHECK_POLL)
        if self._stopping_since is None:
            if self._queue.has_ready(now) and not self._at_capacity():
                wake.append(self._next_submit)
            wake.append(self._queue.next_time())
            if self.deadline_at:
                wake.append(self.deadline_at)
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
        self._collect_checks()

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
        judged = {j: judge(rec.task, job, self.backend, self.formats)
                  for j, rec, job in news if job.state.final and job.state is not JobState.LOST}
        with self.journal.transaction():
            for job_id, rec, job in news:
                previous = rec.state
                rec.state = job.state
                if job.exit_code is not None:
                    rec.exit_code = job.exit_code
                rec.started_at = job.started_at or rec.started_at or (
                    time.time() if job.state is JobState.RUNNING else None)
                if job.state.final:
                    self._job_ended(rec, job, judged.get(job_id), previous)
                else:
                    self._journal(rec, ("state", job_id, job.state.value, job.reason))
                    if previous is not JobState.RUNNING:
                        self._watch_output(rec, time.time())
                    self._arm_task_timeout(rec)
                    self._tell("on_state_change", task=rec.task, job=job, previous=previous, outcome=None)
        self._flush()

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

    def _summary(self) -> RunSummary:
        summary = RunSummary(
            run_id=self.session.run_id, batch=self.batch.name, backend=self.batch.backend,
            started_at=self.started_at, ended_at=time.time(),
            tasks=[r.result() for r in self.records], interrupted=bool(self._interrupted),
            poll_failures=self.poll_failures, plugin_errors=self.errors, stopped_by=self.stopped_by,
        )
        return attach(summary, self.journal)
