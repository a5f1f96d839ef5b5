"""``agybatch`` entry point: the argument parser, dispatch and the exit-code contract.

Expected failures are :class:`~agybatch.errors.AgybatchError`: one line on
stderr and their exit code. Anything else is an internal error (exit 3),
also one line unless ``AGYBATCH_DEBUG`` is set.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from .. import __version__
from ..errors import AgybatchError, UsageError
from ..states import ExitCode
from ..units import non_negative, positive

COMMANDS = {
    "run": ("agybatch.cli.run", "cmd_run", "fan out a batch, wait, join"),
    "join": ("agybatch.cli.run", "cmd_join", "re-attach to an unfinished run and finish it"),
    "status": ("agybatch.cli.status", "cmd_status", "show a run's tasks and states"),
    "logs": ("agybatch.cli.logs", "cmd_logs", "print a task's log, or follow it"),
    "cancel": ("agybatch.cli.cancel", "cmd_cancel", "cancel a run's unsettled jobs"),
    "history": ("agybatch.cli.history", "cmd_history", "past runs of a batch"),
    "report": ("agybatch.cli.report", "cmd_report", "a run's summary, HTML timeline or JUnit XML"),
    "list": ("agybatch.cli.show", "cmd_list", "the project's batches"),
    "plugins": ("agybatch.cli.show", "cmd_plugins", "loaded plugins and where they came from"),
    "prune": ("agybatch.cli.prune", "cmd_prune", "remove the job logs and run folders retention no longer keeps"),
    "worktrees": ("agybatch.cli.worktrees", "cmd_worktrees", "the branches and kept worktrees runs left behind"),
}


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="agybatch", description="Fan out long-running jobs, watch them, join them.")
    parser.add_argument("--version", action="version", version=f"agybatch {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subs = {}
    for name, (_, _, help_text) in COMMANDS.items():
        subs[name] = sub.add_parser(name, help=help_text, description=help_text)
        _global_options(subs[name], suppress=True)
    for name in ("run", "join", "status", "cancel", "history", "list", "plugins", "report", "prune", "worktrees"):
        subs[name].add_argument("--json", action="store_true", help="print one JSON object on stdout")
    run = subs["run"]
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
    for name in ("run", "join"):
        subs[name].add_argument("--cancel-on-interrupt", action="store_true",
                                help="on SIGINT/SIGTERM cancel the jobs instead of leaving them running")
    subs["join"].add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest unfinished run")
    for name in ("status", "cancel"):
        subs[name].add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest run")
    logs = subs["logs"]
    logs.add_argument("label", metavar="LABEL")
    logs.add_argument("--run", dest="run_id", metavar="RUN_ID", help="default: the latest run with LABEL")
    logs.add_argument("--tail", type=non_negative, metavar="N", help="only the last N lines")
    logs.add_argument("-f", "--follow", action="store_true",
                      help="stream the job's output until the task settles (exit 0 if it succeeded, else 1)")
    subs["status"].add_argument("--watch", action="store_true",
                                help="redraw about once a second until the run ends (non-TTY: print changes)")
    subs["history"].add_argument("batch", nargs="?", metavar="BATCH", help="default: every batch")
    report = subs["report"]
    report.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest run")
    report.add_argument("--html", metavar="PATH", help="write the self-contained HTML report to PATH")
    report.add_argument("--junitxml", "--junit-xml", metavar="PATH", help="write JUnit XML to PATH")
    prune = subs["prune"]
    prune.add_argument("batch", nargs="?", metavar="BATCH", help="default: every batch")
    prune.add_argument("--keep-runs", type=positive, metavar="N", help="keep the files of the last N runs per batch")
    prune.add_argument("--keep-days", type=non_negative, metavar="N", help="also keep runs newer than N days")
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed; remove nothing")
    trees = subs["worktrees"]
    trees.add_argument("batch", nargs="?", metavar="BATCH", help="default: every batch")
    trees.add_argument("--prune", action="store_true",
                       help="delete merged branches and clean worktrees (never anything unmerged or dirty)")
    trees.add_argument("--dry-run", action="store_true", help="with --prune: say what would go; delete nothing")
    parser.subparsers = subs
    return parser


def main(argv=None) -> int:
    """Run ``agybatch`` with ``argv`` and return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    known = None
    try:
        parser = build_parser()
        known, _ = parser.parse_known_args(argv)
        if not known.command:
            parser.print_help(sys.stderr)
            return ExitCode.USAGE_ERROR
        module_name, func_name, _ = COMMANDS[known.command]
        import importlib

        command = getattr(importlib.import_module(module_name), func_name)
        return int(command(parser, argv, known))
    except AgybatchError as exc:
        print(f"agybatch: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        resume = ""
        if getattr(known, "command", None) in ("run", "join"):
            resume = "; jobs already submitted keep running, and 'agybatch join' finishes the run"
        print(f"agybatch: interrupted{resume}", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except Exception as exc:
        if os.environ.get("AGYBATCH_DEBUG"):
            raise
        print(f"agybatch: internal error: {type(exc).__name__}: {exc} (set AGYBATCH_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return int(ExitCode.INTERNAL_ERROR)


def _interrupt(signum, frame):
    """SIGTERM outside the runner's wait loop ends the command like Ctrl-C (exit 130)."""
    raise KeyboardInterrupt


def finish_parse(parser, argv) -> argparse.Namespace:
    """The full parse, after plugins had their ``addoption`` call; ``verbose`` becomes -q..-v."""
    options = parser.parse_args(argv)
    options.verbose = options.verbose - options.quiet
    return options
