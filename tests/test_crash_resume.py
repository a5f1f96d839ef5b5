"""A runner killed with SIGKILL at any moment; ``agybatch join`` finishes with every task run once."""
import os
import signal

import pytest

from tests.helpers.jobs import ledger_batch, ledger_lines, note_sink, notes
from tests.helpers.state import submitted

def counting_batch(project, n, sleep, stagger="0s", extra=""):
    """Batch ``b``: tasks t0..t{n-1}, each records itself in the ledger, then sleeps ``sleep(i)``."""
    return ledger_batch(project, "b", [sleep(i) for i in range(n)], batch=f'stagger = "{stagger}"\n{extra}')


def ran_once(ledger, n):
    lines = ledger_lines(ledger)
    assert sorted(lines) == sorted(f"t{i}" for i in range(n)), lines


@pytest.mark.parametrize("kill_after", [1, 3])
def test_sigkill_during_fan_out_then_join(project, wait, kill_after):
    ledger = counting_batch(project, 6, sleep=lambda i: 0.2, stagger="400ms")
    runner = project.spawn("run", "b", "-q")
    wait(lambda: submitted(project.state) >= kill_after)
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    assert submitted(project.state) < 6, "the kill came during the fan-out"
    result = project.run("join", "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["counts"]["succeeded"] == 6
    assert all(t["attempts"] == 1 for t in data["tasks"])
    ran_once(ledger, 6)


def test_sigkill_during_wait_then_join_learns_how_jobs_ended(project, wait):
    ledger = counting_batch(project, 5, sleep=lambda i: 0.3 * i)
    (project.root / "batches" / "b" / "batch.toml").open("a").write(
        '[[task]]\nlabel = "fails"\ncommand = ["sh", "-c", "sleep 0.5; exit 4"]\n')
    runner = project.spawn("run", "b")
    wait(lambda: submitted(project.state) == 6)
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    assert len(project.job_ends()) < 6, "the kill came while jobs were running"
    wait(lambda: len(project.job_ends()) == 6, timeout=30, what="every job ending with no runner watching")
    result = project.run("join", "--json")
    assert result.code == 2, result
    got = {t["label"]: t for t in result.json()["tasks"]}
    assert got["fails"]["outcome"] == "failed" and got["fails"]["exit_code"] == 4
    assert all(got[f"t{i}"]["outcome"] == "succeeded" for i in range(5))
    ran_once(ledger, 5)


def test_sigkill_right_after_a_job_id_is_journalled(project):
    # A local plugin kills the runner in on_submit: the ID is journalled, the hook sees it, then death.
    ledger = counting_batch(project, 4, sleep=lambda i: 0.1)
    (project.root / "batches" / "b" / "batchconf.py").write_text(
        "import os, signal\nfrom agybatch import hookimpl\n\n"
        "@hookimpl\ndef on_submit(session, task):\n"
        "    if task.label == 't2' and not session.resumed:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = project.run("run", "b")
    assert result.code == -signal.SIGKILL
    result = project.run("join", "--json")
    assert result.code == 0, result
    ran_once(ledger, 4)


def test_join_recovers_an_intent_whose_job_never_started(project):
    # Simulate the narrowest window: intent journalled, runner dead before the fork.
    ledger = counting_batch(project, 3, sleep=lambda i: 0.1)
    (project.root / "batches" / "b" / "batchconf.py").write_text(
        "import os, signal\nfrom agybatch import hookimpl\n\n"
        "@hookimpl\ndef on_state_change(session, task):\n"
        "    pass\n\n"
        "@hookimpl\ndef configure(config):\n"
        "    from agybatch.backends import local\n"
        "    original = local.LocalBackend.submit\n"
        "    def submit(self, task, key):\n"
        "        if task.label == 't1' and os.environ.get('DIE_BEFORE_FORK'):\n"
        "            os.kill(os.getpid(), signal.SIGKILL)\n"
        "        return original(self, task, key)\n"
        "    local.LocalBackend.submit = submit\n"
    )
    assert project.run("run", "b", env={"DIE_BEFORE_FORK": "1"}).code == -signal.SIGKILL
    journal = project.journal()
    run_id = journal.latest_run()["run_id"]
    phases = {t["label"]: t["phase"] for t in journal.tasks(run_id)}
    assert phases == {"t0": "submitted", "t1": "intent", "t2": "pending"}
    result = project.run("join", "--json")
    assert result.code == 0, result
    ran_once(ledger, 3)


def test_join_with_nothing_to_join_exits_4(project):
    project.batch("b", '[[task]]\nlabel = "a"\ncommand = ["true"]\n')
    assert project.run("run", "b").code == 0
    result = project.run("join")
    assert result.code == 4 and "no unfinished run to join" in result.err
    run_id = project.run("status", "--json").json()["run_id"]
    result = project.run("join", run_id)
    assert result.code == 4 and "already finished" in result.err


def test_sigkill_between_the_verdict_and_on_join_then_join_tells_once(project):
    # The verdict is journalled, then the runner dies before any on_join hook: nobody was told yet.
    told = project.root / "told.jsonl"
    project.batch("b", f"""
        [notify]
        partial = ["hook"]
        [notify.sinks.hook]
        type = "command"
        argv = {note_sink(told)}
        [[task]]
        label = "good"
        command = ["true"]
        [[task]]
        label = "bad"
        command = ["false"]
    """, **{"batchconf.py": (
        "import os, signal\nfrom agybatch import hookimpl\n\n"
        "@hookimpl(tryfirst=True)\ndef on_join(session):\n"
        "    if not session.resumed:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n")})
    assert project.run("run", "b").code == -signal.SIGKILL
    journal = project.journal()
    row = journal.latest_run()
    journal.close()
    assert (row["exit_code"], row["verdict"], row["joined_at"]) == (2, "partial", None)
    assert not told.exists()
    result = project.run("join", "--json")
    assert result.code == 2, result
    data = result.json()
    assert data["run_id"] == row["run_id"] and data["verdict"] == "partial"
    assert {t["label"]: t["outcome"] for t in data["tasks"]} == {"good": "succeeded", "bad": "failed"}
    [note] = notes(told)
    assert note["run_id"] == row["run_id"] and note["event"] == "partial", note
    again = project.run("join")
    assert again.code == 4 and "no unfinished run to join" in again.err, again
    again = project.run("join", row["run_id"])
    assert again.code == 4 and "already finished (partial); nothing to join" in again.err, again
    assert len(notes(told)) == 1, "told once"
