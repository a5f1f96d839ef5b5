"""Notification sinks: where the notify plugin delivers a verdict.

One module per built-in sink type (``console``, ``digest``, ``webhook``,
``email``, ``command``), plus :mod:`~agybatch.sinks.base` (the :class:`Sink`
protocol and ``${VAR}`` templates) and :mod:`~agybatch.sinks.notification`
(the :class:`Notification` every sink receives). Plugins add sink types with
the ``register_sinks`` hook; see ``docs/writing-plugins.md``.

Nothing here is imported until a run needs it.
"""
from __future__ import annotations

#: The built-in sink types: name -> "module:Class", imported on first use.
BUILTIN_SINKS = {
    "console": "agybatch.sinks.console:ConsoleSink",
    "digest": "agybatch.sinks.digest:DigestSink",
    "webhook": "agybatch.sinks.webhook:WebhookSink",
    "email": "agybatch.sinks.email:EmailSink",
    "command": "agybatch.sinks.command:CommandSink",
}


def load_builtin(type_name: str):
    """The class of built-in sink type ``type_name``."""
    import importlib

    module, _, attr = BUILTIN_SINKS[type_name].partition(":")
    return getattr(importlib.import_module(module), attr)
