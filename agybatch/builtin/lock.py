"""One run of a batch at a time: a non-blocking ``flock`` in ``<state>/locks/``.

A second launch of the same batch fails at once with exit 6, naming the
holder's PID and start time. The lock dies with its process, so a crashed
runner never leaves a stale lock behind.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import time

from agybatch import hookimpl
from agybatch.errors import JournalError, LockHeldError
from agybatch.files import ensure_private_dir
from agybatch.units import iso


def lock_path(session):
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", session.batch.name)
    return ensure_private_dir(session.state_dir / "locks") / f"{safe}.lock"


@hookimpl(tryfirst=True)
def on_session_start(session):
    path = lock_path(session)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise JournalError(f"{path}: cannot open lock file: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise LockHeldError(
            f"batch {session.batch.name!r} is already running (pid {holder.get('pid', '?')}, "
            f"started {holder.get('started', '?')}); lock: {path}"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": iso(time.time()), "run_id": session.run_id}).encode(), 0)
    session.stash["lock_fd"] = fd


@hookimpl
def on_session_end(session):
    fd = session.stash.pop("lock_fd", None)
    if fd is not None:
        os.close(fd)


def _holder(fd) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
