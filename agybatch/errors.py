"""Errors that end a command with a documented exit code and one line on stderr."""
from __future__ import annotations

from .states import ExitCode


class AgybatchError(Exception):
    """Base of every expected failure; ``str(err)`` is the one-line message."""

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR


class UsageError(AgybatchError):
    """Bad flags, a bad batch file, an unknown plugin or backend (exit 4)."""

    exit_code = ExitCode.USAGE_ERROR


class ConfigError(UsageError):
    """A batch file that cannot work; the message names the file and the key or line."""

    def __init__(self, path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class NoTasksError(AgybatchError):
    """The batch selects no task (exit 5)."""

    exit_code = ExitCode.NO_TASKS


class LockHeldError(AgybatchError):
    """Another run of the same batch holds its lock (exit 6)."""

    exit_code = ExitCode.LOCK_HELD


class JournalError(AgybatchError):
    """The state folder or journal cannot be used (exit 3)."""

    exit_code = ExitCode.INTERNAL_ERROR


class BackendError(AgybatchError):
    """A backend cannot be used at all, e.g. unreachable before anything was submitted (exit 4)."""

    exit_code = ExitCode.USAGE_ERROR


class SubmitError(Exception):
    """Raised by :meth:`Backend.submit` when one submission failed; the task ends ``error``."""


class PollError(Exception):
    """Raised by :meth:`Backend.poll` for a transient failure; the runner retries next round."""


class CannotTell(Exception):
    """Raised by a backend that cannot answer a question at all, as opposed to failing to.

    :meth:`Backend.recover` raises it when it cannot know whether a key was
    submitted (the runner then reports the task ``lost`` rather than risk a
    second submission); :meth:`Backend.logs` and the output methods raise it
    when the backend keeps no output it can hand over.
    """
