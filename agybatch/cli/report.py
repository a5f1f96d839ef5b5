"""``agybatch report [RUN_ID] [--html PATH] [--junitxml PATH] [--json]``: a run's report, any time later.

The report is rebuilt from the journal alone (:func:`agybatch.report.data.from_journal`),
so it works for any past run, and for a run still in progress (marked
unfinished). With no flags it prints the run's summary as the end of
``agybatch run`` did; ``--html``/``--junitxml`` write the files that
``agybatch run --html/--junitxml`` writes; ``--json`` prints the summary
object of ``agybatch run --json`` (plus ``reports``, the files written).
The exit code is 0 when the report was made, whatever the run's verdict.
"""
from __future__ import annotations

import sys

from ..errors import UsageError
from .common import find_run, open_journal, print_json, project_from_cwd
from .main import finish_parse


def cmd_report(parser, argv, known) -> int:
    options = finish_parse(parser, argv)
    project = project_from_cwd()
    if not project.state_dir.exists():
        raise UsageError(f"no runs yet: {project.state_dir} does not exist")
    journal = open_journal(project, read_only=True)
    row = find_run(journal, options.run_id)
    from ..report import data, write

    report = data.from_journal(journal, row["run_id"])
    written = {}
    for kind in ("html", "junitxml"):
        path = getattr(options, kind)
        if not path:
            continue
        try:
            written[kind] = str(write(kind, report, path))
        except OSError as exc:
            raise UsageError(f"--{kind} {path}: cannot write: {exc.strerror or exc}") from None
    if options.json:
        print_json({**report.summary.to_json(), "unfinished": report.unfinished, "reports": written})
        return 0
    if written:
        if options.verbose >= 0:
            for path in written.values():
                print(f"report: {path}")
        return 0
    print_summary(report, options)
    return 0


def print_summary(report, options) -> None:
    """The run's summary as the end of ``agybatch run`` prints it, after one line naming the run."""
    from ..report.colour import painter, want_colour
    from ..report.summary import terminal_lines
    from ..units import printable

    paint = painter(want_colour(getattr(options, "color", "auto"), sys.stdout))
    summary = report.summary
    if options.verbose >= 0:
        state = "unfinished (no verdict yet)" if report.unfinished else \
            f"{summary.verdict} (exit {int(summary.exit_code)})"
        print(f"run {summary.run_id} · batch {printable(summary.batch)} · {summary.backend} · {state}")
        if report.logs_removed:
            print("its logs were removed by retention ([state] keep_runs, keep_days); its outcomes stay")
    for line in terminal_lines(summary, paint, options.verbose):
        print(line)
