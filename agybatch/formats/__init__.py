"""Result formats: judging an agent job by the result it printed, not by its exit code.

Agent CLIs exit 0 when they time out, run out of quota or print nothing, so
a task whose ``result`` names a format (``agy``, ``claude``, ``gemini``,
``codex``, or one a plugin registers with ``register_result_formats``) is
judged by its :class:`ResultFormat`: the format reads the job's output
(stdout and stderr, as one log) and returns a :class:`Judgement`.

A format is small: :meth:`ResultFormat.wants` tells ``result = "auto"``
whether a command is this CLI in a JSON output mode, and
:meth:`ResultFormat.judge` reads the final envelope, or the last result event
of a stream, from output that may hold progress noise on stderr.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ..states import Outcome
from ._json import json_lines, last_json_object, one_line

__all__ = [
    "AUTO", "EXIT_CODE", "JSON_OUTPUT_FORMATS", "Judgement", "ModelUsage", "ResultFormat", "json_lines",
    "last_json_object", "one_line", "option_value", "program", "wants_json_output",
]

from ..states import AUTO, EXIT_CODE  # noqa: E402  (``result`` values that are not formats)


@dataclass(frozen=True)
class ModelUsage:
    """What one model of one attempt used, normalised across CLIs.

    The counts are disjoint, so their sum is everything the attempt used:
    ``input_tokens`` counts uncached input only (prompt tokens written to a
    cache included) and ``cached_input_tokens`` cache reads, whatever the CLI
    calls them (a CLI whose input count includes cached tokens has them
    subtracted); ``output_tokens`` counts the visible output and
    ``thinking_tokens`` the reasoning (a CLI whose output count includes
    reasoning has it subtracted). ``total_tokens`` is the CLI's own total. A
    count the CLI did not report is None, never 0. ``cost_usd`` is set only
    where the CLI reports a cost itself. docs/agents.md says, per CLI, which
    field goes where.
    """

    model: Optional[str] = None
    input_tokens: Optional[int] = None
    cached_input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    thinking_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    cost_usd: Optional[float] = None


@dataclass(frozen=True)
class Judgement:
    """A format's verdict on one attempt.

    :ivar outcome: :attr:`~agybatch.model.Outcome.SUCCEEDED`,
        :attr:`~agybatch.model.Outcome.FAILED` or
        :attr:`~agybatch.model.Outcome.RATE_LIMITED`.
    :ivar reason: one line saying why it is not a success (None for a success).
    :ivar session_id: the agent's session, conversation or thread ID, if printed.
    :ivar response: the agent's final response text, if printed.
    :ivar usage: a :class:`ModelUsage` per model the attempt used (empty if none was reported).
    :ivar raw_usage: the usage fields as the CLI printed them.
    :ivar retry_at: for a rate limit, when the CLI said the limit resets (epoch seconds).
    """

    outcome: Outcome
    reason: Optional[str] = None
    session_id: Optional[str] = None
    response: Optional[str] = None
    usage: tuple = ()
    raw_usage: Optional[dict] = None
    retry_at: Optional[float] = None


class ResultFormat:
    """Base class of a result format; subclasses set :attr:`name` and implement both methods."""

    #: The name a task gives as ``result = "<name>"``.
    name = "?"
    #: The CLI's flag that caps what one run may spend in USD (``--max-budget-usd``), if it has one:
    #: a task's ``max_cost_usd`` is then passed to it.
    budget_flag: Optional[str] = None

    def wants(self, argv: tuple) -> bool:
        """True if ``result = "auto"`` should judge the command ``argv`` with this format: the
        program is this CLI and it asked for machine-readable output. Never guess on plain text."""
        return False

    def judge(self, output: str, exit_code: Optional[int], now: Optional[float] = None) -> Judgement:
        """Judge one attempt from its ``output`` (stdout and stderr interleaved; for a long
        output its head and tail) and the process's ``exit_code`` (None if unknown).
        ``now`` (default: the clock) is when a reported delay ("retry in 30s") counts from."""
        raise NotImplementedError


#: ``--output-format`` values that make agy, claude and gemini print JSON.
JSON_OUTPUT_FORMATS = frozenset({"json", "stream-json"})


def program(argv) -> str:
    """The program name of a command: ``agy`` for ``/usr/local/bin/agy``; '' for a shell string."""
    if not argv or isinstance(argv, str):
        return ""
    return os.path.basename(argv[0])


def option_value(argv, *names: str) -> Optional[str]:
    """The value of the last ``NAME VALUE`` or ``NAME=VALUE`` in ``argv`` for any of ``names``
    (e.g. ``"--output-format", "-o"``); None if there is none or ``argv`` is a shell string."""
    if not argv or isinstance(argv, str):
        return None
    value = None
    items = list(argv[1:])
    for i, item in enumerate(items):
        item = str(item)
        for name in names:
            if item == name and i + 1 < len(items):
                value = str(items[i + 1])
            elif item.startswith(name + "="):
                value = item[len(name) + 1:]
    return value


def wants_json_output(argv, name: str, *flags: str) -> bool:
    """True if ``argv`` runs the program ``name`` with an output-format flag (``flags``, default
    ``--output-format``) set to ``json`` or ``stream-json``."""
    return program(argv) == name and option_value(argv, *(flags or ("--output-format",))) in JSON_OUTPUT_FORMATS
