"""A run's spending limit: ``max_cost_usd`` and ``max_tokens`` in ``[batch]``.

The budget counts what the run's finished attempts reported, rate-limited
and failed ones included. Once a total reaches its limit the runner submits
nothing more (tasks never submitted end ``skipped``, with the reason
``budget reached ($20.00)``) and lets the running jobs finish, unless
``on_budget = "cancel"``.
"""
from __future__ import annotations

from typing import Optional

from .units import format_tokens
from .usage import Usage, total


class Budget:
    """The limits and what was spent so far (``spent``: a :class:`~agybatch.usage.Usage` or None)."""

    def __init__(self, max_cost_usd: Optional[float], max_tokens: Optional[int],
                 spent: Optional[Usage] = None) -> None:
        self.max_cost_usd = max_cost_usd
        self.max_tokens = max_tokens
        self.spent = spent

    def add(self, usage: Optional[Usage]) -> None:
        self.spent = total([self.spent, usage])

    @property
    def reached(self) -> bool:
        if self.spent is None:
            return False
        cost, tokens = self.spent.cost_usd, self.spent.tokens
        return (self.max_cost_usd is not None and cost is not None and cost >= self.max_cost_usd) or \
            (self.max_tokens is not None and tokens is not None and tokens >= self.max_tokens)

    def describe(self) -> str:
        """The limit that was reached: ``$20.00`` or ``2M tokens``."""
        cost = self.spent.cost_usd if self.spent else None
        if self.max_cost_usd is not None and cost is not None and cost >= self.max_cost_usd:
            return f"${self.max_cost_usd:.2f}"
        return f"{format_tokens(self.max_tokens)} tokens"
