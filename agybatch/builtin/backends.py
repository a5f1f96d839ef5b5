"""Registers the built-in backends (block with ``-p no:backends``)."""
from __future__ import annotations

from agybatch import hookimpl


@hookimpl
def register_backends(register):
    from agybatch.backends.agy import AgyBackend
    from agybatch.backends.local import LocalBackend

    register("local", LocalBackend)
    register("agy", AgyBackend)
