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


class LazySink:
    """A built-in sink type that imports its module only when a batch uses it.

    Behaves like the class for the notify plugin: ``validate(options)`` and
    ``LazySink(...)(name, options, context)`` delegate to the real class.
    """

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def load(self):
        return load_builtin(self.type_name)

    def validate(self, options: dict) -> None:
        self.load().validate(options)

    def __call__(self, *args, **kwargs):
        return self.load()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<sink type {self.type_name!r}: {BUILTIN_SINKS[self.type_name]}>"
