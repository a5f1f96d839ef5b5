"""Read-only commands: ``list`` and ``plugins``."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..units import printable
from .common import make_config, open_journal, print_json, project_from_cwd
from .main import finish_parse


def _safe(text) -> str:
    return printable(text)


def cmd_list(parser, argv, known) -> int:
    options = finish_parse(parser, argv)
    project = project_from_cwd()
    journal = open_journal(project, read_only=True) if project.state_dir.exists() else None
    batches = []
    for folder in project.batch_folders():
        from ..project import load_toml

        try:
            data = load_toml(folder / "batch.toml")
            count = len(data.get("task", [])) if isinstance(data.get("task"), list) else 0
            name = data.get("batch", {}).get("name", folder.name)
            error = None
        except UsageError as exc:
            count, name, error = None, folder.name, str(exc)
        last = journal.latest_run(batch=name) if journal else None
        batches.append({"name": name, "path": str(folder), "tasks": count,
                        "last_verdict": last["verdict"] if last else None,
                        "last_run": last["run_id"] if last else None, "error": error})
    if options.json:
        print_json({"project": str(project.root), "batches": batches})
        return 0
    if not batches:
        print(f"no batches in {project.batches_dir}")
    for batch in batches:
        detail = batch["error"] or f"{batch['tasks']} tasks · last: {batch['last_verdict'] or 'never run'}"
        print(f"{batch['name']:<20} {detail}")
    return 0


def cmd_plugins(parser, argv, known) -> int:
    options = finish_parse(parser, argv)
    project = project_from_cwd()
    folder = Path.cwd() if (Path.cwd() / "batchconf.py").is_file() else None
    config = make_config(options, project, folder)
    pm = config.pluginmanager
    plugins = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        plugins.append({"name": name, "origin": config.plugin_origins.get(name, "registered at runtime"),
                        "hooks": hooks})
    if options.json:
        print_json({"plugins": plugins})
        return 0
    for plugin in plugins:
        print(f"{plugin['name']:<16} {plugin['origin']}")
    return 0
