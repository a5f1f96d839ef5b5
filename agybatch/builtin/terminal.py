"""The terminal reporter: a live progress line on a TTY, plain lines otherwise, a summary.

Verbosity: ``-v`` adds every submission and state change, ``-q`` prints only
the summary line, ``-qq`` nothing but errors. With ``--json`` it writes to
stderr so stdout carries only the JSON object. Colours follow ``--color``
(``auto`` means: only on a TTY, and never when ``NO_COLOR`` is set).
"""
from __future__ import annotations

import sys
import time

from agybatch import hookimpl
from agybatch.units import format_duration, printable


@hookimpl
def configure(config):
    if getattr(config.option, "command", None) in ("run", "join"):
        config.pluginmanager.register(TerminalReporter(config), "terminalreporter")


class TerminalReporter:
    """Writes the run's progress and summary; swap it out with ``-p no:terminal``."""

    def __init__(self, config, stream=None) -> None:
        from agybatch.report.colour import painter, want_colour

        option = config.option
        self.stream = stream or (sys.stderr if getattr(option, "json", False) else sys.stdout)
        self.verbosity = getattr(option, "verbose", 0)
        self.paint = painter(want_colour(getattr(option, "color", "auto"), self.stream))
        self.live = self.stream.isatty() and self.verbosity >= 0
        self._line_shown = False
        self._started = time.time()

    # -- output primitives --------------------------------------------------------

    def line(self, text: str = "") -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self._line_shown:
            self.stream.write("\r\x1b[2K")
            self._line_shown = False

    def _progress(self, records) -> None:
        if not self.live:
            return
        states: dict[str, int] = {}
        for rec in records:
            key = rec.outcome.text if rec.outcome else (rec.state.value if rec.state else rec.phase)
            states[key] = states.get(key, 0) + 1
        done = sum(1 for r in records if r.outcome)
        parts = " · ".join(f"{n} {name}" for name, n in states.items())
        text = f"[{done}/{len(records)}] {parts} · {format_duration(time.time() - self._started)}"
        self._clear()
        self.stream.write(text[: _width() - 1])
        self.stream.flush()
        self._line_shown = True

    # -- hooks ----------------------------------------------------------------------

    @hookimpl
    def on_session_start(self, session):
        self._started = time.time()
        if self.verbosity >= 0:
            verb = "joining" if session.resumed else "running"
            n = len(session.batch.tasks)
            self.line(self.paint(
                f"agybatch {verb} batch {session.batch.name!r}: {n} task{'s' * (n != 1)} "
                f"on {session.batch.backend} · run {session.run_id}", "heading", True))

    @hookimpl
    def on_submit(self, session, task, job):
        if self.verbosity > 0:
            self.line(f"submitted {printable(task.label)} -> {printable(job.job_id)}")

    @hookimpl
    def on_state_change(self, session, task, job, previous, outcome):
        if outcome is not None and self.verbosity >= 0:
            took = _took(job)
            text = f"{outcome.text:<10} {printable(task.label)}{f' ({took})' if took else ''}"
            self.line(self.paint(text, outcome.value))
        elif self.verbosity > 0 and job is not None:
            self.line(f"{job.state.value:<10} {printable(task.label)} ({printable(job.job_id)})")

    @hookimpl
    def on_tick(self, session, records):
        self._progress(records)

    @hookimpl(wrapper=True, trylast=True)
    def on_join(self, session, summary):
        """Print the summary after the other ``on_join`` plugins, even if one of them raised."""
        try:
            return (yield)
        finally:
            self.report(summary)

    def report(self, summary) -> None:
        """Print the end of the run, as :func:`agybatch.report.summary.terminal_lines` formats it."""
        from agybatch.report.summary import terminal_lines

        self._clear()
        for text in terminal_lines(summary, self.paint, self.verbosity):
            self.line(text)


def _took(job) -> str:
    if job is None or job.ended_at is None or job.started_at is None:
        return ""
    return format_duration(job.ended_at - job.started_at)


def _width() -> int:
    import shutil

    return shutil.get_terminal_size((80, 20)).columns
