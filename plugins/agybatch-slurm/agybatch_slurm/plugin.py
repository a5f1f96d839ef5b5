"""Registers the ``slurm`` backend."""
from __future__ import annotations

from agybatch import hookimpl


@hookimpl
def register_backends(register):
    register("slurm", "agybatch_slurm.backend:SlurmBackend")
