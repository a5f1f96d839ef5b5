"""Registers the ``slurm`` backend."""
from __future__ import annotations

from agybatch import hookimpl


@hookimpl
def register_backends(register):
    from agybatch_slurm.backend import SlurmBackend

    register("slurm", SlurmBackend)
