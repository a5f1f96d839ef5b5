"""What several commands share: plugins, backends, the journal and finding runs."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError
from ..project import Project, load_project
from ..states import OUTCOME_ORDER
from ..units import iso

#: Every outcome with a count of 0: the ``counts`` object of ``--json`` lists them all.
ZERO_COUNTS = {o.value: 0 for o in OUTCOME_ORDER}


def make_config(options, project: Project, batch_folder: Path | None = None):
    """Load every plugin for ``project`` (and ``batch_folder``'s ``batchconf.py``) into a
    :class:`~agybatch.session.Config`."""
    from ..manager import build_manager
    from ..session import Config

    project_plugins = project.settings.get("plugins", [])
    if not isinstance(project_plugins, list) or not all(isinstance(p, str) for p in project_plugins):
        raise UsageError(f"{project.settings_path}: 'plugins' must be a list of module names")
    pm, origins = build_manager(tuple(getattr(options, "plugins", None) or ()), project_plugins, batch_folder)
    return Config(option=options, pluginmanager=pm, project=project, plugin_origins=origins)


def open_journal(project: Project, read_only: bool = False):
    """The project's journal; ``read_only`` for commands that never write (they then work on a
    read-only state folder)."""
    from ..journal import Journal

    return Journal.reader(project.state_dir) if read_only else Journal(project.state_dir)


def find_run(journal, run_id: str | None, unfinished: bool = False):
    """The run row for ``run_id``, or the latest (unfinished) run; UsageError if there is none."""
    if run_id:
        row = journal.run(run_id)
        if row is None:
            raise UsageError(f"no run {run_id!r} in {journal.path}")
        return row
    row = journal.latest_run(unfinished=unfinished)
    if row is None:
        what = "unfinished run to join" if unfinished else "run"
        raise UsageError(f"no {what} in {journal.path}")
    return row


def project_from_cwd() -> Project:
    return load_project(Path.cwd())


def make_backend(config, run_row):
    """The backend of a recorded run, built from its journalled settings."""
    from ..backends import BackendContext
    from ..manager import load, registered

    settings = json.loads(run_row["settings"])
    backends = registered(config.pluginmanager, "register_backends")
    name = run_row["backend"]
    if name not in backends:
        raise UsageError(f"run {run_row['run_id']} used backend {name!r}, which is not registered now")
    state_dir = config.project.state_dir
    context = BackendContext(
        run_id=run_row["run_id"], state_dir=state_dir, run_dir=state_dir / "runs" / run_row["run_id"],
        batch_folder=Path(run_row["batch_path"]).parent, options=settings.get("backend_options", {}),
    )
    return load(backends[name])(context)


def print_json(data) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def run_json(row) -> dict:
    """A run's journal row as ``status``, ``history`` and ``list`` print it in ``--json``."""
    duration = None if row["ended_at"] is None else round(row["ended_at"] - row["started_at"], 3)
    return {
        "run_id": row["run_id"], "batch": row["batch"], "backend": row["backend"],
        "exit_code": row["exit_code"], "verdict": row["verdict"] or "unfinished",
        "started_at": iso(row["started_at"]), "ended_at": iso(row["ended_at"]), "duration_s": duration,
    }
