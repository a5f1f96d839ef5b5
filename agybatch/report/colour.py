"""Terminal colours of outcomes and verdicts, and when to use them.

Colour is on for ``--color yes``, off for ``--color no`` or when ``NO_COLOR``
is set, and otherwise (``auto``) only on a TTY or when ``FORCE_COLOR`` is set.
:func:`painter` returns the ``paint(text, key, bold)`` function that
:mod:`agybatch.report.summary` takes.
"""
from __future__ import annotations

import os
from typing import Optional

#: Colour names (colorama's ``Fore``) of outcome values and verdicts.
COLOURS = {
    "succeeded": "GREEN", "failed": "RED", "error": "RED", "lost": "RED",
    "timed_out": "YELLOW", "stalled": "YELLOW", "cancelled": "YELLOW", "rate_limited": "YELLOW",
    "skipped": "WHITE",
    "ok": "GREEN", "wipeout": "RED", "partial": "YELLOW", "interrupted": "YELLOW",
}


def want_colour(choice: str, stream) -> bool:
    """Whether to colour ``stream`` for ``--color choice`` (``auto``, ``yes`` or ``no``)."""
    if choice == "yes":
        return True
    if choice == "no" or os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def colour_for(key: Optional[str]) -> Optional[str]:
    """The colour of an outcome value (``failed``) or a verdict (``ok``); None for anything else."""
    return COLOURS.get(key) if key else None


def paint(text: str, colour: Optional[str], bold: bool = False) -> str:
    """``text`` in ``colour`` (a colorama ``Fore`` name), bright if ``bold``."""
    if not colour:
        return text
    from colorama import Fore, Style

    return f"{Style.BRIGHT if bold else ''}{getattr(Fore, colour)}{text}{Style.RESET_ALL}"


def painter(enabled: bool):
    """The ``paint(text, key, bold)`` of :mod:`agybatch.report.summary`: coloured by key, or plain."""
    def by_key(text: str, key: Optional[str] = None, bold: bool = False) -> str:
        return paint(text, colour_for(key), bold) if enabled else text

    return by_key
