"""The local backend: each job a detached process group on this machine.

Each job gets a folder ``<state>/jobs/<job_id>/`` (its ``claim`` and
``output.log``), created by the runner and handed, with the command, to the
runner's job supervisor (:mod:`agybatch.backends._supervisor`): one detached
process per runner that starts every job, enforces timeouts, records each
job's end in the run's ends file (``<state>/runs/<run_id>/local-ends``) and
outlives the runner. It tells the runner the moment a job ends, so nothing is
polled. A runner that picks up jobs an earlier one started (``agybatch
join``) follows the ends file and learns from a pidfd when such a supervisor dies.
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
from ..errors import JournalError, SubmitError
from ..journal import ensure_private_dir
from ..model import JobState, JobStatus
from ..units import parse_duration
from . import Backend
from ._link import SupervisorLink
from ._supervisor import CANCEL, CLAIM, LOG, VOID, start_ticks, void


#: How long a job folder may wait for its supervisor to claim it before it counts as lost.
STARTUP_GRACE = 30.0
#: How often a runner reads the ends file while it follows jobs an earlier runner started.
ENDS_CHECK_EVERY = 0.05
#: The file in the run folder that supervisors append each job's end to (one JSON object a line).
ENDS_FILE = "local-ends"


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
        self._link: Optional[SupervisorLink] = None
        self._selector = selectors.DefaultSelector()
        self._ends = EndsFile(context.run_dir / ENDS_FILE)
        self._adopted: dict[str, Optional[int]] = {}
        self._pidfds: dict[int, int] = {}

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
        jobdir = os.path.join(self.jobs_dir, key)
        try:
            try:
                os.mkdir(jobdir, 0o700)
            except FileNotFoundError:  # the first job of this state folder
                ensure_private_dir(self.jobs_dir)
                os.mkdir(jobdir, 0o700)
        except (OSError, JournalError) as exc:
            raise SubmitError(f"cannot create job folder {jobdir}: {getattr(exc, 'strerror', None) or exc}") from None
        spec = {"argv": _argv(task.command), "cwd": task.cwd, "timeout": task.timeout,
                "grace": self.grace, "env": self._env(task, key)}
        submitted = time.time()
        if not self._supervisor().send(key, jobdir, spec):
            raise SubmitError("the job supervisor exited")
        return JobStatus(key, JobState.RUNNING, started_at=submitted)

    def _supervisor(self) -> SupervisorLink:
        """This runner's supervisor, started on first use (and again if it died)."""
        if self._link is not None and not self._link.alive:
            self._lose_link()
        if self._link is None:
            ends = self.context.run_dir / ENDS_FILE
            try:
                ensure_private_dir(self.context.run_dir)
                os.close(os.open(ends, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            except (JournalError, OSError) as exc:
                raise SubmitError(f"{ends}: {getattr(exc, 'strerror', None) or exc}") from None
            try:
                self._link = SupervisorLink(ends)
            except OSError as exc:
                raise SubmitError(f"cannot start the job supervisor: {exc.strerror}") from None
            self._selector.register(self._link.replies, selectors.EVENT_READ, SupervisorLink)
        return self._link

    def _lose_link(self) -> None:
        """The supervisor died: void the jobs it never started, follow the rest like another runner's."""
        link, self._link = self._link, None
        self._selector.unregister(link.replies)
        for key in link.in_flight:
            void(os.path.join(self.jobs_dir, key))
            self._adopted.setdefault(key, None)
        link.close()

    def _env(self, task, key: str) -> dict:
        """The job's additions to the inherited environment (nothing else is sent or stored)."""
        env = dict(task.env)
        env.update(AGYBATCH_RUN_ID=self.context.run_id, AGYBATCH_LABEL=task.label, AGYBATCH_JOB_ID=key)
        return env

    def recover(self, key: str) -> Optional[str]:
        jobdir = self.jobs_dir / key
        if not jobdir.is_dir():
            return None
        if void(str(jobdir)) or _read_bytes(jobdir / CLAIM) == VOID:
            shutil.rmtree(jobdir, ignore_errors=True)
            return None
        return key

    # -- watch ----------------------------------------------------------------

    def poll(self, job_ids: list) -> dict:
        return {job_id: self._status(job_id) for job_id in job_ids}

    def wait(self, job_ids: list, timeout: float) -> dict:
        link = self._link
        reported: dict = {}  # job ID -> the status its supervisor reported (None: look in its folder)
        check = set()        # adopted jobs worth a look
        if link is not None:
            link.drain()
            reported.update(link.pop_ended())
        changes = {}
        for job_id in job_ids:
            if job_id not in reported and job_id not in self._adopted and not self._mine(job_id):
                status = self._adopt(job_id)
                if status.state.final:
                    changes[job_id] = status
        if changes or reported or (link is not None and not link.alive):
            timeout = 0
        elif self._adopted:
            timeout = min(timeout, ENDS_CHECK_EVERY)
        for key, _ in self._selector.select(max(0.0, timeout)):
            if key.data is SupervisorLink:
                link.drain()
                reported.update(link.pop_ended())
            else:  # a supervisor this runner adopted jobs from has exited
                self._unwatch(key.data)
                check.update(j for j, pid in self._adopted.items() if pid == key.data)
        if link is not None and not link.alive:
            self._lose_link()
        if self._adopted:
            reported.update((end["job"], end) for end in self._ends.read_new() if end["job"] in self._adopted)
            check.update(j for j in list(self._adopted) if self._adopted[j] is None and not self._find_supervisor(j))
        for job_id, status in reported.items():
            changes[job_id] = _job_status(job_id, status) if status else self._status(job_id, reported_end=True)
        for job_id in check - reported.keys():
            status = self._status(job_id)
            if status.state.final:
                changes[job_id] = status
        for job_id in changes:
            self._adopted.pop(job_id, None)
        return {j: s for j, s in changes.items() if j in job_ids}

    def _mine(self, job_id: str) -> bool:
        return self._link is not None and job_id in self._link.in_flight

    def _adopt(self, job_id: str) -> JobStatus:
        """Follow a job this runner did not start (through the ends file); its status now."""
        status = self._status(job_id)
        if not status.state.final:
            self._adopted[job_id] = None
            self._find_supervisor(job_id)
        return status

    def _find_supervisor(self, job_id: str) -> bool:
        """Watch the pidfd of an adopted job's supervisor; False while it is not known."""
        pid = self._supervisor_pid(job_id)
        if pid is None:
            return False
        self._adopted[job_id] = pid
        self._watch(pid)
        return True

    def _watch(self, pid: int) -> None:
        if pid in self._pidfds or not hasattr(os, "pidfd_open"):
            return
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return
        self._pidfds[pid] = fd
        self._selector.register(fd, selectors.EVENT_READ, pid)

    def _unwatch(self, pid: int) -> None:
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            self._selector.unregister(fd)
            os.close(fd)

    def _supervisor_pid(self, job_id: str) -> Optional[int]:
        """The PID of the live supervisor running ``job_id``, from its claim; None if unknown or dead."""
        claimed = _parse_json(_read_bytes(self.jobs_dir / job_id / CLAIM))
        if claimed and start_ticks(claimed["pid"]) == claimed.get("start_ticks"):
            return claimed["pid"]
        return None

    def _status(self, job_id: str, reported_end: bool = False) -> JobStatus:
        """What the job folder says; ``reported_end`` when its supervisor said it ended."""
        jobdir = self.jobs_dir / job_id
        final = self._final(job_id)
        if final:
            return final
        if not jobdir.is_dir():
            return JobStatus(job_id, JobState.LOST, reason="job folder is gone")
        claimed = _read_bytes(jobdir / CLAIM)
        if claimed == VOID:
            return JobStatus(job_id, JobState.LOST, reason="never started")
        if reported_end:
            return JobStatus(job_id, JobState.LOST, reason="its supervisor could not record an exit status")
        runner = _parse_json(claimed)
        if runner is None:  # not claimed yet, or being started
            if self._mine(job_id) or _age(jobdir) < STARTUP_GRACE:
                return JobStatus(job_id, JobState.RUNNING)
        elif start_ticks(runner["pid"]) == runner.get("start_ticks"):
            return JobStatus(job_id, JobState.RUNNING, started_at=runner["started_at"])
        return self._final(job_id) or JobStatus(
            job_id, JobState.LOST, reason="supervisor died without recording an exit status")

    def _final(self, job_id: str) -> Optional[JobStatus]:
        self._ends.read_new()
        end = self._ends.ends.get(job_id)
        return _job_status(job_id, end) if end else None

    # -- control --------------------------------------------------------------

    def cancel(self, job_ids: list) -> None:
        """Leave a ``cancel`` file in each job's folder, then wake the supervisors concerned."""
        supervisors = set()
        for job_id in job_ids:
            try:
                os.close(os.open(self.jobs_dir / job_id / CANCEL, os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError:
                continue
            if self._mine(job_id):
                supervisors.add(self._link)
            elif (pid := self._supervisor_pid(job_id)) is not None:
                supervisors.add(pid)
        for supervisor in supervisors:
            if isinstance(supervisor, SupervisorLink):
                supervisor.wake()
            else:
                try:
                    os.kill(supervisor, signal.SIGUSR1)
                except ProcessLookupError:
                    pass

    def logs(self, job_id: str, tail: Optional[int] = None) -> str:
        return tail_file(self.jobs_dir / job_id / LOG, tail)

    def log_path(self, job_id: str) -> Path:
        return self.jobs_dir / job_id / LOG

    def close(self) -> None:
        self._ends.close()
        for pid in list(self._pidfds):
            self._unwatch(pid)
        if self._link is not None:
            self._link.close()
        self._selector.close()


class EndsFile:
    """Follows the run's ends file, where supervisors record each job's end.

    ``ends`` maps each job ID read so far to its record (``state``,
    ``exit_code``, ``started_at``, ``ended_at``, ``reason``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ends: dict = {}
        self._fh = None
        self._partial = b""

    def read_new(self) -> list:
        """The records appended since the last call (a line still being written waits for the next)."""
        if self._fh is None:
            try:
                self._fh = open(self.path, "rb")
            except OSError:
                return []
        data = self._fh.read()
        if not data:
            return []
        *lines, self._partial = (self._partial + data).split(b"\n")
        new = [end for end in map(_parse_json, lines) if end and isinstance(end.get("job"), str)]
        self.ends.update((end["job"], end) for end in new)
        return new

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _argv(command) -> list:
    if isinstance(command, str):
        return ["/bin/sh", "-c", command]
    return list(command)


def _job_status(job_id: str, status: dict) -> JobStatus:
    return JobStatus(job_id, JobState(status["state"]), status["exit_code"],
                     status["started_at"], status["ended_at"], status.get("reason"))


def _read_bytes(path: Path) -> Optional[bytes]:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _parse_json(data: Optional[bytes]) -> Optional[dict]:
    """``data`` as a JSON object; None if missing, empty or not yet completely written."""
    if not data:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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
