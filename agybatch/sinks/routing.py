"""The ``[notify]`` table: which sinks each outcome goes to, and the sinks themselves.

::

    [notify]
    wipeout = ["phone"]          # exit 1: push now
    partial = ["digest"]         # exit 2: read it in the morning
    ok = []                      # exit 0: nothing, so people keep reading what does come
    # interrupted, stalled, rate_limited, budget, lock_held, internal_error: also routable
    [notify.sinks.phone]
    type = "webhook"
    url = "${NTFY_URL}"

``stalled`` is chosen when every task that did not succeed was stalled in
the queue (a rate limit, a full cluster), ``rate_limited`` when every one
was refused for quota ("paused for quota" is not a 3 a.m. page), and
``budget`` when the run's budget stopped it; when the table has no key for
such an event, the run follows its verdict's route instead. A missing route
sends nothing.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from .notification import EVENTS

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
#: Events that follow the verdict's route when ``[notify]`` does not route them itself.
FALLS_BACK = ("stalled", "rate_limited", "budget")


@dataclass(frozen=True)
class Routing:
    """A validated ``[notify]`` table."""

    routes: dict = field(default_factory=dict)  #: event -> tuple of sink names
    sinks: dict = field(default_factory=dict)  #: sink name -> (type name, options without ``type``)

    def targets(self, event: str, verdict: str) -> tuple:
        """The sink names for ``event`` (``stalled`` falls back to the verdict's route)."""
        if event in self.routes:
            return self.routes[event]
        if event in FALLS_BACK:
            return self.routes.get(verdict, ())
        return ()


def parse(data, sink_types: dict) -> Routing:
    """Validate a ``[notify]`` table against the registered ``sink_types``; ValueError if bad."""
    if not isinstance(data, dict):
        raise ValueError("[notify] must be a table")
    known = set(EVENTS) | {"sinks"}
    for key in data:
        if key not in known:
            hint = difflib.get_close_matches(key, sorted(known), n=1)
            raise ValueError(f"unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                             + f"; routes are {', '.join(EVENTS)}")
    raw_sinks = data.get("sinks", {})
    if not isinstance(raw_sinks, dict):
        raise ValueError("sinks must be a table of [notify.sinks.NAME] tables")
    sinks = {}
    for name, table in raw_sinks.items():
        where = f"sinks.{name}"
        if not _NAME.match(name):
            raise ValueError(f"{where}: a sink name uses letters, digits, '_', '-' and '.'")
        if not isinstance(table, dict):
            raise ValueError(f"{where} must be a table with a 'type' key")
        type_name = table.get("type")
        if not isinstance(type_name, str):
            raise ValueError(f"{where}: missing required key 'type' ({_available(sink_types)})")
        if type_name not in sink_types:
            raise ValueError(f"{where}: unknown sink type {type_name!r} ({_available(sink_types)})")
        options = {k: v for k, v in table.items() if k != "type"}
        validate = getattr(sink_types[type_name], "validate", None)
        if validate is not None:
            try:
                validate(options)
            except ValueError as exc:
                raise ValueError(f"{where} ({type_name}): {exc}") from None
        sinks[name] = (type_name, options)
    routes = {}
    for event in EVENTS:
        if event not in data:
            continue
        names = data[event]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{event} must be a list of sink names, e.g. {event} = [\"digest\"]")
        for n in names:
            if n not in sinks:
                hint = difflib.get_close_matches(n, sorted(sinks), n=1)
                defined = ", ".join(sorted(sinks)) or "none"
                raise ValueError(f"{event}: no sink named {n!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                                 + f"; define it as [notify.sinks.{n}] (defined: {defined})")
        routes[event] = tuple(dict.fromkeys(names))
    return Routing(routes=routes, sinks=sinks)


def _available(sink_types: dict) -> str:
    return "available: " + (", ".join(sorted(sink_types)) or "none")
