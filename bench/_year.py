"""A project a year old: a journal of 365 nightly runs of the source's 12 jobs.

The newest run is real (``agybatch run nightly``, with its run folder and job
logs). The 364 before it, one a night, are written through
:class:`agybatch.journal.Journal` as copies of that run: the same task rows
and events, with the run ID, job IDs and times of their night, each job
lasting its nominal minutes give or take 20 %, and one task failing about
one night in thirty. Building it takes about a second.
"""
from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

from _common import WORKLOAD, agybatch, clean_env, make_project

from agybatch.journal import TASK_FIELDS, Journal

DAY = 86400.0
#: Each job writes the time it started: ``date`` reads the same clock as Python's ``time.time()``.
STAMP_COMMAND = ["date", "+%s.%N"]


def nightly_toml() -> str:
    """The 12 jobs of the workload, each printing its start time (epoch seconds) and ending."""
    command = json.dumps(STAMP_COMMAND)
    return "".join(f'[[task]]\nlabel = "{label}"\ncommand = {command}\n\n' for label, _ in WORKLOAD)


def year_project(parent: Path, runs: int = 365) -> Path:
    """A project with batch ``nightly`` whose journal holds ``runs`` runs, the newest real; its root."""
    root = make_project(parent, "nightly", nightly_toml())
    proc = subprocess.run(agybatch("run", "nightly", "-q"), cwd=root, env=clean_env(), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"agybatch run nightly exited {proc.returncode}: {proc.stderr}")
    journal = Journal(root / ".agybatch")
    try:
        template = journal.latest_run()
        tasks = journal.tasks(template["run_id"])
        events = journal.events(template["run_id"])
        rng = random.Random(runs)
        for night in range(runs - 1, 0, -1):
            _copy_run(journal, template, tasks, events, night, rng)
    finally:
        journal.close()
    return root


def _copy_run(journal: Journal, template, tasks: list, events: list, night: int, rng: random.Random) -> None:
    """Write ``template`` again as the run of ``night`` nights before it."""
    started = template["started_at"] - night * DAY
    run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started)) + f"-{night:04x}"
    minutes = dict(WORKLOAD)

    def renamed(value):
        return value.replace(template["run_id"], run_id) if isinstance(value, str) else value

    failing = 1 + night % len(tasks) if night % 30 == 0 else None
    ends = []
    with journal.transaction():
        journal.create_run(run_id, template["batch"], template["batch_path"], template["backend"],
                           json.loads(template["settings"]), started,
                           [(t["seq"], t["label"], json.loads(t["spec"])) for t in tasks])
        for task in tasks:
            submitted = started + (task["submitted_at"] - template["started_at"])
            ended = submitted + minutes[task["label"]] * 60 * rng.uniform(0.8, 1.2)
            ends.append(ended)
            failed = task["seq"] == failing
            fields = {name: renamed(task[name]) for name in TASK_FIELDS if name in task.keys()}
            fields.update(submitted_at=submitted, started_at=submitted + (task["started_at"] - task["submitted_at"]),
                          ended_at=ended, log_path=None, duration_label=None,
                          state="failed" if failed else task["state"], outcome="failed" if failed else task["outcome"],
                          exit_code=1 if failed else task["exit_code"])
            journal.update_task(run_id, task["label"], **fields)
            for event in (e for e in events if e["label"] == task["label"]):
                at = ended if event["kind"] == "final" else submitted + (event["at"] - task["submitted_at"])
                state = ("failed" if failed else event["state"]) if event["kind"] == "final" else event["state"]
                journal.db.execute(
                    "INSERT INTO events (run_id, label, at, kind, job_id, state, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, event["label"], at, event["kind"], renamed(event["job_id"]), state,
                     renamed(event["detail"])))
        exit_code, verdict = (2, "partial") if failing else (0, "ok")
        journal.finish_run(run_id, max(ends), exit_code, verdict, 0)
        journal.mark_joined(run_id, max(ends) + 0.1)
