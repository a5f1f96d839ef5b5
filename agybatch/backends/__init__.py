"""The backend protocol: submit, poll (bulk), cancel, logs, and optionally wait (events).

A backend is a subclass of :class:`Backend` registered by name through the
``register_backends`` hook. The runner owns scheduling, deadlines and the
journal; a backend only talks to the thing that runs jobs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import CannotTell
from ..model import JobStatus, Task
from ..schedule import PollPolicy

#: What :meth:`Backend.read_output` hands a result parser at most: the head and the tail of the output.
OUTPUT_HEAD = 256 * 1024
OUTPUT_TAIL = 2 * 1024 * 1024


@dataclass(frozen=True)
class BackendContext:
    """What a backend is given: the run's ID, its folders and ``[batch.<name>]`` options."""

    run_id: str
    state_dir: Path
    run_dir: Path
    batch_folder: Path
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Output:
    """A piece of a job's output, as :meth:`Backend.read_from` returns it.

    :ivar text: the output from the requested offset on (UTF-8, undecodable bytes replaced).
    :ivar next_offset: the offset to ask for next time.
    :ivar dropped: bytes of the requested range the backend no longer has
        (cut from the middle by the log cap); they came before ``text``.
    """

    text: str
    next_offset: int
    dropped: int = 0


class Backend:
    """Base class and reference of the backend protocol.

    Class attributes describe the backend to the loader:

    :cvar task_options: extra ``[[task]]`` keys this backend accepts, name -> type.
    :cvar poll_defaults: the :class:`~agybatch.schedule.PollPolicy` used unless
        ``[batch.poll]`` overrides it.
    :cvar supports_events: True if :meth:`wait` reports completions as they
        happen; the runner then never sleeps a poll interval.
    :cvar enforces_timeout: True if the backend ends a job at its task
        ``timeout`` itself (reporting ``timed_out``); otherwise the runner
        cancels it when the timeout passes.
    :cvar spends_recovered_keys: True if :meth:`recover` answering None
        spends the key for good; the runner then submits the task again under
        ``<key>.r2`` (``.r3``, ...) instead of the same key.
    :cvar watches_output: True if :meth:`output_marks` works, so the runner
        can end a job that went silent (``idle_timeout``); a batch that sets
        ``idle_timeout`` on a backend without it is refused when it loads.
    :cvar grace: seconds between asking a job to stop and forcing it; the
        runner waits this long (and a little more) for a cancelled job's
        final state before it gives up on it.
    :cvar result_format: the result format its jobs' output is in when it
        carries an envelope (the agy backend: ``"agy"``). With ``result =
        "auto"`` such output is judged by it; output without an envelope is
        judged by the exit code.
    """

    name = "?"
    task_options: dict = {}
    poll_defaults = PollPolicy()
    supports_events = False
    enforces_timeout = False
    spends_recovered_keys = False
    watches_output = False
    grace: float = 0.0
    result_format: Optional[str] = None

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

    def prepare(self) -> None:
        """Called once before a run or a join starts submitting: start now what the first submission
        would otherwise wait for (the local backend starts its job supervisor), so that it starts
        while the runner sets up. Trouble here is not an error: the submission reports it."""

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
        Raise :class:`~agybatch.errors.CannotTell` where the backend cannot
        tell (no idempotency key); the runner then reports the task ``lost``
        rather than risk running it twice.
        """
        raise CannotTell(f"the {self.name} backend keeps no idempotency key")

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
        """The job's output (its last ``tail`` lines when given).

        Raise :class:`~agybatch.errors.CannotTell` if this backend keeps no output.
        """
        raise CannotTell(f"the {self.name} backend cannot fetch logs")

    def log_path(self, job_id: str) -> Optional[Path]:
        """The file on this machine that holds the job's output, or None if there is none."""
        return None

    def read_output(self, job_id: str) -> str:
        """The job's output for a result parser: all of it, or when it is long its first
        :data:`OUTPUT_HEAD` and last :data:`OUTPUT_TAIL` bytes joined by a newline.

        The default cuts :meth:`logs`; backends with random access do better.
        """
        text = self.logs(job_id)
        data = text.encode("utf-8", "replace")
        if len(data) <= OUTPUT_HEAD + OUTPUT_TAIL:
            return text
        return (data[:OUTPUT_HEAD].decode("utf-8", "replace") + "\n"
                + data[-OUTPUT_TAIL:].decode("utf-8", "replace"))

    def read_from(self, job_id: str, offset: int) -> Output:
        """The job's output from byte ``offset`` on (``agybatch logs --follow``).

        The default reads all of :meth:`logs` and slices it; a backend that can
        read a file from an offset does better.
        """
        data = self.logs(job_id).encode("utf-8", "replace")
        return Output(data[offset:].decode("utf-8", "replace"), max(offset, len(data)))

    def output_marks(self, job_ids: list) -> dict:
        """``{job_id: mark}`` where a job's mark changes whenever its output grows (a size,
        a modification time). Backends that set :attr:`watches_output` implement it."""
        raise CannotTell(f"the {self.name} backend cannot watch job output")

    def close(self) -> None:
        """Release resources; jobs keep running."""
