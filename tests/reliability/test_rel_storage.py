"""A state folder that cannot be trusted: read-only, full, a corrupted or locked journal.

Every case ends with one clear line and exit 3 (or an honest verdict that names what went
wrong), never a traceback, never a job that ran without the journal knowing, and the
journal passes SQLite's integrity check afterwards. Read-only and full filesystems are real
mounts (a read-only bind mount, a small tmpfs); the tests skip, saying why, where mounting
is not allowed.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest

from tests.helpers.jobs import ledger_batch, ledger_command, ledger_lines, note_sink, notes
from tests.helpers.need import need, need_root
from tests.helpers.state import integrity, journal_rows
from tests.helpers.waiting import wait_for

ONE = [0.05]


def _mount(*args) -> None:
    need_root("the storage tests mount a read-only bind mount and a small tmpfs")
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    need(proc.returncode == 0, f"permission to mount (mount {' '.join(args)}: {proc.stderr.strip() or proc.returncode})")


def _umount(path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path):
    """``make(size)``: a fresh tmpfs of ``size`` (e.g. "256k") mounted under tmp_path."""
    mounted = []

    def make(size: str):
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(point))
        mounted.append(point)
        return point

    yield make
    for point in reversed(mounted):
        _umount(point)


def one_line(result) -> str:
    """The error: one ``agybatch: error:`` line, the last thing on stderr, and no traceback."""
    lines = result.err.strip().splitlines()
    errors = [line for line in lines if line.startswith("agybatch: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in result.err, result
    return errors[0]


def assert_nothing_ran_unrecorded(state, ledger) -> None:
    """Every job the ledger shows ran is one the journal holds a job ID for, as often as it ran."""
    ran = Counter(ledger_lines(ledger))
    known = Counter()
    for label, attempts in journal_rows(state, "SELECT label, attempts FROM tasks WHERE job_id IS NOT NULL"):
        known[label] += attempts
    unrecorded = {label: n - known[label] for label, n in ran.items() if n > known[label]}
    assert unrecorded == {}, f"jobs ran that the journal does not know about: {unrecorded}"


# -- read-only -----------------------------------------------------------------------

def test_read_only_state_folder_exits_3_and_runs_nothing(project, tmp_path):
    ledger = ledger_batch(project, "b", ONE)
    assert project.run("run", "b", "-q").code == 0
    before = ledger_lines(ledger)
    _mount("--bind", str(project.state), str(project.state))
    try:
        _mount("-o", "remount,bind,ro", str(project.state))
        result = project.run("run", "b")
        assert result.code == 3, result
        line = one_line(result)
        assert str(project.state) in line
        assert ledger_lines(ledger) == before, "nothing ran"
        # Commands that only read still answer from a read-only state folder.
        status = project.run("status", "--json")
        assert status.code == 0 and status.json()["verdict"] == "ok", status
        history = project.run("history", "--json")
        assert history.code == 0 and len(history.json()["runs"]) == 1, history
        assert project.run("logs", "t0").code == 0
    finally:
        _umount(project.state)
    assert integrity(project.state) == "ok"
    assert len(journal_rows(project.state, "SELECT * FROM runs")) == 1
    assert_nothing_ran_unrecorded(project.state, ledger)


def test_state_folder_under_a_read_only_mount_cannot_be_created(project, tmp_path):
    ledger = ledger_batch(project, "b", ONE)
    parent = tmp_path / "ro"
    parent.mkdir()
    _mount("--bind", str(parent), str(parent))
    try:
        _mount("-o", "remount,bind,ro", str(parent))
        result = project.run("run", "b", env={"AGYBATCH_STATE_DIR": str(parent / "state")})
        assert result.code == 3, result
        assert "cannot create state folder" in one_line(result)
    finally:
        _umount(parent)
    assert ledger_lines(ledger) == []


# -- full ----------------------------------------------------------------------------

def fill(folder) -> None:
    """Write to ``folder`` until its filesystem has no byte left."""
    for name, chunk in (("filler", 65536), ("filler2", 512), ("filler3", 1)):
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError:
            pass
        finally:
            os.close(fd)


def test_full_filesystem_from_the_start_exits_3_and_runs_nothing(project, tmpfs):
    ledger = ledger_batch(project, "b", ONE * 3)
    state = tmpfs("256k") / "state"
    state.mkdir(mode=0o700)
    fill(state.parent)
    result = project.run("run", "b", env={"AGYBATCH_STATE_DIR": str(state)})
    assert result.code == 3, result
    assert str(state) in one_line(result)
    assert ledger_lines(ledger) == [], "nothing ran"


def test_filesystem_filling_up_during_the_run_exits_3_and_join_finishes_it(project, tmpfs):
    """A job floods its log until the state folder's filesystem is full while another job runs: the
    runner cannot journal the next state change, says so in one line and exits 3; once space is
    freed, ``join`` finishes the run with each task run once."""
    state = tmpfs("1m") / "state"
    ledger = project.root / "b-ledger.txt"
    project.batch("b", f"""
        [[task]]
        label = "flood"
        command = ["sh", "-c", "head -c 3000000 /dev/zero; sleep 0.3"]
        [[task]]
        label = "steady"
        command = {json.dumps(ledger_command(ledger, "steady", 0.6))}
    """)
    env = {"AGYBATCH_STATE_DIR": str(state)}
    result = project.run("run", "b", "--json", env=env)
    assert result.code == 3, result
    line = one_line(result)
    assert f"{state / 'journal.sqlite'}: cannot commit to journal: database or disk is full" in line
    assert_nothing_ran_unrecorded(state, ledger)
    for log in state.glob("jobs/*.log"):  # free the space
        log.write_bytes(b"")
    assert integrity(state) == "ok"
    joined = project.run("join", "--json", env=env)
    assert joined.code == 0, joined
    assert {t["label"]: t["outcome"] for t in joined.json()["tasks"]} == {"flood": "succeeded",
                                                                          "steady": "succeeded"}
    assert ledger_lines(ledger) == ["steady"]


# -- corrupted ---------------------------------------------------------------------------

def corrupt(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    if how == "truncated":
        data = data[: max(page, len(data) // 2) + 100]
    elif how == "garbled pages":
        rng = random.Random(8)
        for i in range(page, len(data)):
            data[i] = rng.randrange(256)
    else:  # bad header
        data[:16] = b"not a database!!"
    path.write_bytes(bytes(data))


def checkpointed_journal(project, ledger_name="b") -> None:
    """A journal with a few runs, checkpointed so that everything is in the main file."""
    for _ in range(2):
        assert project.run("run", ledger_name, "-q").code == 0
    db = sqlite3.connect(project.state / "journal.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for suffix in ("-wal", "-shm"):
        (project.state / f"journal.sqlite{suffix}").unlink(missing_ok=True)


@pytest.mark.parametrize("how", ["truncated", "garbled pages", "bad header"])
@pytest.mark.parametrize("command", [("run", "b"), ("status",), ("history",), ("join",)])
def test_corrupted_journal_is_one_line_and_exit_3(project, how, command):
    ledger = ledger_batch(project, "b", [0.01] * 20)
    checkpointed_journal(project)
    ran = len(ledger_lines(ledger))
    corrupt(project.state / "journal.sqlite", how)
    result = project.run(*command)
    assert result.code == 3, result
    line = one_line(result)
    assert str(project.state / "journal.sqlite") in line
    assert len(ledger_lines(ledger)) == ran, "nothing ran on a corrupted journal"


# -- locked --------------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(60)
"""


