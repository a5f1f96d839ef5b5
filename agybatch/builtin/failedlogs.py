"""Save the tail of each failed job's log at join (block with ``-p no:failedlogs``).

For every task that did not succeed and has a job, the last lines of its log
(default 40; ``--failed-log-tail N`` or ``[failedlogs] tail = N``; 0 turns it
off) are fetched from the backend and written to
``<state>/runs/<run_id>/failed-<label>-<job_id>.log`` (0600, in a 0700
folder). A task whose ``check`` failed gets the last lines of the check's
output after its job's. The path becomes the task's ``log_path`` in the
summary, the journal (``agybatch status``) and the notification. Succeeded
jobs' logs are never copied.

File names are made from labels and job IDs by :func:`agybatch.units.safe_name`: no ``/``,
``..``, NUL or control characters, so nothing lands outside the run folder
whatever a label or a backend's job ID contains.

``on_join`` is ``tryfirst``: the paths are filled in before any other
``on_join`` implementation (reporters, ``notify``) looks at the summary.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from agybatch import hookimpl
from agybatch.errors import CannotTell, JournalError
from agybatch.units import safe_name

DEFAULT_TAIL = 40


def log_file_name(label: str, job_id: str) -> str:
    """``failed-<label>-<job_id>.log`` made safe (labels like ``audit:x`` keep readable)."""
    return f"failed-{safe_name(label.replace(':', '_'))}-{safe_name(job_id)}.log"


@hookimpl
def addoption(parser):
    from agybatch.units import non_negative

    parser.add_argument("--failed-log-tail", dest="failed_log_tail", type=non_negative, metavar="N",
                        default=None, help=f"save the last N log lines of each failed job (default "
                                           f"{DEFAULT_TAIL}; 0: none)")


@hookimpl
def register_tables(register):
    register("failedlogs", validate)


def validate(data) -> None:
    """Check ``[failedlogs]``: only ``tail``, a whole number >= 0."""
    if not isinstance(data, dict):
        raise ValueError("[failedlogs] must be a table, e.g. tail = 40")
    for key, value in data.items():
        if key != "tail":
            raise ValueError(f"unknown key {key!r} (known: 'tail')")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"tail must be a whole number >= 0, got {value!r}")


def tail_lines(session) -> int:
    """The number of lines to keep: the command line, else ``[failedlogs] tail``, else 40."""
    option = getattr(session.config.option, "failed_log_tail", None)
    if option is not None:
        return option
    return session.batch.tables.get("failedlogs", {}).get("tail", DEFAULT_TAIL)


@hookimpl(tryfirst=True)
def on_join(session, summary):
    tail = tail_lines(session)
    backend = getattr(session, "backend", None)
    if tail == 0 or backend is None:
        return
    for task in summary.not_ok():
        if task.outcome is None or not task.job_id:
            continue
        try:
            text = backend.logs(task.job_id, tail)
        except CannotTell:
            _warn(summary, f"the {session.batch.backend} backend cannot fetch logs; no failed-job logs saved")
            return
        except Exception as exc:
            _warn(summary, f"cannot fetch the log of {task.label!r} ({task.job_id}): {type(exc).__name__}: {exc}")
            continue
        if task.check_log:
            from agybatch.files import tail_file

            text += f"--- the check's output ({task.check_log}) ---\n" + tail_file(Path(task.check_log), tail)
        try:
            path = write_private(session.run_dir, log_file_name(task.label, task.job_id), text)
        except (OSError, JournalError) as exc:
            _warn(summary, f"cannot save the log of {task.label!r}: {getattr(exc, 'strerror', None) or exc}")
            continue
        task.log_path = str(path)
        try:
            session.journal.update_task(session.run_id, task.label, log_path=str(path))
        except JournalError as exc:
            _warn(summary, f"saved {path} but cannot record it in the journal: {exc}")


def write_private(folder, name: str, text) -> object:
    """Write ``text`` to ``folder/name`` (0600; ``folder`` made 0700); refuses anything but a plain name."""
    from agybatch.files import ensure_private_dir

    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise OSError(f"refusing unsafe file name {name!r}")
    ensure_private_dir(folder.parent)
    ensure_private_dir(folder)
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text if isinstance(text, str) else text.decode("utf-8", "replace"))
    return path


def _warn(summary, message: str) -> None:
    message = f"failedlogs: {message}"
    summary.plugin_errors.append(message)
    print(f"agybatch: warning: {message}", file=sys.stderr)
