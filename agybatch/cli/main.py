"""``agybatch`` entry point: the argument parser, dispatch and the exit-code contract.

Expected failures are :class:`~agybatch.errors.AgybatchError`: one line on
stderr and their exit code. Anything else is an internal error (exit 3),
also one line unless ``AGYBATCH_DEBUG`` is set.
"""
from __future__ import annotations

import os
import signal
import sys

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


def main(argv=None) -> int:
    """Run ``agybatch`` with ``argv`` and return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:  # the one answer that needs nothing else: no parser, no imports
        from .. import __version__

        print(f"agybatch {__version__}")
        return 0
    from ..errors import AgybatchError
    from ..states import ExitCode
    from .parser import build_parser

    signal.signal(signal.SIGTERM, _interrupt)
    known = None
    try:
        parser = build_parser(_command_in(argv))
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


def _command_in(argv) -> "str | None":
    """The command ``argv`` names (its first word that is not an option, skipping the global options'
    values), or None when there is none or it is not a command."""
    words = iter(argv)
    for word in words:
        if word in ("-p", "--color"):
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _interrupt(signum, frame):
    """SIGTERM outside the runner's wait loop ends the command like Ctrl-C (exit 130)."""
    raise KeyboardInterrupt


def finish_parse(parser, argv):
    """The full parse, after plugins had their ``addoption`` call; ``verbose`` becomes -q..-v."""
    options = parser.parse_args(argv)
    options.verbose = options.verbose - options.quiet
    return options
