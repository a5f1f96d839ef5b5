"""Whether the process that runs a run is still there.

``run`` and ``join`` journal who they are (:func:`me`); ``status`` and
``logs --follow`` :func:`check` it, so that they can say a run will not move
again until someone joins it, instead of waiting in silence.
"""
from __future__ import annotations

import json
import os


def me() -> str:
    """This process, as the journal's ``runs.runner`` holds it."""
    pid = os.getpid()
    return json.dumps({"host": os.uname().nodename, "pid": pid, "start": _start_time(pid)})


def check(runner: str | None) -> dict | None:
    """``{"pid": PID, "alive": bool}`` of a journalled runner, ``alive`` None where it cannot be told
    from here (it ran on another host); None if no runner was journalled."""
    try:
        who = json.loads(runner) if runner else None
        host, pid, start = who["host"], int(who["pid"]), who.get("start")
    except (ValueError, TypeError, KeyError):
        return None
    if host != os.uname().nodename:
        return {"pid": pid, "alive": None}
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return {"pid": pid, "alive": False}
    except PermissionError:
        pass  # it exists, under another user
    now = _start_time(pid)
    return {"pid": pid, "alive": start is None or now is None or now == start}


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), so that a reused PID is not taken
    for the runner; None where ``/proc`` does not tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
