"""``agybatch status [RUN_ID] [--watch] [--json]``: a run's tasks and where each stands, from the journal.

``--watch`` redraws the table about once a second until the run has its
verdict; on a terminal it redraws in place, elsewhere (a pipe, a log file) it
prints only the tasks whose state changed. ``--watch --json`` prints the
``--json`` object each time something changed, one object a line. An unfinished
run whose runner is gone says so: it does not move until ``agybatch join``.
"""
from __future__ import annotations

import json
import sys
import time

from ..states import where
from ..units import iso, printable
from .common import ZERO_COUNTS, find_run, open_journal, print_json, project_from_cwd, run_json
from .main import finish_parse

#: Seconds between two looks at the journal under ``--watch``.
WATCH_EVERY = 1.0


def cmd_status(parser, argv, known) -> int:
    options = finish_parse(parser, argv)
    journal = open_journal(project_from_cwd(), read_only=True)
    run_id = find_run(journal, options.run_id)["run_id"]
    if not options.watch:
        data = snapshot(journal, run_id)
        if options.json:
            print_json(data)
        else:
            print("\n".join(table(data)))
        return 0
    if options.json:
        return watch_json(journal, run_id)
    return watch(journal, run_id, sys.stdout.isatty())


def snapshot(journal, run_id: str) -> dict:
    """The run and its tasks as ``--json`` prints them."""
    row = journal.run(run_id)
    tasks = journal.tasks(run_id)
    counts = dict(ZERO_COUNTS)
    for task in tasks:
        if task["outcome"]:
            counts[task["outcome"]] += 1
    return {**run_json(row), "runner": runner(row), "counts": counts, "tasks": [_task_json(t) for t in tasks]}


def runner(row) -> dict | None:
    """``{"pid", "alive"}`` of the process running an unfinished run (:func:`agybatch.liveness.check`);
    None for a run with its verdict, or one that journalled no runner."""
    from ..liveness import check

    if row["exit_code"] is not None:
        return None
    return check(row["runner"] if "runner" in row.keys() else None)


def runner_gone_line(run_id: str, data: dict) -> str | None:
    """What to tell a watcher when the run's runner is gone (the run does not move until a join)."""
    who = data.get("runner")
    if not who or who["alive"] is not False:
        return None
    return f"run {run_id}: its runner (pid {who['pid']}) is gone; `agybatch join` finishes the run"


def table(data: dict) -> list:
    """The lines of the status table."""
    lines = [f"run {data['run_id']} · batch {printable(data['batch'])} · {data['backend']} · {data['verdict']}"
             f" · started {data['started_at']}"]
    gone = runner_gone_line(data["run_id"], data)
    if gone:
        lines.append(gone)
    for task in data["tasks"]:
        lines.append(_task_line(task))
        if task["log_path"] and task["outcome"] and task["outcome"] != "succeeded":
            lines.append(f"             log: {printable(task['log_path'])}")
    return lines


def watch(journal, run_id: str, redraw: bool) -> int:
    """Show the run until it has a verdict: redrawn in place on a terminal, else only what changed."""
    shown: dict = {}
    told = None
    while True:
        data = snapshot(journal, run_id)
        if redraw:
            sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(table(data)) + "\n")
        else:
            if not shown:
                print(table(data)[0])
            gone = runner_gone_line(run_id, data)
            if gone and gone != told:
                print(gone)
            told = gone
            for task in data["tasks"]:
                line = _task_line(task)
                if shown.get(task["label"]) != line:
                    shown[task["label"]] = line
                    print(line)
        sys.stdout.flush()
        if data["exit_code"] is not None:
            if not redraw:
                print(f"run {run_id}: {data['verdict']}")
            return 0
        time.sleep(WATCH_EVERY)


def watch_json(journal, run_id: str) -> int:
    """``--watch --json``: the run as one JSON line each time it changed, until it has a verdict."""
    shown = None
    while True:
        data = snapshot(journal, run_id)
        if data != shown:
            print(json.dumps(data), flush=True)
            shown = data
        if data["exit_code"] is not None:
            return 0
        time.sleep(WATCH_EVERY)


def _task_line(task: dict) -> str:
    where = task["outcome"] or task["where"]
    return (f"  {where:<12} {printable(task['label'])}  {printable(task['job_id']) if task['job_id'] else '-'}"
            + (f"  ({printable(task['reason'])})" if task["reason"] else ""))


def _task_json(row) -> dict:
    last = row["last_outcome"] if "last_outcome" in row.keys() else None
    return {
        "label": row["label"], "phase": row["phase"], "state": row["state"],
        "where": where(row["phase"], row["state"], last), "outcome": row["outcome"],
        "job_id": row["job_id"], "attempts": row["attempts"], "exit_code": row["exit_code"],
        "submitted_at": iso(row["submitted_at"]), "started_at": iso(row["started_at"]),
        "ended_at": iso(row["ended_at"]), "reason": row["reason"], "log_path": row["log_path"],
    }
