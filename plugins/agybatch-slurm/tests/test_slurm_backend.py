"""The slurm backend against a real single-node Slurm cluster on 127.0.0.1 (started once for the session).

Every test drives the real ``agybatch`` CLI in a subprocess, except the one
that calls the backend directly for the lookups a user cannot trigger on
purpose. Proof that nothing ran twice comes from the jobs' own side effects
(each appends a line to a ledger file) and from Slurm's own accounting.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from slurm_cluster import ACCOUNT

from tests.helpers.backends import MIXED, latest_run_id, latest_tasks, run_mixed
from tests.helpers.jobs import ledger_lines, shell_ledger_tasks
from tests.helpers.waiting import wait_for


def accounted(cluster, run_id: str, count: int, fields: str = "JobName,State") -> list:
    """Slurm's own record of every job agybatch submitted for ``run_id`` (sacct, by the key in the comment).

    Waits (up to 30 s, then fails) until ``count`` jobs are recorded as ended: slurmctld
    sends job records to slurmdbd asynchronously.
    """
    def ended():
        rows = _accounted(cluster, run_id, f"State,{fields}")
        return len(rows) >= count and all(r[0] not in ("PENDING", "RUNNING") for r in rows) and rows

    return sorted(r[1:] for r in wait_for(ended, timeout=30, interval=0.5, what=f"sacct recording {count} ended jobs"))


def _accounted(cluster, run_id: str, fields: str) -> list:
    out = cluster.run("sacct", "-n", "-P", "-X", "-S", "now-1hour", "-o", f"JobID,{fields},SubmitLine").stdout
    rows = []
    for line in out.splitlines():
        parts = line.split("|", fields.count(",") + 2)
        if parts[0].isdigit() and f"--comment agybatch:{run_id}." in parts[-1]:
            rows.append(tuple(parts[1:-1]))
    return rows


FAST_POLL = '\n[batch.poll]\ninitial = "200ms"\nmax = "1s"\n'


# -- a time limit Slurm enforces: started first, checked last ---------------------------

LIMITED = """
[batch]
name = "limited"
backend = "slurm"

[batch.poll]
max = "2s"

[[task]]
label = "over-its-time"
command = ["sleep", "600"]
time = "1m"
"""


@pytest.fixture(scope="module")
def time_limit_run(slurm_cluster, tmp_path_factory):
    """A run whose only job exceeds its Slurm ``--time=1``. Slurm checks limits about every 30 s, so
    it ends after 60-90 s: started by the first test of this file, its outcome checked by the last."""
    root = tmp_path_factory.mktemp("limited")
    (root / "pyproject.toml").write_text('[project]\nname = "limited"\nversion = "0"\n')
    (root / "batches" / "limited").mkdir(parents=True)
    (root / "batches" / "limited" / "batch.toml").write_text(LIMITED)
    env = slurm_cluster.env({k: v for k, v in os.environ.items() if not k.startswith("AGYBATCH_")})
    proc = subprocess.Popen([sys.executable, "-m", "agybatch", "run", "limited", "--json"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


# -- the same batch on local and on Slurm ---------------------------------------------

def test_same_batch_gives_the_same_outcomes_and_exit_code_on_slurm_and_local(
        time_limit_run, slurm_cluster, slurm_project, wait):
    project = slurm_project
    project.batch("mixed", MIXED + FAST_POLL)

    local_code, on_local, _ = run_mixed(project, wait, "local", timeout=60)
    slurm_code, on_slurm, err = run_mixed(project, wait, "slurm", timeout=60)

    assert slurm_code == local_code == 2, err
    assert on_slurm == on_local == {
        "ok": ("succeeded", 0), "fails": ("failed", 3),
        "hangs": ("timed_out", -signal.SIGTERM), "cancelled": ("cancelled", -signal.SIGTERM)}
    # Slurm itself agrees: the timed-out and cancelled jobs were stopped, not left running.
    states = dict(accounted(slurm_cluster, latest_run_id(project), 4))
    assert states == {"ok": "COMPLETED", "fails": "FAILED", "hangs": "CANCELLED by 0",
                      "cancelled": "CANCELLED by 0"}
    logs = project.run("logs", "fails")
    assert logs.code == 0 and "3 broken links" in logs.out, logs


# -- what the job gets ----------------------------------------------------------------

JOB = """
[batch]
backend = "slurm"

[batch.slurm]
partition = "batch"
account = "{account}"
sbatch_args = ["--nice=10"]

