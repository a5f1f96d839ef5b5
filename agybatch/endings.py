"""How an attempt ends: its job ended, then it is judged, checked and decided (part of the runner).

:class:`Endings` is a part of :class:`agybatch.runner.Runner` (a mixin: it
uses the runner's journal, records and outbox):

1. **judged**: the job's output by the task's result format (:mod:`agybatch.judge`),
   which may turn an exit 0 into ``failed`` or ``rate_limited``; its usage is
   priced and written to the attempts ledger, and counted against the budget;
2. **checked**: a succeeded attempt of a task with a ``check`` runs it
   (:mod:`agybatch.checks`; phase ``checking``);
3. **decided**: finish, retry or park (:mod:`agybatch.outcomes`); a finished
   task's dependents that can no longer run are skipped, and its worktree is
   concluded.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

from .checks import CheckRun, check_files, write_output
from .formats import option_value
from .judge import judge
from .model import JobState, JobStatus, Outcome
from .outcomes import after_attempt
from .records import TaskRecord
from .units import format_usd
from .usage import from_judgement

#: Characters of an agent's response kept in the journal and ``--json``.
EXCERPT = 500


class Endings:
    """The end of each attempt, for the :class:`~agybatch.runner.Runner`."""

    def _job_ended(self, rec: TaskRecord, job: JobStatus, judgement, previous) -> None:
        outcome, reason = rec.outcome_for(job.state), rec.stop_reason or job.reason
        ran_to_its_end = job.state is JobState.SUCCEEDED or (job.state is JobState.FAILED and rec.stop_outcome is None)
        rec.session_id = judgement.session_id if judgement else None  # the last attempt's, as reported
        rec.response_excerpt = (judgement.response or "")[:EXCERPT] or None if judgement else None
        rec.result_reason = judgement.reason if judgement else None
        if judgement is not None and ran_to_its_end:
            outcome, reason = judgement.outcome, judgement.reason
        model = option_value(rec.task.command, "--model", "-m") or rec.task.options.get("model")
        usage = from_judgement(judgement, model, self.batch.prices)
        self.budget.add(usage)
        over = over_budget(usage, rec.task.max_cost_usd)
        if outcome is Outcome.SUCCEEDED and over:
            outcome, reason = Outcome.FAILED, over
        self._record_attempt(rec, job, outcome, reason, usage)
        self._unwatch(job.job_id)
        if outcome is Outcome.SUCCEEDED and rec.task.check is not None:
            if self._stopping_since is None:
                self._start_check(rec, self._response(rec, judgement))
                return
            outcome, reason = rec.stop_outcome or Outcome.CANCELLED, f"{rec.stop_reason or 'stopped'} before its check"
        self._attempt_over(rec, outcome, job, reason=reason, ended_at=job.ended_at, previous=previous,
                           retry_at=judgement.retry_at if judgement else None, final=bool(over))

    def _record_attempt(self, rec: TaskRecord, job, outcome: Outcome, reason, usage) -> None:
        fields = dict(job_id=rec.job_id, outcome=outcome.value, reason=reason, exit_code=rec.exit_code,
                      submitted_at=rec.submitted_at, ended_at=(job.ended_at if job else None) or time.time(),
                      session_id=rec.session_id)
        if usage is not None:
            fields.update(usage.to_json(), models=_models_json(usage.models))
            fields["unpriced"] = int(usage.unpriced)
        self.journal.record_attempt(self.session.run_id, rec.label, rec.attempts, **fields)

    def _response(self, rec: TaskRecord, judgement=None) -> str:
        """What a check reads through ``AGYBATCH_OUTPUT``: the agent's response, else the job's output."""
        if judgement is None and rec.job_id:
            judgement = judge(rec.task, JobStatus(rec.job_id, rec.state or JobState.SUCCEEDED, rec.exit_code),
                              self.backend, self.formats)
        if judgement is not None and judgement.response is not None:
            return judgement.response
        try:
            return self.backend.read_output(rec.job_id) if rec.job_id else ""
        except Exception:
            return ""

    def _start_check(self, rec: TaskRecord, output: str) -> None:
        log, output_file = check_files(self.session.run_dir, rec.label, rec.attempts)
        write_output(output_file, output or "")
        env = {**_environ(), **rec.task.env, "AGYBATCH_RUN_ID": self.session.run_id, "AGYBATCH_LABEL": rec.label,
               "AGYBATCH_JOB_ID": rec.job_id or "", "AGYBATCH_OUTPUT": str(output_file)}
        if rec.task.base_commit:
            env["AGYBATCH_BASE_COMMIT"] = rec.task.base_commit
        cwd = self.workspaces.cwd_of(rec) if self.workspaces is not None else rec.task.cwd
        check = CheckRun(rec.task.check, cwd, env, log, rec.task.check_timeout)
        check.start()
        self._checks[rec.label] = check
        rec.phase, rec.check_run = "checking", check.info
        self._journal(rec, ("check", rec.job_id, None, f"check started (pid {check.info['pid']})"))

    def _collect_checks(self) -> None:
        now = time.time()
        done = [(label, check.poll(now)) for label, check in self._checks.items()]
        done = [(label, result) for label, result in done if result is not None]
        if not done:
            return
        by_label = {r.label: r for r in self.records}
        with self.journal.transaction():
            for label, (code, reason) in done:
                del self._checks[label]
                rec = by_label[label]
                outcome = Outcome.SUCCEEDED if reason is None else Outcome.FAILED
                self._journal(rec, ("checked", rec.job_id, outcome.value, reason or "check passed"))
                if reason is not None:
                    self.journal.update_attempt(self.session.run_id, rec.label, rec.attempts, outcome=outcome.value,
                                                reason=reason)
                self._attempt_over(rec, outcome, None, reason=reason)
        self._flush()

    def _attempt_over(self, rec, outcome, job, reason=None, ended_at=None, previous=None, retry_at=None,
                      final: bool = False) -> None:
        """The attempt ended with ``outcome``: finish the task, retry it or park it (:mod:`agybatch.outcomes`);
        ``final`` finishes it whatever the policy says (an attempt that cost more than the task may spend)."""
        stopping = final or bool(self._interrupted) or self._stopping_since is not None or self.stopped_by is not None
        decision = after_attempt(rec, outcome, reason, time.time(), retry_at, self.deadline_at, stopping)
        if decision.kind == "finish":
            self._finish(rec, outcome, job, reason=reason, ended_at=ended_at, previous=previous)
            return
        self._unwatch(rec.job_id)
        if decision.kind == "park":
            rec.parks += 1
        rec.phase, rec.last_outcome, rec.not_before, rec.state = "pending", outcome, decision.at, None
        rec.stop_outcome = rec.stop_reason = rec.check_run = None
        self._journal(rec, (decision.kind, rec.job_id, outcome.value, decision.detail))
        self._tell("on_state_change", task=rec.task, job=job, previous=previous, outcome=None)
        self._enqueue(rec)

    def _finish(self, rec, outcome, job, reason=None, ended_at=None, previous=None) -> None:
        rec.phase, rec.outcome, rec.reason, rec.not_before = "final", outcome, reason, None
        self._unsettled -= 1
        self._checks.pop(rec.label, None)
        self._unwatch(rec.job_id)
        if rec.submitted_at is not None:
            rec.ended_at = ended_at or time.time()
        if rec.job_id and rec.log_path is None:
            path = self.backend.log_path(rec.job_id)
            rec.log_path = str(path) if path is not None else None
        self._journal(rec, ("final", rec.job_id, outcome.value, reason))
        if rec.submit_key and job is None and outcome is not Outcome.SUCCEEDED:  # no end of its own: given up on
            self.journal.note_attempt(self.session.run_id, rec.label, rec.attempts, job_id=rec.job_id,
                                      outcome=outcome.value, reason=reason, submitted_at=rec.submitted_at,
                                      ended_at=rec.ended_at)
        if self.workspaces is not None:
            self.workspaces.conclude(rec)
        self._tell("on_state_change", task=rec.task, job=job, previous=previous or rec.state, outcome=outcome)
        for dependent, why in self._queue.settled(rec):
            self._finish(dependent, Outcome.SKIPPED, None, reason=why)


def _models_json(models) -> str:
    return json.dumps([dataclasses.asdict(m) for m in models])


def _environ() -> dict:
    return dict(os.environ)


def over_budget(usage, limit) -> "str | None":
    """The reason an attempt that cost more than its task's ``max_cost_usd`` fails, else None."""
    if usage is None or limit is None or usage.cost_usd is None or usage.cost_usd <= limit:
        return None
    spent, cap = format_usd(usage.cost_usd), format_usd(limit)
    if spent == cap:
        spent, cap = f"${usage.cost_usd:.4f}", f"${limit:.4f}"
    return f"cost {spent} is over its max_cost_usd ({cap})"

