"""The job supervisor: one detached process that starts, watches and ends a runner's local jobs.

The local backend starts it once per runner (``python -I -S -c BOOT FOLDER
EVENTS``, in a new session; :class:`agybatch.backends._link.SupervisorLink`
is the runner's end) and sends it jobs on stdin, one JSON object a line: the
job's ``log`` path and its ``argv``, ``cwd``, ``env`` additions, ``timeout``
and ``grace``. For each job it

- claims the job by creating its log with ``O_EXCL``, so a job starts at most
  once (a recovering runner claims a job it gives up on the same way),
- starts the command with ``posix_spawn`` in its own process group, stdin
  from ``/dev/null``, stdout and stderr into one pipe that it reads and
  writes to the log, within the job's ``log_cap`` (bytes, null for no cap:
  see :mod:`agybatch.backends._joboutput`),
- ends it at its timeout: SIGTERM to the group, SIGKILL after the grace period,
- cancels it the same way once a ``<job>.cancel`` file is next to the log (it
  looks when it gets SIGUSR1, and before starting the command),
- appends an event to ``EVENTS``, the run's job events, when the command
  starts (``{"job", "event": "started", "pid", "start_ticks", "child",
  "child_ticks", "started_at"}``: who runs it, and ``log_head`` for a capped
  log) and when it ends (``{"job", "event": "ended", "state", "exit_code",
  "started_at", "ended_at", "reason"}``), and sends the ``ended`` event to the
  runner on stdout too. A job has ended when its process has: what it wrote
  until then is in the log before the ``ended`` event; what processes it
  left behind write later is still added to the log.

It outlives the runner: every job sent before the runner went away is
served, and the supervisor exits once stdin is closed, its last job has
ended (including the grace period of a stopped job's process group) and no
process holds a job's output pipe any more. A runner that stops reading
(Ctrl-Z) does not hold it up: replies wait in memory. SIGTERM cancels every
job it runs and every job sent after it. If the supervisor dies, its jobs
get SIGPIPE (EPIPE) on their next write; the runner reports them lost and
kills their process groups anyway.

One process for all jobs, rather than one per job, and one events file for
the run make the cost of a job one ``posix_spawn``, one pipe and one new file,
close to what ``xargs`` pays.
"""
from __future__ import annotations

import heapq
import itertools
import json
import os
import resource
import selectors
import signal
import time

if __package__:
    from ._joboutput import CappedLog
else:  # started by BOOT, with this folder last on sys.path
    from _joboutput import CappedLog

#: What ``python -I -S -c BOOT FOLDER EVENTS`` runs: this module imported from FOLDER, after the
#: standard library (so no file here can shadow it), with its bytecode cached like any module's
#: (a script given by path is compiled at every start); then :func:`main`.
BOOT = "import sys; sys.path.append(sys.argv[1]); import _supervisor; _supervisor.main(sys.argv[2])"

#: Name endings of a job's files next to each other in the jobs folder.
LOG, CANCEL = ".log", ".cancel"

#: Signals the supervisor handles; blocked until its handlers are installed.
HANDLED = (signal.SIGCHLD, signal.SIGUSR1, signal.SIGTERM)
#: Bytes read from a job's output pipe at once.
CHUNK = 65536
#: Reads of a job's pipe when its process has exited, before its end is recorded (what it wrote is all there).
DRAIN = 256
#: Every signal a job starts with at its default action, whatever the runner or supervisor did with it
#: (a shell's ``agybatch run &`` ignores SIGINT and SIGQUIT; Python ignores SIGPIPE).
DEFAULT_IN_JOBS = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}


def start_ticks(pid: int):
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == b"Z":
        return None
    return int(fields[19])


