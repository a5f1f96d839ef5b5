"""The ``agybatch`` argument parser: global options, one sub-parser per command, and its arguments.

:func:`build_parser` builds only the sub-parser of the command being run when
it is told which (building all eleven costs more than ``agybatch --version``
itself), and all of them for ``--help`` or a mistyped command.
"""
from __future__ import annotations

import argparse

from .. import __version__
from ..errors import UsageError
from ..units import non_negative, positive
from .main import COMMANDS

#: Commands whose output a script may read: they take ``--json``.
JSON_COMMANDS = ("run", "join", "status", "cancel", "history", "list", "plugins", "report", "prune", "worktrees")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _global_options(parser, suppress: bool) -> None:
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    parser.add_argument("-p", dest="plugins", action="append", metavar="NAME", default=default([]),
                        help="load plugin NAME (module or entry point); no:NAME blocks one")
    parser.add_argument("-v", "--verbose", action="count", default=default(0), help="say more (repeatable)")
    parser.add_argument("-q", "--quiet", action="count", default=default(0),
                        help="-q: summary line only; -qq: errors only")
    parser.add_argument("--color", choices=("auto", "yes", "no"), default=default("auto"),
                        help="colour output (default: auto, only on a TTY)")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, one with that command's sub-parser alone."""
    parser = _Parser(prog="agybatch", description="Fan out long-running jobs, watch them, join them.")
    parser.add_argument("--version", action="version", version=f"agybatch {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subs = {}
    for name, (_, _, help_text) in COMMANDS.items():
        if only is not None and name != only:
            continue
        subs[name] = command = sub.add_parser(name, help=help_text, description=help_text)
        _global_options(command, suppress=True)
        if name in JSON_COMMANDS:
            command.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        ARGUMENTS[name](command)
    parser.subparsers = subs
    return parser


def _run(run) -> None:
    run.add_argument("batch", metavar="PATH|NAME", help="batch folder, batch.toml, or NAME of batches/NAME/")
    run.add_argument("--deadline", metavar="D", help="overall deadline, e.g. 60m")
    run.add_argument("-j", "--max-parallel", type=non_negative, metavar="N", help="at most N jobs at once (0: no cap)")
    run.add_argument("--backend", metavar="B", help="backend to use instead of [batch] backend")
    run.add_argument("-k", dest="keyword", metavar="EXPR",
                     help="only tasks whose label matches EXPR (substrings with and/or/not)")
    run.add_argument("--tag", dest="tags", action="append", metavar="NAME", help="only tasks tagged NAME")
    run.add_argument("--lf", "--last-failed", dest="last_failed", action="store_true",
                     help="only the tasks that did not succeed in the batch's last run")
    run.add_argument("--co", "--collect-only", dest="collect_only", action="store_true",
                     help="list what would run, in order, with needs and expected times; submit nothing")
    _cancel_on_interrupt(run)


def _join(join) -> None:
    join.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest unfinished run")
    _cancel_on_interrupt(join)


def _cancel_on_interrupt(parser) -> None:
    parser.add_argument("--cancel-on-interrupt", action="store_true",
                        help="on SIGINT/SIGTERM cancel the jobs instead of leaving them running")


def _run_id(parser) -> None:
    parser.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest run")


def _status(status) -> None:
    _run_id(status)
    status.add_argument("--watch", action="store_true",
                        help="redraw about once a second until the run ends (non-TTY: print changes)")


def _logs(logs) -> None:
    logs.add_argument("label", metavar="LABEL")
    logs.add_argument("--run", dest="run_id", metavar="RUN_ID", help="default: the latest run with LABEL")
    logs.add_argument("--tail", type=non_negative, metavar="N", help="only the last N lines")
    logs.add_argument("-f", "--follow", action="store_true",
                      help="stream the job's output until the task settles (exit 0 if it succeeded, else 1)")


def _batch(parser) -> None:
    parser.add_argument("batch", nargs="?", metavar="BATCH", help="default: every batch")


def _report(report) -> None:
    _run_id(report)
    report.add_argument("--html", metavar="PATH", help="write the self-contained HTML report to PATH")
    report.add_argument("--junitxml", "--junit-xml", metavar="PATH", help="write JUnit XML to PATH")


def _prune(prune) -> None:
    _batch(prune)
    prune.add_argument("--keep-runs", type=positive, metavar="N", help="keep the files of the last N runs per batch")
    prune.add_argument("--keep-days", type=non_negative, metavar="N", help="also keep runs newer than N days")
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed; remove nothing")


def _worktrees(trees) -> None:
    _batch(trees)
    trees.add_argument("--prune", action="store_true",
                       help="delete merged branches and clean worktrees (never anything unmerged or dirty)")
    trees.add_argument("--dry-run", action="store_true", help="with --prune: say what would go; delete nothing")


#: Each command's own arguments.
ARGUMENTS = {
    "run": _run, "join": _join, "status": _status, "logs": _logs, "cancel": _run_id, "history": _batch,
    "report": _report, "list": lambda parser: None, "plugins": lambda parser: None, "prune": _prune,
    "worktrees": _worktrees,
}
