"""Duration labels with history: ``audit:internal-links (12m, failed, 3.1× usual)`` (``-p no:durations``).

At join every task gets a ``duration_label``: its label, the time from
submission to its end, its outcome (``failed after 3 attempts`` when it was
retried), and

- ``9m queued`` when the backend says it waited long in the queue before
  running (at least a quarter of the time, and a second or more);
- ``3.1× usual`` (or ``0.2× usual``) when it took ``factor`` times longer or
  shorter than the median of the label's earlier runs of the same batch, as
  the journal remembers them. That is the first clue to a rate limit or a
  network fault.

``[durations]`` tunes it: ``factor = 2.0`` (> 1), ``min_runs = 3`` (earlier
runs needed before comparing), ``history = 20`` (runs looked at) and
``ignore_below = "1s"`` (no comparison when both times are shorter).

``on_join`` is ``tryfirst``, so reporters and ``notify`` see the labels; the
medians are left in ``session.stash["durations.usual"]`` (label -> seconds).
"""
from __future__ import annotations

import sys
import time
from typing import Optional

from agybatch import hookimpl
from agybatch.units import format_duration, parse_duration, printable

DEFAULTS = {"factor": 2.0, "min_runs": 3, "history": 20, "ignore_below": 1.0}


def median(values) -> Optional[float]:
    """The median of ``values``, or None when there are none."""
    import statistics

    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def settings(table: Optional[dict]) -> dict:
    """``[durations]`` over the defaults, validated; ValueError with a readable message."""
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


@hookimpl
def register_tables(register):
    register("durations", settings)


def ratio_text(ratio: float) -> str:
    """``3.1× usual``; two decimals below 0.1."""
    return f"{ratio:.2f}× usual" if ratio < 0.1 else f"{ratio:.1f}× usual"


def duration_label(task, usual: Optional[float], conf: dict, now: Optional[float] = None) -> str:
    """The label of one :class:`~agybatch.model.TaskResult`, compared with ``usual`` seconds.

    It is a display string: control characters of the label are shown escaped.
    """
    return printable(_label(task, usual, conf, now))


def _label(task, usual: Optional[float], conf: dict, now: Optional[float]) -> str:
    if task.outcome is None:
        state = task.state or "unsettled"
        start = task.submitted_at or task.started_at
        if start is None:
            return f"{task.label} ({state})"
        took = (now or time.time()) - start
        return f"{task.label} ({format_duration(took)} so far, {state})"
    took = task.duration_s
    outcome = task.outcome.text + (f" after {task.attempts} attempts" if task.attempts > 1 else "")
    if took is None:
        return f"{task.label} ({outcome})"
    parts = [format_duration(took), outcome]
    if task.submitted_at is not None and task.started_at is not None:
        queued = task.started_at - task.submitted_at
        if queued >= 1.0 and queued >= took / 4:
            parts.append(f"{format_duration(queued)} queued")
    if usual and max(took, usual) >= conf["ignore_below"]:
        ratio = took / usual
        if ratio >= conf["factor"] or ratio <= 1 / conf["factor"]:
            parts.append(ratio_text(ratio))
    return f"{task.label} ({', '.join(parts)})"


def usual_durations(journal, batch: str, exclude_run: Optional[str], conf: dict) -> dict:
    """``{label: median seconds}`` for labels with at least ``min_runs`` earlier runs."""
    history = journal.durations(batch, exclude_run=exclude_run, runs=conf["history"])
    return {label: median(values) for label, values in history.items() if len(values) >= conf["min_runs"]}


@hookimpl(tryfirst=True)
def on_join(session, summary):
    conf = settings(session.batch.tables.get("durations"))
    try:
        usual = usual_durations(session.journal, session.batch.name, session.run_id, conf)
    except Exception as exc:  # history is a nicety: labels without it beat no labels
        message = f"durations: cannot read the run history: {exc}"
        summary.plugin_errors.append(message)
        print(f"agybatch: warning: {message}", file=sys.stderr)
        usual = {}
    session.stash["durations.usual"] = usual
    now = time.time()
    for task in summary.tasks:
        task.duration_label = duration_label(task, usual.get(task.label), conf, now)
