"""What an attempt used: tokens by kind, the model, and the cost in USD.

A :class:`Usage` is made from the :class:`~agybatch.formats.Judgement` of one
attempt (:func:`from_judgement`): the format's per-model counts, each model
priced from ``[prices]`` (:mod:`agybatch.prices`) unless the CLI reported a
cost itself. A count nobody reported stays None, never 0; sums skip None and
are None only when every part is. ``total_tokens`` is the CLI's total, or
the sum of the counts it reported when it printed no total.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from .prices import cost

#: The token counts of a :class:`Usage`, as ``--json`` and the journal name them.
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "thinking_tokens", "total_tokens")


def _sum(values) -> Optional[float]:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True)
class Usage:
    """Usage of one attempt, or the sum of several.

    :ivar model: the model (several joined by ``", "``), or None.
    :ivar cost_usd: what it cost; None when nothing is priced.
    :ivar unpriced: True when some tokens have no price, so ``cost_usd`` (if
        any) covers only part of them.
    :ivar models: the per-model :class:`~agybatch.formats.ModelUsage`, each with its cost.
    """

    input_tokens: Optional[int] = None
    cached_input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    thinking_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    cost_usd: Optional[float] = None
    model: Optional[str] = None
    unpriced: bool = False
    models: tuple = ()

    @property
    def tokens(self) -> Optional[int]:
        """The total as reported, else the sum of the parts that were."""
        if self.total_tokens is not None:
            return self.total_tokens
        return _sum([self.input_tokens, self.cached_input_tokens, self.output_tokens, self.thinking_tokens])

    @property
    def empty(self) -> bool:
        return self.tokens is None and self.cost_usd is None

    def to_json(self) -> dict:
        """The ``usage`` object of ``--json``: the token counts, ``cost_usd``, ``model``, and
        ``unpriced`` (true when ``cost_usd`` leaves out tokens that have no price)."""
        data = {name: getattr(self, name) for name in TOKEN_FIELDS}
        data["cost_usd"] = None if self.cost_usd is None else round(self.cost_usd, 6)
        data["model"] = self.model
        data["unpriced"] = self.unpriced
        return data


def from_judgement(judgement, model: Optional[str], prices: dict) -> Optional[Usage]:
    """The :class:`Usage` a judgement reported, models named by the CLI or else ``model``; None if none."""
    if judgement is None or not judgement.usage:
        return None
    priced = []
    for part in judgement.usage:
        if part.model is None and model is not None:
            part = dataclasses.replace(part, model=model)
        priced.append(dataclasses.replace(part, cost_usd=cost(part, prices), total_tokens=_tokens(part)))
    return total(Usage(**{name: getattr(p, name) for name in TOKEN_FIELDS}, cost_usd=p.cost_usd, model=p.model,
                       unpriced=p.cost_usd is None and bool(_tokens(p)), models=(p,)) for p in priced)


def _tokens(part) -> Optional[int]:
    return part.total_tokens if part.total_tokens is not None else _sum(
        [part.input_tokens, part.cached_input_tokens, part.output_tokens, part.thinking_tokens])


def total(usages) -> Optional[Usage]:
    """The sum of ``usages`` (None entries skipped); None when there is nothing to add up."""
    usages = [u for u in usages if u is not None]
    if not usages:
        return None
    models = tuple(m for u in usages for m in u.models)
    names = list(dict.fromkeys(n for u in usages if u.model for n in u.model.split(", ")))
    return Usage(**{name: _sum(getattr(u, name) for u in usages) for name in TOKEN_FIELDS},
                 cost_usd=_sum(u.cost_usd for u in usages), model=", ".join(names) or None,
                 unpriced=any(u.unpriced for u in usages), models=models)


def from_row(row) -> Optional[Usage]:
    """The :class:`Usage` an ``attempts`` row of the journal recorded; None if it recorded none."""
    import json

    from .formats import ModelUsage

    values = {name: row[name] for name in TOKEN_FIELDS}
    if all(v is None for v in values.values()) and row["cost_usd"] is None:
        return None
    models = tuple(ModelUsage(**m) for m in json.loads(row["models"] or "[]"))
    return Usage(**values, cost_usd=row["cost_usd"], model=row["model"], unpriced=bool(row["unpriced"]),
                 models=models)

