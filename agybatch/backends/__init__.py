"""The backend protocol: submit, poll (bulk), cancel, logs, and optionally wait (events).

A backend is a subclass of :class:`Backend` registered by name through the
``register_backends`` hook. The runner owns scheduling, deadlines and the
journal; a backend only talks to the thing that runs jobs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import attrs

from ..config import PollPolicy
from ..model import JobStatus, Task


@attrs.frozen
class BackendContext:
    """What a backend is given: the run's ID, its folders and ``[batch.<name>]`` options."""

    run_id: str
    state_dir: Path
    run_dir: Path
    batch_folder: Path
    options: dict = attrs.field(factory=dict)


class Backend:
    """Base class and reference of the backend protocol.

    Class attributes describe the backend to the loader:

    :cvar task_options: extra ``[[task]]`` keys this backend accepts, name -> type.
    :cvar poll_defaults: the :class:`~agybatch.config.PollPolicy` used unless
        ``[batch.poll]`` overrides it.
    :cvar supports_events: True if :meth:`wait` reports completions as they
        happen; the runner then never sleeps a poll interval.
    :cvar enforces_timeout: True if the backend ends a job at its task
        ``timeout`` itself (reporting ``timed_out``); otherwise the runner
        cancels it when the timeout passes.
    :cvar spends_recovered_keys: True if :meth:`recover` answering None
        spends the key for good; the runner then submits the task again under
        ``<key>.r2`` (``.r3``, ...) instead of the same key.
    """

    name = "?"
    task_options: dict = {}
    poll_defaults = PollPolicy()
    supports_events = False
    enforces_timeout = False
    spends_recovered_keys = False

    def __init__(self, context: BackendContext) -> None:
        self.context = context

    @classmethod
    def check_options(cls, options: dict) -> dict:
        """Validate ``[batch.<name>]``; return the cleaned options or raise ValueError."""
        if options:
            raise ValueError(f"unknown key {sorted(options)[0]!r}")
        return options

    @classmethod
    def check_task(cls, task: Task) -> None:
        """Raise ValueError if ``task`` cannot run on this backend.

        Set a ``key`` attribute on the error (``err.key = "prompt"``) to have
        the message point at that key's line in ``batch.toml``.
        """
        if task.command is None:
            raise ValueError("missing required key 'command'")

    def submit(self, task: Task, key: str) -> JobStatus:
        """Start ``task`` and return its first status (with the job ID).

        ``key`` is unique per run, task and attempt, and was journalled before
        this call; backends that can, use it as an idempotency key.
        Raise :class:`~agybatch.errors.SubmitError` when submission failed.
        """
        raise NotImplementedError

    def recover(self, key: str) -> Optional[str]:
        """After a crash between intent and job ID: the job ID if ``key`` was submitted, None if not.

        A None must be final: the key can never start later. Backends whose
        key is idempotent (a late duplicate is refused) get the same key
        again; backends that set :attr:`spends_recovered_keys` make sure of it
        by spending the key, and the runner submits the task under a new one.
        Raise NotImplementedError where the backend cannot tell (no idempotency
        key); the runner then reports the task ``lost`` rather than risk
        running it twice.
        """
        raise NotImplementedError

    def poll(self, job_ids: list) -> dict:
        """Return ``{job_id: JobStatus}`` in one bulk call. A job the backend no
        longer knows is reported with state ``lost``. Raise
        :class:`~agybatch.errors.PollError` for a transient failure."""
        raise NotImplementedError

    def wait(self, job_ids: list, timeout: float) -> dict:
        """Block up to ``timeout`` seconds; return the statuses that changed (events)."""
        raise NotImplementedError

    def cancel(self, job_ids: list) -> None:
        """Ask the jobs to stop; their final state arrives through poll or wait."""
        raise NotImplementedError

    def logs(self, job_id: str, tail: Optional[int] = None) -> str:
        """The job's output (its last ``tail`` lines when given)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release resources; jobs keep running."""
