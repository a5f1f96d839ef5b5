"""The runner's end of its job supervisor (:mod:`agybatch.backends._supervisor`).

The supervisor runs as ``python -I -S -c BOOT FOLDER EVENTS`` in a new session
(:data:`~agybatch.backends._supervisor.BOOT`): a small interpreter started once
per runner, so the runner itself never forks.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

from . import _supervisor


class SupervisorLink:
    """Sends jobs to the supervisor and reads which jobs ended.

    :meth:`send` asks for a job without waiting; :meth:`drain` reads the
    ends reported so far, each with the job's final status. ``in_flight`` holds the jobs sent and not yet
    reported ended; ``alive`` turns False when the supervisor is gone.
    """

    def __init__(self, events_path) -> None:
        req_r, self.requests = os.pipe()
        self.replies, rep_w = os.pipe()
        folder = os.path.dirname(os.path.abspath(_supervisor.__file__))
        argv = [sys.executable, "-I", "-S", *_bytecode_options(), "-c", _supervisor.BOOT, folder,
                os.path.abspath(events_path)]
        try:
            self.pid = os.posix_spawn(
                sys.executable, argv, dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_DUP2, req_r, 0), (os.POSIX_SPAWN_DUP2, rep_w, 1),
                              (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)],
                setsid=True, setsigmask=_supervisor.HANDLED,
            )
        except OSError:
            os.close(self.requests)
            os.close(self.replies)
            raise
        finally:
            os.close(req_r)
            os.close(rep_w)
        os.set_blocking(self.requests, False)
        os.set_blocking(self.replies, False)
        self.alive = True
        self.in_flight: set = set()
        self.ended: list = []
        self._partial = b""

    def send(self, key: str, spec: dict) -> bool:
        """Ask for job ``key`` (``spec``: its log path and command) to be started; False if the supervisor is gone."""
        data = (json.dumps(spec) + "\n").encode()
        while data and self.alive:
            try:
                sent = os.write(self.requests, data)
            except BlockingIOError:  # full pipe: read ends so the supervisor can go on
                select.select([self.replies], [self.requests], [], 1.0)
                self.drain()
                continue
            except BrokenPipeError:
                self.alive = False
                return False
            data = data[sent:]
            self.in_flight.add(key)
        return not data

    def drain(self) -> None:
        """Read every end reported now, without blocking."""
        while self.alive:
            try:
                data = os.read(self.replies, 65536)
            except BlockingIOError:
                return
            if not data:
                self.alive = False
                return
            *lines, self._partial = (self._partial + data).split(b"\n")
            for line in lines:
                try:
                    end = json.loads(line)
                    key = end["job"]
                except (ValueError, KeyError, TypeError):
                    continue
                if key in self.in_flight:
                    self.in_flight.discard(key)
                    self.ended.append((key, end if "state" in end else None))

    def pop_ended(self) -> list:
        """``[(job ID, its ended event or None)]`` reported since the last call."""
        ended, self.ended = self.ended, []
        return ended

    def wake(self) -> None:
        """Have the supervisor look for its jobs' ``.cancel`` files."""
        if self.alive:
            try:
                os.kill(self.pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """Close both pipes; the supervisor goes on until its last job has ended."""
        for fd in (self.requests, self.replies):
            try:
                os.close(fd)
            except OSError:
                pass
        busy, self.alive = self.in_flight, False
        end = time.monotonic() + (0.0 if busy else 2.0)
        while True:
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return
            if time.monotonic() >= end:
                return
            time.sleep(0.005)


def _bytecode_options() -> list:
    """This interpreter's bytecode settings as options: ``-I`` makes the supervisor ignore ``PYTHON*`` variables."""
    options = ["-B"] if sys.dont_write_bytecode else []
    if sys.pycache_prefix:
        options += ["-X", f"pycache_prefix={sys.pycache_prefix}"]
    return options
