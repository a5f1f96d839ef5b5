"""The notification the notify plugin builds from a verdict, and how it is rendered.

One :class:`Notification` per run: its ``event`` (the route that chose the
sinks), a ``severity``, a one-line ``title``, a plain-text and a Markdown
body listing every task that did not succeed with its duration label and log
path, and the run summary as JSON. Labels come from batch files and are
rendered as data: control characters are escaped, Markdown is fenced.
"""
from __future__ import annotations

import dataclasses
import socket
import time
from dataclasses import dataclass, field
from typing import Optional

from ..units import printable

#: The routes of ``[notify]`` and their severities.
SEVERITY = {
    "wipeout": "critical",
    "internal_error": "critical",
    "lock_held": "warning",
    "interrupted": "warning",
    "stalled": "warning",
    "rate_limited": "warning",
    "budget": "warning",
    "partial": "warning",
    "ok": "info",
}
EVENTS = tuple(SEVERITY)


def code(text) -> str:
    """``text`` as a Markdown code span, whatever backticks it holds."""
    from ..report.summary import code as _code

    return _code(text)


@dataclass(frozen=True)
class Failure:
    """One task that did not succeed, as a notification lists it."""

    label: str
    outcome: str
    duration_label: str
    job_id: Optional[str] = None
    exit_code: Optional[int] = None
    reason: Optional[str] = None
    log_path: Optional[str] = None
    duration_s: Optional[float] = None
    usual_s: Optional[float] = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Notification:
    """What every sink receives; ``to_json()`` is what ``webhook`` and ``command`` send.

    :ivar event: the route: ``wipeout``, ``partial``, ``ok``, ``interrupted``,
        ``stalled`` (every task that did not succeed was stalled in the queue),
        ``rate_limited`` (every task that did not succeed was refused for
        quota or rate limit: paused, not broken), ``budget`` (the run's budget
        stopped it), ``lock_held`` (the run was refused because another holds
        the lock) or ``internal_error``.
    :ivar severity: ``critical``, ``warning`` or ``info``.
    :ivar title: one line, e.g. ``nightly: partial, 4 of 6 succeeded``.
    :ivar text: the plain-text body. :ivar markdown: the same as Markdown.
    :ivar failures: :class:`Failure` for each task that did not succeed.
    :ivar summary: the run summary as ``agybatch run --json`` prints it (None for ``lock_held``).
    :ivar sinks: the names of the configured sinks the routing chose for it.
    """

    event: str
    severity: str
    batch: str
    run_id: str
    exit_code: int
    verdict: str
    title: str
    text: str
    markdown: str
    failures: tuple = ()
    summary: Optional[dict] = None
    sinks: tuple = ()
    host: str = ""
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict:
        from ..units import iso

        return {
            "event": self.event, "severity": self.severity, "batch": self.batch, "run_id": self.run_id,
            "exit_code": self.exit_code, "verdict": self.verdict, "title": self.title,
            "text": self.text, "markdown": self.markdown, "host": self.host,
            "created_at": iso(self.created_at),
            "failures": [f.to_json() for f in self.failures], "summary": self.summary,
            "sinks": list(self.sinks),
        }


def event_for(summary) -> str:
    """The route of a joined run: ``interrupted``, ``budget``, ``stalled``, ``rate_limited``, or the verdict."""
    if summary.interrupted:
        return "interrupted"
    if summary.stopped_by == "budget":
        return "budget"
    not_ok = summary.not_ok()
    for event in ("stalled", "rate_limited"):
        if not_ok and all(t.outcome is not None and t.outcome.value == event for t in not_ok):
            return event
    return summary.verdict


def from_summary(summary, event: Optional[str] = None, usual: Optional[dict] = None) -> Notification:
    """Build the notification of a joined run (``usual`` maps labels to median seconds).

    The title and bodies come from :mod:`agybatch.report.summary`, the one
    place that formats a run summary (the terminal and reports use it too).
    """
    from ..report import summary as render

    event = event or event_for(summary)
    usual = usual or {}
    failures = []
    for task, item in zip(summary.not_ok(), render.not_ok(summary)):
        failures.append(Failure(
            label=task.label, outcome=item.outcome, duration_label=item.duration_label,
            job_id=task.job_id, exit_code=task.exit_code, reason=task.reason, log_path=task.log_path,
            duration_s=task.duration_s, usual_s=usual.get(task.label),
        ))
    return Notification(
        event=event, severity=SEVERITY.get(event, "warning"), batch=summary.batch, run_id=summary.run_id,
        exit_code=int(summary.exit_code), verdict=summary.verdict,
        title=render.title(summary, event),
        text=render.text(summary), markdown=render.markdown(summary),
        failures=tuple(failures), summary=summary.to_json(), host=_host(),
    )


def lock_held(batch: str, run_id: str, message: str) -> Notification:
    """The notification of a run refused because another run holds the batch's lock."""
    return _alarm("lock_held", 6, batch, run_id, "not started, another run holds the lock", "was refused", message)


def internal_error(batch: str, run_id: str, message: str) -> Notification:
    """The notification of a run or join that stopped on an internal error (exit 3: the state
    folder or journal failed); its jobs may still be running, ``agybatch join`` picks them up."""
    return _alarm("internal_error", 3, batch, run_id, "stopped on an internal error", "stopped", message)


def _alarm(event: str, exit_code: int, batch: str, run_id: str, headline: str, what: str, message: str):
    """A notification of a run that got no verdict: ``event`` is also its verdict."""
    name = printable(batch)
    text = f"batch {name} · run {run_id} {what} (exit {exit_code})\n{printable(message)}\n"
    md = f"**{_md_escape(name)}**: run {code(run_id)} {what} (exit {exit_code})\n\n{code(message)}\n"
    return Notification(event=event, severity=SEVERITY[event], batch=batch, run_id=run_id, exit_code=exit_code,
                        verdict=event, title=f"{name}: {headline}", text=text, markdown=md, host=_host())


def _md_escape(text: str) -> str:
    from ..report.summary import md_escape

    return md_escape(text)


def _host() -> str:
    try:
        return socket.gethostname()
    except OSError:
        return ""
