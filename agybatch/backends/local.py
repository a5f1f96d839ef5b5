"""The local backend: each job a detached process group on this machine.

A job's output goes to ``<state>/jobs/<job_id>.log``, kept within the task's
``max_log_size`` (:mod:`agybatch.backends._joboutput`). The runner hands each
job to its job supervisor (:mod:`agybatch.backends._supervisor`): one detached
process per runner that claims the job by creating its log, starts it, writes
its output to the log, enforces its timeout, records its start and end in the
run's job events (``<state>/runs/<run_id>/local-jobs``) and outlives the
runner. Which state a job is in is decided in one place,
:mod:`agybatch.backends._jobstate`, from those events, the job's log and what
this runner did. How the runner hears that a state may have changed:

- its own supervisor writes each end on a pipe the moment the job ends
  (``wait`` sleeps on it: nothing is polled);
- a job this runner did not start (``agybatch join``) is *adopted*: the
  events are read again every 50 ms, and a pidfd on the supervisor named in
  its ``started`` event reports that supervisor's death at once;
- when its own supervisor dies, the jobs it never started are voided and the
  others adopted.

The output methods read the log with a few seeks, whatever its size: ``logs``
(the marker line of a capped log is part of the text), ``read_output`` (head
and tail for the result parsers), ``read_from`` (by logical offset, which
counts dropped bytes too, for ``agybatch logs --follow``) and
``output_marks`` (bytes written so far, for ``idle_timeout``).
"""
from __future__ import annotations

import os
import selectors
import signal
import time
from pathlib import Path
from typing import Optional

from ..schedule import PollPolicy
from ..errors import JournalError, SubmitError
from ..files import ensure_private_dir
from ..model import JobState, JobStatus
from ..units import parse_duration
from . import OUTPUT_HEAD, OUTPUT_TAIL, Backend, Output
from ._jobevents import EVENTS_FILE, JobEvents
from ._joboutput import read_all, read_ends, read_lines, read_span, written
from ._jobstate import Facts, Then, decide, ended_status
from ._link import SupervisorLink
from ._supervisor import CANCEL, LOG, claim, start_ticks


#: How often a runner reads the job events while it follows jobs an earlier runner started.
EVENTS_CHECK_EVERY = 0.05


