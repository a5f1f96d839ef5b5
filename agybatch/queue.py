"""Which pending task goes next: its needs met, its retry time reached, longest first.

The runner hands every pending record to a :class:`TaskQueue`, pops ready
ones to submit, and reports each task that settles; the queue answers with
the dependents that can no longer run.
"""
from __future__ import annotations

import heapq
import itertools
import math

from .graph import dependents
from .model import Outcome


class TaskQueue:
    """Pending records in three places: waiting for needs, delayed for a retry, ready.

    ``expected`` maps labels to usual durations; with ``longest_first`` ready
    tasks go out longest-expected first, unknown durations before all (they
    may be long), ties in batch order. Otherwise batch order.
    """

    def __init__(self, records, expected: dict | None = None, longest_first: bool = False) -> None:
        self.by_label = {r.label: r for r in records}
        self.dependents = dependents([r.task for r in records])
        self.expected = expected or {}
        self.longest_first = longest_first
        self._ready: list = []
        self._delayed: list = []
        self._waiting: dict = {}
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._ready) + len(self._delayed) + len(self._waiting)

    def priority(self, rec) -> tuple:
        if not self.longest_first:
            return (rec.seq,)
        usual = self.expected.get(rec.label)
        return (-math.inf if usual is None else -usual, rec.seq)

    def push(self, rec) -> str | None:
        """Queue a pending record; return a skip reason if a need already failed."""
        blocker = self._failed_need(rec)
        if blocker:
            return blocker
        if not self._needs_met(rec):
            self._waiting[rec.label] = rec
        elif rec.not_before:
            heapq.heappush(self._delayed, (rec.not_before, next(self._order), rec))
        else:
            heapq.heappush(self._ready, (self.priority(rec), next(self._order), rec))
        return None

    def pop_ready(self, now: float):
        """The next record to submit, or None."""
        while self._delayed and self._delayed[0][0] <= now:
            rec = heapq.heappop(self._delayed)[2]
            rec.not_before = None
            heapq.heappush(self._ready, (self.priority(rec), next(self._order), rec))
        return heapq.heappop(self._ready)[2] if self._ready else None

    def has_ready(self, now: float) -> bool:
        return bool(self._ready) or bool(self._delayed and self._delayed[0][0] <= now)

    def next_time(self) -> float:
        """When the earliest delayed retry becomes ready (inf if none)."""
        return self._delayed[0][0] if self._delayed else math.inf

    def settled(self, rec) -> list:
        """``rec`` has its outcome: return ``[(dependent, skip_reason)]`` that can no longer run."""
        skipped = []
        for label in self.dependents.get(rec.label, ()):
            waiting = self._waiting.get(label)
            if waiting is None:
                continue
            if rec.outcome is not Outcome.SUCCEEDED:
                del self._waiting[label]
                skipped.append((waiting, f"needs {rec.label!r}, which {_verb(rec.outcome)}"))
            elif self._needs_met(waiting):
                del self._waiting[label]
                self.push(waiting)
        return skipped

    def drain(self) -> list:
        """Remove and return every queued record (for a stop of the whole run)."""
        records = [e[2] for e in self._ready] + [e[2] for e in self._delayed] + list(self._waiting.values())
        self._ready, self._delayed, self._waiting = [], [], {}
        return sorted(records, key=lambda r: r.seq)

    def _needs_met(self, rec) -> bool:
        return all(self._need_outcome(n) is Outcome.SUCCEEDED for n in rec.task.needs)

    def _failed_need(self, rec) -> str | None:
        for need in rec.task.needs:
            outcome = self._need_outcome(need)
            if outcome is not None and outcome is not Outcome.SUCCEEDED:
                return f"needs {need!r}, which {_verb(outcome)}"
        return None

    def _need_outcome(self, label: str):
        need = self.by_label.get(label)
        if need is None:
            return Outcome.SUCCEEDED  # left out of this run because it already succeeded
        return need.outcome if need.phase == "final" else None


def _verb(outcome: Outcome) -> str:
    return {Outcome.SKIPPED: "was skipped", Outcome.ERROR: "could not be submitted",
            Outcome.LOST: "was lost", Outcome.STALLED: "stalled"}.get(outcome, outcome.text)
