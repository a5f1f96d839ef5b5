"""The local backend: each job a detached process group on this machine.

Each job gets a folder ``<state>/jobs/<job_id>/`` and a forked supervisor
(:mod:`agybatch.backends._supervisor`) in a new session, so jobs survive the
runner. The supervisor records the exit status in ``status.json`` even when
no runner is waiting. Supervisors are forked by a small spawner process
(:func:`~agybatch.backends._supervisor.serve`), which tells the runner the
moment each one exits, so a finished job is noticed at once, with no polling
delay; supervisors from before a crash are watched through pidfds. Without
the spawner (it could not start, or died) the runner forks supervisors itself.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import time
from pathlib import Path
from typing import Optional

from ..config import PollPolicy
from ..errors import SubmitError
from ..model import JobState, JobStatus
from ..units import parse_duration
from . import Backend
from ._spawner import Spawner
from ._supervisor import CLAIM, LOG, PROC, SPEC, STATUS, claim, start_ticks, supervise


#: How long a job folder may wait for its supervisor to claim it before it counts as lost.
STARTUP_GRACE = 30.0


class LocalBackend(Backend):
    """Run commands as detached process groups (``[batch.local] grace = "5s"``)."""

    name = "local"
    supports_events = True
    enforces_timeout = True
    #: Fields a command template can use: ``command = ["agy", "-p", "{prompt}", "--model", "{model}"]``.
    task_options = {"prompt": str, "model": str}
    poll_defaults = PollPolicy(initial=0.05, max=1.0, factor=2.0)

    def __init__(self, context) -> None:
        super().__init__(context)
        self.jobs_dir = context.state_dir / "jobs"
        self.grace = context.options.get("grace", 5.0)
        self._children: dict[str, int] = {}
        self._selector = selectors.DefaultSelector()
        self._watched: dict[str, int] = {}
        self._spawner: Optional[Spawner] = None
        self._spawner_failed = False
        self._gone: set = set()

    @classmethod
    def check_options(cls, options: dict) -> dict:
        unknown = set(options) - {"grace"}
        if unknown:
            raise ValueError(f"unknown key {sorted(unknown)[0]!r} (known: 'grace')")
        if "grace" in options:
            options["grace"] = parse_duration(options["grace"])
        return options

    # -- submit ---------------------------------------------------------------

    def submit(self, task, key: str) -> JobStatus:
        jobdir = self.jobs_dir / key
        try:
            try:
                jobdir.mkdir(mode=0o700)
            except FileNotFoundError:  # the first job of this state folder
                self.jobs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                jobdir.mkdir(mode=0o700)
            spec = {
                "argv": _argv(task.command), "cwd": task.cwd, "timeout": task.timeout,
                "grace": self.grace, "env": self._env(task, key),
            }
            _write_private(jobdir / SPEC, json.dumps(spec))
        except OSError as exc:
            raise SubmitError(f"cannot prepare job folder {jobdir}: {exc.strerror}") from None
        submitted = time.time()
        spawner = self._get_spawner()
        if spawner is not None and spawner.send(key, jobdir):
            return JobStatus(key, JobState.RUNNING, started_at=submitted)
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGALRM})
        try:
            pid = os.fork()
            if pid == 0:
                supervise(str(jobdir), spec)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        self._children[key] = pid
        self._watch(key, pid)
        return JobStatus(key, JobState.RUNNING, started_at=submitted)

    def _get_spawner(self) -> Optional[Spawner]:
        if self._spawner is not None and not self._spawner.alive:
            self._selector.unregister(self._spawner.replies)
            self._spawner.close()
            self._spawner, self._spawner_failed = None, True
        if self._spawner is None and not self._spawner_failed:
            try:
                self._spawner = Spawner()
            except OSError:
                self._spawner_failed = True
            else:
                self._selector.register(self._spawner.replies, selectors.EVENT_READ, Spawner)
        return self._spawner

    def _mine(self) -> set:
        """Jobs the spawner started for this runner and has not yet reported ended."""
        return self._spawner.in_flight if self._spawner is not None and self._spawner.alive else set()

    def _env(self, task, key: str) -> dict:
        """The job's additions to the inherited environment (only these reach ``spec.json``)."""
        env = dict(task.env)
        env.update(AGYBATCH_RUN_ID=self.context.run_id, AGYBATCH_LABEL=task.label, AGYBATCH_JOB_ID=key)
        return env

    def recover(self, key: str) -> Optional[str]:
        jobdir = self.jobs_dir / key
        if not jobdir.is_dir():
            return None
        if claim(str(jobdir), "void"):
            shutil.rmtree(jobdir, ignore_errors=True)
            return None
        if (jobdir / CLAIM).read_text() == "void":
            shutil.rmtree(jobdir, ignore_errors=True)
            return None
        return key

    # -- watch ----------------------------------------------------------------

    def poll(self, job_ids: list) -> dict:
        return {job_id: self._status(job_id) for job_id in job_ids}

    def wait(self, job_ids: list, timeout: float) -> dict:
        spawner = self._get_spawner() if self._spawner is not None else None
        if spawner is not None:
            spawner.drain()
        mine = self._mine()
        unwatched = [j for j in job_ids if j not in self._watched and j not in mine]
        for job_id in unwatched:
            pid = self._children.get(job_id) or self._supervisor_pid(job_id)
            if pid:
                self._watch(job_id, pid)
        changes = {j: s for j in unwatched if (s := self._status(j)).state.final}
        pending = [j for j in job_ids if j not in self._watched and j not in changes and j not in mine]
        if changes or (spawner is not None and spawner.ended):
            timeout = 0
        elif pending:
            timeout = min(timeout, 0.05)
        for key, _ in self._selector.select(max(0.0, timeout)):
            if key.data is Spawner:
                spawner.drain()
                continue
            job_id = key.data
            self._unwatch(job_id)
            self._reap(job_id)
            self._gone.add(job_id)
            changes[job_id] = self._status(job_id)
        if spawner is not None:
            for job_id in spawner.pop_ended():
                self._gone.add(job_id)
                changes[job_id] = self._status(job_id)
        for job_id in pending:
            status = self._status(job_id)
            if status.state.final:
                changes[job_id] = status
        return {j: s for j, s in changes.items() if j in job_ids}

    def _watch(self, job_id: str, pid: int) -> None:
        if not hasattr(os, "pidfd_open") or job_id in self._watched:
            return
        try:
            fd = os.pidfd_open(pid)
        except (ProcessLookupError, OSError):
            return
        self._watched[job_id] = fd
        self._selector.register(fd, selectors.EVENT_READ, job_id)

    def _unwatch(self, job_id: str) -> None:
        fd = self._watched.pop(job_id, None)
        if fd is not None:
            self._selector.unregister(fd)
            os.close(fd)

    def _reap(self, job_id: str) -> None:
        pid = self._children.pop(job_id, None)
        if pid:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass

    def _supervisor_pid(self, job_id: str) -> Optional[int]:
        proc = _read_json(self.jobs_dir / job_id / PROC)
        if proc and start_ticks(proc["pid"]) == proc.get("start_ticks"):
            return proc["pid"]
        return None

    def _status(self, job_id: str) -> JobStatus:
        jobdir = self.jobs_dir / job_id
        final = self._final(job_id)
        if final:
            return final
        if not jobdir.is_dir():
            return JobStatus(job_id, JobState.LOST, reason="job folder is gone")
        if _read_text(jobdir / CLAIM) == "void":
            return JobStatus(job_id, JobState.LOST, reason="never started")
        if job_id in self._gone:
            return self._final(job_id) or JobStatus(
                job_id, JobState.LOST, reason="supervisor exited without recording an exit status")
        proc = _read_json(jobdir / PROC)
        if proc is None:
            if job_id in self._children or job_id in self._mine() or _age(jobdir / SPEC) < STARTUP_GRACE:
                return JobStatus(job_id, JobState.RUNNING)
        elif start_ticks(proc["pid"]) == proc.get("start_ticks"):
            return JobStatus(job_id, JobState.RUNNING, started_at=proc["started_at"])
        return self._final(job_id) or JobStatus(
            job_id, JobState.LOST, reason="supervisor died without recording an exit status")

    def _final(self, job_id: str) -> Optional[JobStatus]:
        status = _read_json(self.jobs_dir / job_id / STATUS)
        if status is None:
            return None
        return JobStatus(job_id, JobState(status["state"]), status["exit_code"],
                         status["started_at"], status["ended_at"], status.get("reason"))

    # -- control --------------------------------------------------------------

    def cancel(self, job_ids: list) -> None:
        for job_id in job_ids:
            pid = self._children.get(job_id) or self._spawned_pid(job_id) or self._supervisor_pid(job_id)
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def _spawned_pid(self, job_id: str) -> Optional[int]:
        if job_id not in self._mine():
            return None
        return self._spawner.pid_of(job_id)

    def logs(self, job_id: str, tail: Optional[int] = None) -> str:
        return tail_file(self.jobs_dir / job_id / LOG, tail)

    def log_path(self, job_id: str) -> Path:
        return self.jobs_dir / job_id / LOG

    def close(self) -> None:
        for job_id in list(self._watched):
            self._unwatch(job_id)
        if self._spawner is not None:
            self._spawner.close()
        self._selector.close()


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _argv(command) -> list:
    if isinstance(command, str):
        return ["/bin/sh", "-c", command]
    return list(command)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _read_text(path: Path) -> Optional[str]:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_json(path: Path) -> Optional[dict]:
    text = _read_text(path)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def tail_file(path: Path, lines: Optional[int] = None, chunk: int = 65536) -> str:
    """The last ``lines`` lines of ``path`` (all of it when None), read from the end."""
    try:
        with open(path, "rb") as fh:
            if lines is None:
                return fh.read().decode("utf-8", "replace")
            fh.seek(0, os.SEEK_END)
            end = pos = fh.tell()
            data = b""
            while pos > 0 and data.count(b"\n") <= lines:
                pos = max(0, pos - chunk)
                fh.seek(pos)
                data = fh.read(end - pos)
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", "replace")
    parts = text.splitlines(keepends=True)
    return "".join(parts[-lines:]) if lines else ""