def claim(log: str) -> "int | None":
    """Atomically claim a job by creating its ``log``: an open descriptor, or None if already claimed."""
    try:
        return os.open(log, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None


class Job:
    """One running command: its name, log, process group, output and how it is being stopped."""

    __slots__ = ("name", "log", "pid", "started", "timeout", "grace", "stop_reason", "killed", "output", "pipe")

    def __init__(self, name: str, log: str, pid: int, started: float, spec: dict, output: CappedLog,
                 pipe: int) -> None:
        self.name, self.log, self.pid, self.started = name, log, pid, started
        self.timeout, self.grace = spec.get("timeout"), spec.get("grace", 5.0)
        self.stop_reason, self.killed = None, False
        self.output, self.pipe = output, pipe


class Supervisor:
    """Serves jobs from ``requests`` until it is closed and no job or job output is left."""

    def __init__(self, events_path: str, requests: int = 0, replies: "int | None" = 1) -> None:
        self.requests, self.replies = requests, replies
        if replies is not None:
            os.set_blocking(replies, False)
        self.unsent = b""
        self.jobs: dict = {}       # PID -> the running Job
        self.lingering: dict = {}  # PID -> a stopped Job whose command ended: its group is killed after the grace
        self.pipes: dict = {}      # read end of a job's output pipe -> the Job, until every writer closed it
        self.cancel_all = False
        self.timers: list = []
        self._timer_seq = itertools.count()
        self.environ = dict(os.environ)
        self._programs: dict = {}
        self._fd_limits = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.me = {"pid": os.getpid(), "start_ticks": start_ticks(os.getpid())}
        self.events = os.open(events_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.selector = selectors.DefaultSelector()
        self._sending, self._sent_to = False, None

    def serve(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sig in HANDLED:
            signal.signal(sig, lambda _s, _f: None)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        self.selector.register(wake_r, selectors.EVENT_READ)
        self.selector.register(self.requests, selectors.EVENT_READ)
        pending, reading = b"", True
        while reading or self.jobs or self.lingering or self.pipes:
            self._send_when_writable()
            for key, _ in self.selector.select(self._next_timer()):
                if key.data is not None:
                    if self.pipes.get(key.fd) is key.data:  # not closed earlier in this round
                        self._pump(key.fd, key.data)
                elif key.fd == self.replies:
                    self._reply(b"")
                elif key.fd == wake_r:
                    self._on_signals(_drain(wake_r))
                elif key.fd == self.requests:
                    data = os.read(self.requests, 65536)
                    reading = bool(data)
                    if not reading:
                        self.selector.unregister(self.requests)
                    *lines, pending = (pending + data).split(b"\n")
                    for line in lines:
                        self._start_safely(line)
            self._run_timers()

    def _send_when_writable(self) -> None:
        """Watch the replies pipe for room exactly while replies wait to be sent."""
        want = bool(self.unsent) and self.replies is not None
        if want != self._sending:
            if want:
                self.selector.register(self.replies, selectors.EVENT_WRITE)
            else:
                self.selector.unregister(self._sent_to)
            self._sending = want
            self._sent_to = self.replies

    # -- starting -------------------------------------------------------------

    def _start_safely(self, line: bytes) -> None:
        try:
            spec = json.loads(line)
            log = spec["log"]
        except (ValueError, KeyError, TypeError):
            return
        try:
            self.start(log, spec)
        except Exception:  # one bad job must not take the other jobs' supervisor down
            self._ask_to_look(log)

    def start(self, log: str, spec: dict) -> None:
        """Claim the job whose output goes to ``log`` and start ``spec``'s command."""
        name = _job_name(log)
        self._make_room()
        try:
            fd = claim(log)
        except OSError as exc:  # nobody can create this log, so the job can never start
            self._finish(name, "failed", 127, time.time(), f"agybatch: cannot create {log}: {exc.strerror}")
            return
        if fd is None:
            self._ask_to_look(log)  # given up by a recovering runner, or started by another supervisor
            return
        started = time.time()
        try:
            if self.cancel_all or os.path.exists(log[:-len(LOG)] + CANCEL):
                self._finish(name, "cancelled", None, started, "cancelled before it started")
                os.close(fd)
                return
            pid, pipe = self._spawn(spec)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # ValueError: a NUL byte, a bad variable name
            failure = f"agybatch: cannot start {spec['argv'][0]!r}: {getattr(exc, 'strerror', None) or exc}"
            os.write(fd, (failure + "\n").encode())
            os.close(fd)
            self._finish(name, "failed", 127, started, failure[:1000])
            return
        job = self.jobs[pid] = Job(name, log, pid, started, spec, CappedLog(fd, spec.get("log_cap")), pipe)
        self.pipes[pipe] = job
        self.selector.register(pipe, selectors.EVENT_READ, job)
        capped = {} if job.output.head is None else {"log_head": job.output.head}
        self._append({"job": name, "event": "started", **self.me, "child": pid, "child_ticks": start_ticks(pid),
                      "started_at": started, **capped})
        if os.path.exists(log[:-len(LOG)] + CANCEL):  # written while it started, by someone who saw no event
            self.stop(job, "cancelled")
        if job.timeout:
            self._at(started + job.timeout, job, "timeout")

    def _spawn(self, spec: dict) -> "tuple[int, int]":
        """Start the command with its output into a new pipe: its PID and the pipe's read end."""
        argv, env = spec["argv"], {**self.environ, **spec["env"]}
        try:
            os.chdir(spec["cwd"])
        except OSError as exc:
            raise OSError(exc.errno, f"cannot enter {spec['cwd']}: {exc.strerror}") from None
        program = argv[0] if os.sep in argv[0] else self._which(argv[0], env.get("PATH", os.defpath), spec["cwd"])
        read_end, write_end = os.pipe()
        try:
            pid = os.posix_spawn(
                program, argv, env,
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                              (os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)],
                setpgroup=0, setsigmask=(), setsigdef=DEFAULT_IN_JOBS,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        os.set_blocking(read_end, False)
        return pid, read_end

    def _make_room(self) -> None:
        """Raise the soft limit on open files when the jobs' logs and pipes (two each) come near it."""
        soft, hard = self._fd_limits
        if soft == hard or (soft != resource.RLIM_INFINITY and 2 * len(self.pipes) + 64 < soft):
            return
        soft = hard if hard == resource.RLIM_INFINITY else min(hard, soft * 4)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        except (ValueError, OSError):
            soft = hard  # cannot: a job's claim or pipe fails then, and its end says so
        self._fd_limits = soft, hard

    def _which(self, name: str, path: str, cwd: str) -> str:
        """``name`` looked up in ``path`` (from ``cwd``), remembering what was found."""
        key = (name, path, cwd)
        program = self._programs.get(key)
        if program is None:
            import shutil

            program = shutil.which(name, path=path)
        if program is None:
            raise FileNotFoundError(2, "command not found", name)
        self._programs[key] = program
        return program

    # -- stopping -------------------------------------------------------------

    def stop(self, job: Job, reason: str) -> None:
        """SIGTERM to the job's group now, SIGKILL once its grace period is over."""
        if job.stop_reason is not None:
            return
        job.stop_reason = reason
        _killpg(job.pid, signal.SIGTERM)
        self._at(time.time() + job.grace, job, "kill")

    def _on_signals(self, signums: bytes) -> None:
        if signal.SIGTERM in signums:
            self.cancel_all = True
            for job in list(self.jobs.values()):
                self.stop(job, "cancelled")
        elif signal.SIGUSR1 in signums:
            for job in list(self.jobs.values()):
                if job.stop_reason is None and os.path.exists(job.log[:-len(LOG)] + CANCEL):
                    self.stop(job, "cancelled")
        if signal.SIGCHLD in signums:
            self._reap()

    def _at(self, when: float, job: Job, action: str) -> None:
        heapq.heappush(self.timers, (when, next(self._timer_seq), job, action))

    def _next_timer(self):
        return max(0.0, self.timers[0][0] - time.time()) if self.timers else None

    def _run_timers(self) -> None:
        now = time.time()
        while self.timers and self.timers[0][0] <= now:
            _, _, job, action = heapq.heappop(self.timers)
            if action == "timeout" and self.jobs.get(job.pid) is job:
                self.stop(job, "timed_out")
            elif action == "kill" and job in (self.jobs.get(job.pid), self.lingering.get(job.pid)):
                _killpg(job.pid, signal.SIGKILL)  # the group outlives its leader until every member is gone
                job.killed = True
                self.lingering.pop(job.pid, None)

    # -- ending ---------------------------------------------------------------

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.jobs.pop(pid, None)
            if job is not None:
                if job.pipe in self.pipes:  # what it wrote before it exited goes into the log before its end
                    self._pump(job.pipe, job, DRAIN)
                if job.stop_reason is not None and not job.killed:  # the rest of its group is killed at the grace
                    self.lingering[pid] = job
                code = os.waitstatus_to_exitcode(status)
                state = job.stop_reason or ("succeeded" if code == 0 else "failed")
                reason = f"timed out after {job.timeout:g}s" if state == "timed_out" else job.stop_reason
                self._finish(job.name, state, code, job.started, reason)

    def _pump(self, pipe: int, job: Job, reads: int = 1) -> None:
        """Move what ``job`` wrote from its pipe to its log; at end of file, close both."""
        for _ in range(reads):
            try:
                if job.output.take(pipe, CHUNK):
                    continue
            except BlockingIOError:
                return
            self.selector.unregister(pipe)
            del self.pipes[pipe]
            os.close(pipe)
            os.close(job.output.fd)
            return

    def _finish(self, name: str, state: str, code, started: float, reason) -> None:
        line = self._append({"job": name, "event": "ended", "state": state, "exit_code": code,
                             "started_at": started, "ended_at": time.time(), "reason": reason})
        self._reply(line)

    def _append(self, event: dict) -> bytes:
        line = (json.dumps(event) + "\n").encode()
        try:
            os.write(self.events, line)
        except OSError:  # a full disk loses the event (the runner still hears of an end), never the supervisor
            pass
        return line

    def _ask_to_look(self, log: str) -> None:
        """Ask the runner to look at a job that ended without an event of ours."""
        self._reply((json.dumps({"job": _job_name(log)}) + "\n").encode())

    def _reply(self, line: bytes) -> None:
        """Send ``line`` to the runner, after whatever it has not read yet; never blocks."""
        if self.replies is None:
            return
        self.unsent += line
        try:
            sent = os.write(self.replies, self.unsent)
        except BlockingIOError:  # the runner is not reading (stopped, busy): try again when the pipe drains
            return
        except OSError:  # the runner is gone; the events file remains
            self.replies, self.unsent = None, b""
            return
        self.unsent = self.unsent[sent:]


def _job_name(log: str) -> str:
    return os.path.basename(log)[:-len(LOG)]


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _drain(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def main(events_path: str) -> None:
    """Serve the jobs sent on stdin, appending their events to ``events_path``; see the module docstring."""
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    Supervisor(events_path).serve()
