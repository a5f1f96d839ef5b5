"""What a run would do: the submission order and expected times, for ``--collect-only``.

:func:`simulate` replays the runner's policy (needs, ``max_parallel``,
``stagger``, longest-first) on the labels' usual durations. A task with no
history, or that waits for one, has an unknown finish.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

from .model import Outcome
from .queue import TaskQueue
from .records import TaskRecord


@dataclass
class Planned:
    """One task in the plan; times are seconds from the start, None when unknown."""

    label: str
    needs: tuple
    usual: float | None
    start: float | None = None
    finish: float | None = None


def simulate(tasks, expected: dict, max_parallel: int = 0, stagger: float = 0.0) -> list:
    """Return the tasks as :class:`Planned`, in the order they would be submitted."""
    records = [TaskRecord(seq=i, task=t) for i, t in enumerate(tasks)]
    queue = TaskQueue(records, expected, longest_first=bool(max_parallel or stagger))
    for rec in records:
        queue.push(rec)
    planned, running, now, unknown = [], [], 0.0, set()
    by_label = {}
    while len(queue) or running:
        rec = queue.pop_ready(now) if not max_parallel or len(running) < max_parallel else None
        if rec is not None:
            usual = expected.get(rec.label)
            item = Planned(rec.label, rec.task.needs, usual)
            waits_on_unknown = any(n in unknown for n in rec.task.needs)
            item.start = None if waits_on_unknown else now
            if usual is None or waits_on_unknown:
                unknown.add(rec.label)
            else:
                item.finish = now + usual
            planned.append(item)
            by_label[rec.label] = item
            heapq.heappush(running, (now + (usual or 0.0), rec.seq, rec))
            now += stagger
            continue
        if not running:
            break
        end, _, done = heapq.heappop(running)
        now = max(now, end)
        done.phase, done.outcome = "final", Outcome.SUCCEEDED
        queue.settled(done)
    return planned


def makespan(planned: list) -> float | None:
    """The expected finish of the whole run, or None if any finish is unknown."""
    if any(p.finish is None for p in planned):
        return None
    return max((p.finish for p in planned), default=0.0)


def lpt_bound(durations, machines: int) -> float:
    """Makespan of longest-processing-time-first list scheduling on ``machines`` workers."""
    loads = [0.0] * max(1, machines or len(durations))
    for duration in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += duration
    return max(loads) if durations else 0.0
