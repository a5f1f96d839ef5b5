"""The supervisor of one local job: a forked, detached process that outlives the runner.

It claims the job folder, spawns the command in its own process group with
its output in ``output.log``, enforces the task's timeout, turns SIGTERM into
a graceful cancel (SIGTERM to the group, SIGKILL after the grace period) and
writes ``status.json`` when the command ends, whoever is watching.

:func:`serve` is the spawner the local backend starts once per run (``python
-I -S _supervisor.py``): forking each supervisor from this small interpreter
instead of the runner keeps the runner free of copy-on-write page faults,
which dominated its CPU time on batches of short jobs.
:class:`agybatch.backends._spawner.Spawner` is the runner's end of it.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import time

CLAIM, PROC, STATUS, LOG, SPEC = "claim", "proc.json", "status.json", "output.log", "spec.json"


def write_json_atomic(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


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


def claim(jobdir: str, owner: str) -> bool:
    """Atomically claim ``jobdir`` for ``owner``; False if someone already did."""
    try:
        fd = os.open(os.path.join(jobdir, CLAIM), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    os.write(fd, owner.encode())
    os.close(fd)
    return True


def supervise(jobdir: str, spec: dict) -> None:
    """Run in the forked child; never returns."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        _detach_stdio()
        os.closerange(3, 65536)
        if claim(jobdir, "supervisor"):
            _run(jobdir, spec)
    except BaseException:
        pass
    finally:
        os._exit(0)


def _detach_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def _run(jobdir: str, spec: dict) -> None:
    log = os.open(os.path.join(jobdir, LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    started = time.time()
    argv, env = spec["argv"], {**os.environ, **spec["env"]}
    child, failure = None, None
    try:
        program = shutil.which(argv[0], path=env.get("PATH", os.defpath)) if os.sep not in argv[0] else argv[0]
        os.chdir(spec["cwd"])
        if program is None:
            raise FileNotFoundError(2, "command not found", argv[0])
        child = os.posix_spawn(
            program, argv, env,
            file_actions=[(os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)],
            setpgroup=0, setsigmask=(), setsigdef=(signal.SIGTERM, signal.SIGINT, signal.SIGALRM),
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte or a bad variable name
        failure = f"agybatch: cannot start {argv[0]!r}: {getattr(exc, 'strerror', None) or exc}\n"
        os.write(log, failure.encode())
    if child is None:
        _finish(jobdir, "failed", 127, started, failure.strip())
        return
    write_json_atomic(os.path.join(jobdir, PROC), {
        "pid": os.getpid(), "start_ticks": start_ticks(os.getpid()), "child": child, "started_at": started,
    })
    stopping = {"reason": None, "escalated": False}

    def stop(reason: str) -> None:
        if stopping["reason"] is None:
            stopping["reason"] = reason
        _killpg(child, signal.SIGTERM)
        stopping["escalated"] = True
        signal.setitimer(signal.ITIMER_REAL, spec["grace"])

    def on_alarm(_sig, _frame) -> None:
        if stopping["escalated"]:
            _killpg(child, signal.SIGKILL)
        else:
            stop("timed_out")

    signal.signal(signal.SIGTERM, lambda _s, _f: stop("cancelled"))
    signal.signal(signal.SIGALRM, on_alarm)
    if spec.get("timeout"):
        signal.setitimer(signal.ITIMER_REAL, max(0.001, spec["timeout"] - (time.time() - started)))
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    _, status = os.waitpid(child, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    code = os.waitstatus_to_exitcode(status)
    reason = stopping["reason"]
    state = reason or ("succeeded" if code == 0 else "failed")
    detail = None
    if reason == "timed_out":
        detail = f"timed out after {spec['timeout']:g}s"
    elif reason == "cancelled":
        detail = "cancelled"
    _finish(jobdir, state, code, started, detail)


def _finish(jobdir, state, code, started, reason) -> None:
    write_json_atomic(os.path.join(jobdir, STATUS), {
        "state": state, "exit_code": code, "started_at": started, "ended_at": time.time(), "reason": reason,
    })


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def serve(requests: int = 0, replies: int = 1) -> None:
    """Fork a supervisor for each job folder read from ``requests``; never returns.

    Each request is one JSON string (the job folder, whose ``spec.json`` is
    complete) and a newline. Replies are ``S <pid> <folder as JSON>`` once a
    supervisor is forked, ``F 0 <folder as JSON>`` if it could not be, and
    ``E <pid>`` once it has exited and been reaped. SIGTERM stays blocked, as
    the runner blocks it around its own fork, so a cancel that reaches a new
    supervisor early waits for its handler. Every request written before the
    runner went away is served, even once nobody reads the replies; the
    spawner exits at the end of ``requests``, leaving running supervisors to init.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGALRM})
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda _s, _f: None)
    reply = _Replies(replies)
    pending, open_ = b"", True
    while open_:
        ready = select.select([requests, wake_r], [], [])[0]
        if wake_r in ready:
            while _drained(wake_r):
                pass
        if requests in ready:
            data = os.read(requests, 65536)
            open_ = bool(data)
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                _spawn(line, reply)
        _reap(reply)
    os._exit(0)


class _Replies:
    """Writes replies to the runner until it stops reading (then drops them)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __call__(self, text: str) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, text.encode())
        except OSError:
            self.fd = None


def _spawn(line: bytes, reply) -> None:
    try:
        jobdir = json.loads(line)
        with open(os.path.join(jobdir, SPEC)) as fh:
            spec = json.load(fh)
        pid = os.fork()
    except (OSError, ValueError, TypeError):
        reply(f"F 0 {line.decode(errors='replace')}\n")
        return  # the runner's status check then tells whether the job ever started
    if pid == 0:
        supervise(jobdir, spec)
    reply(f"S {pid} {json.dumps(jobdir)}\n")


def _reap(reply) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        reply(f"E {pid}\n")


def _drained(fd: int) -> bool:
    try:
        return bool(os.read(fd, 4096))
    except BlockingIOError:
        return False


if __name__ == "__main__":
    serve()
