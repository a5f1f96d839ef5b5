"""The runner's clocks: per-task timers, and the silence watchdog of ``idle_timeout``.

:class:`Timers` holds ``(time, kind, record)`` entries, earliest first:

``queued``   ``queued_timeout`` after submission: still queued means stalled;
``timeout``  the task's ``timeout`` after it started (for backends that do not
             enforce it themselves);
``give_up``  a stopped job's grace: if no final state arrived by then, the
             runner records the outcome it decided without one.

:class:`IdleWatch` asks the backend, a few times per ``idle_timeout``, for a
mark of each watched job's output (:meth:`~agybatch.backends.Backend.output_marks`)
and reports the jobs whose mark has not changed for their ``idle_timeout``.
"""
from __future__ import annotations

import heapq
import itertools
import math

#: The silence watchdog looks at the jobs' output this often at most, and at least this often.
IDLE_CHECK_MIN, IDLE_CHECK_MAX = 0.25, 5.0


class Timers:
    """Per-task deadlines; :meth:`due` pops the ones whose time has come."""

    def __init__(self) -> None:
        self._heap: list = []
        self._seq = itertools.count()

    def add(self, at: float, rec, kind: str) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), kind, rec))

    def next_time(self) -> float:
        return self._heap[0][0] if self._heap else math.inf

    def due(self, now: float) -> list:
        """``[(kind, record)]`` whose time is ``now`` or earlier, earliest first."""
        found = []
        while self._heap and self._heap[0][0] <= now:
            _, _, kind, rec = heapq.heappop(self._heap)
            found.append((kind, rec))
        return found


class IdleWatch:
    """Jobs watched for silence: ``{job_id: (idle_timeout, last mark, when it last changed)}``."""

    def __init__(self) -> None:
        self._jobs: dict = {}
        self._next = math.inf

    def watch(self, job_id: str, idle_timeout: float, now: float) -> None:
        self._jobs[job_id] = (idle_timeout, None, now)
        self._next = min(self._next, now + self._interval())

    def forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        if not self._jobs:
            self._next = math.inf

    def next_time(self) -> float:
        return self._next

    def silent(self, marks: dict, now: float) -> list:
        """Take the backend's ``marks``; return ``[(job_id, idle_timeout)]`` silent for their timeout."""
        found = []
        for job_id, mark in marks.items():
            if job_id not in self._jobs:
                continue
            idle, last, since = self._jobs[job_id]
            if last is None or mark != last:
                self._jobs[job_id] = (idle, mark, now if last is not None else since)
            elif now - since >= idle:
                found.append((job_id, idle))
        self._next = now + self._interval() if self._jobs else math.inf
        return found

    def watched(self) -> list:
        return list(self._jobs)

    def _interval(self) -> float:
        shortest = min((idle for idle, _, _ in self._jobs.values()), default=IDLE_CHECK_MAX * 4)
        return min(IDLE_CHECK_MAX, max(IDLE_CHECK_MIN, shortest / 4))
