"""Read-only commands: ``status``, ``logs``, ``list`` and ``plugins``."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError
from ..units import iso, printable
from .common import ZERO_COUNTS, find_run, make_backend, make_config, open_journal, print_json, project_from_cwd, run_json
from .main import finish_parse


def _counts(tasks) -> dict:
    counts: dict = {}
    for task in tasks:
        if task["outcome"]:
            counts[task["outcome"]] = counts.get(task["outcome"], 0) + 1
    return counts


def _task_json(row) -> dict:
    return {
        "label": row["label"], "phase": row["phase"], "state": row["state"], "outcome": row["outcome"],
        "job_id": row["job_id"], "attempts": row["attempts"], "exit_code": row["exit_code"],
        "submitted_at": iso(row["submitted_at"]), "started_at": iso(row["started_at"]),
        "ended_at": iso(row["ended_at"]), "reason": row["reason"], "log_path": row["log_path"],
    }


def cmd_status(parser, argv, known) -> int:
    options = finish_parse(parser, argv)
    journal = open_journal(project_from_cwd(), read_only=True)
    row = find_run(journal, options.run_id)
    tasks = journal.tasks(row["run_id"])
    data = {**run_json(row), "counts": {**ZERO_COUNTS, **_counts(tasks)}, "tasks": [_task_json(t) for t in tasks]}
    if options.json:
        print_json(data)
        return 0
    print(f"run {data['run_id']} · batch {data['batch']} · {data['backend']} · {data['verdict']}"
          f" · started {data['started_at']}")
    for task in data["tasks"]:
        where = task["outcome"] or task["state"] or task["phase"]
        print(f"  {where:<10} {_safe(task['label'])}  {_safe(task['job_id']) if task['job_id'] else '-'}"
              + (f"  ({_safe(task['reason'])})" if task["reason"] else ""))
        if task["log_path"] and task["outcome"] and task["outcome"] != "succeeded":
            print(f"             log: {_safe(task['log_path'])}")
    return 0


def cmd_logs(parser, argv, known) -> int:
    options = finish_parse(parser, argv)
    project = project_from_cwd()
    journal = open_journal(project, read_only=True)
    rows = [find_run(journal, options.run_id)] if options.run_id else journal.runs()
    for row in rows:
        task = next((t for t in journal.tasks(row["run_id"]) if t["label"] == options.label), None)
        if task is not None:
            break
    else:
        raise UsageError(f"no task labelled {options.label!r} in {'run ' + options.run_id if options.run_id else 'any run'}")
    if not task["job_id"]:
        raise UsageError(f"task {options.label!r} of run {row['run_id']} was never submitted")
    config = make_config(options, project, Path(row["batch_path"]).parent)
    backend = make_backend(config, row)
    try:
        sys.stdout.write(backend.logs(task["job_id"], options.tail))
    finally:
        backend.close()
    return 0


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
