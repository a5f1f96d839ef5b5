"""Registers the ``ray`` backend."""
from __future__ import annotations

from agybatch import hookimpl


@hookimpl
def register_backends(register):
    from agybatch_ray.backend import RayBackend

    register("ray", RayBackend)
