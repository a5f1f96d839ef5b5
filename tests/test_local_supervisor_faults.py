"""The local job supervisor when things go wrong around it: a runner killed right after handing a
job over, a supervisor frozen with a job still unread, a stopped job's group outliving its leader,
a runner that stops reading, more jobs at once than the open files limit allows."""
from __future__ import annotations

import json
import os
import signal
import subprocess

from agybatch.backends._supervisor import start_ticks
from tests.helpers import jobs

#: batchconf.py: the runner hands t1 to its supervisor, then dies before journalling t1's job ID.
#: With FREEZE_SUPERVISOR the supervisor is stopped first, so t1's request waits unread in the pipe.
CRASH_AFTER_HANDOVER = """
import os, signal
from agybatch import hookimpl

@hookimpl
def configure(config):
    from agybatch.backends import local
    original = local.LocalBackend.submit

    def submit(self, task, key):
        if task.label != "t1" or not os.environ.get("CRASH_AFTER_HANDOVER"):
            return original(self, task, key)
        if os.environ.get("FREEZE_SUPERVISOR"):
            os.kill(self._link.pid, signal.SIGSTOP)
            open("supervisor.pid", "w").write(str(self._link.pid))
        original(self, task, key)
        os.kill(os.getpid(), signal.SIGKILL)

    local.LocalBackend.submit = submit
"""


def ledger_batch(project, sleeps, batch: str = "") -> object:
    """The shared ledger batch ``b``, with the plugin that crashes the runner right after handing t1 over."""
    ledger = jobs.ledger_batch(project, "b", sleeps, batch)
    (project.root / "batches" / "b" / "batchconf.py").write_text(CRASH_AFTER_HANDOVER)
    return ledger


def journal_tasks(project) -> dict:
    journal = project.journal()
    try:
        run = journal.latest_run()
        return {t["label"]: dict(t) for t in journal.tasks(run["run_id"])} if run else {}
    finally:
        journal.close()


def test_a_job_handed_over_but_unread_when_the_runner_died_runs_once_under_a_new_key(project, wait):
    ledger = ledger_batch(project, [0.1, 0.1])
    crash = {"CRASH_AFTER_HANDOVER": "1", "FREEZE_SUPERVISOR": "1"}
    assert project.run("run", "b", env=crash).code == -signal.SIGKILL
    frozen = int((project.root / "supervisor.pid").read_text())
    intent = journal_tasks(project)["t1"]
    assert intent["phase"] == "intent"
    joiner = project.spawn("join", "--json")
    # join spends t1's key (the frozen supervisor still holds it) and submits t1 again under a new one.
    wait(lambda: (journal_tasks(project)["t1"]["job_id"] or "").endswith(".r2"))
    os.kill(frozen, signal.SIGCONT)
    out, err = joiner.communicate(timeout=60)
    assert joiner.returncode == 0, err
    tasks = {t["label"]: t for t in json.loads(out)["tasks"]}
    assert tasks["t1"]["outcome"] == "succeeded" and tasks["t1"]["attempts"] == 1
    assert tasks["t1"]["job_id"] == f"{intent['submit_key']}.r2"
    wait(lambda: start_ticks(frozen) is None, timeout=30)  # the thawed supervisor served t1's old request
    assert sorted(ledger.read_text().split()) == ["t0", "t1"], "t1 ran exactly once"


def test_a_job_recovered_after_the_runner_died_is_running_not_stalled(project):
    ledger = ledger_batch(project, [0.1, 2.0], batch='queued_timeout = "1s"')
    assert project.run("run", "b", env={"CRASH_AFTER_HANDOVER": "1"}).code == -signal.SIGKILL
    assert journal_tasks(project)["t1"]["phase"] == "intent"
    result = project.run("join", "--json")
    assert result.code == 0, result
    tasks = {t["label"]: t for t in result.json()["tasks"]}
    assert tasks["t1"]["outcome"] == "succeeded", tasks["t1"]
    assert sorted(ledger.read_text().split()) == ["t0", "t1"]


def test_a_stopped_jobs_group_is_killed_after_the_grace_period_even_once_its_leader_is_gone(project, wait):
    survivor = project.root / "survivor.pid"
    project.batch("b", f"""
        [batch.local]
        grace = "500ms"
        [[task]]
        label = "stubborn"
        command = ["sh", "-c", "(trap '' TERM; exec sleep 30) & echo $! > {survivor}; sleep 30"]
        timeout = "1s"
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 1, result
    assert result.json()["tasks"][0]["outcome"] == "timed_out"
    pid = int(survivor.read_text())
    try:
        wait(lambda: start_ticks(pid) is None, timeout=10)
    finally:
        if start_ticks(pid) is not None:
            os.kill(pid, signal.SIGKILL)


def test_a_runner_that_stops_reading_does_not_hold_up_its_supervisor(project, wait):
    short = "".join(f'[[task]]\nlabel = "q{i}"\ncommand = ["sleep", "2"]\n' for i in range(600))
    project.batch("b", short + '[[task]]\nlabel = "slow"\ncommand = ["sleep", "30"]\ntimeout = "3s"\n')
    runner = project.spawn("run", "b", "--json")
    wait(lambda: len(project.job_records("started")) == 601, timeout=60)  # every job handed over
    os.kill(runner.pid, signal.SIGSTOP)  # Ctrl-Z: the runner reads no more replies
    try:
        # The 600 ends that follow are more than a pipe holds; the supervisor still records every end
        # and enforces the timeout.
        wait(lambda: len(project.job_ends()) == 601, timeout=30)
    finally:
        os.kill(runner.pid, signal.SIGCONT)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 2, err
    tasks = {t["label"]: t for t in json.loads(out)["tasks"]}
    assert tasks["slow"]["outcome"] == "timed_out"
    assert sum(t["outcome"] == "succeeded" for t in tasks.values()) == 600


def test_more_jobs_at_once_than_the_open_files_limit_allows_at_two_descriptors_a_job(project, wait):
    """The supervisor holds each running job's log and output pipe open; near the soft limit on open
    files it raises the limit instead of failing the next jobs with EMFILE."""
    release = project.root / "release"
    wait_for_release = f"while [ ! -e {release} ]; do sleep 0.02; done"
    project.batch("b", "[batch]\nmax_parallel = 60\n" + "".join(
        f'[[task]]\nlabel = "h{i}"\ncommand = ["sh", "-c", "{wait_for_release}"]\n' for i in range(60)))
    runner = subprocess.Popen(["sh", "-c", 'ulimit -Sn 100 && exec "$@"', "sh", *project.command("run", "b", "--json")],
                              cwd=project.root, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait(lambda: len(project.job_records("started")) == 60 or project.job_ends() or runner.poll() is not None)
    finally:
        release.touch()
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err
    assert {t["outcome"] for t in json.loads(out)["tasks"]} == {"succeeded"}
