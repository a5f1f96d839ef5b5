"""The Gantt timeline of a run as inline SVG: one row per task, on a wall-clock axis.

Each task's row has exactly one ``rect.bar`` (its last attempt's running
time, coloured by outcome), a hatched ``rect.queued`` before it where the
job waited in the backend's queue, faded ``rect.attempt`` bars for earlier
attempts of a retried task, and, in the right-hand column, the outcome's
shape and its name in words, so colour is never the only cue. The task the
run waited for (the last to end) is marked as the one that set the pace.

Colours are the Okabe-Ito palette, which stays distinguishable with the
common forms of colour blindness. Every text comes from the batch file or a
backend and is HTML-escaped; there is no script and nothing is fetched.
"""
from __future__ import annotations

import time
from html import escape

from ..units import format_duration, printable

#: Outcome (or ``unsettled``) -> (colour, words). Okabe-Ito, plus grey for skipped.
PALETTE = {
    "succeeded": ("#009E73", "succeeded"),
    "failed": ("#D55E00", "failed"),
    "timed_out": ("#E69F00", "timed out"),
    "stalled": ("#F0E442", "stalled"),
    "cancelled": ("#56B4E9", "cancelled"),
    "rate_limited": ("#F0E442", "rate limited"),
    "error": ("#CC79A7", "error"),
    "lost": ("#000000", "lost"),
    "skipped": ("#999999", "skipped"),
    "unsettled": ("#0072B2", "unsettled"),
}

#: One 16x16 shape per outcome, drawn in its colour: the cue that does not rely on colour.
SHAPES = {
    "succeeded": '<circle cx="8" cy="8" r="7" fill="{c}"/><path d="M4.5 8.3l2.4 2.4 4.6-5" fill="none" '
                 'stroke="#fff" stroke-width="2"/>',
    "failed": '<rect x="1" y="1" width="14" height="14" rx="2" fill="{c}"/><path d="M5 5l6 6M11 5l-6 6" '
              'stroke="#fff" stroke-width="2"/>',
    "timed_out": '<circle cx="8" cy="8" r="6.2" fill="#fff" stroke="{c}" stroke-width="2.4"/>'
                 '<path d="M8 4.2V8h3" fill="none" stroke="#000" stroke-width="1.6"/>',
    "stalled": '<rect x="1" y="1" width="14" height="14" rx="2" fill="{c}" stroke="#000" stroke-width="1"/>'
               '<path d="M6 4.5v7M10 4.5v7" stroke="#000" stroke-width="2"/>',
    "cancelled": '<circle cx="8" cy="8" r="6.2" fill="#fff" stroke="{c}" stroke-width="2.4"/>'
                 '<path d="M3.8 12.2l8.4-8.4" stroke="{c}" stroke-width="2.4"/>',
    "rate_limited": '<path d="M8 .8L15.2 8 8 15.2.8 8z" fill="{c}" stroke="#000" stroke-width="1"/>'
                    '<path d="M4.8 9.8c1.2-3 2.2-3 3.2 0s2 3 3.2 0" fill="none" stroke="#000" stroke-width="1.6"/>',
    "error": '<path d="M8 1l7.4 13.5H.6z" fill="{c}"/><path d="M8 5.5v4.5M8 11.6v1.6" stroke="#000" '
             'stroke-width="1.8"/>',
    "lost": '<path d="M8 .8L15.2 8 8 15.2.8 8z" fill="{c}"/><path d="M6.2 6.4a1.9 1.9 0 1 1 2.6 1.7'
            'c-.6.3-.8.6-.8 1.3M8 10.8v1.4" fill="none" stroke="#fff" stroke-width="1.5"/>',
    "skipped": '<circle cx="8" cy="8" r="6.2" fill="#fff" stroke="{c}" stroke-width="2" '
               'stroke-dasharray="3 2"/><path d="M5 8h6M9 5.5 11.5 8 9 10.5" fill="none" stroke="#555" '
               'stroke-width="1.6"/>',
    "unsettled": '<circle cx="8" cy="8" r="6.2" fill="#fff" stroke="{c}" stroke-width="2.4"/>'
                 '<circle cx="8" cy="8" r="2.2" fill="{c}"/>',
    "pace": '<path d="M3 15V1.5" stroke="#000" stroke-width="1.6"/><path d="M3.8 2h10l-2.6 3.2 2.6 3.2h-10z" '
            'fill="#000"/>',
}

LABEL_W, OUTCOME_W, WIDTH = 250, 250, 1160
AXIS_H, ROW_H, BAR_H, QUEUE_H = 40, 28, 16, 8
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def key_of(task) -> str:
    return task.outcome.value if task.outcome is not None else "unsettled"


def colour(key: str) -> str:
    return PALETTE.get(key, PALETTE["unsettled"])[0]


def words(key: str) -> str:
    return PALETTE.get(key, PALETTE["unsettled"])[1]


