"""Read-only commands: ``status``, ``logs``, ``history``, ``list`` and ``plugins``."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError
from ..model import OUTCOME_ORDER
from ..units import format_duration, iso
from .common import find_run, make_backend, make_config, open_journal, print_json, project_from_cwd
from .main import finish_parse


def _run_json(row) -> dict:
    duration = None if row["ended_at"] is None else round(row["ended_at"] - row["started_at"], 3)
    return {
        "run_id": row["run_id"], "batch": row["batch"], "backend": row["backend"],
        "exit_code": row["exit_code"], "verdict": row["verdict"] or "unfinished",
        "started_at": iso(row["started_at"]), "ended_at": iso(row["ended_at"]), "duration_s": duration,
    }


def _task_json(row) -> dict:
    return {
        "label": row["label"], "phase": row["phase"], "state": row["state"], "outcome": row["outcome"],
        "job_id": row["job_id"], "attempts": row["attempts"], "exit_code": row["exit_code"],
        "submitted_at": iso(row["submitted_at"]), "started_at": iso(row["started_at"]),
        "ended_at": iso(row["ended_at"]), "reason": row["reason"], "log_path": row["log_path"],
    }


def _counts(tasks) -> dict:
    counts = {o.value: 0 for o in OUTCOME_ORDER}
    for task in tasks:
        if task["outcome"]:
            counts[task["outcome"]] += 1
    return counts


def cmd_status(parser, argv, known) -> int:
    options = finish_parse(parser, argv)
    journal = open_journal(project_from_cwd(), read_only=True)
    row = find_run(journal, options.run_id)
    tasks = journal.tasks(row["run_id"])
    data = {**_run_json(row), "counts": _counts(tasks), "tasks": [_task_json(t) for t in tasks]}
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


def cmd_history(parser, argv, known) -> int:
    """Past runs (verdict, counts, duration), then each label's median and last duration."""
    options = finish_parse(parser, argv)
    journal = open_journal(project_from_cwd(), read_only=True)
    runs, batches = [], []
    for row in journal.runs(options.batch):
        tasks = journal.tasks(row["run_id"])
        runs.append({**_run_json(row), "counts": _counts(tasks)})
        if row["batch"] not in batches:
            batches.append(row["batch"])
    labels = [stat for batch in batches for stat in label_durations(journal, batch)]
    if options.json:
        print_json({"batch": options.batch, "runs": runs, "labels": labels})
        return 0
    if not runs:
        print("no runs yet" + (f" of batch {options.batch!r}" if options.batch else ""))
    for run in runs:
        counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in run["counts"].items() if n)
        took = format_duration(run["duration_s"]) if run["duration_s"] is not None else "-"
        print(f"{run['started_at']}  {run['run_id']}  {_safe(run['batch']):<16} {run['verdict']:<11} {took:>8}  {counts}")
    for batch in batches:
        stats = [s for s in labels if s["batch"] == batch]
        if not stats:
            continue
        width = min(40, max(len(_safe(s["label"])) for s in stats))
        print(f"\n{_safe(batch)}: duration per label (median of the last {HISTORY_RUNS} finished runs)")
        print(f"  {'LABEL':<{width}}  {'MEDIAN':>8}  {'LAST':>8}  RUNS  LAST OUTCOME")
        for s in stats:
            median = format_duration(s["median_s"]) if s["median_s"] is not None else "-"
            last = format_duration(s["last_s"]) if s["last_s"] is not None else "-"
            outcome = (s["last_outcome"] or "-").replace("_", " ")
            print(f"  {_safe(s['label']):<{width}}  {median:>8}  {last:>8}  {s['runs']:>4}  {outcome}")
    return 0


#: How many finished runs of a batch ``history`` summarises per label.
HISTORY_RUNS = 20


def label_durations(journal, batch: str, runs: int = HISTORY_RUNS) -> list:
    """Per label of ``batch``: the median (as ``durations`` computes it) and the last duration.

    ``median_s`` is over the runs that ran to an end of their own (succeeded or
    failed), ``runs`` counts them; ``last_s`` and ``last_outcome`` are from the
    newest finished run with the label, whatever its outcome.
    """
    from ..builtin.durations import median

    history = journal.durations(batch, runs=runs)
    found: dict = {}
    seen = 0
    for row in journal.runs(batch):
        if row["exit_code"] is None:
            continue
        seen += 1
        if seen > runs:
            break
        for task in journal.tasks(row["run_id"]):
            if task["label"] in found:
                continue
            took = None
            if task["ended_at"] is not None and task["submitted_at"] is not None:
                took = round(max(0.0, task["ended_at"] - task["submitted_at"]), 3)
            values = history.get(task["label"], [])
            found[task["label"]] = {
                "batch": batch, "label": task["label"],
                "median_s": None if not values else round(median(values), 3), "runs": len(values),
                "last_s": took, "last_outcome": task["outcome"], "last_run": row["run_id"],
            }
    return list(found.values())


def _safe(text) -> str:
    from ..sinks.notification import printable

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
