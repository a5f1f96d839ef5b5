"""The ray backend against a real Ray head on 127.0.0.1 (started once for the session).

Every test drives the real ``agybatch`` CLI in a subprocess, except the one
that calls the backend's submit/recover directly to prove the idempotency
rules. Proof that nothing ran twice comes from the jobs' own side effects
(each appends a line to a ledger file) and from Ray's own job list.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from ray_proxies import CuttableProxy, NoListProxy

from tests.helpers.backends import MIXED, latest_run_id, latest_tasks, run_mixed
from tests.helpers.jobs import ledger_lines, shell_ledger_tasks
from tests.helpers.need import need_module
from tests.helpers.net import free_port
from tests.helpers.waiting import wait_for


# -- the same batch on local and on Ray ---------------------------------------------

def test_same_batch_gives_the_same_outcomes_and_exit_code_on_ray_and_local(ray_head, ray_project, wait):
    project = ray_project
    project.batch("mixed", MIXED)
    env = {"RAY_API_SERVER_ADDRESS": ray_head.address}  # the address from the environment

    local_code, local, _ = run_mixed(project, wait, "local", env)
    ray_code, on_ray, err = run_mixed(project, wait, "ray", env)

    assert ray_code == local_code == 2, err
    expected = {"ok": "succeeded", "fails": "failed", "hangs": "timed_out", "cancelled": "cancelled"}
    assert {label: outcome for label, (outcome, _) in local.items()} == expected
    assert {label: outcome for label, (outcome, _) in on_ray.items()} == expected
    assert local["ok"][1] == on_ray["ok"][1] == 0
    assert local["fails"][1] == on_ray["fails"][1] == 3
    # A stopped job's exit status: the local backend saw the signal; Ray does not report it.
    assert local["hangs"][1] == -signal.SIGTERM and on_ray["hangs"][1] is None
    # Ray itself agrees: the timed-out and cancelled jobs were stopped, not left running.
    ray_states = {j.metadata["agybatch_label"]: str(j.status.value) for j in ray_head.jobs_of(latest_run_id(project))}
    assert ray_states == {"ok": "SUCCEEDED", "fails": "FAILED", "hangs": "STOPPED", "cancelled": "STOPPED"}


# -- exactly once across crashes ----------------------------------------------------

def ledger_batch(project, name, ledger, labels, address, backend="ray", sleep=3) -> None:
    tasks = shell_ledger_tasks(ledger, labels, sleep)
    project.batch(name, f'[batch]\nbackend = "{backend}"\n\n[batch.{backend}]\naddress = "{address}"\n\n{tasks}')


def test_runner_killed_mid_wait_and_joined_submits_nothing_twice(ray_head, ray_project, wait):
    project = ray_project
    ledger = project.root / "ledger.txt"
    labels = ["a", "b", "c"]
    ledger_batch(project, "thrice", ledger, labels, ray_head.address)
    runner = project.spawn("run", "thrice")
    # All three submitted (the head has 2 CPUs: one of them still waits for a slot), one started.
    wait(lambda: sum(1 for t in latest_tasks(project).values() if t["job_id"]) == 3, timeout=60)
    wait(lambda: ledger_lines(ledger), timeout=60)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()

    result = project.run("join", "--json")
    assert result.code == 0, result
    assert [t["attempts"] for t in result.json()["tasks"]] == [1, 1, 1]
    assert sorted(ledger_lines(ledger)) == labels  # every job ran exactly once
    jobs = ray_head.jobs_of(result.json()["run_id"])
    assert sorted(j.metadata["agybatch_label"] for j in jobs) == labels  # and Ray was asked once each


def test_crash_between_ray_accepting_a_job_and_journalling_its_id(ray_head, ray_project, crash_after_submit):
    project = ray_project
    ledger = project.root / "ledger.txt"
    labels = ["a", "b", "c"]
    ledger_batch(project, "crashy", ledger, labels, ray_head.address, backend="ray-crashy", sleep=0.5)
    plugin = crash_after_submit("agybatch_ray.backend:RayBackend", "ray-crashy")
    (project.root / "batches" / "crashy" / "batchconf.py").write_text(plugin)

    result = project.run("run", "crashy", env={"CRASH_AFTER_SUBMITTING": "b"})
    assert result.code == -signal.SIGKILL
    tasks = latest_tasks(project)
    assert (tasks["b"]["phase"], tasks["b"]["job_id"]) == ("intent", None)

    result = project.run("join", "--json")
    assert result.code == 0, result
    assert sorted(ledger_lines(ledger)) == labels
    jobs = ray_head.jobs_of(result.json()["run_id"])
    assert sorted(j.metadata["agybatch_label"] for j in jobs) == labels
    assert {t["label"]: t["attempts"] for t in result.json()["tasks"]} == {"a": 1, "b": 1, "c": 1}


def test_a_key_is_submitted_once_and_a_foreign_job_is_never_adopted(ray_head, tmp_path):
    from agybatch.backends import BackendContext
    from agybatch.errors import SubmitError
    from agybatch.model import JobState, Task
    from agybatch_ray.backend import RayBackend
    from agybatch_ray.options import submission_id

    options = RayBackend.check_options({"address": ray_head.address})
    context = BackendContext(run_id="adopt-test", state_dir=tmp_path, run_dir=tmp_path,
                             batch_folder=tmp_path, options=options)
    backend = RayBackend(context)
    task = Task(label="hello", command=("sh", "-c", "echo hello from ray"), cwd=str(tmp_path))

    first = backend.submit(task, "adopt-test.0.1")
    again = backend.submit(task, "adopt-test.0.1")  # e.g. a resumed run whose recover raced
    assert first.job_id == again.job_id == submission_id("adopt-test.0.1")
    assert [j.submission_id for j in ray_head.client.list_jobs()].count(first.job_id) == 1
    assert backend.recover("adopt-test.0.1") == first.job_id
    assert backend.recover("adopt-test.0.2") is None

    foreign = submission_id("someone-else.0.1")  # same ID, submitted by another client
    ray_head.client.submit_job(entrypoint="true", submission_id=foreign, entrypoint_num_cpus=0.1)
    with pytest.raises(SubmitError, match="already used by another job"):
        backend.submit(task, "someone-else.0.1")
    assert backend.recover("someone-else.0.1") is None

    wait_for(lambda: backend.poll([first.job_id])[first.job_id].state is JobState.SUCCEEDED, timeout=60,
             interval=0.3, what="the job succeeding")
    assert "hello from ray" in backend.logs(first.job_id)
    assert len(backend.logs(first.job_id, tail=2).splitlines()) == 2
    gone = backend.poll(["agybatch-no-such-job"])["agybatch-no-such-job"]
    assert gone.state is JobState.LOST and "no longer knows" in gone.reason


# -- what Ray jobs see, and what the journal keeps -----------------------------------

JOB_PY = """
import os
print("label", os.environ["AGYBATCH_LABEL"])
for name in ("TASK_VAR", "RUNTIME_VAR", "BATCH_VAR"):
    print(name, os.environ.get(name))
