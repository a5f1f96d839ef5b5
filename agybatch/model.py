"""The data agybatch passes around: tasks, job states, outcomes and the run summary."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from .states import OUTCOME_ORDER, ExitCode, JobState, Outcome  # noqa: F401 (the model's public names)


@dataclass(frozen=True)
class Task:
    """One task of a batch, as validated from ``batch.toml``.

    ``command`` is an argv tuple, or a string run by ``/bin/sh -c``. ``cwd`` is
    absolute. ``options`` holds the backend-specific keys (e.g. ``prompt``).
    ``needs`` names tasks that must succeed first; a failed attempt whose
    outcome is in ``retry_on`` is tried again up to ``retries`` times, waiting
    ``retry_backoff`` seconds, doubled each time.

    Judging agent jobs: ``result`` names how the output is judged (``auto``,
    ``exit-code`` or a result format such as ``claude``); ``check`` (argv
    tuple or shell string) runs after a successful job, for at most
    ``check_timeout`` seconds; ``idle_timeout`` ends a job whose output has
    not grown for that long; a rate-limited attempt is parked and resubmitted
    after ``quota_wait`` seconds (doubling), at most ``quota_retries`` times;
    ``max_cost_usd`` is the most one attempt may cost.

    ``max_log_size`` caps the job's log in bytes (None: no cap); past it the
    backend keeps the head and the tail. With ``workspace = "worktree"`` the
    job runs in its own git worktree of ``repo`` at ``base_commit``, and its
    work is committed as ``commit_author`` (``"Name <email>"``).
    """

    label: str
    command: Any = None
    timeout: Optional[float] = None
    cwd: str = "."
    env: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    needs: tuple = ()
    tags: tuple = ()
    retries: int = 0
    retry_backoff: float = 30.0
    retry_on: tuple = ("failed",)
    max_log_size: Optional[int] = None
    result: str = "auto"
    check: Any = None
    check_timeout: float = 300.0
    idle_timeout: Optional[float] = None
    quota_wait: float = 900.0
    quota_retries: int = 3
    max_cost_usd: Optional[float] = None
    workspace: str = "shared"
    repo: Optional[str] = None
    base_commit: Optional[str] = None
    commit_author: Optional[str] = None

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Task":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class JobStatus:
    """A backend's report on one job. Times are epoch seconds, or None when unknown."""

    job_id: str
    state: JobState
    exit_code: Optional[int] = None
    started_at: Optional[float] = None
    ended_at: Optional[float] = None
    reason: Optional[str] = None


@dataclass
class TaskResult:
    """The joined result of one task: what ``--json`` reports in ``tasks``.

    ``outcome`` is None only for a task left unsettled by an interrupted run;
    ``state`` then says where it stood (``pending``, ``queued``, ``running``).

    From a result format (:mod:`agybatch.judge`): the last attempt's
    ``session_id``, ``response_excerpt`` (at most 500 characters) and
    ``result_reason``. ``usage`` is the :class:`agybatch.usage.Usage` of all
    its attempts (None when none reported any); ``check_log`` the output of its
    ``check``; ``workspace`` the :class:`agybatch.workspace.WorkspaceResult`
    of its worktree (None for ``workspace = "shared"``).
    """

    label: str
    outcome: Optional[Outcome]
    job_id: Optional[str] = None
    attempts: int = 0
    exit_code: Optional[int] = None
    submitted_at: Optional[float] = None
    started_at: Optional[float] = None
    ended_at: Optional[float] = None
    reason: Optional[str] = None
    log_path: Optional[str] = None
    duration_label: Optional[str] = None
    state: Optional[str] = None
    session_id: Optional[str] = None
    response_excerpt: Optional[str] = None
    result_reason: Optional[str] = None
    check_log: Optional[str] = None
    usage: Any = None
    workspace: Any = None

    @property
    def duration_s(self) -> Optional[float]:
        start = self.submitted_at if self.submitted_at is not None else self.started_at
        if start is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - start)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED


def verdict_for(outcomes) -> tuple[ExitCode, str]:
    """Exit code and verdict word: 0/ok iff all succeeded, 1/wipeout iff none did, else 2/partial."""
    outcomes = list(outcomes)
    succeeded = sum(1 for o in outcomes if o is Outcome.SUCCEEDED)
    if outcomes and succeeded == len(outcomes):
        return ExitCode.OK, "ok"
    if succeeded == 0:
        return ExitCode.WIPEOUT, "wipeout"
    return ExitCode.PARTIAL, "partial"


@dataclass
class RunSummary:
    """Everything known about a run at join time; ``to_json()`` is the ``--json`` object."""

    run_id: str
    batch: str
    backend: str
    started_at: float
    ended_at: Optional[float]
    tasks: list = field(default_factory=list)
    interrupted: bool = False
    poll_failures: int = 0
    plugin_errors: list = field(default_factory=list)
    stopped_by: Optional[str] = None

    @property
    def usage_total(self):
        """The :class:`agybatch.usage.Usage` of every attempt of every task, or None if none reported any."""
        from .usage import total

        return total(t.usage for t in self.tasks)

    @property
    def counts(self) -> dict:
        counts = {o.value: 0 for o in OUTCOME_ORDER}
        for task in self.tasks:
            if task.outcome is not None:
                counts[task.outcome.value] += 1
        return counts

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return verdict_for(t.outcome for t in self.tasks)[0]

    @property
    def verdict(self) -> str:
        if self.interrupted:
            return "interrupted"
        return verdict_for(t.outcome for t in self.tasks)[1]

    @property
    def duration_s(self) -> Optional[float]:
        if self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)

    def not_ok(self) -> list:
        return [t for t in self.tasks if not t.ok]

    def to_json(self) -> dict:
        from .units import iso

        usage_total = self.usage_total
        return {
            "run_id": self.run_id,
            "batch": self.batch,
            "backend": self.backend,
            "exit_code": int(self.exit_code),
            "verdict": self.verdict,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration_s": _round(self.duration_s),
            "counts": self.counts,
            "usage_total": usage_total.to_json() if usage_total else None,
            "cost_usd_total": _money(usage_total.cost_usd) if usage_total else None,
            "stopped_by": self.stopped_by,
            "poll_failures": self.poll_failures,
            "plugin_errors": list(self.plugin_errors),
            "tasks": [
                {
                    "label": t.label,
                    "outcome": t.outcome.value if t.outcome else None,
                    "state": t.state,
                    "job_id": t.job_id,
                    "attempts": t.attempts,
                    "exit_code": t.exit_code,
                    "submitted_at": iso(t.submitted_at),
                    "started_at": iso(t.started_at),
                    "ended_at": iso(t.ended_at),
                    "duration_s": _round(t.duration_s),
                    "reason": t.reason,
                    "log_path": t.log_path,
                    "duration_label": t.duration_label,
                    "session_id": t.session_id,
                    "response_excerpt": t.response_excerpt,
                    "result_reason": t.result_reason,
                    "usage": t.usage.to_json() if t.usage else None,
                    "cost_usd": _money(t.usage.cost_usd) if t.usage else None,
                    **(t.workspace.to_json() if t.workspace is not None else {}),
                }
                for t in self.tasks
            ],
        }


def _round(value):
    return None if value is None else round(value, 3)


def _money(value):
    return None if value is None else round(value, 6)
