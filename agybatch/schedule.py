"""When to poll: capped exponential backoff, sharpened by each job's usual duration.

Without history the schedule is the article's: wait ``initial``, multiply by
``factor``, never above ``max``. A job whose label has a usual duration (the
median of earlier runs) is instead checked just after it is expected to
end, then again at quickly growing intervals if it runs late; while every
watched job has such an expectation, blind polls drop to the ``max`` interval
as a safety net for jobs that end early.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PollPolicy:
    """Capped exponential backoff: wait ``initial``, multiply by ``factor``, never above ``max``."""

    initial: float = 2.0
    max: float = 30.0
    factor: float = 2.0

    def intervals(self):
        """Yield the successive waits forever."""
        interval = self.initial
        while True:
            yield interval
            interval = min(self.max, interval * self.factor)



#: Seconds after the expected end at which the first targeted poll lands.
EXPECTED_MARGIN = 0.25
#: Longest gap between safety-net polls while every job has an expected end.
SAFETY_MAX = 30.0
#: First wait after a targeted poll found the job still running; it doubles.
LATE_STEP = 0.5


class PollSchedule:
    """Tracks the next poll time for a set of watched jobs."""

    def __init__(self, policy: PollPolicy) -> None:
        self.policy = policy
        self._blind = policy.intervals()
        self._next_blind = 0.0
        self._targets: dict[str, float] = {}
        self._late_step: dict[str, float] = {}
        self._blind_watch: set = set()
        self._safety = policy.max

    def watch(self, job_id: str, now: float, expected_end: float | None) -> None:
        """Start watching ``job_id``; ``expected_end`` is when it usually ends (or None)."""
        if expected_end is None:
            self._blind_watch.add(job_id)
            self._blind = self.policy.intervals()
            next(self._blind)
            self._next_blind = min(self._next_blind or math.inf, now + self.policy.initial)
        else:
            self._targets[job_id] = expected_end + EXPECTED_MARGIN
            self._next_blind = self._next_blind or now + self.policy.max

    def forget(self, job_id: str) -> None:
        self._targets.pop(job_id, None)
        self._late_step.pop(job_id, None)
        self._blind_watch.discard(job_id)

    def next_poll(self) -> float:
        targets = min(self._targets.values(), default=math.inf)
        return min(targets, self._next_blind or math.inf)

    def polled(self, now: float) -> None:
        """A poll happened at ``now``: move every due time past it."""
        if self._blind_watch:
            if now >= self._next_blind:
                self._next_blind = now + next(self._blind)
        else:
            # Every job has an expected end: any poll looked at all of them, so the safety
            # net restarts from it, and backs off (x2 up to SAFETY_MAX) while nothing is due.
            if now >= self._next_blind:
                self._safety = min(SAFETY_MAX, self._safety * 2)
            self._next_blind = now + self._safety
        for job_id, due in self._targets.items():
            if now >= due:
                step = self._late_step.get(job_id, LATE_STEP)
                self._targets[job_id] = now + step
                self._late_step[job_id] = min(self.policy.max, step * self.policy.factor)
