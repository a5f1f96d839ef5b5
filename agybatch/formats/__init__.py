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
from typing import Optional

import attrs

from ..model import Outcome

#: ``result`` values that are not formats.
EXIT_CODE, AUTO = "exit-code", "auto"


@attrs.frozen
class ModelUsage:
    """What one model of one attempt used, normalised across CLIs.

    ``input_tokens`` counts uncached input only and ``cached_input_tokens``
    cache reads, whatever the CLI calls them (a CLI whose input count includes
    cached tokens has them subtracted). A count the CLI did not report is
    None, never 0. ``cost_usd`` is set only where the CLI reports a cost itself.
    """

    model: Optional[str] = None
    input_tokens: Optional[int] = None
    cached_input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    thinking_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    cost_usd: Optional[float] = None


@attrs.frozen
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

    def wants(self, argv: tuple) -> bool:
        """True if ``result = "auto"`` should judge the command ``argv`` with this format: the
        program is this CLI and it asked for machine-readable output. Never guess on plain text."""
        return False

    def judge(self, output: str, exit_code: Optional[int]) -> Judgement:
        """Judge one attempt from its ``output`` (stdout and stderr interleaved; for a long
        output its head and tail) and the process's ``exit_code`` (None if unknown)."""
        raise NotImplementedError


def program(argv) -> str:
    """The program name of a command: ``agy`` for ``/usr/local/bin/agy``; '' for a shell string."""
    if not argv or isinstance(argv, str):
        return ""
    return os.path.basename(argv[0])
