"""``agybatch logs LABEL [--run RUN_ID] [--tail N] [--follow]``: a task's output, or its output as it comes.

Without ``--run`` it is the latest run that has the task. ``--follow``
streams a running job's output like ``tail -f``: every line once, in order,
a retry that starts later included; it waits for a task not submitted yet
(and, without ``--run``, for a run that has it), and exits when the task
settles: 0 if it succeeded, 1 otherwise. If the run's runner is gone it says
so once and goes on following, until ``agybatch join`` settles the task. A run whose
logs retention removed says so (exit 4).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import UsageError
from .common import find_run, make_backend, make_config, open_journal, project_from_cwd
from .main import finish_parse

#: Seconds between two looks at the journal and the log under ``--follow``.
FOLLOW_EVERY = 0.2


def cmd_logs(parser, argv, known) -> int:
    options = finish_parse(parser, argv)
    project = project_from_cwd()
    journal = open_journal(project, read_only=True)
    found = _find(journal, options.label, options.run_id)
    if found is None and options.follow and not options.run_id:
        print(f"agybatch: waiting for a run with a task labelled {options.label!r}", file=sys.stderr)
        while found is None:
            time.sleep(FOLLOW_EVERY)
            found = _find(journal, options.label, None)
    if found is None:
        where = f"run {options.run_id}" if options.run_id else "any run"
        raise UsageError(f"no task labelled {options.label!r} in {where}")
    row, task = found
    if not options.follow and not task["job_id"]:
        raise UsageError(f"task {options.label!r} of run {row['run_id']} was never submitted")
    config = make_config(options, project, Path(row["batch_path"]).parent)
    backend = make_backend(config, row)
    try:
        if task["job_id"]:
            _refuse_pruned(row, backend, task["job_id"])
        if options.follow:
            return follow(journal, backend, row["run_id"], options.label)
        sys.stdout.write(backend.logs(task["job_id"], options.tail))
    finally:
        backend.close()
    return 0


def _find(journal, label: str, run_id):
    """``(run row, task row)`` of the latest run (or run ``run_id``) with the task; None if none has it."""
    rows = [find_run(journal, run_id)] if run_id else journal.runs()
    for row in rows:
        task = next((t for t in journal.tasks(row["run_id"]) if t["label"] == label), None)
        if task is not None:
            return row, task
    return None


def _refuse_pruned(row, backend, job_id: str) -> None:
    pruned = row["pruned_at"] if "pruned_at" in row.keys() else None
    path = backend.log_path(job_id)
    if pruned and (path is None or not path.exists()):
        raise UsageError(f"the logs of run {row['run_id']} were removed by retention ([state] keep_runs, "
                         "keep_days); its outcomes are still in the journal (agybatch status, history)")


def follow(journal, backend, run_id: str, label: str) -> int:
    """Stream the task's output until it settles; its exit code (0 succeeded, 1 otherwise)."""
    out = _Output()
    job, offset = None, 0
    told = None
    while True:
        task = next(t for t in journal.tasks(run_id) if t["label"] == label)
        settled = task["phase"] == "final"
        if task["job_id"] and task["job_id"] != job:
            if job is not None:
                _drain(backend, job, offset, out)  # the rest of the attempt that just ended
                out.line(f"--- attempt {task['attempts']}: job {task['job_id']} ---")
            job, offset = task["job_id"], 0
        if job is not None:
            offset = _drain(backend, job, offset, out)
        if settled:
            return 0 if task["outcome"] == "succeeded" else 1
        gone = _gone_runner(journal.run(run_id))
        if gone is not None and gone != told:
            print(f"agybatch: the runner of run {run_id} (pid {gone}) is gone; the task settles once "
                  "`agybatch join` picks the run up", file=sys.stderr)
        told = gone
        time.sleep(FOLLOW_EVERY)


def _gone_runner(row) -> int | None:
    """The PID of the run's runner if it is certainly gone (so the task cannot settle until a join)."""
    from ..liveness import check

    who = check(row["runner"] if "runner" in row.keys() else None)
    return who["pid"] if who and who["alive"] is False and row["exit_code"] is None else None


def _drain(backend, job: str, offset: int, out) -> int:
    """Write everything the job wrote since ``offset``, however many reads it takes (a read stops
    where the log cap dropped bytes, and reads at most so much); the next offset."""
    while True:
        try:
            got = backend.read_from(job, offset)
        except FileNotFoundError:
            return offset
        if got.dropped:
            out.line(f"[agybatch: {got.dropped} bytes dropped by the log cap]")
        out.write(got.text)
        if got.next_offset == offset:
            return offset
        offset = got.next_offset


class _Output:
    """stdout for ``--follow``: the job's bytes as they come, and agybatch's own lines on lines of their own."""

    def __init__(self) -> None:
        self.at_line_start = True

    def write(self, text: str) -> None:
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            self.at_line_start = text.endswith("\n")

    def line(self, text: str) -> None:
        self.write(("" if self.at_line_start else "\n") + text + "\n")
