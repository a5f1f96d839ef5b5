"""Registers the ``ray`` backend."""
from __future__ import annotations

from agybatch import hookimpl


@hookimpl
def register_backends(register):
    register("ray", "agybatch_ray.backend:RayBackend")
