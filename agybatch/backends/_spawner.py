"""The runner's end of the spawner: asks it for supervisors and reads when they end.

The spawner itself (:func:`agybatch.backends._supervisor.serve`) runs as
``python -I -S _supervisor.py``, a small interpreter whose forks are cheap,
unlike forks of the runner with its journal and plugins loaded.
"""
from __future__ import annotations

import json
import os
import select
import sys
import time

from . import _supervisor


class Spawner:
    """The runner's end of the spawner (:func:`serve`), used by the local backend.

    :meth:`send` asks for a job folder's supervisor without waiting;
    :meth:`drain` reads the replies: supervisor PIDs (for cancel) and ends.
    ``alive`` turns False when the spawner is gone; the backend then falls
    back to its own fork and to pidfds for the jobs still in flight.
    """

    def __init__(self) -> None:
        req_r, self.requests = os.pipe()
        self.replies, rep_w = os.pipe()
        try:
            self.pid = os.posix_spawn(
                sys.executable, [sys.executable, "-I", "-S", os.path.abspath(_supervisor.__file__)], dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_DUP2, req_r, 0), (os.POSIX_SPAWN_DUP2, rep_w, 1),
                              (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)],
                setsid=True,
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
        self._pids: dict = {}
        self._keys: dict = {}
        self._partial = b""

    def send(self, key: str, jobdir) -> bool:
        """Ask for ``jobdir``'s supervisor; False if the spawner is gone (nothing was sent)."""
        data = (json.dumps(str(jobdir)) + "\n").encode()
        while data and self.alive:
            try:
                sent = os.write(self.requests, data)
            except BlockingIOError:  # full pipe: read replies so the spawner can go on
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
        """Read every reply available now, without blocking."""
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
                    self._reply(line)
                except ValueError:
                    pass  # not a reply of ours; the job's status check still tells its state

    def _reply(self, line: bytes) -> None:
        kind, pid, *rest = line.decode().split(" ", 2)
        pid = int(pid)
        if kind == "S":
            key = os.path.basename(json.loads(rest[0]))
            self._pids[key], self._keys[pid] = pid, key
        elif kind == "F":
            self._ended(os.path.basename(json.loads(rest[0])))
        elif kind == "E" and pid in self._keys:
            key = self._keys.pop(pid)
            self._pids.pop(key, None)
            self._ended(key)

    def _ended(self, key: str) -> None:
        self.in_flight.discard(key)
        self.ended.append(key)

    def pop_ended(self) -> list:
        ended, self.ended = self.ended, []
        return ended

    def pid_of(self, key: str, timeout: float = 5.0) -> "int | None":
        """The supervisor PID of ``key``, waiting for the spawner's reply if need be."""
        end = time.monotonic() + timeout
        self.drain()
        while self.alive and key in self.in_flight and key not in self._pids and time.monotonic() < end:
            select.select([self.replies], [], [], max(0.0, end - time.monotonic()))
            self.drain()
        return self._pids.get(key)

    def close(self) -> None:
        """Close both pipes (the spawner exits at end of input) and reap it."""
        for fd in (self.requests, self.replies):
            try:
                os.close(fd)
            except OSError:
                pass
        self.alive = False
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return
            time.sleep(0.005)
