"""What the cluster-backend tests (plugins/agybatch-ray, plugins/agybatch-slurm) share: the same
mixed batch run on ``local`` and on the cluster, and the latest run's journal rows."""
from __future__ import annotations

import json

#: Four tasks, one for each ending: ``ok`` succeeds, ``fails`` exits 3, ``hangs`` hits its 2 s
#: timeout, and ``cancelled`` runs until :func:`run_mixed` cancels the run.
MIXED = """
[batch]
name = "mixed"

[[task]]
label = "ok"
command = ["sh", "-c", "echo all good"]

[[task]]
label = "fails"
command = ["sh", "-c", "echo 3 broken links >&2; exit 3"]

[[task]]
label = "hangs"
command = ["sleep", "60"]
timeout = "2s"

[[task]]
label = "cancelled"
command = ["sleep", "60"]
"""


def latest_tasks(project) -> dict:
    """The latest run's task rows by label (empty before the run is journalled)."""
    if not (project.state / "journal.sqlite").exists():
        return {}
    journal = project.journal()
    try:
        run = journal.latest_run()
        return {t["label"]: t for t in journal.tasks(run["run_id"])} if run else {}
    finally:
        journal.close()


def latest_run_id(project) -> str:
    """The latest run's ID."""
    journal = project.journal()
    try:
        return journal.latest_run()["run_id"]
    finally:
        journal.close()


def run_mixed(project, wait, backend: str, env: dict | None = None, timeout: float = 90) -> tuple:
    """Run batch ``mixed`` (:data:`MIXED`) on ``backend``; cancel the run once three tasks ended and
    ``cancelled`` runs. Returns ``(exit code, {label: (outcome, exit_code)}, stderr)``."""
    runner = project.spawn("run", "mixed", "--backend", backend, "--json", env=env)

    def three_done_and_one_running():
        tasks = latest_tasks(project)
        done = [t for t in tasks.values() if t["outcome"]]
        return len(done) == 3 and tasks["cancelled"]["state"] == "running"

    wait(three_done_and_one_running, timeout=timeout, what="three tasks ended and 'cancelled' running")
    cancel = project.run("cancel", latest_run_id(project), env=env)
    assert cancel.code == 0, cancel
    out, err = runner.communicate(timeout=timeout)
    summary = json.loads(out)
    return runner.returncode, {t["label"]: (t["outcome"], t["exit_code"]) for t in summary["tasks"]}, err
