"""The plugin agybatch loads through the ``agybatch`` entry point group (``-p no:apprise`` blocks it)."""
from __future__ import annotations

from agybatch import hookimpl


@hookimpl
def register_sinks(register):
    """Register the ``apprise`` sink type; users configure it in ``[notify.sinks.NAME]``."""
    from .sink import AppriseSink

    register("apprise", AppriseSink)
