"""Every agy fault through the real CLI: flaky polls, failed submits, lost, stalled, deadline, crashes."""
from __future__ import annotations

import os
import signal

import pytest

from tests.helpers.state import phases, submitted

FAST_POLL = """
[batch.poll]
initial = "150ms"
max = "300ms"
"""

MIXED = """
[batch]
backend = "agy"
{extra}
[[task]]
label = "quick"
prompt = "sleep=0.3"

[[task]]
label = "slow"
prompt = "sleep=2.5 lines=3"

[[task]]
label = "broken"
prompt = "sleep=1 exit=4"

[[task]]
label = "middle"
prompt = "sleep=1.6"
"""
MIXED_OUTCOMES = {"quick": "succeeded", "slow": "succeeded", "broken": "failed", "middle": "succeeded"}


def outcomes(result) -> dict:
    return {t["label"]: t["outcome"] for t in result.json()["tasks"]}


def tasks(result) -> dict:
    return {t["label"]: t for t in result.json()["tasks"]}


def agy_batch(project, name, body, extra=FAST_POLL):
    project.batch(name, body.replace("{extra}", extra))


def one_prompt(project, name, prompt):
    """Batch ``name``: one agy task ``t`` with ``prompt``."""
    project.batch(name, f'[batch]\nbackend = "agy"\n\n[[task]]\nlabel = "t"\nprompt = "{prompt}"\n')


