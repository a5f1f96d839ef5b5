"""Registers the result formats of the agent CLIs: agy, claude, gemini, codex (block with ``-p no:agents``).

Each format judges one CLI's JSON output; docs/agents.md says what each one
reads. A format's module is imported the first time the format is used, so a
run without agent tasks pays nothing for them.
"""
from __future__ import annotations

import importlib

from agybatch import hookimpl

#: name -> (module, class) of each built-in format.
FORMATS = {
    "agy": ("agybatch.formats.agy", "AgyFormat"),
    "claude": ("agybatch.formats.claude", "ClaudeFormat"),
    "gemini": ("agybatch.formats.gemini", "GeminiFormat"),
    "codex": ("agybatch.formats.codex", "CodexFormat"),
}


class LazyFormat:
    """A built-in format whose module is imported on first use (it acts as the
    :class:`~agybatch.formats.ResultFormat` it loads)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._format = None

    @property
    def format(self):
        """The format itself."""
        if self._format is None:
            module, cls = FORMATS[self.name]
            self._format = getattr(importlib.import_module(module), cls)()
        return self._format

    @property
    def budget_flag(self):
        return self.format.budget_flag

    def wants(self, argv) -> bool:
        return self.format.wants(argv)

    def judge(self, output, exit_code, now=None):
        """Judge as the format does; ``now`` (epoch seconds) anchors a relative retry delay."""
        return self.format.judge(output, exit_code, now=now)


@hookimpl
def register_result_formats(register):
    for name in FORMATS:
        register(name, LazyFormat(name))