[[task]]
label = "inspect: it's \\"quoted\\""
command = ["sh", "-c", "echo label=$AGYBATCH_LABEL; echo job=$AGYBATCH_JOB_ID slurm=$SLURM_JOB_ID; echo var=$TASK_VAR; pwd; echo \\"$1\\"", "sh", "$HOME; it's one arg"]
cwd = "work"
env = {{TASK_VAR = "from env"}}
time = "5m"
cpus = 2
mem = "300M"
""" + FAST_POLL


def test_options_env_cwd_and_an_argv_with_shell_characters_reach_the_job(slurm_cluster, slurm_project):
    project = slurm_project
    folder = project.batch("inspect", JOB.format(account=ACCOUNT))
    (folder / "work").mkdir()
    result = project.run("run", "inspect", "--json")
    assert result.code == 0, result
    task = result.json()["tasks"][0]
    log = Path(task["log_path"])
    assert log.parent == project.state / "runs" / result.json()["run_id"] / "slurm"
    job_id = task["job_id"]
    assert log.name == f"inspect_it_s_quoted-{job_id}.log"
    assert log.read_text().splitlines() == [
        'label=inspect: it\'s "quoted"', f"job={job_id} slurm={job_id}", "var=from env",
        str(folder / "work"), "$HOME; it's one arg"]
    rows = accounted(slurm_cluster, result.json()["run_id"], 1, "Partition,Account,ReqCPUS,ReqMem,Timelimit")
    assert rows == [("batch", ACCOUNT, "2", "300M", "00:05:00")]


# -- exactly once across crashes ----------------------------------------------------

def ledger_batch(project, name, ledger, labels, backend="slurm", sleep=3) -> None:
    tasks = shell_ledger_tasks(ledger, labels, sleep)
    project.batch(name, f'[batch]\nbackend = "{backend}"\n{FAST_POLL}\n{tasks}')


def test_runner_killed_mid_wait_and_joined_submits_nothing_twice(slurm_cluster, slurm_project, wait):
    project = slurm_project
    ledger = project.root / "ledger.txt"
    labels = ["a", "b", "c"]
    ledger_batch(project, "thrice", ledger, labels)
    runner = project.spawn("run", "thrice")
    wait(lambda: sum(1 for t in latest_tasks(project).values() if t["job_id"]) == 3, timeout=60)
    wait(lambda: ledger_lines(ledger), timeout=60)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()

    result = project.run("join", "--json")
    assert result.code == 0, result
    assert [t["attempts"] for t in result.json()["tasks"]] == [1, 1, 1]
    assert sorted(ledger_lines(ledger)) == labels  # every job ran exactly once
    jobs = accounted(slurm_cluster, result.json()["run_id"], 3)
    assert jobs == [(label, "COMPLETED") for label in labels]  # and Slurm was asked once each


def test_crash_between_sbatch_and_journalling_the_job_id(slurm_cluster, slurm_project, crash_after_submit):
    project = slurm_project
    ledger = project.root / "ledger.txt"
    labels = ["a", "b", "c"]
    ledger_batch(project, "crashy", ledger, labels, backend="slurm-crashy", sleep=0.5)
    plugin = crash_after_submit("agybatch_slurm.backend:SlurmBackend", "slurm-crashy")
    (project.root / "batches" / "crashy" / "batchconf.py").write_text(plugin)

    result = project.run("run", "crashy", env={"CRASH_AFTER_SUBMITTING": "b"})
    assert result.code == -signal.SIGKILL
    tasks = latest_tasks(project)
    assert (tasks["b"]["phase"], tasks["b"]["job_id"]) == ("intent", None)

    result = project.run("join", "--json")
    assert result.code == 0, result
    assert sorted(ledger_lines(ledger)) == labels
    assert accounted(slurm_cluster, result.json()["run_id"], 3) == [(x, "COMPLETED") for x in labels]
    assert {t["label"]: t["attempts"] for t in result.json()["tasks"]} == {"a": 1, "b": 1, "c": 1}


# -- a job Slurm forgot -----------------------------------------------------------------


def test_a_job_gone_from_squeue_and_purged_from_accounting_is_lost(slurm_cluster, slurm_project, wait):
    project = slurm_project
    ledger = project.root / "ledger.txt"
    ledger_batch(project, "forgotten", ledger, ["short"], sleep=0)
    runner = project.spawn("run", "forgotten")
    job_id = wait(lambda: "short" in latest_tasks(project) and latest_tasks(project)["short"]["job_id"], timeout=60)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    wait(lambda: ledger_lines(ledger), timeout=60)

    def gone_from_squeue():
        return not slurm_cluster.run("squeue", "-h", "-t", "all", "-j", job_id, check=False).stdout.strip()

    wait(gone_from_squeue, timeout=100, interval=1)  # MinJobAge=2 plus slurmctld's purge cycle
    slurm_cluster.sql(f"DELETE FROM agytest_job_table WHERE id_job = {int(job_id)}")  # an accounting purge

    result = project.run("join", "--json")
    assert result.code == 1, result
    task = result.json()["tasks"][0]
    assert task["outcome"] == "lost"
    assert task["reason"] == f"Slurm no longer knows job {job_id}: gone from squeue and sacct"


def test_lookups_by_key_and_unknown_ids(slurm_cluster, tmp_path):
    from agybatch.backends import BackendContext
    from agybatch.model import JobState, Task
    from agybatch_slurm.backend import SlurmBackend

    options = SlurmBackend.check_options({"conf": str(slurm_cluster.conf)})
    context = BackendContext(run_id="20261126-000000-beef", state_dir=tmp_path, run_dir=tmp_path / "run",
                             batch_folder=tmp_path, options=options)
    backend = SlurmBackend(context)
    task = Task(label="hello", command=("sh", "-c", "echo hello from slurm; echo two"), cwd=str(tmp_path))
    first = backend.submit(task, "20261126-000000-beef.0.1")
    assert backend.recover("20261126-000000-beef.0.1") == first.job_id
    assert backend.recover("20261126-000000-beef.0.2") is None
    wait_for(lambda: backend.poll([first.job_id])[first.job_id].state is JobState.SUCCEEDED, timeout=60,
             interval=0.3, what="the job succeeding")
    assert backend.logs(first.job_id) == "hello from slurm\ntwo\n"
    assert backend.logs(first.job_id, tail=1) == "two\n"
    statuses = backend.poll([first.job_id, "4000000"])  # one known, one Slurm never had: one call each way
    assert statuses[first.job_id].state is JobState.SUCCEEDED
    assert statuses["4000000"].state is JobState.LOST
    backend.cancel([first.job_id])  # already ended: nothing to do, no error


# -- configuration and an unreachable controller ----------------------------------------


def one_line_error(result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result
    assert "Traceback" not in result.err
    return lines[0]


BAD_CONFIGS = [
    ('[batch.slurm]\npartiton = "debug"\n', "unknown key 'partiton'"),
    ('[batch.slurm]\nsbatch_args = ["--job-name=x"]\n', "sbatch_args must not contain '--job-name=x'"),
    ('[batch.slurm]\nsbatch_args = ["-p", "debug"]\n', "use the 'partition' key"),
    ('[batch.slurm]\ncall_timeout = "soon"\n', "call_timeout: bad duration"),
    ('[[task]]\nlabel = "b"\ncommand = ["true"]\ntime = "forever"\n', "time must be a duration like '90m'"),
    ('[[task]]\nlabel = "b"\ncommand = ["true"]\ncpus = 0\n', "cpus must be a whole number >= 1"),
    ('[[task]]\nlabel = "b"\ncommand = ["true"]\nmem = "lots"\n', "mem must be MiB or a size like '4G'"),
    ('[[task]]\nlabel = "b"\ncommand = ["true"]\nsbatch_args = "--exclusive"\n', "sbatch_args must be a list"),
]


@pytest.mark.parametrize("extra, message", BAD_CONFIGS, ids=[
    "misspelt-key", "reserved-job-name", "reserved-partition", "bad-call-timeout", "bad-time", "zero-cpus",
    "bad-mem", "args-not-a-list"])
def test_bad_slurm_settings_are_one_line_errors_naming_the_file(project, extra, message):
    folder = project.batch("bad", '[batch]\nbackend = "slurm"\n\n[[task]]\nlabel = "a"\ncommand = ["true"]\n\n'
                           + extra)
    result = project.run("run", "bad")
    assert result.code == 4, result
    line = one_line_error(result)
    assert str(folder / "batch.toml") in line and message in line


def test_unknown_partition_and_unreachable_controller_are_usage_errors_before_anything_runs(
        slurm_cluster, slurm_project, tmp_path):
    project = slurm_project
    ledger = project.root / "ledger.txt"
    project.batch("nopart", f'[batch]\nbackend = "slurm"\n\n[batch.slurm]\npartition = "gpu"\n\n'
                            f'[[task]]\nlabel = "a"\ncommand = ["sh", "-c", "echo ran >> {ledger}"]\n')
    result = project.run("run", "nopart")
    assert result.code == 4
    assert "partition 'gpu' does not exist on the cluster (partitions: batch, debug)" in one_line_error(result)

    dead = tmp_path / "dead.conf"  # the same cluster, but a controller port nobody listens on
    port = closed_port()
    dead.write_text("".join(f"SlurmctldPort={port}\n" if line.startswith("SlurmctldPort=") else line
                            for line in slurm_cluster.conf.read_text().splitlines(True)))
    result = project.run("run", "nopart", env={"SLURM_CONF": str(dead)}, timeout=120)
    assert result.code == 4
    assert f"cannot reach the Slurm controller (SLURM_CONF={dead})" in one_line_error(result)
    assert not ledger.exists() and not latest_tasks(project)


def closed_port() -> int:
    """A free loopback port, closed again: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_loading_the_plugin_runs_no_slurm_command():
    code = ("import subprocess, sys\n"
            "calls = []\n"
            "real = subprocess.Popen.__init__\n"
            "def spy(self, *a, **k): calls.append(a[0] if a else k.get('args')); real(self, *a, **k)\n"
            "subprocess.Popen.__init__ = spy\n"
            "import agybatch_slurm.plugin, agybatch_slurm.backend, agybatch_slurm.options, agybatch_slurm.states\n"
            "print(len(calls))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0"


# -- last: the time-limit run started by the first test ----------------------------------


def test_slurm_time_limit_ends_a_job_timed_out(time_limit_run):
    out, err = time_limit_run.communicate(timeout=150)
    assert time_limit_run.returncode == 1, err
    task = json.loads(out)["tasks"][0]
    assert task["outcome"] == "timed_out"
    assert task["reason"] == "Slurm time limit reached (TIMEOUT)"
    assert 60 <= task["duration_s"] < 130
