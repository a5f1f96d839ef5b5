"""The verdicts every format shares, with their one-line reasons.

``no result: ...``           nothing that reads as the CLI's result
``result cut short: ...``    a result that stops before its end, or lost its start
``rate limited: ...``        the CLI refused for a rate limit or used-up quota
``exit N despite a success result``
``<the CLI's own message>``  an error the CLI reported
"""
from __future__ import annotations

import time
from typing import Optional

from ..states import Outcome
from . import Judgement
from ._json import first_text_line, one_line


#: Why a stream's result event is missing its start: longer than the tail of the log a format gets.
TOO_LONG = "the result event is longer than the part of the log that is read"


def exit_note(exit_code: Optional[int], names: Optional[dict] = None) -> str:
    """`` (exit 41: authentication failed)`` for a nonzero exit code, '' for 0 or unknown."""
    if not exit_code:
        return ""
    name = (names or {}).get(exit_code)
    return f" (exit {exit_code}: {name})" if name else f" (exit {exit_code})"


def no_result(detail: str, exit_code: Optional[int], names: Optional[dict] = None, **found) -> Judgement:
    """FAILED: nothing in the output reads as the CLI's result."""
    note = exit_note(exit_code, names)
    return Judgement(Outcome.FAILED, one_line(f"no result: {detail}", 200 - len(note)) + note, **found)


def not_json(output: str, exit_code: Optional[int], names: Optional[dict] = None, **found) -> Judgement:
    """FAILED: the output holds no JSON at all; quotes its first line (often the CLI's error)."""
    first = one_line(first_text_line(output), 120)
    return no_result(f"output is not JSON: {first}" if first else "output is not JSON", exit_code, names, **found)


def cut_short(detail: str, **found) -> Judgement:
    """FAILED: a result that stops before its end."""
    return Judgement(Outcome.FAILED, one_line(f"result cut short: {detail}"), **found)


def succeeded(exit_code: Optional[int], **found) -> Judgement:
    """SUCCEEDED, unless the process exited nonzero after printing a success result."""
    if exit_code:
        return Judgement(Outcome.FAILED, f"exit {exit_code} despite a success result", **found)
    return Judgement(Outcome.SUCCEEDED, None, **found)


def refused(message: str, now: Optional[float], *, limited: bool = False, reset_text: str = "",
            retry_at: Optional[float] = None, label: str = "", **found) -> Judgement:
    """An error the CLI reported: RATE_LIMITED if it reads as one (or ``limited``), else FAILED.

    ``label`` prefixes a FAILED reason (e.g. the error's type). For a rate limit
    ``retry_at`` wins, else the reset time is read from ``reset_text`` and
    ``message``; ``now`` defaults to the current time.
    """
    from ._limits import is_rate_limit, reset_time  # only a failure needs it

    message = one_line(message) or "error without a message"
    if limited or is_rate_limit(message):
        if retry_at is None:
            clock = time.time() if now is None else now
            retry_at = reset_time(reset_text, clock) if reset_text else None
            if retry_at is None:
                retry_at = reset_time(message, clock)
        return Judgement(Outcome.RATE_LIMITED, one_line(f"rate limited: {message}"), retry_at=retry_at, **found)
    return Judgement(Outcome.FAILED, one_line(f"{label}: {message}" if label else message), **found)
