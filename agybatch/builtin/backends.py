"""Registers the built-in backends (block with ``-p no:backends``)."""
from __future__ import annotations

from agybatch import hookimpl


@hookimpl
def register_backends(register):
    register("local", "agybatch.backends.local:LocalBackend")
    register("agy", "agybatch.backends.agy:AgyBackend")
