"""The one place that formats a run summary: for the terminal, notifications, digests and reports.

Everything here takes a :class:`~agybatch.model.RunSummary` and returns
strings; labels, reasons and paths come from batch files and backends, so
they are shown as data (control characters escaped with
:func:`~agybatch.units.printable`; Markdown fenced with :func:`code`).

- :func:`terminal_lines`: the end of ``agybatch run`` (and ``agybatch report``)::

      audit:internal-links (2.0s, failed): exit 3
          log: /state/runs/…/failed-audit_internal-links-123.log
    == 4 succeeded, 1 failed, 1 timed out in 6.2s ==

- :func:`title`, :func:`text` and :func:`markdown`: a notification's title and
  bodies (the digest sink appends the Markdown).
- :func:`headline`, :func:`count_parts`, :func:`not_ok`: the pieces, for
  renderers of their own (the HTML report uses them).

Colour is the caller's business: functions that can colour take ``paint(text,
key, bold)``, where ``key`` is an outcome value (``"failed"``), ``"unsettled"``
or a verdict (``"ok"``, ``"partial"``, ``"wipeout"``, ``"interrupted"``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from ..model import OUTCOME_ORDER, Outcome
from ..units import format_duration, format_tokens, format_usd, printable

Paint = Callable[[str, Optional[str], bool], str]


def plain(text: str, key: Optional[str] = None, bold: bool = False) -> str:
    """The default ``paint``: no colour."""
    return text


@dataclass(frozen=True)
class Item:
    """One task that did not succeed, as every summary lists it.

    :ivar label: the task's label as written (raw; escape it to show it).
    :ivar outcome: the outcome value, or for an unsettled task its state
        (``running``, ``queued``, ``pending``) or ``unsettled``.
    :ivar duration_label: the task's duration label, or one made from its
        duration and outcome when no plugin set it (raw).
    :ivar detail: ``exit 3, <reason>`` (raw; empty when there is nothing to say).
    :ivar log_path: the saved log tail (or the job's log), or None.
    :ivar settled: False for a task an interrupted run left unsettled.
    """

    label: str
    outcome: str
    duration_label: str
    detail: str = ""
    log_path: Optional[str] = None
    settled: bool = True


def outcome_key(task) -> str:
    """``task``'s outcome value, or its state for an unsettled task (``unsettled`` if unknown)."""
    if task.outcome is not None:
        return task.outcome.value
    return task.state or "unsettled"


def detail(task) -> str:
    """``exit N`` for a failed job with a non-zero exit code (unless its reason says so), then its
    reason, comma-separated."""
    parts = []
    if task.exit_code not in (None, 0) and task.outcome is Outcome.FAILED \
            and f"exit {task.exit_code}" not in (task.reason or ""):
        parts.append(f"exit {task.exit_code}")
    if task.reason:
        parts.append(str(task.reason))
    return ", ".join(parts)


def fallback_label(task) -> str:
    """``label (12s, failed)``: the duration label when no plugin (``durations``) set one."""
    return f"{task.label} ({format_duration(task.duration_s)}, {outcome_key(task).replace('_', ' ')})"


def not_ok(summary, unsettled: bool = True) -> list:
    """An :class:`Item` per task that did not succeed, in batch order (unsettled ones if asked)."""
    items = []
    for task in summary.not_ok():
        if task.outcome is None and not unsettled:
            continue
        items.append(Item(label=task.label, outcome=outcome_key(task),
                          duration_label=task.duration_label or fallback_label(task),
                          detail=detail(task), log_path=task.log_path, settled=task.outcome is not None))
    return items


def count_parts(summary) -> list:
    """``[(key, "4 succeeded"), (key, "1 failed"), …, ("unsettled", "2 unsettled")]``; no zeros."""
    counts = summary.counts
    parts = [(o.value, f"{counts[o.value]} {o.text}") for o in OUTCOME_ORDER if counts[o.value]]
    unsettled = sum(1 for t in summary.tasks if t.outcome is None)
    if unsettled:
        parts.append(("unsettled", f"{unsettled} unsettled"))
    return parts


def headline(summary) -> str:
    """``4 of 6 succeeded; 1 failed, 1 timed out`` (``; 2 unsettled`` after an interrupt)."""
    parts = [text for key, text in count_parts(summary) if key != "succeeded"]
    head = f"{summary.counts['succeeded']} of {len(summary.tasks)} succeeded"
    return head + (f"; {', '.join(parts)}" if parts else "")


def took(summary) -> str:
    """The run's wall-clock duration, ``6.2s``."""
    return format_duration(summary.duration_s)


def usage_text(usage) -> str:
    """``1.9M tokens · $4.12`` for a :class:`~agybatch.usage.Usage`; '' when nothing reported usage.

    ``cost unknown`` when no token has a price; ``$4.12 + unpriced tokens`` when some have none.
    """
    if usage is None or usage.empty:
        return ""
    parts = [] if usage.tokens is None else [f"{format_tokens(usage.tokens)} tokens"]
    if usage.cost_usd is None:
        parts.append("cost unknown")
    else:
        parts.append(format_usd(usage.cost_usd) + (" + unpriced tokens" if usage.unpriced else ""))
    return " · ".join(parts)


def status_line(summary, paint: Paint = plain) -> str:
    """``== 4 succeeded, 1 failed in 6.2s ==`` (``interrupted: `` first for an interrupted run), with
    ``· 1.9M tokens · $4.12`` before the closing ``==`` when something reported usage."""
    parts = [paint(text, key, True) for key, text in count_parts(summary)]
    head = "interrupted: " if summary.interrupted else ""
    verdict = summary.verdict
    usage = usage_text(summary.usage_total)
    return (paint("== ", verdict, False) + head + ", ".join(parts or ["no tasks"])
            + f" in {took(summary)}" + (f" · {usage}" if usage else "") + paint(" ==", verdict, False))


def task_facts(task) -> list:
    """``[(name, text)]`` of what a task's result format, usage and worktree reported (JUnit
    properties; empty for a plain task)."""
    facts = []
    if task.session_id:
        facts.append(("session_id", task.session_id))
    usage = task.usage
    if usage is not None:
        facts += [(name, str(value)) for name, value in usage.to_json().items()
                  if value is not None and name not in ("cost_usd", "unpriced")]
        if usage.cost_usd is not None:
            facts.append(("cost_usd", f"{usage.cost_usd:.6f}".rstrip("0").rstrip(".")))
    space = task.workspace
    if space is not None:
        facts += [(name, value) for name, value in (("branch", space.branch), ("commit", space.commit),
                                                    ("worktree", space.worktree)) if value]
        if space.diffstat:
            facts.append(("diffstat", "{files} files, +{insertions} -{deletions}".format(**space.diffstat)))
    return facts


def workspace_lines(summary) -> list:
    """One line per task that ran in a worktree: its branch and diffstat, or that it changed nothing,
    or where its worktree was kept and why."""
    lines = []
    for task in summary.tasks:
        space = task.workspace
        if space is None:
            continue
        label = printable(task.label)
        if space.worktree:
            lines.append(f"  {label}: worktree kept at {printable(space.worktree)}"
                         + (f" ({printable(space.error)})" if space.error else ""))
        elif space.branch:
            stat = space.diffstat
            lines.append(f"  {label}: {printable(space.branch)} ({stat['files']} files, "
                         f"+{stat['insertions']} -{stat['deletions']})")
        elif space.concluded:
            lines.append(f"  {label}: changed nothing")
    return lines


def reattach_hint(summary) -> str:
    return f"The jobs keep running. Re-attach with: agybatch join {summary.run_id}"


def terminal_lines(summary, paint: Paint = plain, verbosity: int = 0) -> list:
    """The end of ``agybatch run``: each failure with its detail and log, then :func:`status_line`.

    ``verbosity`` < 0 keeps only the status line (``-q``); < -1 prints nothing (``-qq``).
    """
    if verbosity < -1:
        return []
    lines = []
    if verbosity >= 0:
        for item in not_ok(summary, unsettled=False):
            tail = f": {printable(item.detail)}" if item.detail else ""
            lines.append(f"  {paint(printable(item.duration_label), item.outcome, False)}{tail}")
            if item.log_path:
                lines.append(f"      log: {printable(item.log_path)}")
        spaces = workspace_lines(summary)
        if spaces:
            lines += ["worktrees:", *spaces]
    lines.append(status_line(summary, paint))
    if summary.interrupted:
        lines.append(reattach_hint(summary))
    return lines


#: What a notification's title adds for the events that are not a plain verdict.
TITLE_NOTES = {"stalled": " (stuck in the queue)", "rate_limited": " (paused for quota)",
               "budget": " (budget reached)"}


def title(summary, event: str | None = None) -> str:
    """``nightly: partial, 4 of 6 succeeded; 1 failed, 1 timed out`` (a notification's title)."""
    return f"{printable(summary.batch)}: {summary.verdict}, {headline(summary)}" + TITLE_NOTES.get(event, "")


def run_line(summary) -> str:
    """``batch nightly · run 2026… · partial (exit 2) · 6.2s`` (``· 1.9M tokens · $4.12`` with usage)."""
    usage = usage_text(summary.usage_total)
    return (f"batch {printable(summary.batch)} · run {summary.run_id} · {summary.verdict} "
            f"(exit {int(summary.exit_code)}) · {took(summary)}" + (f" · {usage}" if usage else ""))


def text(summary) -> str:
    """The plain-text body of a notification: run line, headline, every task that did not succeed."""
    lines = [run_line(summary), headline(summary), ""]
    items = not_ok(summary)
    if items:
        lines.append("Did not succeed:")
    for item in items:
        lines.append(f"- {printable(item.duration_label)}" + (f": {printable(item.detail)}" if item.detail else ""))
        if item.log_path:
            lines.append(f"  log: {printable(item.log_path)}")
    spaces = workspace_lines(summary)
    if spaces:
        lines += ["", "Worktrees:", *[line.strip() for line in spaces]]
    if summary.interrupted:
        lines += ["", reattach_hint(summary)]
    return "\n".join(lines).rstrip() + "\n"


def markdown(summary) -> str:
    """The same as :func:`text` in Markdown: labels and paths as code spans, details escaped."""
    usage = usage_text(summary.usage_total)
    lines = [f"**{md_escape(printable(summary.batch))}**: {summary.verdict} (exit {int(summary.exit_code)}) · "
             f"run {code(summary.run_id)} · {took(summary)}" + (f" · {md_escape(usage)}" if usage else ""), "",
             headline(summary)]
    items = not_ok(summary)
    if items:
        lines += ["", "Did not succeed:", ""]
    for item in items:
        lines.append(f"- {code(item.duration_label)}"
                     + (f": {md_escape(printable(item.detail))}" if item.detail else ""))
        if item.log_path:
            lines.append(f"  log: {code(item.log_path)}")
    spaces = workspace_lines(summary)
    if spaces:
        lines += ["", "Worktrees:", "", *[f"- {md_escape(line.strip())}" for line in spaces]]
    if summary.interrupted:
        lines += ["", f"The jobs keep running. Re-attach with {code('agybatch join ' + summary.run_id)}"]
    return "\n".join(lines).rstrip() + "\n"


def code(text) -> str:
    """``text`` as a Markdown code span, whatever backticks it holds."""
    text = printable(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_escape(text: str) -> str:
    """``text`` with Markdown punctuation backslash-escaped."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", text)
