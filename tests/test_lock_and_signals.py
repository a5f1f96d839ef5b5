"""One run per batch at a time, and what SIGINT/SIGTERM do to a run."""
import json
import os
import signal

import pytest

from tests.helpers.state import submitted

SLOW = '[[task]]\nlabel = "slow"\ncommand = ["sleep", "1.5"]\n[[task]]\nlabel = "quick"\ncommand = ["true"]\n'


def test_second_simultaneous_run_exits_6_naming_the_holder(project, wait):
    project.batch("b", SLOW)
    first = project.spawn("run", "b", "-q")
    wait(lambda: submitted(project.state) == 2)
    second = project.run("run", "b")
    assert second.code == 6, second
    assert f"pid {first.pid}" in second.err and "already running" in second.err
    assert len(second.err.strip().splitlines()) == 1
    assert first.wait(timeout=30) == 0
    assert len(project.run("history", "--json").json()["runs"]) == 1
    assert project.run("run", "b", "-q").code == 0, "the lock is released when the run ends"


def test_a_killed_runner_leaves_no_stale_lock(project, wait):
    project.batch("b", SLOW)
    first = project.spawn("run", "b", "-q")
    wait(lambda: submitted(project.state) == 2)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    result = project.run("join", "-q")
    assert result.code == 0, result


def test_join_of_a_batch_that_is_still_running_exits_6(project, wait):
    project.batch("b", SLOW)
    first = project.spawn("run", "b", "-q")
    wait(lambda: submitted(project.state) == 2)
    result = project.run("join")
    assert result.code == 6, result
    assert first.wait(timeout=30) == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_wait_exits_130_and_jobs_keep_running(project, wait, sig):
    marker = project.root / "finished"
    project.batch("b", f"""
        [[task]]
        label = "survivor"
        command = ["sh", "-c", "sleep 1; touch {marker}"]
    """)
    runner = project.spawn("run", "b", "--json")
    wait(lambda: submitted(project.state) == 1)
    os.kill(runner.pid, sig)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, err
    data = json.loads(out)
    assert data["verdict"] == "interrupted" and data["exit_code"] == 130
    assert data["tasks"][0]["outcome"] is None and data["tasks"][0]["state"] == "running"
    assert f"agybatch join {data['run_id']}" in err
    wait(marker.exists, timeout=10)
    result = project.run("join", "--json")
    assert result.code == 0, result
    assert result.json()["tasks"][0]["outcome"] == "succeeded"


def test_cancel_on_interrupt_cancels_the_jobs(project, wait):
    marker = project.root / "finished"
    project.batch("b", f"""
        [[task]]
        label = "victim"
        command = ["sh", "-c", "sleep 5; touch {marker}"]
    """)
    runner = project.spawn("run", "b", "--json", "--cancel-on-interrupt")
    wait(lambda: submitted(project.state) == 1)
    os.kill(runner.pid, signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, err
    task = json.loads(out)["tasks"][0]
    assert task["outcome"] == "cancelled"
    # The job's own end record says it was stopped, not that it ran its 5 s to the touch.
    end = wait(lambda: project.job_ends().get(task["job_id"]), timeout=30)
    assert end["state"] == "cancelled", end
    assert not marker.exists()


def test_agybatch_cancel_stops_a_live_run(project, wait):
    project.batch("b", """
        [batch]
        max_parallel = 1
        [[task]]
        label = "running"
        command = ["sleep", "30"]
        [[task]]
        label = "waiting"
        command = ["true"]
    """)
    runner = project.spawn("run", "b", "--json")
    wait(lambda: submitted(project.state) == 1)
    result = project.run("cancel")
    assert result.code == 0 and "1 job(s) signalled" in result.out
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 1, err
    got = {t["label"]: t for t in json.loads(out)["tasks"]}
    assert got["running"]["outcome"] == "cancelled"
    assert got["waiting"]["outcome"] == "cancelled" and got["waiting"]["job_id"] is None


def test_sigterm_before_the_wait_loop_also_exits_130(project, wait):
    marker = project.root / "configuring"
    project.batch("b", SLOW, **{"batchconf.py": f"""
        import time
        from agybatch import hookimpl

        @hookimpl
        def configure(config):
            open({str(marker)!r}, "w").close()
            time.sleep(10)
    """})
    runner = project.spawn("run", "b")
    wait(marker.exists)
    os.kill(runner.pid, signal.SIGTERM)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, err
    assert err.strip().splitlines() == [
        "agybatch: interrupted; jobs already submitted keep running, and 'agybatch join' finishes the run"]
    assert not (project.state / "jobs").exists()
