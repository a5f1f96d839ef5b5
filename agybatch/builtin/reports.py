"""``--html PATH`` and ``--junitxml PATH`` for ``run`` and ``join`` (block with ``-p no:reports``).

At join, after every other ``on_join`` implementation filled in log paths and
duration labels, the run's report is written: a self-contained HTML page with
the verdict, a timeline and the tasks (:mod:`agybatch.report.html`) and/or
JUnit XML for CI (:mod:`agybatch.report.junit`). ``agybatch report RUN_ID``
writes the same files later, from the journal.

The hook is a wrapper, so the files are written even when another ``on_join``
plugin raised. A report that cannot be written is a warning in the summary's
``plugin_errors``; it never changes the exit code. Nothing from
:mod:`agybatch.report` is imported unless one of the options is given.
"""
from __future__ import annotations

import sys

from agybatch import hookimpl


@hookimpl
def addoption(parser):
    group = parser.add_argument_group("reports") if hasattr(parser, "add_argument_group") else parser
    group.add_argument("--html", dest="report_html", metavar="PATH", default=None,
                       help="write a self-contained HTML report (verdict, timeline, tasks) to PATH")
    group.add_argument("--junitxml", "--junit-xml", dest="report_junitxml", metavar="PATH", default=None,
                       help="write JUnit XML (one testcase per task) to PATH for CI dashboards")


@hookimpl(trylast=True)
def configure(config):
    """Check the paths before anything runs (a typo should not cost a night), then register the writer.

    ``trylast`` registers the writer after the terminal reporter, so the files
    are written (and their paths printed) before the run's summary line.
    """
    from pathlib import Path

    from agybatch.errors import UsageError

    targets = wanted(config.option)
    for kind, path in targets:
        if Path(path).expanduser().is_dir():
            raise UsageError(f"--{kind} {path}: is a folder; give the path of a file to write")
    if targets and getattr(config.option, "command", None) in ("run", "join"):
        config.pluginmanager.register(ReportWriter(targets), "reports.writer")


def wanted(option) -> list:
    """``[(kind, path)]`` for the reports asked for on the command line."""
    found = []
    for kind in ("html", "junitxml"):
        path = getattr(option, f"report_{kind}", None)
        if path:
            found.append((kind, path))
    return found


class ReportWriter:
    """Writes the asked-for reports at join, after the other ``on_join`` implementations."""

    def __init__(self, targets) -> None:
        self.targets = targets

    @hookimpl(wrapper=True, trylast=True)
    def on_join(self, session, summary):
        try:
            return (yield)
        finally:
            write_reports(session, summary, self.targets)


def write_reports(session, summary, targets) -> list:
    """Write each ``(kind, path)`` of ``targets``; return the paths written. Failures are warnings."""
    from agybatch.report import data, write

    try:
        report = data.from_summary(session, summary)
    except Exception as exc:
        _warn(summary, f"cannot read the journal for the report: {type(exc).__name__}: {exc}")
        report = data.Report(summary=summary)
    written = []
    for kind, path in targets:
        try:
            written.append(write(kind, report, path))
        except OSError as exc:
            _warn(summary, f"cannot write the {kind} report {path}: {exc.strerror or exc}")
        except Exception as exc:
            _warn(summary, f"cannot write the {kind} report {path}: {type(exc).__name__}: {exc}")
    if written and getattr(session.config.option, "verbose", 0) >= 0:
        stream = sys.stderr if getattr(session.config.option, "json", False) else sys.stdout
        for path in written:
            stream.write(f"report: {path}\n")
        stream.flush()
    return written


def _warn(summary, message: str) -> None:
    message = f"reports: {message}"
    summary.plugin_errors.append(message)
    print(f"agybatch: warning: {message}", file=sys.stderr)
