"""``agybatch cancel``: stop a run's unsettled jobs, whether or not a runner is attached."""
from __future__ import annotations

import time
from pathlib import Path

from ..errors import UsageError
from ..units import iso
from .common import find_run, make_backend, make_config, open_journal, print_json, project_from_cwd
from .main import finish_parse


def cmd_cancel(parser, argv, known) -> int:
    """Mark the run cancelled (an attached runner stops submitting) and cancel its live jobs.

    The jobs' final states are recorded by the runner, or by ``agybatch join``.
    """
    options = finish_parse(parser, argv)
    project = project_from_cwd()
    journal = open_journal(project)
    row = find_run(journal, options.run_id)
    if row["exit_code"] is not None and row["exit_code"] != 130:
        raise UsageError(f"run {row['run_id']} already finished ({row['verdict']}); nothing to cancel")
    journal.request_cancel(row["run_id"])
    live = [t["job_id"] for t in journal.tasks(row["run_id"]) if t["phase"] == "submitted" and t["job_id"]]
    if live:
        config = make_config(options, project, Path(row["batch_path"]).parent)
        backend = make_backend(config, row)
        try:
            backend.cancel(live)
        finally:
            backend.close()
    if options.json:
        print_json({"run_id": row["run_id"], "cancelled_jobs": live, "requested_at": iso(time.time())})
    else:
        print(f"cancel requested for run {row['run_id']}: {len(live)} job(s) signalled")
    return 0