class LocalBackend(Backend):
    """Run commands as detached process groups (``[batch.local] grace = "5s"``)."""

    name = "local"
    supports_events = True
    enforces_timeout = True
    spends_recovered_keys = True
    watches_output = True
    #: Fields a command template can use: ``command = ["agy", "-p", "{prompt}", "--model", "{model}"]``.
    task_options = {"prompt": str, "model": str}
    poll_defaults = PollPolicy(initial=0.05, max=1.0, factor=2.0)

    def __init__(self, context) -> None:
        super().__init__(context)
        self.jobs_dir = context.state_dir / "jobs"
        self.grace = context.options.get("grace", 5.0)
        self._link: Optional[SupervisorLink] = None
        self._selector = selectors.DefaultSelector()
        self._events = JobEvents(context.run_dir / EVENTS_FILE)
        self._adopted: dict[str, Optional[int]] = {}  # job ID -> its supervisor's PID, None while unknown
        self._unclaimed_since: dict[str, float] = {}  # job ID -> when this runner first saw it without a log
        self._voided: dict[str, str] = {}  # job ID -> why this runner claimed it so that it never starts
        self._pidfds: dict[int, int] = {}  # supervisor PID -> pidfd watched for its exit

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
        spec = {"log": str(self.log_path(key)), "argv": _argv(task.command), "cwd": task.cwd,
                "timeout": task.timeout, "grace": self.grace, "env": self._env(task, key),
                "log_cap": task.max_log_size}
        submitted = time.time()
        if not self._supervisor().send(key, spec):
            raise SubmitError("the job supervisor exited")
        return JobStatus(key, JobState.RUNNING, started_at=submitted)

    def prepare(self) -> None:
        """Start this runner's supervisor now: a Python interpreter's start overlaps the runner's own."""
        try:
            self._supervisor()
        except SubmitError:
            pass  # the first submission says why

    def _supervisor(self) -> SupervisorLink:
        """This runner's supervisor, started on first use (and again if it died)."""
        if self._link is not None and not self._link.alive:
            self._lose_link()
        if self._link is None:
            events = self.context.run_dir / EVENTS_FILE
            try:
                ensure_private_dir(self.jobs_dir)
                ensure_private_dir(self.context.run_dir)
                os.close(os.open(events, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            except (JournalError, OSError) as exc:
                raise SubmitError(str(exc) if isinstance(exc, JournalError) else f"{events}: {exc.strerror}") from None
            try:
                self._link = SupervisorLink(events)
            except OSError as exc:
                raise SubmitError(f"cannot start the job supervisor: {exc.strerror}") from None
            self._selector.register(self._link.replies, selectors.EVENT_READ, SupervisorLink)
        return self._link

    def _lose_link(self) -> None:
        """The supervisor died: void the jobs it never started, follow the rest like another runner's."""
        link, self._link = self._link, None
        self._selector.unregister(link.replies)
        for key in link.in_flight:
            self._void(key, "never started: its supervisor exited first")
            self._adopted.setdefault(key, None)
        link.close()

    def _void(self, job_id: str, why: str) -> bool:
        """Claim ``job_id`` so that no supervisor ever starts it (it is lost: ``why``); False if one already
        did, or if its log cannot be created."""
        try:
            fd = claim(str(self.log_path(job_id)))
        except OSError:
            return False
        if fd is None:
            return False
        os.close(fd)
        self._voided[job_id] = why
        return True

    def _env(self, task, key: str) -> dict:
        """The job's additions to the inherited environment (nothing else is sent or stored)."""
        env = dict(task.env)
        env.update(AGYBATCH_RUN_ID=self.context.run_id, AGYBATCH_LABEL=task.label, AGYBATCH_JOB_ID=key)
        return env

    def recover(self, key: str) -> Optional[str]:
        """Claim the job first if no supervisor did: then it never starts (its empty log stays, so a
        supervisor that still holds the request gives up) and the runner submits it under a new key.
        (A runner killed before its first job leaves no jobs folder yet: the claim makes it.)"""
        try:
            ensure_private_dir(self.jobs_dir)
        except JournalError:
            pass
        return None if self._void(key, "never started: given up by a recovering runner") else key

    # -- watch ----------------------------------------------------------------

    def poll(self, job_ids: list) -> dict:
        return {job_id: self._status(job_id) for job_id in job_ids}

    def wait(self, job_ids: list, timeout: float) -> dict:
        link = self._link
        ended: dict = {}  # job ID -> its ended event
        look = set()      # jobs whose state is worth reading again
        if link is not None:
            link.drain()
            _sort(link.pop_ended(), ended, look)
        changes = {}
        adopted_now = False
        for job_id in job_ids:
            if job_id not in ended and job_id not in look and job_id not in self._adopted and not self._mine(job_id):
                changes[job_id] = self._adopt(job_id)  # running or not, the runner learns its state now
                adopted_now = True
        if adopted_now or ended or look or (link is not None and not link.alive):
            timeout = 0
        elif self._adopted:
            timeout = min(timeout, EVENTS_CHECK_EVERY)
        for key, _ in self._selector.select(max(0.0, timeout)):
            if key.data is SupervisorLink:
                link.drain()
                _sort(link.pop_ended(), ended, look)
            else:  # a supervisor this runner adopted jobs from has exited
                self._unwatch(key.data)
                look.update(j for j, pid in self._adopted.items() if pid == key.data)
        if link is not None and not link.alive:
            self._lose_link()
        if self._adopted:
            self._events.read_new()
            ended.update((j, self._events.ended[j]) for j in self._adopted if j in self._events.ended)
            look.update(j for j in list(self._adopted) if self._adopted[j] is None and not self._find_supervisor(j))
        for job_id, end in ended.items():
            changes[job_id] = ended_status(job_id, end)
        for job_id in look - ended.keys():
            status = self._status(job_id)
            if status.state.final:
                changes[job_id] = status
            else:
                self._adopted.setdefault(job_id, None)  # started by another supervisor: follow it
        for job_id, status in changes.items():
            if status.state.final:
                self._adopted.pop(job_id, None)
        return {j: s for j, s in changes.items() if j in job_ids}

    def _mine(self, job_id: str) -> bool:
        return self._link is not None and job_id in self._link.in_flight

    def _adopt(self, job_id: str) -> JobStatus:
        """Follow a job this runner did not start (through the job events); its status now."""
        status = self._status(job_id)
        if not status.state.final:
            self._adopted[job_id] = None
            self._find_supervisor(job_id)
        return status

    def _find_supervisor(self, job_id: str) -> bool:
        """Watch the pidfd of an adopted job's live supervisor; False while there is none to watch
        (the job is then looked at on every round, every 50 ms)."""
        pid = self._supervisor_pid(job_id)
        if pid is None or not self._watch(pid):
            return False
        self._adopted[job_id] = pid
        return True

    def _watch(self, pid: int) -> bool:
        if pid not in self._pidfds:
            try:
                fd = os.pidfd_open(pid)
            except (OSError, AttributeError):  # gone already, or no pidfds on this system
                return False
            self._pidfds[pid] = fd
            self._selector.register(fd, selectors.EVENT_READ, pid)
        return True

    def _unwatch(self, pid: int) -> None:
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            self._selector.unregister(fd)
            os.close(fd)

    def _supervisor_pid(self, job_id: str) -> Optional[int]:
        """The PID of the live supervisor running ``job_id``, from its ``started`` event; None if none."""
        self._events.read_new()
        started = self._events.started.get(job_id)
        if started and start_ticks(started["pid"]) == started.get("start_ticks"):
            return started["pid"]
        return None

    # -- state ----------------------------------------------------------------

    def _status(self, job_id: str) -> JobStatus:
        """The job's state, by the table in :mod:`agybatch.backends._jobstate`."""
        status, then = decide(job_id, self._facts(job_id))
        if then is Then.STOP_GROUP:
            _stop_orphan(self._events.started[job_id])
        elif then is Then.VOID:
            if not self._void(job_id, "never started: no supervisor claimed it") and not self.log_path(job_id).exists():
                self._voided[job_id] = f"never started: cannot create {self.log_path(job_id)}"
            status, _ = decide(job_id, self._facts(job_id))
        return status

    def _facts(self, job_id: str) -> Facts:
        events = self._events
        events.read_new()
        started = events.started.get(job_id)
        alive = started is not None and start_ticks(started["pid"]) == started.get("start_ticks")
        if started is not None and not alive:
            events.read_new()  # an end recorded just before its supervisor exited
        log_age = _age(self.log_path(job_id))
        unclaimed_for = 0.0
        if log_age is None:
            now = time.time()
            unclaimed_for = now - self._unclaimed_since.setdefault(job_id, now)
        return Facts(ended=events.ended.get(job_id), started=started, supervisor_alive=alive,
                     voided=self._voided.get(job_id), log_age=log_age, unclaimed_for=unclaimed_for,
                     in_flight=self._mine(job_id))

    # -- control --------------------------------------------------------------

    def cancel(self, job_ids: list) -> None:
        """Leave a ``<job>.cancel`` file next to each job's log, then wake the supervisors concerned."""
        supervisors = set()
        for job_id in job_ids:
            try:
                os.close(os.open(self.jobs_dir / f"{job_id}{CANCEL}", os.O_WRONLY | os.O_CREAT, 0o600))
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

    # -- output ---------------------------------------------------------------

    def logs(self, job_id: str, tail: Optional[int] = None) -> str:
        path, head = self.log_path(job_id), self._log_head(job_id)
        data = read_all(path, head) if tail is None else read_lines(path, head, tail)
        return data.decode("utf-8", "replace")

    def log_path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}{LOG}"

    def read_output(self, job_id: str) -> str:
        data = read_ends(self.log_path(job_id), self._log_head(job_id), OUTPUT_HEAD, OUTPUT_TAIL)
        return data.decode("utf-8", "replace")

    def read_from(self, job_id: str, offset: int) -> Output:
        """Up to 1 MiB of output from ``offset`` on; offsets count the bytes the cap dropped too."""
        data, next_offset, dropped = read_span(self.log_path(job_id), self._log_head(job_id), offset)
        return Output(data.decode("utf-8", "replace"), next_offset, dropped)

    def output_marks(self, job_ids: list) -> dict:
        """``{job_id: bytes of output written so far}``, dropped bytes included."""
        return {job_id: written(self.log_path(job_id), self._log_head(job_id)) for job_id in job_ids}

    def _log_head(self, job_id: str) -> Optional[int]:
        """Where the marker of the job's capped log goes (from its ``started`` event); None if uncapped."""
        started = self._events.started.get(job_id)
        if started is None:
            self._events.read_new()
            started = self._events.started.get(job_id)
        return started.get("log_head") if started else None

    def close(self) -> None:
        self._events.close()
        for pid in list(self._pidfds):
            self._unwatch(pid)
        if self._link is not None:
            self._link.close()
        self._selector.close()


def _stop_orphan(started: dict) -> None:
    """SIGKILL the process group of a job whose supervisor died, if it still runs: nobody would
    record its end, and a retry of the task must not run beside it."""
    child = started.get("child")
    if child and started.get("child_ticks") is not None and start_ticks(child) == started["child_ticks"]:
        try:
            os.killpg(child, signal.SIGKILL)
        except OSError:
            pass


def _sort(reported: list, ended: dict, look: set) -> None:
    """Split the supervisor's reports into ended events and jobs to look at."""
    for job_id, end in reported:
        if end is None:
            look.add(job_id)
        else:
            ended[job_id] = end


def _age(path: Path) -> Optional[float]:
    """Seconds since ``path`` last changed; None if there is no such file."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None


def _argv(command) -> list:
    if isinstance(command, str):
        return ["/bin/sh", "-c", command]
    return list(command)
