"""agybatch-apprise: the ``apprise`` notification sink for agybatch.

The plugin module is :mod:`agybatch_apprise.plugin` (entry point ``apprise``
in the ``agybatch`` group); the sink is :class:`agybatch_apprise.sink.AppriseSink`.
Apprise itself is imported only when a notification is validated or sent.
"""
from __future__ import annotations

__version__ = "0.1.0"