print("helper", open("helper.txt").read().strip())
raise SystemExit(5)
"""


def test_runtime_env_working_dir_env_vars_and_the_failed_log_tail(ray_head, ray_project):
    project = ray_project
    folder = project.batch("envs", f"""
        [batch]
        backend = "ray"

        [batch.ray]
        address = "{ray_head.address}"
        runtime_env = {{env_vars = {{BATCH_VAR = "from-batch", RUNTIME_VAR = "overridden"}}}}

        [[task]]
        label = "inspect"
        command = ["python3", "job.py"]
        env = {{TASK_VAR = "from-env"}}
        runtime_env = {{working_dir = "src", env_vars = {{RUNTIME_VAR = "from-task"}}}}
        entrypoint_num_cpus = 0.5
        entrypoint_memory = "64MiB"
        """)
    (folder / "src").mkdir()
    (folder / "src" / "job.py").write_text(JOB_PY)
    (folder / "src" / "helper.txt").write_text("uploaded with the working_dir\n")

    result = project.run("run", "envs", "--json")
    assert result.code == 1, result
    assert "Uploading package" not in result.err  # Ray's INFO logging stays out of agybatch's output
    task = result.json()["tasks"][0]
    assert (task["outcome"], task["exit_code"]) == ("failed", 5)
    saved = open(task["log_path"]).read()  # kept locally: Ray forgets logs when its head restarts
    for line in ("label inspect", "TASK_VAR from-env", "RUNTIME_VAR from-task", "BATCH_VAR from-batch",
                 "helper uploaded with the working_dir"):
        assert line in saved
    logs = project.run("logs", "inspect", "--tail", "1")
    assert logs.code == 0, logs
    assert len(logs.out.splitlines()) == 1


def test_a_job_pending_past_queued_timeout_is_stalled(ray_head, ray_project):
    project = ray_project
    project.batch("starved", f"""
        [batch]
        backend = "ray"
        queued_timeout = "2s"

        [batch.ray]
        address = "{ray_head.address}"

        [[task]]
        label = "needs-a-gpu-box"
        command = ["sh", "-c", "echo should never run"]
        resources = {{agybatch_test_missing = 1}}
        """)
    result = project.run("run", "starved", "--json", timeout=60)
    assert result.code == 1, result
    task = result.json()["tasks"][0]
    assert task["outcome"] == "stalled"
    assert "still queued after 2s" in task["reason"]


# -- an unreachable or failing cluster ------------------------------------------------


@pytest.fixture
def ray_installed():
    need_module("ray", "pip install -e ./plugins/agybatch-ray")


def one_line_error(result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result
    assert "Traceback" not in result.err
    return lines[0]


def test_unreachable_cluster_is_a_one_line_usage_error_before_anything_runs(ray_installed, ray_project):
    project = ray_project
    ledger = project.root / "ledger.txt"
    address = f"http://127.0.0.1:{free_port()}"
    ledger_batch(project, "nowhere", ledger, ["a"], address)
    result = project.run("run", "nowhere")
    assert result.code == 4
    line = one_line_error(result)
    assert f"cannot reach the Ray cluster at {address}" in line and "refused" in line
    assert not ledger.exists()
    assert not latest_tasks(project)  # nothing journalled, nothing submitted


def test_a_dashboard_that_never_answers_times_out_instead_of_hanging(ray_installed, ray_project):
    project = ray_project
    with socket.socket() as silent:  # accepts connections (kernel backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = "http://127.0.0.1:%d" % silent.getsockname()[1]
        project.batch("silent", f"""
            [batch]
            backend = "ray"

            [batch.ray]
            address = "{address}"
            request_timeout = "1s"

            [[task]]
            label = "a"
            command = ["true"]
            """)
        result = project.run("run", "silent", timeout=60)
    assert result.code == 4
    line = one_line_error(result)
    assert f"cannot reach the Ray cluster at {address}: no answer" in line


def test_a_cluster_lost_during_the_wait_counts_poll_failures_then_reports_lost(ray_head, ray_project, wait):
    project = ray_project
    proxy = CuttableProxy(int(ray_head.address.rsplit(":", 1)[1]))
    project.batch("partition", f"""
        [batch]
        backend = "ray"

        [batch.poll]
        initial = "100ms"
        max = "100ms"

        [batch.ray]
        address = "http://127.0.0.1:{proxy.port}"
        request_timeout = "2s"

        [[task]]
        label = "long"
        command = ["sleep", "60"]
        """)
    runner = project.spawn("run", "partition", "--json")
    try:
        wait(lambda: "long" in latest_tasks(project) and latest_tasks(project)["long"]["state"] == "running",
             timeout=60)
        proxy.cut()
        out, err = runner.communicate(timeout=90)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 1, err
    summary = json.loads(out)
    assert summary["poll_failures"] >= 20
    task = summary["tasks"][0]
    assert task["outcome"] == "lost" and "polls in a row failed" in task["reason"]
    assert "Traceback" not in err
    # The job itself is untouched on the cluster: agybatch lost sight of it, nothing more.
    assert [str(j.status.value) for j in ray_head.jobs_of(summary["run_id"])] == ["RUNNING"]
    ray_head.client.stop_job(task["job_id"])


def test_a_server_that_cannot_list_jobs_is_polled_job_by_job(ray_head, ray_project):
    project = ray_project
    proxy = NoListProxy(ray_head.address)
    try:
        project.batch("nolist", f"""
            [batch]
            backend = "ray"

            [batch.ray]
            address = "{proxy.address}"

            [[task]]
            label = "a"
            command = ["sh", "-c", "exit 0"]

            [[task]]
            label = "b"
            command = ["sh", "-c", "exit 7"]
            """)
        result = project.run("run", "nolist", "--json")
    finally:
        proxy.close()
    assert result.code == 2, result
    assert {t["label"]: (t["outcome"], t["exit_code"]) for t in result.json()["tasks"]} == {
        "a": ("succeeded", 0), "b": ("failed", 7)}
    assert result.json()["poll_failures"] == 0
    gets = [path for method, path in proxy.paths if method == "GET"]
    assert gets.count("/api/jobs/") == 1  # asked once, then never again
    assert any(path.startswith("/api/jobs/agybatch-") for path in gets)


# -- configuration ----------------------------------------------------------------------

BAD_CONFIGS = [
    ('[batch.ray]\naddress = "ray://127.0.0.1:10001"\n', {}, "not the URL of a Ray dashboard"),
    ('[batch.ray]\nadress = "http://127.0.0.1:8265"\n', {}, "unknown key 'adress'"),
    ('[batch.ray]\nrequest_timeout = "soon"\n', {}, "request_timeout: bad duration"),
    ("", {"RAY_ADDRESS": "auto"}, "$RAY_ADDRESS 'auto' is not the URL of a Ray dashboard"),
    ('[[task]]\nlabel = "b"\ncommand = ["true"]\nentrypoint_num_cpus = "two"\n', {},
     "entrypoint_num_cpus must be a number >= 0"),
    ('[[task]]\nlabel = "b"\ncommand = ["true"]\nentrypoint_memory = "lots"\n', {},
     "entrypoint_memory must be bytes or a size like '2GiB'"),
    ('[[task]]\nlabel = "b"\ncommand = ["true"]\nruntime_env = {working_dir = "missing"}\n', {},
     "runtime_env.working_dir 'missing' does not exist"),
    ('[[task]]\nlabel = "b"\ncommand = ["true"]\nresources = {GPU = -1}\n', {},
     "resources.GPU must be a number >= 0"),
]


@pytest.mark.parametrize("extra, env, message", BAD_CONFIGS, ids=[
    "ray-client-address", "misspelt-key", "bad-request-timeout", "RAY_ADDRESS-auto", "cpus-not-a-number",
    "memory-not-a-size", "missing-working-dir", "negative-resource"])
def test_bad_ray_settings_are_one_line_errors_naming_the_file(ray_installed, ray_project, extra, env, message):
    project = ray_project
    folder = project.batch("bad", '[batch]\nbackend = "ray"\n\n[[task]]\nlabel = "a"\ncommand = ["true"]\n\n' + extra)
    result = project.run("run", "bad", env=env)
    assert result.code == 4, result
    line = one_line_error(result)
    assert str(folder / "batch.toml") in line and message in line


def test_loading_the_plugin_does_not_import_ray(ray_installed):
    code = ("import sys, agybatch_ray.plugin, agybatch_ray.backend, agybatch_ray.options, agybatch_ray.client; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
