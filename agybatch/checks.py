"""A task's ``check``: a command run after its job succeeded, that can still fail the task.

``check = ["pytest", "-q", "tests/links"]`` (an argv) or a string run by
``/bin/sh -c`` runs in the task's ``cwd`` (its worktree's, with ``workspace =
"worktree"``) with the job's environment plus ``AGYBATCH_OUTPUT``: the path
of a file holding the agent's response text (for a task judged by its exit
code, the job's output). It runs in its own session on the runner's machine,
its output in ``<run>/checks/<label>.<attempt>.log``. A nonzero exit, or a
run longer than ``check_timeout``, fails the task.

The runner journals a check like a job state (phase ``checking``, with the
check's process in :attr:`CheckRun.info`): a runner killed during a check
leaves the phase behind, and ``join`` runs the check again, never the job.
Before a check starts, any process still holding its log open (a check a
dead runner started, journalled or not) is stopped with its process group:
two runs of one check never overlap.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

from .files import ensure_private_dir
from .units import format_duration, safe_name

#: Seconds between SIGTERM and SIGKILL for a check past its ``check_timeout``.
KILL_AFTER = 2.0


class CheckRun:
    """One check process: started by :meth:`start`, asked about with :meth:`poll`.

    :ivar info: ``{"pid", "ticks", "log", "started_at"}``, what the journal keeps
        so that a later ``join`` can stop a check its dead runner left behind.
    """

    def __init__(self, command, cwd: str, env: dict, log: Path, timeout: float) -> None:
        self.argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        self.cwd, self.env, self.log, self.timeout = cwd, env, log, timeout
        self.proc: Optional[subprocess.Popen] = None
        self.info: dict = {}
        self._killed_at: Optional[float] = None

    def start(self) -> None:
        """Start the check (after stopping what is left of an earlier start of it); a check that
        cannot start at all ends at once with exit 127."""
        ensure_private_dir(self.log.parent)
        stop_leftover(self.log)
        with open(self.log, "ab") as out:
            os.chmod(self.log, 0o600)
            try:
                self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                out.write(f"agybatch: cannot start the check {self.argv[0]!r}: {exc.strerror}\n".encode())
                self.proc = None
        started = time.time()
        pid = self.proc.pid if self.proc else None
        self.info = {"pid": pid, "log": str(self.log), "started_at": started}

    def poll(self, now: float):
        """``None`` while it runs, else ``(exit_code, reason)``: reason None for a pass."""
        if self.proc is None:
            return 127, "check failed: could not start"
        code = self.proc.poll()
        if code is None:
            if self._killed_at is None and now >= self.info["started_at"] + self.timeout:
                self._killed_at = now
                _killpg(self.proc.pid, signal.SIGTERM)
            elif self._killed_at is not None and now >= self._killed_at + KILL_AFTER:
                _killpg(self.proc.pid, signal.SIGKILL)
            return None
        if self._killed_at is not None:
            _killpg(self.proc.pid, signal.SIGKILL)
            return code, f"check timed out after {format_duration(self.timeout)}"
        return code, None if code == 0 else f"check failed: exit {code}"

    def stop(self) -> None:
        """Kill the check's whole process group (an interrupted runner, a deadline)."""
        if self.proc is not None and self.proc.poll() is None:
            _killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def stop_leftover(log: Path) -> None:
    """SIGKILL the process groups of every process that has ``log`` open: what is left of a check
    started before (its output goes there, and its children inherit it). Linux's ``/proc``."""
    target = os.path.realpath(log)
    groups = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        folder = f"/proc/{pid}/fd"
        try:
            holds = any(os.readlink(f"{folder}/{fd}") == target for fd in os.listdir(folder))
            if holds:
                groups.add(os.getpgid(int(pid)))
        except OSError:
            continue
    for group in groups - {os.getpgrp()}:
        _killpg(group, signal.SIGKILL)


def check_files(run_dir: Path, label: str, attempt: int) -> tuple:
    """``(log, output)``: where a check's output and the response text it reads go."""
    stem = f"{safe_name(label)}.{attempt}"
    return run_dir / "checks" / f"{stem}.log", run_dir / "checks" / f"{stem}.output"


def write_output(path: Path, text: str) -> None:
    """Write the text a check reads through ``AGYBATCH_OUTPUT`` (owner-only)."""
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
        fh.write(text)


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