def test_journal_locked_by_another_process_exits_3_after_waiting_and_is_routed(project):
    ledger = ledger_batch(project, "b", ONE)
    told = project.root / "told.jsonl"
    with open(project.root / "pyproject.toml", "a") as fh:
        fh.write(f"""
[tool.agybatch.notify]
internal_error = ["hook"]
[tool.agybatch.notify.sinks.hook]
type = "command"
argv = {note_sink(told)}
""")
    assert project.run("run", "b", "-q").code == 0
    assert not told.exists(), "a run that ends well is not an internal error"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(project.state / "journal.sqlite")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = project.run("run", "b")
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 3, result
    assert "locked" in one_line(result)
    [note] = notes(told)
    assert (note["event"], note["exit_code"]) == ("internal_error", 3), note
    assert "locked" in note["text"]
    assert ledger_lines(ledger) == ["t0"], "the second run submitted nothing"
    assert integrity(project.state) == "ok"
    assert_nothing_ran_unrecorded(project.state, ledger)
    assert len(journal_rows(project.state, "SELECT * FROM runs")) == 1


# -- never half-written ------------------------------------------------------------------------

def test_sigkill_while_a_big_run_is_recorded_leaves_all_or_nothing(project, tmp_path):
    """SIGKILL lands while the 5,000-task run is being written to the WAL: afterwards the journal is
    intact and the run is absent, never there with part of its tasks.

    The kill comes once the WAL has grown by 64 KiB (the run's rows, about 2 MB, are being written);
    a kill that came after the commit proves nothing, so the trial is repeated (each in a fresh state
    folder) until one lands before the commit.
    """
    n = 5000
    project.batch("big", "".join(f'[[task]]\nlabel = "t{i}"\ncommand = ["true"]\n' for i in range(n)))
    project.batch("warm", '[[task]]\nlabel = "a"\ncommand = ["true"]\n')
    outcomes = []
    for attempt in range(10):
        env = {"AGYBATCH_STATE_DIR": str(tmp_path / f"state{attempt}")}
        state = tmp_path / f"state{attempt}"
        assert project.run("run", "warm", "-q", env=env).code == 0  # the journal exists, in WAL mode
        wal = state / "journal.sqlite-wal"
        start = wal.stat().st_size if wal.exists() else 0
        runner = project.spawn("run", "big", "-q", "-j", "1", env=env)
        wait_for(lambda: runner.poll() is not None or (wal.exists() and wal.stat().st_size > start + 65536),
                 timeout=60, interval=0.0002, what="the big run's rows reaching the WAL")
        os.kill(runner.pid, signal.SIGKILL)
        assert runner.wait() == -signal.SIGKILL, "the runner was still recording when killed"
        assert integrity(state) == "ok"
        counts = [count for _, count in journal_rows(
            state, "SELECT r.run_id, COUNT(t.label) FROM runs r LEFT JOIN tasks t "
                   "ON t.run_id = r.run_id WHERE r.batch = 'big' GROUP BY r.run_id")]
        assert all(count == n for count in counts), f"a run recorded with {counts} of {n} tasks"
        outcomes.append("committed" if counts else "absent")
        if not counts:
            return  # the kill came before the commit, and nothing of the run is left
    pytest.fail(f"no kill landed before the run was committed: {outcomes}")
