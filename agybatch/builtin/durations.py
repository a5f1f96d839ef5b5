"""Duration labels with history: ``audit:internal-links (12m, failed, 3.1× usual)`` (``-p no:durations``).

At join every task gets a ``duration_label``: its label, the time from
submission to its end, its outcome (``failed after 3 attempts`` when it was
retried), and

- ``9m queued`` when the backend says it waited long in the queue before
  running (at least a quarter of the time, and a second or more);
- ``3.1× usual`` (or ``0.2× usual``) when it took ``factor`` times longer or
  shorter than the median of the label's earlier runs of the same batch, as
  the journal remembers them. That is the first clue to a rate limit or a
  network fault;
- ``$2.90`` when its attempts reported (or were priced at) a cost, and
  ``4.2× usual cost`` when that cost is more than ``factor`` times its
  label's median (else ``3.5× usual tokens`` when its tokens are), with the
  same ``min_runs`` and ``factor``.

``[durations]`` tunes it: ``factor = 2.0`` (> 1), ``min_runs = 3`` (earlier
runs needed before comparing), ``history = 20`` (runs looked at) and
``ignore_below = "1s"`` (no comparison when both times are shorter).

The statistics come from :mod:`agybatch.history`, the one owner of medians
and "usual". ``on_join`` is ``tryfirst``, so reporters and ``notify`` see the
labels; it journals them, so ``agybatch report`` shows the labels the run
showed (none when the run had ``-p no:durations``). The medians are left in
``session.stash["durations.usual"]`` (label -> seconds).
"""
from __future__ import annotations

import sys
import time
from typing import Optional

from agybatch import hookimpl
from agybatch.errors import JournalError
from agybatch.history import History, Usual, ratio_text, settings, unusual
from agybatch.units import format_duration, format_usd, printable


@hookimpl
def register_tables(register):
    register("durations", settings)


def duration_label(task, usual: Optional[Usual], conf: dict, now: Optional[float] = None,
                   usual_usage: tuple = (None, None)) -> str:
    """The label of one :class:`~agybatch.model.TaskResult`, compared with its ``usual`` duration and
    its ``usual_usage`` (``(Usual cost, Usual tokens)``).

    It is a display string: control characters of the label are shown escaped.
    """
    return printable(_label(task, usual, conf, now, usual_usage))


def _label(task, usual: Optional[Usual], conf: dict, now: Optional[float], usual_usage: tuple) -> str:
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
    ratio = unusual(took, usual, conf, floor=conf["ignore_below"])
    if ratio is not None:
        parts.append(ratio_text(ratio))
    parts += _usage_parts(task.usage, usual_usage, conf)
    return f"{task.label} ({', '.join(parts)})"


def _usage_parts(usage, usual_usage: tuple, conf: dict) -> list:
    """``["$2.90", "4.2× usual cost"]``: the cost (``+ unpriced tokens`` when only part of it is
    known), and whether it, else the tokens, is more than ``factor`` times the usual."""
    if usage is None:
        return []
    parts = [] if usage.cost_usd is None else \
        [format_usd(usage.cost_usd) + (" + unpriced tokens" if usage.unpriced else "")]
    usual_cost, usual_tokens = usual_usage
    ratio = unusual(usage.cost_usd, usual_cost, conf, above_only=True)
    if ratio is not None:
        return parts + [ratio_text(ratio, "cost")]
    ratio = unusual(usage.tokens, usual_tokens, conf, above_only=True)
    return parts + ([ratio_text(ratio, "tokens")] if ratio is not None else [])


@hookimpl(tryfirst=True)
def on_join(session, summary):
    conf = settings(session.batch.tables.get("durations"))
    history = History(session.journal, session.batch.name, conf["history"])
    try:
        usual, usual_usage = history.usual_durations(session.run_id), history.usual_usage(session.run_id)
    except Exception as exc:  # history is a nicety: labels without it beat no labels
        _warn(summary, f"cannot read the run history: {exc}")
        usual, usual_usage = {}, {}
    session.stash["durations.usual"] = {label: u.median for label, u in usual.items() if u.runs >= conf["min_runs"]}
    now = time.time()
    for task in summary.tasks:
        task.duration_label = duration_label(task, usual.get(task.label), conf, now,
                                             usual_usage.get(task.label, (None, None)))
    try:
        with session.journal.transaction():
            for task in summary.tasks:
                session.journal.update_task(session.run_id, task.label, duration_label=task.duration_label)
    except JournalError as exc:
        _warn(summary, f"cannot record the labels in the journal: {exc}")


def _warn(summary, message: str) -> None:
    message = f"durations: {message}"
    summary.plugin_errors.append(message)
    print(f"agybatch: warning: {message}", file=sys.stderr)
