"""What happens when an attempt ends: the task finishes, is retried, or is parked for a rate limit.

:func:`after_attempt` is the whole policy, free of I/O:

- a ``rate_limited`` attempt is **parked**: resubmitted at the reset time the
  CLI reported, else after ``quota_wait`` doubled for each earlier park, at
  most ``quota_retries`` times; parking does not spend ``retries``;
- an attempt whose outcome is in ``retry_on`` is **retried** after
  ``retry_backoff`` doubled for each earlier retry, at most ``retries`` times;
- neither happens while the run is stopping (deadline, cancel, interrupt,
  budget) or when the next attempt would start at or past the deadline;
- otherwise the task **finishes** with the attempt's outcome.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .model import Outcome
from .units import format_duration


@dataclass(frozen=True)
class Decision:
    """``kind`` is ``finish``, ``retry`` or ``park``; ``at`` when to submit again; ``detail`` says why."""

    kind: str
    at: Optional[float] = None
    detail: Optional[str] = None


FINISH = Decision("finish")


def after_attempt(rec, outcome: Outcome, reason: Optional[str], now: float, retry_at: Optional[float] = None,
                  deadline_at: Optional[float] = None, stopping: bool = False) -> Decision:
    """The decision for the attempt of ``rec`` (a :class:`~agybatch.records.TaskRecord`) that just ended."""
    task = rec.task
    if stopping:
        return FINISH
    why = f" ({reason})" if reason else ""
    if outcome is Outcome.RATE_LIMITED:
        if rec.parks >= task.quota_retries:
            return FINISH
        delay = max(0.0, retry_at - now) if retry_at is not None else task.quota_wait * 2 ** rec.parks
        if deadline_at and now + delay >= deadline_at:
            return FINISH
        return Decision("park", now + delay, f"attempt {rec.attempts} rate limited; resubmitting in "
                                             f"{format_duration(delay)} (wait {rec.parks + 1} of "
                                             f"{task.quota_retries}){why}")
    if outcome.value not in task.retry_on or rec.retried >= task.retries:
        return FINISH
    delay = task.retry_backoff * 2 ** rec.retried
    if deadline_at and now + delay >= deadline_at:
        return FINISH
    return Decision("retry", now + delay, f"attempt {rec.attempts} {outcome.text}; retrying in {delay:g}s{why}")
