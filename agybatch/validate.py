"""Checking TOML values: every problem one :class:`~agybatch.errors.ConfigError` naming file, line and key.

:class:`Checker` is shared by the batch file (:mod:`agybatch.batchfile`), its
tasks (:mod:`agybatch.taskspec`) and the project-wide tables (``[prices]``,
``[state]``); each of its ``fail``-ing helpers raises, so a caller reads
top to bottom as a list of rules.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from .errors import ConfigError
from .units import parse_duration, parse_size


class Checker:
    """Builds error messages that name the file, the line when found, and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            self.lines = []

    def fail(self, where: str, message: str, key: str | None = None, task_index: int | None = None):
        line = self._line_of(key, task_index)
        location = f"{self.path}:{line}" if line else str(self.path)
        raise ConfigError(location, f"{where}: {message}" if where else message)

    def _line_of(self, key: str | None, task_index: int | None) -> int | None:
        start = 0
        if task_index is not None:
            headers = [i for i, l in enumerate(self.lines) if re.match(r"\s*\[\[\s*task\s*\]\]", l)]
            if task_index >= len(headers):
                return None
            start = headers[task_index]
            if key is None:
                return start + 1
        if key is None:
            return None
        pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for i in range(start, len(self.lines)):
            if i > start and task_index is not None and re.match(r"\s*\[", self.lines[i]):
                return None
            if pattern.match(self.lines[i]):
                return i + 1
        return None

    def unknown(self, where, key, known, task_index=None):
        hint = _close(key, sorted(known), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        self.fail(where, f"unknown key {key!r}{suggestion}", key, task_index)

    def duration(self, where, key, value, task_index=None, allow_zero=True) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(where, f"{key}: {exc}", key, task_index)
        if not allow_zero and seconds <= 0:
            self.fail(where, f"{key}: must be greater than zero", key, task_index)
        return seconds

    def size(self, where, key, value, task_index=None, minimum: int = 1) -> int:
        """A size such as ``"100MB"`` (or a whole number of bytes), at least ``minimum`` bytes."""
        try:
            size = parse_size(value)
        except ValueError as exc:
            self.fail(where, f"{key}: {exc}", key, task_index)
        if size < minimum:
            self.fail(where, f"{key}: must be at least {minimum} bytes, got {size}", key, task_index)
        return size

    def whole(self, where, key, value, task_index=None, minimum: int = 0) -> int:
        """A whole number >= ``minimum`` (TOML booleans are not numbers)."""
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(where, f"{key} must be a whole number >= {minimum}, got {value!r}", key, task_index)
        return value

    def number(self, where, key, value, task_index=None, positive: bool = False) -> float:
        """A finite number >= 0 (> 0 when ``positive``): TOML's ``nan`` and ``inf`` are refused."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < 0 or (positive and value == 0):
            bound = "> 0" if positive else ">= 0"
            self.fail(where, f"{key} must be a number {bound}, got {value!r}", key, task_index)
        return float(value)

    def choice(self, where, key, value, choices, task_index=None) -> str:
        if value not in choices:
            options = ", ".join(repr(c) for c in choices)
            self.fail(where, f"{key} must be one of {options}, got {value!r}", key, task_index)
        return value


def _close(word, choices, n=1):
    """``difflib.get_close_matches``, imported only when an error needs a "did you mean"."""
    import difflib

    return difflib.get_close_matches(word, choices, n=n)

