"""History statistics: what a label usually takes, from the journal's earlier runs of its batch.

The one owner of medians, the window of runs looked at, and "usual". The
runner schedules with it (longest expected first, polls around expected
ends), ``agybatch history`` shows it, reports draw it, and the ``durations``
plugin labels far-from-usual tasks with it (``3.1× usual``).

Its settings are the ``[durations]`` table of a batch (:func:`settings`):
``factor`` (how far from usual is unusual), ``min_runs`` (earlier runs needed
before comparing), ``history`` (the window: runs looked at) and
``ignore_below`` (no comparison of durations when both are shorter).
"""
from __future__ import annotations

from typing import Optional

from .units import parse_duration

#: The ``[durations]`` settings when a batch gives none.
DEFAULTS = {"factor": 2.0, "min_runs": 3, "history": 20, "ignore_below": 1.0}
#: How many finished runs of a batch are looked at, unless ``[durations] history`` says otherwise.
WINDOW = DEFAULTS["history"]


def median(values) -> Optional[float]:
    """The median of ``values`` (None values left out), or None when there are none.

    (``statistics.median``, without the cost of importing :mod:`statistics` in ``agybatch history``.)
    """
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def settings(table: Optional[dict]) -> dict:
    """``[durations]`` over :data:`DEFAULTS`, validated; ValueError with a readable message."""
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ValueError("[durations] must be a table")
    result = dict(DEFAULTS)
    for key, value in table.items():
        if key not in DEFAULTS:
            raise ValueError(f"unknown key {key!r} (known: {', '.join(DEFAULTS)})")
        if key == "ignore_below":
            result[key] = parse_duration(value)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} must be a number, got {value!r}")
        if key == "factor" and value <= 1:
            raise ValueError(f"factor must be greater than 1, got {value!r}")
        if key in ("min_runs", "history") and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{key} must be a whole number >= 1, got {value!r}")
        result[key] = value
    if result["min_runs"] > result["history"]:
        raise ValueError("min_runs must not exceed history")
    return result


def settings_or_defaults(tables: dict) -> dict:
    """The ``[durations]`` settings of a run's journalled tables; the defaults if absent or invalid."""
    try:
        return settings(tables.get("durations"))
    except ValueError:
        return dict(DEFAULTS)


class Usual:
    """A label's usual value: the median of ``runs`` earlier values. (A plain class: ``agybatch
    history`` should not pay for building dataclasses or named tuple classes.)"""

    __slots__ = ("median", "runs")

    def __init__(self, median: float, runs: int) -> None:
        self.median, self.runs = median, runs

    def __eq__(self, other) -> bool:
        return isinstance(other, Usual) and (self.median, self.runs) == (other.median, other.runs)

    def __repr__(self) -> str:
        return f"Usual(median={self.median!r}, runs={self.runs!r})"


def unusual(value: Optional[float], usual: Optional[Usual], conf: dict, floor: float = 0.0,
            above_only: bool = False) -> Optional[float]:
    """``value / usual`` when it is ``factor`` times above (or, unless ``above_only``, below) the usual
    value, else None.

    Nothing is compared when ``usual`` rests on fewer than ``min_runs`` runs, or
    when both values are below ``floor`` (``ignore_below`` for durations).
    """
    if value is None or usual is None or usual.runs < conf["min_runs"] or not usual.median:
        return None
    if max(value, usual.median) < floor:
        return None
    ratio = value / usual.median
    return ratio if ratio >= conf["factor"] or (not above_only and ratio <= 1 / conf["factor"]) else None


def ratio_text(ratio: float, what: str = "") -> str:
    """``3.1× usual`` (``4.2× usual cost`` with ``what="cost"``); two decimals below 0.1."""
    number = f"{ratio:.2f}" if ratio < 0.1 else f"{ratio:.1f}"
    return f"{number}× usual" + (f" {what}" if what else "")


class History:
    """The earlier runs of one batch in a journal, up to ``window`` finished runs."""

    def __init__(self, journal, batch: str, window: int = WINDOW) -> None:
        self.journal = journal
        self.batch = batch
        self.window = window

    def durations(self, exclude_run: Optional[str] = None, before: Optional[float] = None) -> dict:
        """``{label: [seconds, ...]}``, newest first (see :meth:`agybatch.journal.Journal.durations`)."""
        return self.journal.durations(self.batch, exclude_run=exclude_run, runs=self.window, before=before)

    def usual_durations(self, exclude_run: Optional[str] = None, before: Optional[float] = None) -> dict:
        """``{label: Usual}`` of every label with at least one earlier duration."""
        return {label: Usual(median(values), len(values))
                for label, values in self.durations(exclude_run, before).items() if values}

    def usual_usage(self, exclude_run: Optional[str] = None, before: Optional[float] = None) -> dict:
        """``{label: (Usual cost or None, Usual tokens or None)}``: each label's median cost in USD and
        median tokens per run, over the earlier runs whose attempts reported them."""
        found = {}
        for label, values in self.journal.usage_history(self.batch, exclude_run, self.window, before).items():
            costs = [cost for cost, _ in values if cost is not None]
            tokens = [count for _, count in values if count is not None]
            found[label] = (Usual(median(costs), len(costs)) if costs else None,
                            Usual(median(tokens), len(tokens)) if tokens else None)
        return found

    def expected(self, exclude_run: Optional[str] = None) -> dict:
        """``{label: median seconds}``: when each label's job is expected to end (for scheduling)."""
        return {label: usual.median for label, usual in self.usual_durations(exclude_run).items()}

    def labels(self) -> list:
        """Per label of the batch's last ``window`` finished runs: the median duration (of the runs
        that ran to an end of their own: succeeded or failed) and how many runs it rests on, and the
        duration and outcome in the newest run that has the label, whatever its outcome."""
        durations = self.durations()
        usage = self.usual_usage()
        stats = []
        for label, row in self.journal.latest_tasks(self.batch, self.window).items():
            values = durations.get(label, [])
            took = row["took"]
            cost, tokens = usage.get(label, (None, None))
            stats.append({
                "batch": self.batch, "label": label,
                "median_s": None if not values else round(median(values), 3), "runs": len(values),
                "last_s": None if took is None else round(max(0.0, took), 3),
                "last_outcome": row["outcome"], "last_run": row["run_id"],
                "median_cost_usd": None if cost is None else round(cost.median, 6),
                "median_tokens": None if tokens is None else int(tokens.median),
            })
        return stats

