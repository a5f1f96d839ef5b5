"""The objects hooks receive: :class:`Config` for a command, :class:`Session` for a run."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .batchfile import BatchSpec
from .project import Project


@dataclass
class Config:
    """One invocation of ``agybatch``: parsed options, the project and the plugin manager.

    :ivar option: the :class:`argparse.Namespace` of parsed options.
    :ivar pluginmanager: the :class:`pluggy.PluginManager`.
    :ivar project: the :class:`~agybatch.project.Project`, or None outside a project.
    """

    option: argparse.Namespace
    pluginmanager: Any
    project: Optional[Project] = None
    plugin_origins: dict = field(default_factory=dict)

    @property
    def hook(self):
        return self.pluginmanager.hook

    @property
    def state_dir(self) -> Path:
        from .project import load_project

        project = self.project or load_project(Path.cwd())
        return project.state_dir


@dataclass
class Session:
    """One run of a batch (or one ``join`` of it), as hooks see it.

    :ivar run_id: the run's ID in the journal.
    :ivar batch: the :class:`~agybatch.config.BatchSpec`.
    :ivar journal: the :class:`~agybatch.journal.Journal` (read history from it).
    :ivar backend: the :class:`~agybatch.backends.Backend` the run uses
        (plugins fetch logs through it).
    :ivar resumed: True for ``agybatch join``.
    :ivar stash: a dict where plugins keep per-run state.
    """

    config: Config
    batch: BatchSpec
    run_id: str
    journal: Any = None
    backend: Any = None
    resumed: bool = False
    stash: dict = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.batch.project.state_dir

    @property
    def run_dir(self) -> Path:
        """``<state>/runs/<run_id>``: the one folder plugins write a run's files into."""
        return self.state_dir / "runs" / self.run_id
