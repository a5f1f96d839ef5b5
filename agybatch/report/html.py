"""One self-contained HTML page for a run: verdict, timeline, tasks, failed-log tails.

Inline CSS and SVG only: no JavaScript (a Content-Security-Policy forbids
scripts and every fetch), no fonts or images from the network, so the file
can be mailed, archived as a CI artifact or opened offline. Every label,
reason and path is HTML-escaped; a label like ``<script>`` shows as text.

Use :func:`render` for the text and :func:`write` to save it (0600 by
default for a file that may hold log lines).
"""
from __future__ import annotations

import os
import time
from html import escape
from pathlib import Path
from urllib.parse import quote

from .. import __version__
from ..units import format_duration, printable
from . import summary as shared
from . import timeline

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 40px; font: 14px/1.45 "DejaVu Sans", Verdana, system-ui, sans-serif;
       color: #1a1a1a; background: #fff; }
header { border-left: 8px solid var(--verdict); padding: 4px 0 8px 16px; margin-bottom: 20px; }
h1 { font-size: 22px; margin: 0 0 4px; word-break: break-word; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff; background: var(--verdict);
         font-size: 15px; letter-spacing: .04em; text-transform: uppercase; vertical-align: 2px; margin-right: 8px; }
.badge.ok { color: #fff; } .badge.partial, .badge.interrupted, .badge.unfinished { color: #000; }
.headline { font-size: 16px; margin: 4px 0 10px; }
ul.counts { list-style: none; padding: 0; margin: 0 0 10px; display: flex; flex-wrap: wrap; gap: 8px; }
ul.counts li { border: 1px solid #ccc; border-radius: 14px; padding: 1px 10px 1px 6px; white-space: nowrap; }
.shape { vertical-align: -2px; margin-right: 4px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; color: #333; }
dl.meta dt { color: #666; } dl.meta dd { margin: 0; word-break: break-all; }
.note { background: #fff8e1; border: 1px solid #e6c200; padding: 6px 10px; margin: 10px 0 0; border-radius: 4px; }
figure { margin: 0; overflow-x: auto; }
svg.timeline { width: 100%; max-width: 1160px; height: auto; display: block; }
svg.defs { position: absolute; }
figcaption { color: #444; font-size: 12px; margin-top: 6px; display: flex; flex-wrap: wrap; gap: 4px 16px; }
.swatch { display: inline-block; width: 26px; height: 10px; vertical-align: 0; margin-right: 4px;
          border: 1px solid #555; }
.swatch.queued { background: repeating-linear-gradient(45deg, #8a8a8a 0 2px, #f2f2f2 2px 5px); }
.swatch.attempt { background: #D55E00; opacity: .45; border-style: dashed; }
table { border-collapse: collapse; width: 100%; max-width: 1400px; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e2e2e2; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.label { font-family: "DejaVu Sans Mono", monospace; overflow-wrap: break-word; max-width: 28em; }
tr.pace td.label { font-weight: bold; }
td.outcome { white-space: nowrap; }
details { margin: 8px 0; border: 1px solid #ddd; border-radius: 4px; padding: 4px 10px; }
details summary { cursor: pointer; font-family: "DejaVu Sans Mono", monospace; word-break: break-all; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; white-space: pre-wrap;
      word-break: break-all; margin: 6px 0; }
footer { margin-top: 32px; color: #777; font-size: 12px; }
a { color: #0058a3; }
@media print { body { padding: 0; } th { position: static; } }
"""

#: Verdict -> header colour (Okabe-Ito, as the timeline).
VERDICT_COLOURS = {"ok": "#009E73", "wipeout": "#D55E00", "partial": "#E69F00", "interrupted": "#F0E442",
                   "unfinished": "#F0E442"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def render(report, out_dir=None) -> str:
    """The HTML page of ``report``; log links are relative to ``out_dir`` where they can be."""
    summary = report.summary
    state = report.state
    name = printable(summary.batch)
    head = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="agybatch {escape(__version__)}">\n'
            f'<title>{escape(name)}: {escape(state)} · agybatch run {escape(summary.run_id)}</title>\n'
            f'<style>{CSS}</style>\n</head>\n')
    body = [f'<body style="--verdict: {VERDICT_COLOURS.get(state, "#999")}">', timeline.defs(),
            _header(report), '<section id="timeline">\n<h2>Timeline</h2>\n<figure>',
            timeline.svg(report), _legend(report), "</figure>\n</section>", _table(report, out_dir),
            _logs(report, out_dir), _footer(report), "</body>\n</html>\n"]
    return head + "\n".join(body)


def write(report, path, mode: int = 0o600) -> Path:
    """Render ``report`` into ``path`` (owner-only, replaced atomically); return the path."""
    from .files import write_atomic

    path = Path(path).expanduser()
    return write_atomic(path, render(report, path.resolve().parent), mode)


def _header(report) -> str:
    summary = report.summary
    state = report.state
    exit_text = "no verdict yet" if report.unfinished else f"exit {int(summary.exit_code)}"
    took = shared.took(summary) + (" so far" if report.unfinished else "")
    counts = "".join(f'<li data-outcome="{escape(key)}">{timeline.shape(key)}{escape(text)}</li>'
                     for key, text in shared.count_parts(summary))
    pace = report.pace_setter()
    meta = [("run", summary.run_id), ("backend", summary.backend),
            ("started", _when(summary.started_at)),
            ("ended", "—" if report.unfinished else _when(summary.ended_at)),
            ("took", took)]
    if pace is not None:
        meta.append(("set the pace", f"{printable(pace.label)} (ended {_when(pace.ended_at, short=True)}, "
                                     f"{format_duration(pace.duration_s)} from submission)"))
    usage = shared.usage_text(summary.usage_total)
    if usage:
        meta.append(("usage", usage))
    if summary.poll_failures:
        meta.append(("poll failures", str(summary.poll_failures)))
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in meta)
    notes = []
    if report.unfinished:
        notes.append(f"This run has no verdict yet: it is still running, or its runner stopped. "
                     f"<code>agybatch join {escape(summary.run_id)}</code> finishes it.")
    elif summary.interrupted:
        notes.append(f"The run was interrupted; its jobs kept running. "
                     f"<code>agybatch join {escape(summary.run_id)}</code> re-attaches.")
    if report.logs_removed:
        notes.append("Retention removed this run's logs ([state] keep_runs, keep_days); its outcomes stay.")
    for error in summary.plugin_errors:
        notes.append(escape(printable(error)))
    note_html = "".join(f'<p class="note">{n}</p>' for n in notes)
    return (f'<header>\n<h1><span class="badge {escape(state)}">{escape(state)}</span>{escape(printable(summary.batch))}'
            f'</h1>\n<p class="headline">{escape(shared.headline(summary))} · {escape(took)} · {exit_text}</p>\n'
            f'<ul class="counts">{counts}</ul>\n<dl class="meta">{rows}</dl>\n{note_html}</header>')


def _legend(report) -> str:
    keys = []
    for task in report.summary.tasks:
        key = timeline.key_of(task)
        if key not in keys:
            keys.append(key)
    items = ['<span><span class="swatch queued"></span>queued (waiting in the backend)</span>']
    how = {"skipped": "never submitted", "unsettled": "still running at the end"}
    items += [f'<span>{timeline.shape(k)}<span class="swatch" style="background:{timeline.colour(k)}"></span>'
              f'{escape(timeline.words(k))} ({how.get(k, "running")})</span>' for k in keys]
    if report.attempts:
        items.append('<span><span class="swatch attempt"></span>earlier attempt (retried)</span>')
    if report.pace_setter() is not None:
        items.append(f'<span>{timeline.shape("pace")}set the pace: the last to end, the run waited for it</span>')
    return f'<figcaption>{"".join(items)}</figcaption>'


def _table(report, out_dir) -> str:
    summary = report.summary
    pace = report.pace_setter()
    with_cost = any(t.usage is not None for t in summary.tasks)
    with_branch = any(t.workspace is not None for t in summary.tasks)
    rows = []
    for seq, task in enumerate(summary.tasks, 1):
        key = timeline.key_of(task)
        usual = report.usual.get(task.label)
        usual_text = "—" if usual is None else f"{format_duration(usual.median)} (median of {usual.runs})"
        queued = ran = "—"
        if task.submitted_at is not None and task.started_at is not None:
            queued = _short_time(task.started_at - task.submitted_at)
        if task.started_at is not None and task.ended_at is not None:
            ran = _short_time(task.ended_at - task.started_at)
        outcome = timeline.words(key) if task.outcome is not None else f"unsettled ({task.state or '?'})"
        log = "—"
        if not task.ok and task.log_path:
            log = (f'<a href="{escape(_href(task.log_path, out_dir))}">{escape(printable(os.path.basename(task.log_path)))}</a>')
            if report.log_tail(task) is not None:
                log += f' · <a href="#log-{seq}">tail</a>'
        rows.append(
            f'<tr id="task-{seq}" class="{"pace" if task is pace else ""}" data-outcome="{escape(key)}">'
            f'<td class="num">{seq}</td><td class="label">{escape(printable(task.label))}</td>'
            f'<td class="outcome">{timeline.shape(key)}{escape(outcome)}</td>'
            f'<td>{escape(_duration_text(task))}</td><td class="num">{queued}</td><td class="num">{ran}</td>'
            f'<td class="num">{task.attempts}</td><td class="num">{escape(usual_text)}</td>'
            + (f'<td class="num">{escape(shared.usage_text(task.usage) or "—")}</td>' if with_cost else "")
            + (f'<td class="label">{escape(_workspace_text(task))}</td>' if with_branch else "")
            + f'<td>{escape(printable(shared.detail(task)))}</td><td>{log}</td></tr>')
    total = shared.usage_text(summary.usage_total)
    foot = (f'<tfoot><tr><td></td><td>total</td><td colspan="6"></td><td class="num">{escape(total)}</td>'
            f'<td colspan="{2 + with_branch}"></td></tr></tfoot>\n' if with_cost else "")
    return ('<section id="tasks">\n<h2>Tasks</h2>\n<table>\n<thead><tr><th>#</th><th>Task</th><th>Outcome</th>'
            '<th>Duration label</th><th>Queued</th><th>Ran</th><th>Attempts</th><th>Usual</th>'
            + ('<th>Cost</th>' if with_cost else '') + ('<th>Branch</th>' if with_branch else '')
            + '<th>Detail</th><th>Failed log</th></tr></thead>\n<tbody>\n' + "\n".join(rows)
            + "\n</tbody>\n" + foot + "</table>\n</section>")


def _workspace_text(task) -> str:
    """The Branch cell: the branch and its diffstat, where a worktree was kept, or that nothing changed."""
    space = task.workspace
    if space is None:
        return "—"
    if space.worktree:
        return f"kept: {printable(space.worktree)}"
    if not space.branch:
        return "no changes" if space.concluded else "—"
    stat = space.diffstat or {}
    return f"{printable(space.branch)} ({stat.get('files', 0)} files, +{stat.get('insertions', 0)} -{stat.get('deletions', 0)})"


def _short_time(seconds: float) -> str:
    """A table time: ``<1s`` below a second (milliseconds of queueing are noise), else as durations."""
    return "&lt;1s" if seconds < 1 else format_duration(seconds)


def _duration_text(task) -> str:
    """The duration label without the task's label in front (the row already names it)."""
    text = task.duration_label or shared.fallback_label(task)
    prefix = printable(task.label) + " ("
    text = printable(text)
    if text.startswith(prefix) and text.endswith(")"):
        return text[len(prefix):-1]
    return text


def _logs(report, out_dir) -> str:
    parts = []
    for seq, task in enumerate(report.summary.tasks, 1):
        tail = report.log_tail(task)
        if tail is None:
            continue
        lines = tail.count("\n")
        parts.append(f'<details id="log-{seq}"><summary>{escape(printable(task.label))}: last {lines} '
                     f'line{"s" * (lines != 1)} of <a href="{escape(_href(task.log_path, out_dir))}">'
                     f'{escape(printable(os.path.basename(task.log_path)))}</a></summary>'
                     f'<pre>{escape(_visible(tail))}</pre></details>')
    if not parts:
        return ""
    return '<section id="logs">\n<h2>Failed-log tails</h2>\n' + "\n".join(parts) + "\n</section>"


def _visible(text: str) -> str:
    """Log text with control characters other than newlines and tabs shown escaped."""
    return "\n".join("\t".join(printable(piece) for piece in line.split("\t")) for line in text.split("\n"))


def _href(path: str, out_dir) -> str:
    """A link to ``path``: relative when it lies under ``out_dir``, else an absolute ``file://`` URI."""
    path = os.path.abspath(path)
    if out_dir is not None:
        rel = os.path.relpath(path, out_dir)
        if not rel.startswith(".." + os.sep) and rel != "..":
            return quote(rel)
    return "file://" + quote(path)


def _footer(report) -> str:
    return (f'<footer>Made by agybatch {escape(__version__)} on {escape(report.host or "?")} at '
            f'{escape(_when(report.generated_at))}. No scripts, nothing fetched.</footer>')


def _when(ts, short: bool = False) -> str:
    if ts is None:
        return "—"
    return time.strftime("%H:%M:%S" if short else "%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))
