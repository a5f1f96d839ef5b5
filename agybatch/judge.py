"""Judging an attempt when its job ended: by the task's result format, or by its exit code.

:func:`choose` picks the format of a task: ``result = "exit-code"`` none;
``result = "<name>"`` that format; ``result = "auto"`` (the default) the format
whose ``wants(argv)`` recognises the command (an agent CLI in a JSON output
mode), else the backend's own :attr:`~agybatch.backends.Backend.result_format`
when its jobs' output carries an envelope, else none: a plain command is
judged by its exit code, exactly as before result formats existed.
"""
from __future__ import annotations

from typing import Optional

from .errors import CannotTell
from .formats import Judgement
from .states import AUTO, EXIT_CODE
from .model import Outcome

#: Judgement reasons of a format that found nothing to judge start with this.
NO_RESULT = "no result"


def choose(task, backend, formats: dict):
    """``(format, lenient)`` for ``task``: the format or None, and whether output without an envelope
    falls back to the exit code (only for the backend's own format under ``auto``)."""
    if task.result == EXIT_CODE:
        return None, False
    if task.result != AUTO:
        return formats.get(task.result), False
    if isinstance(task.command, tuple):
        for fmt in formats.values():
            if fmt.wants(task.command):
                return fmt, False
    own = formats.get(backend.result_format) if backend.result_format else None
    return own, own is not None


def judge(task, job, backend, formats: dict) -> Optional[Judgement]:
    """The :class:`~agybatch.formats.Judgement` of the attempt whose job ``job`` ended, or None to
    judge it by its exit code. Reading or parsing trouble is a ``failed`` judgement, never a crash."""
    fmt, lenient = choose(task, backend, formats)
    if fmt is None:
        return None
    try:
        output = backend.read_output(job.job_id)
    except CannotTell as exc:
        return None if lenient else Judgement(Outcome.FAILED, f"{NO_RESULT}: {exc}")
    except Exception as exc:
        return None if lenient else Judgement(
            Outcome.FAILED, f"{NO_RESULT}: cannot read the job's output ({type(exc).__name__}: {exc})")
    try:
        judgement = fmt.judge(output, job.exit_code, now=job.ended_at)
    except Exception as exc:
        return Judgement(Outcome.FAILED, f"the {fmt.name} result format failed: {type(exc).__name__}: {exc}")
    if lenient and judgement.outcome is Outcome.FAILED and (judgement.reason or "").startswith(NO_RESULT):
        return None
    return judgement


def with_budget(command, task, fmt):
    """``command`` with the task's ``max_cost_usd`` passed to the CLI through the format's
    :attr:`~agybatch.formats.ResultFormat.budget_flag`, right after the program, unless the command
    already sets it. Without such a flag ``max_cost_usd`` is only checked on the result."""
    flag = getattr(fmt, "budget_flag", None)
    if task.max_cost_usd is None or not flag or not isinstance(command, tuple):
        return command
    if any(item == flag or item.startswith(flag + "=") for item in command):
        return command
    return (command[0], flag, f"{task.max_cost_usd:g}", *command[1:])