def defs() -> str:
    """The shared ``<svg>`` of symbols (outcome shapes, pace flag, queue hatching) the page reuses."""
    symbols = "".join(
        f'<symbol id="shape-{name}" viewBox="0 0 16 16">{shape.format(c=colour(name))}</symbol>'
        for name, shape in SHAPES.items())
    hatch = ('<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
             'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f2f2f2"/>'
             '<line x1="0" y1="0" x2="0" y2="6" stroke="#8a8a8a" stroke-width="2.2"/></pattern>')
    return (f'<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false">'
            f'<defs>{hatch}{symbols}</defs></svg>')


def shape(key: str, size: int = 14, x=None, y=None) -> str:
    """A ``<use>`` of the outcome's shape; standalone (an inline ``<svg>``) unless ``x``/``y`` given."""
    use = f'<use href="#shape-{key}" width="{size}" height="{size}"'
    if x is None:
        return (f'<svg class="shape" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
                f'aria-hidden="true">{use}/></svg>')
    return f'{use} x="{x:.1f}" y="{y:.1f}"/>'


def tick_step(span: float, most: int = 9) -> float:
    """A round tick interval (1s, 2s, 5s, …, 1h, …) giving at most ``most`` ticks over ``span``."""
    for step in NICE_STEPS:
        if span / step <= most:
            return float(step)
    return float(NICE_STEPS[-1] * max(1, int(span / NICE_STEPS[-1] / most) + 1))


def clock(ts: float, step: float) -> str:
    return time.strftime("%H:%M" if step >= 60 and ts % 60 < 1e-6 else "%H:%M:%S", time.localtime(ts))


def svg(report) -> str:
    """The timeline ``<svg>`` of ``report`` (a :class:`~agybatch.report.data.Report`)."""
    summary = report.summary
    tasks = summary.tasks
    starts = [summary.started_at] + [t.submitted_at or t.started_at for t in tasks
                                     if (t.submitted_at or t.started_at) is not None]
    starts += [a.submitted_at for attempts in report.attempts.values() for a in attempts]
    ends = [summary.ended_at or summary.started_at] + [t.ended_at for t in tasks if t.ended_at is not None]
    t0, t1 = min(starts), max(ends)
    span = max(t1 - t0, 1.0)
    chart_w = WIDTH - LABEL_W - OUTCOME_W - 16
    height = AXIS_H + ROW_H * max(1, len(tasks)) + 30

    def x(ts: float) -> float:
        return LABEL_W + 8 + (ts - t0) / span * chart_w

    pace = report.pace_setter()
    out = [f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
           f'role="img" aria-labelledby="timeline-title" font-family="DejaVu Sans, Verdana, sans-serif" '
           f'font-size="12">',
           f'<title id="timeline-title">Timeline of run {escape(summary.run_id)}: one row per task, '
           f'hatched while queued, coloured while running</title>']
    out.append(_axis(t0, t1, span, x, height))
    end_at = summary.ended_at or t1
    for row, task in enumerate(tasks):
        out.append(_row(report, task, row, x, end_at, task is pace))
    if pace is not None:
        px = x(pace.ended_at)
        bottom = AXIS_H + ROW_H * len(tasks)
        out.append(f'<line class="pace-line" x1="{px:.1f}" y1="{AXIS_H - 4}" x2="{px:.1f}" y2="{bottom + 4}" '
                   f'stroke="#000" stroke-width="1" stroke-dasharray="4 3"/>')
        anchor = "end" if px > LABEL_W + 8 + chart_w * 0.6 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(f'<text class="pace-note" x="{px + dx:.1f}" y="{bottom + 18}" text-anchor="{anchor}" '
                   f'font-size="11">run joined when {escape(_short(printable(pace.label), 40))} ended '
                   f'({escape(clock(pace.ended_at, 1))})</text>')
    out.append("</svg>")
    return "\n".join(out)