def sigkill_once(runner, wait, event, what):
    """SIGKILL ``runner`` once ``event()`` holds, and check the kill landed on a running runner."""
    wait(event, timeout=30, what=what)
    runner.send_signal(signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL, "the kill missed: the runner had already ended"


@pytest.mark.parametrize("list_supported", [True, False], ids=["jobs-list", "jobs-get"])
def test_same_outcomes_with_no_and_with_30_percent_poll_faults(project, agy, list_supported):
    agy.configure(seed=7, no_list=None if list_supported else 1)
    agy_batch(project, "flaky", MIXED, '[batch.poll]\ninitial = "100ms"\nmax = "150ms"\n')
    clean = project.run("run", "flaky", "--json")
    assert clean.code == 2, clean
    assert clean.json()["poll_failures"] == 0

    agy.configure(poll_error=0.15, poll_garbage=0.15)
    faulty = project.run("run", "flaky", "--json", "-v")
    assert faulty.code == 2, faulty
    assert outcomes(faulty) == outcomes(clean) == MIXED_OUTCOMES
    assert [t["exit_code"] for t in faulty.json()["tasks"]] == [0, 0, 4, 0]
    failures = faulty.json()["poll_failures"]
    if list_supported:
        assert failures > 0
        assert faulty.err.count("agybatch: poll failed") == failures
        failed_polls = [line for line in faulty.err.splitlines() if "agybatch: poll failed" in line]
        unexplained = [line for line in failed_polls if "429" not in line and "printed no JSON" not in line]
        assert unexplained == [], "each failed poll names the injected fault"
    # Faults never fell back to per-job gets, nor the other way round.
    lists, gets = agy.count("jobs", "list"), agy.count("jobs", "get")
    assert (gets == 0) if list_supported else (lists == 2 and gets > 0)


def test_a_hanging_status_call_times_out_and_counts_as_a_failed_poll(project, agy):
    agy.configure(seed=3, poll_hang=0.5, hang_seconds=20)
    agy_batch(project, "hang", MIXED, FAST_POLL + '\n[batch.agy]\ncall_timeout = "400ms"\n')
    result = project.run("run", "hang", "--json", "-v")
    assert result.code == 2, result
    assert outcomes(result) == MIXED_OUTCOMES
    assert result.json()["poll_failures"] > 0
    assert "no answer within 0.4s" in result.err


def test_without_jobs_list_it_gets_each_unsettled_job_and_never_a_settled_one(project, agy):
    agy.configure(no_list=1)
    agy_batch(project, "nolist", MIXED)
    result = project.run("run", "nolist", "--json")
    assert result.code == 2, result
    assert outcomes(result) == MIXED_OUTCOMES
    assert agy.count("jobs", "list") == 1  # rejected once, remembered
    gets = [argv[2] for argv in agy.calls() if argv[:2] == ["jobs", "get"]]
    for label, task in tasks(result).items():
        asked = [i for i, job_id in enumerate(gets) if job_id == task["job_id"]]
        assert asked, label
        # Once a job was seen settled it is never asked about again:
        # its last get is the one that saw it end.
        later_rounds = gets[asked[-1] + 1:]
        assert task["job_id"] not in later_rounds
    assert gets.count(tasks(result)["quick"]["job_id"]) < gets.count(tasks(result)["slow"]["job_id"])


def test_a_list_that_fails_is_retried_not_replaced_by_gets(project, agy):
    agy.configure(seed=11, poll_error=0.5)
    agy_batch(project, "retry", MIXED)
    result = project.run("run", "retry", "--json")
    assert outcomes(result) == MIXED_OUTCOMES
    assert result.json()["poll_failures"] > 0
    assert agy.count("jobs", "get") == 0


def test_a_job_agy_forgets_before_its_end_was_seen_is_lost_not_failed(project, agy):
    agy.configure(retention=0)
    agy_batch(project, "forgotten", """
        [batch]
        backend = "agy"

        [batch.poll]
        initial = "1s"
        max = "1s"

        [[task]]
        label = "gone"
        prompt = "sleep=0.2 exit=1"
    """)
    result = project.run("run", "forgotten", "--json")
    assert result.code == 1, result
    task = result.json()["tasks"][0]
    assert task["outcome"] == "lost"
    assert "no longer knows" in task["reason"] and "retention" in task["reason"]


@pytest.mark.parametrize("action", ["cancel", "leave"])
def test_jobs_stuck_in_queued_are_stalled_and_cancelled_or_left(project, agy, wait, action):
    agy.configure(max_running=1)
    agy_batch(project, "queue", f"""
        [batch]
        backend = "agy"
        queued_timeout = "1s"
        on_stalled = "{action}"
        {FAST_POLL}
        [[task]]
        label = "hog"
        prompt = "sleep=3"

        [[task]]
        label = "waiting"
        prompt = "sleep=0.2"
    """)
    result = project.run("run", "queue", "--json")
    assert result.code == 2, result
    assert outcomes(result) == {"hog": "succeeded", "waiting": "stalled"}
    waiting = tasks(result)["waiting"]
    assert "still queued after 1s" in waiting["reason"]
    job = agy.job(waiting["job_id"])
    if action == "cancel":
        assert job["state"] == "cancelled"
        assert ["jobs", "cancel", waiting["job_id"]] in agy.calls()
    else:
        assert job["state"] != "cancelled"
        assert agy.count("jobs", "cancel") == 0
        # Left alone, it runs once the hog is done.
        wait(lambda: agy.job(waiting["job_id"])["state"] == "succeeded", timeout=30)


def test_deadline_cancels_every_unsettled_job_with_jobs_cancel(project, agy):
    agy_batch(project, "late", """
        [batch]
        backend = "agy"
        deadline = "1500ms"

        [[task]]
        label = "done"
        prompt = "sleep=0.2"

        [[task]]
        label = "long-a"
        prompt = "sleep=60"

        [[task]]
        label = "long-b"
        prompt = "sleep=60"
    """)
    result = project.run("run", "late", "--json")
    assert result.code == 2, result
    assert outcomes(result) == {"done": "succeeded", "long-a": "timed_out", "long-b": "timed_out"}
    for label in ("long-a", "long-b"):
        job_id = tasks(result)[label]["job_id"]
        assert agy.job(job_id)["state"] == "cancelled"
        assert agy.calls().count(["jobs", "cancel", job_id]) == 1
    assert agy.count("jobs", "cancel") == 2


def test_task_timeout_is_enforced_by_cancelling_the_job(project, agy):
    agy_batch(project, "stuck", """
        [batch]
        backend = "agy"
        {extra}
        [[task]]
        label = "stuck"
        prompt = "sleep=60"
        timeout = "1s"

        [[task]]
        label = "fine"
        prompt = "sleep=0.2"
    """)
    result = project.run("run", "stuck", "--json")
    assert result.code == 2, result
    assert outcomes(result) == {"stuck": "timed_out", "fine": "succeeded"}
    assert agy.job(tasks(result)["stuck"]["job_id"])["state"] == "cancelled"


def test_submit_failures_are_retried_a_bounded_number_of_times(project, agy):
    agy.configure(submit_fail_first=2)
    agy_batch(project, "retry-submit", """
        [batch]
        backend = "agy"

        [batch.agy]
        submit_retries = 2
        retry_delay = "50ms"

        [[task]]
        label = "t"
        prompt = "say=a"
    """)
    result = project.run("run", "retry-submit", "--json")
    assert result.code == 0, result
    assert agy.count("run") == 3
    assert len(agy.jobs()) == 1


def test_a_submit_that_keeps_failing_becomes_error_and_the_rest_still_run(project, agy):
    agy.configure(submit_fail_first=2)
    agy_batch(project, "doomed", """
        [batch]
        backend = "agy"

        [batch.agy]
        submit_retries = 1
        retry_delay = "0s"

        [[task]]
        label = "unsubmittable"
        prompt = "say=a"

        [[task]]
        label = "lucky"
        prompt = "say=b"
    """)
    result = project.run("run", "doomed", "--json")
    assert result.code == 2, result
    assert outcomes(result) == {"unsubmittable": "error", "lucky": "succeeded"}
    reason = tasks(result)["unsubmittable"]["reason"]
    assert "failed 2 times" in reason and "HTTP 503" in reason
    summary = [line for line in result.err.splitlines() if line.startswith("  unsubmittable (")]
    assert len(summary) == 1 and "error): " in summary[0] and "HTTP 503" in summary[0], result.err


def test_a_submit_with_garbled_output_adopts_the_job_agy_created_instead_of_running_it_twice(project, agy):
    agy.configure(submit_garbage=1)
    agy_batch(project, "garbled", MIXED)
    result = project.run("run", "garbled", "--json")
    assert result.code == 2, result
    assert outcomes(result) == MIXED_OUTCOMES
    assert len(agy.jobs()) == 4 and agy.count("run") == 4
    assert {t["job_id"] for t in result.json()["tasks"]} == {j["job_id"] for j in agy.jobs()}


def test_a_garbled_submit_that_agy_cannot_place_is_an_error_not_a_second_job(project, agy):
    agy.configure(submit_garbage=1, list_fields="minimal")
    one_prompt(project, "unplaceable", "say=a")
    result = project.run("run", "unplaceable", "--json")
    assert result.code == 1, result
    task = result.json()["tasks"][0]
    assert task["outcome"] == "error"
    assert "cannot tell whether a job was created" in task["reason"]
    assert agy.count("run") == 1


def test_a_banner_before_the_json_is_skipped(project, agy):
    agy.configure(notice="A new version of agy is available: run `agy update`")
    agy_batch(project, "banner", MIXED)
    result = project.run("run", "banner", "--json")
    assert outcomes(result) == MIXED_OUTCOMES
    assert result.json()["poll_failures"] == 0


def test_join_after_a_runner_crash_reattaches_without_submitting_again(project, agy, wait):
    agy_batch(project, "crash", MIXED)
    runner = project.spawn("run", "crash")
    sigkill_once(runner, wait, lambda: submitted(project.state) == 4, "every job ID journalled")
    assert phases(project.state).get("final", 0) < 4, "the kill came before the run ended"
    result = project.run("join", "--json")
    assert result.code == 2, result
    assert outcomes(result) == MIXED_OUTCOMES
    assert agy.count("run") == 4


def test_crash_while_agy_run_was_in_flight_recovers_the_job_from_the_list(project, agy, wait):
    agy.configure(submit_delay=3)
    one_prompt(project, "midsubmit", "sleep=0.5 say=once")
    runner = project.spawn("run", "midsubmit")
    sigkill_once(runner, wait, lambda: len(agy.jobs()) == 1, "agy creating the job")
    assert phases(project.state) == {"intent": 1}, "the kill came while 'agy run' was in flight"
    agy.configure(submit_delay=None)
    result = project.run("join", "--json")
    assert result.code == 0, result
    task = result.json()["tasks"][0]
    assert task["outcome"] == "succeeded" and task["job_id"] == agy.jobs()[0]["job_id"]
    assert agy.count("run") == 1


def test_crash_mid_submit_that_agy_cannot_place_is_lost_not_run_twice(project, agy, wait):
    agy.configure(submit_delay=3, list_fields="minimal")
    one_prompt(project, "unclear", "sleep=0.5")
    runner = project.spawn("run", "unclear")
    sigkill_once(runner, wait, lambda: len(agy.jobs()) == 1, "agy creating the job")
    assert phases(project.state) == {"intent": 1}, "the kill came while 'agy run' was in flight"
    result = project.run("join", "--json")
    assert result.code == 1, result
    task = result.json()["tasks"][0]
    assert task["outcome"] == "lost"
    assert "cannot tell whether the job was submitted" in task["reason"]
    assert agy.count("run") == 1


def test_crash_before_agy_was_called_submits_on_join(project, agy, wait):
    """No ledger entry means agy was never called, so join may safely submit."""
    one_prompt(project, "early", "say=a")
    result = project.run("run", "early", "--json")
    assert result.code == 0
    # Simulate a crash right after the intent was journalled: drop the ledger entry and
    # turn the finished task back into an intent in the journal.
    run_id = result.json()["run_id"]
    ledger = project.state / "runs" / run_id / "agy-submissions"
    entries = list(ledger.glob("*.json"))
    assert len(entries) == 1
    entries[0].unlink()
    journal = project.journal()
    journal.db.execute("UPDATE tasks SET phase='intent', job_id=NULL, outcome=NULL, state=NULL WHERE run_id=?",
                       (run_id,))
    journal.db.execute("UPDATE runs SET exit_code=NULL, verdict=NULL, ended_at=NULL WHERE run_id=?", (run_id,))
    journal.close()
    joined = project.run("join", run_id, "--json")
    assert joined.code == 0, joined
    assert joined.json()["tasks"][0]["attempts"] == 1
    assert agy.count("run") == 2 and len(agy.jobs()) == 2


def test_agy_missing_from_path_is_a_usage_error_before_anything_runs(project, agy):
    project.env["PATH"] = "/usr/bin:/bin"
    one_prompt(project, "noagy", "say=a")
    result = project.run("run", "noagy")
    assert result.code == 4, result
    assert result.err.count("\n") == 1
    assert "'agy' is not an executable or not on PATH" in result.err and "[batch.agy] bin" in result.err
    assert not os.path.exists(agy.home / "calls.log")
