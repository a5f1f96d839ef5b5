"""Token prices and what an attempt cost.

``[prices]`` (in ``batch.toml``, or ``[tool.agybatch.prices]`` for the whole
project) gives USD per million tokens, by model::

    [prices."gemini-3.5-flash"]
    input = 0.30          # uncached input
    cached_input = 0.03   # cache reads
    output = 2.50
    thinking = 2.50

agybatch ships no prices: they go stale. A model without a price shows its
tokens and an unknown cost. A CLI that reports its own cost (Claude's
``total_cost_usd``) is taken as given.
"""
from __future__ import annotations

from typing import Optional

#: Price fields, each USD per million tokens of the :class:`~agybatch.formats.ModelUsage` count.
FIELDS = {"input": "input_tokens", "cached_input": "cached_input_tokens", "output": "output_tokens",
          "thinking": "thinking_tokens"}


def check_prices(check, data) -> dict:
    """Validate a ``[prices]`` table with the batch file's checker; ``{model: {field: price}}``."""
    if not isinstance(data, dict):
        check.fail("", "prices must be a table of [prices.\"MODEL\"] tables", "prices")
    prices = {}
    for model, table in data.items():
        where = f"[prices.{model!r}]"
        if not isinstance(table, dict):
            check.fail(where, f"must be a table of prices per million tokens ({', '.join(FIELDS)})", model)
        for key, value in table.items():
            if key not in FIELDS:
                check.unknown(where, key, FIELDS)
            check.number(where, key, value)
        prices[model] = {key: float(value) for key, value in table.items()}
    return prices


def cost(usage, prices: dict) -> Optional[float]:
    """What one :class:`~agybatch.formats.ModelUsage` cost in USD, or None if unknown.

    The CLI's own ``cost_usd`` wins. Otherwise every token count it reported
    (above zero) needs a price for its model; one missing price makes the
    whole cost unknown rather than too low.
    """
    if usage.cost_usd is not None:
        return usage.cost_usd
    table = prices.get(usage.model) if usage.model else None
    if table is None:
        return None
    counts = {field: getattr(usage, attribute) for field, attribute in FIELDS.items()}
    if all(tokens is None for tokens in counts.values()):
        return None
    total = 0.0
    for field, tokens in counts.items():
        if not tokens:
            continue
        if field not in table:
            return None
        total += tokens * table[field] / 1e6
    return round(total, 6)