def _axis(t0, t1, span, x, height) -> str:
    step = tick_step(span)
    first = (int(t0 // step) + 1) * step if t0 % step else t0
    parts = [f'<g class="axis"><text x="{LABEL_W - 8}" y="{AXIS_H - 22}" text-anchor="end" fill="#444" '
             f'font-size="11">wall clock ({escape(time.strftime("%Z", time.localtime(t0)))})</text>']
    tick = first
    while tick <= t1 + 1e-6:
        tx = x(tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{AXIS_H - 8}" x2="{tx:.1f}" y2="{height - 30}" '
                     f'stroke="#d8d8d8" stroke-width="1"/>'
                     f'<text x="{tx:.1f}" y="{AXIS_H - 12}" text-anchor="middle" fill="#333">'
                     f'{escape(clock(tick, step))}</text>')
        tick += step
    parts.append(f'<text x="{x(t0):.1f}" y="{AXIS_H - 26}" text-anchor="start" fill="#666" font-size="10">'
                 f'start {escape(time.strftime("%H:%M:%S", time.localtime(t0)))} · every '
                 f'{escape(_step_text(step))}</text></g>')
    return "".join(parts)


def _step_text(step: float) -> str:
    if step < 60:
        return f"{int(step)}s"
    if step < 3600:
        return f"{int(step // 60)}m"
    return f"{int(step // 3600)}h"


def _row(report, task, row, x, end_at, is_pace) -> str:
    key = key_of(task)
    top = AXIS_H + row * ROW_H
    mid = top + ROW_H / 2
    label = printable(task.label)
    pace_attr = ' data-pace="yes"' if is_pace else ""
    parts = [f'<g class="task" data-outcome="{escape(key)}"{pace_attr}>',
             f'<title>{escape(_tooltip(report, task, is_pace))}</title>']
    if row % 2:
        parts.append(f'<rect class="zebra" x="0" y="{top}" width="{WIDTH}" height="{ROW_H}" fill="#f6f6f6"/>')
    weight = ' font-weight="bold"' if is_pace else ""
    parts.append(f'<text class="label" x="{LABEL_W - 8}" y="{mid + 4:.1f}" text-anchor="end"{weight}>'
                 f'{escape(_short(label, 34))}</text>')
    for attempt in report.attempts.get(task.label, []):
        ax0, ax1 = x(attempt.submitted_at), x(attempt.ended_at)
        parts.append(f'<rect class="attempt" x="{ax0:.1f}" y="{mid - QUEUE_H / 2:.1f}" '
                     f'width="{max(ax1 - ax0, 2):.1f}" height="{QUEUE_H}" fill="{colour(attempt.outcome)}" '
                     f'fill-opacity="0.45" stroke="#333" stroke-width="0.6" stroke-dasharray="2 2"/>')
    submitted, started = task.submitted_at, task.started_at
    ended = task.ended_at if task.ended_at is not None else (end_at if task.outcome is None else None)
    bar_end = None
    if submitted is None and started is None:
        bar_x = LABEL_W + 8
        parts.append(f'<rect class="bar never" x="{bar_x}" y="{mid - BAR_H / 2:.1f}" width="8" height="{BAR_H}" '
                     f'fill="#fff" stroke="{colour(key)}" stroke-width="1.5" stroke-dasharray="3 2"/>')
        parts.append(f'<text x="{bar_x + 14}" y="{mid + 4:.1f}" fill="#555" font-size="11">never submitted'
                     f'{escape(": " + _short(printable(task.reason), 60)) if task.reason else ""}</text>')
    else:
        run_from = started if started is not None else submitted
        if submitted is not None and started is not None and started > submitted:
            qx0, qx1 = x(submitted), x(started)
            parts.append(f'<rect class="queued" x="{qx0:.1f}" y="{mid - QUEUE_H / 2:.1f}" '
                         f'width="{max(qx1 - qx0, 1):.1f}" height="{QUEUE_H}" fill="url(#hatch)" '
                         f'stroke="#8a8a8a" stroke-width="0.8"/>')
        bx0 = x(run_from)
        bx1 = x(ended) if ended is not None else bx0
        dash = ' stroke-dasharray="4 2"' if task.outcome is None else ""
        parts.append(f'<rect class="bar" x="{bx0:.1f}" y="{mid - BAR_H / 2:.1f}" width="{max(bx1 - bx0, 2):.1f}" '
                     f'height="{BAR_H}" rx="2" fill="{colour(key)}" stroke="#222" stroke-opacity="0.7" '
                     f'stroke-width="0.8"{dash}/>')
        bar_end = max(bx1, bx0 + 2)
    if is_pace and bar_end is not None:
        parts.append(shape("pace", 14, bar_end + 2, mid - 12))
    ox = WIDTH - OUTCOME_W + 6
    took = format_duration(task.duration_s) if task.duration_s is not None else ""
    if task.outcome is None and task.state:
        took = f"{task.state}"
    text = words(key) + (f" · {took}" if took else "") + (" · set the pace" if is_pace else "")
    parts.append(shape(key, 14, ox, mid - 7))
    parts.append(f'<text class="outcome" x="{ox + 20}" y="{mid + 4:.1f}">{escape(text)}</text>')
    parts.append("</g>")
    return "".join(parts)


def _tooltip(report, task, is_pace) -> str:
    lines = [printable(task.duration_label or task.label)]
    if task.submitted_at is not None and task.started_at is not None:
        lines.append(f"queued {format_duration(max(0.0, task.started_at - task.submitted_at))}")
    if task.started_at is not None and task.ended_at is not None:
        lines.append(f"ran {format_duration(max(0.0, task.ended_at - task.started_at))}")
    if task.attempts > 1:
        lines.append(f"{task.attempts} attempts")
    if task.reason:
        lines.append(printable(task.reason))
    if is_pace:
        lines.append("the run waited for this task: it set the pace")
    return "\n".join(lines)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
