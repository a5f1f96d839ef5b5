"""The local backend's job supervisor, seen from the outside: the jobs' process environment,
sessions and process groups, a runner or a supervisor killed, cancel, timeouts, runs side by side."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from agybatch.backends._supervisor import start_ticks

#: A job that appends its label to a ledger, then waits (20 s at most) for a release file.
HELD_JOB = ('import os, sys, time; open(sys.argv[1], "a").write(sys.argv[2] + "\\n"); end = time.time() + 20\n'
            'while not os.path.exists(sys.argv[3]) and time.time() < end: time.sleep(0.02)\n'
            'sys.exit(0 if os.path.exists(sys.argv[3]) else 9)')
#: A job that prints where it runs: open descriptors, stdin, process group and session.
PROBE_JOB = ('import json, os, time\n'
             'listed = os.listdir("/proc/self/fd")  # the descriptor used for listing is closed again\n'
             'def is_open(fd):\n'
             '    try: return bool(os.readlink("/proc/self/fd/" + fd))\n'
             '    except OSError: return False\n'
             'print(json.dumps({"fds": sorted(int(fd) for fd in listed if is_open(fd)),'
             ' "stdin": os.readlink("/proc/self/fd/0"), "pid": os.getpid(), "ppid": os.getppid(),'
             ' "pgid": os.getpgid(0), "sid": os.getsid(0)}), flush=True)\n'
             'time.sleep(float(os.environ.get("PROBE_SLEEP", "0")))')
#: Signals glibc keeps for itself (32 and 33): no program can trap or name them, and glibc's
#: posix_spawn leaves them ignored in every child it starts, whatever its attributes say.
LIBC_INTERNAL = set(range(1, signal.NSIG)) - set(signal.valid_signals())


def task(label: str, command: list, extra: str = "") -> str:
    return f"[[task]]\nlabel = {json.dumps(label)}\ncommand = {json.dumps(command)}\n{extra}"


def held(project, label: str) -> str:
    """A HELD_JOB task writing to ``ledger.txt`` and waiting for ``release``."""
    return task(label, ["python3", "-c", HELD_JOB, str(project.root / "ledger.txt"), label,
                        str(project.root / "release")])


def release(project) -> None:
    (project.root / "release").touch()


def ledger(project) -> list:
    path = project.root / "ledger.txt"
    return sorted(path.read_text().split()) if path.exists() else []


def claims(project) -> dict:
    """``{job ID: started record}`` of every job whose command has started (who runs it: ``pid``, ``child``)."""
    return project.job_records("started")


def job_ids(project, batch: str) -> dict:
    """``{label: job ID}`` of the submitted tasks of ``batch``'s latest run (read-only journal)."""
    path = project.state / "journal.sqlite"
    if not path.exists():
        return {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return dict(db.execute(
                "SELECT label, job_id FROM tasks WHERE job_id IS NOT NULL AND run_id=(SELECT run_id FROM runs"
                " WHERE batch=? ORDER BY started_at DESC, rowid DESC LIMIT 1)", (batch,)).fetchall())
        finally:
            db.close()
    except sqlite3.Error:
        return {}


def started(project, batch: str, labels) -> dict:
    """``{label: claim}`` once every one of ``labels`` of ``batch`` has started, else {}."""
    ids, found = job_ids(project, batch), claims(project)
    if all(ids.get(label) in found for label in labels):
        return {label: found[ids[label]] for label in labels}
    return {}


def ended(project, batch: str, label: str) -> bool:
    job_id = job_ids(project, batch).get(label)
    return bool(job_id) and job_id in project.job_ends()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    return start_ticks(pid) is not None


def kill_jobs(project) -> None:
    """SIGKILL the process group of every job started (the supervisor that ran it may be gone)."""
    for claim in claims(project).values():
        try:
            os.killpg(claim["child"], signal.SIGKILL)
        except (OSError, KeyError, TypeError):
            pass


def watches_a_pidfd(pid: int) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[pidfd]" for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def by_label(out: str) -> dict:
    return {t["label"]: t for t in json.loads(out)["tasks"]}


# -- 1. a job's process environment -------------------------------------------------------


def in_background_of_sh(project, *args) -> subprocess.CompletedProcess:
    """``agybatch ARGS &`` in a script: the shell starts it with SIGINT and SIGQUIT ignored (POSIX)."""
    return subprocess.run(["sh", "-c", '"$@" & wait $!', "sh", *project.command(*args)], cwd=project.root,
                          env=project.env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("launch", ["directly", "in_background_of_sh"])
def test_a_job_starts_with_stdin_from_dev_null_only_fds_0_1_2_and_no_signal_ignored_or_blocked(project, launch):
    project.batch("b", task("probe", ["python3", "-c", PROBE_JOB])
                  + task("signals", ["grep", "-E", "^(SigIgn|SigBlk):", "/proc/self/status"]))
    if launch == "directly":
        result = project.run("run", "b", "--json")
        code, out, err = result.code, result.out, result.err
    else:
        proc = in_background_of_sh(project, "run", "b", "--json")
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    assert code == 0, err
    tasks = by_label(out)
    probe = json.loads(open(tasks["probe"]["log_path"]).read())
    assert probe["stdin"] == "/dev/null"
    assert probe["fds"] == [0, 1, 2], "no descriptor of the runner or the supervisor leaks into a job"
    masks = dict(line.split(":") for line in open(tasks["signals"]["log_path"]).read().split("\n") if line)
    ignored = {sig for sig in range(1, 65) if int(masks["SigIgn"], 16) >> (sig - 1) & 1}
    assert ignored - LIBC_INTERNAL == set(), f"signals ignored in a job: {sorted(ignored)}"
    assert int(masks["SigBlk"], 16) == 0, f"signals blocked in a job: {masks['SigBlk'].strip()}"


# -- 2. process groups, sessions, the supervisor's exit -----------------------------------


def test_each_job_has_its_own_group_in_the_supervisors_session_which_exits_after_the_run(project, wait):
    project.batch("b", "".join(task(f"p{i}", ["python3", "-c", PROBE_JOB], 'env = { PROBE_SLEEP = "0.5" }\n')
                               for i in range(3)))
    runner = project.spawn("run", "b", "--json")
    jobs = wait(lambda: started(project, "b", ["p0", "p1", "p2"]))
    supervisors = {claim["pid"] for claim in jobs.values()}
    assert len(supervisors) == 1, "one supervisor runs every job of a runner"
    supervisor = supervisors.pop()
    assert os.getsid(supervisor) == supervisor != os.getsid(runner.pid), "the supervisor leads its own session"
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 0, err
    probes = {label: json.loads(open(t["log_path"]).read()) for label, t in by_label(out).items()}
    for label, probe in probes.items():
        assert probe["pid"] == jobs[label]["child"] and probe["ppid"] == supervisor
        assert probe["pgid"] == probe["pid"], f"{label} leads its own process group"
        assert probe["sid"] == supervisor
    wait(lambda: not alive(supervisor), timeout=10)


# -- 3-5. a runner or a supervisor killed ------------------------------------------------


def test_the_supervisor_outlives_a_sigkilled_runner_and_join_collects_each_job_once(project, wait):
    project.batch("b", "".join(held(project, f"t{i}") for i in range(3)))
    runner = project.spawn("run", "b", "-q")
    jobs = wait(lambda: started(project, "b", ["t0", "t1", "t2"]))
    wait(lambda: len(ledger(project)) == 3)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    supervisor = jobs["t0"]["pid"]
    assert alive(supervisor), "the runner's death does not take its supervisor along"
    joiner = project.spawn("join", "--json")
    release(project)
    out, err = joiner.communicate(timeout=30)
    assert joiner.returncode == 0, err
    tasks = by_label(out)
    assert {t["outcome"] for t in tasks.values()} == {"succeeded"}
    assert all(t["attempts"] == 1 and t["exit_code"] == 0 for t in tasks.values()), tasks
    assert ledger(project) == ["t0", "t1", "t2"], "each job ran exactly once"


def test_a_sigkilled_supervisor_makes_its_running_jobs_lost_and_the_run_goes_on(project, wait):
    project.batch("b", "[batch]\nmax_parallel = 2\n" + task("s1", ["sleep", "30"]) + task("s2", ["sleep", "30"])
                  + task("after", ["true"]))
    runner = project.spawn("run", "b", "--json")
    try:
        jobs = wait(lambda: started(project, "b", ["s1", "s2"]))
        supervisor = jobs["s1"]["pid"]
        os.kill(supervisor, signal.SIGKILL)
        out, err = runner.communicate(timeout=30)
        orphans = [label for label in ("s1", "s2") if alive(jobs[label]["child"])]
    finally:
        kill_jobs(project)
    assert orphans == [], "the commands of a lost job are stopped, so a retry cannot run beside them"
    data = json.loads(out)
    assert runner.returncode == {"wipeout": 1, "partial": 2}[data["verdict"]] == 2, err
    tasks = by_label(out)
    for label in ("s1", "s2"):
        assert tasks[label]["outcome"] == "lost", tasks[label]
        assert "supervisor" in tasks[label]["reason"]
    assert tasks["after"]["outcome"] == "succeeded", "a task submitted after the loss gets a new supervisor"
    assert claims(project)[tasks["after"]["job_id"]]["pid"] != supervisor
    assert "Traceback" not in err


def test_join_reports_lost_jobs_when_the_adopted_supervisor_is_sigkilled(project, wait):
    project.batch("b", task("quick", ["true"]) + task("s1", ["sleep", "30"]) + task("s2", ["sleep", "30"]))
    runner = project.spawn("run", "b", "-q")
    try:
        jobs = wait(lambda: started(project, "b", ["quick", "s1", "s2"]))
        wait(lambda: ended(project, "b", "quick"))
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        joiner = project.spawn("join", "--json")
        wait(lambda: watches_a_pidfd(joiner.pid) or joiner.poll() is not None)  # join follows the supervisor
        assert joiner.poll() is None, joiner.communicate()
        os.kill(jobs["s1"]["pid"], signal.SIGKILL)
        out, err = joiner.communicate(timeout=30)
        orphans = [label for label in ("s1", "s2") if alive(jobs[label]["child"])]
    finally:
        kill_jobs(project)
    assert orphans == [], "the commands of a lost job are stopped"
    assert joiner.returncode == 2, err
    tasks = by_label(out)
    assert tasks["quick"]["outcome"] == "succeeded"
    for label in ("s1", "s2"):
        assert tasks[label]["outcome"] == "lost", tasks[label]
        assert "supervisor" in tasks[label]["reason"]
    assert "Traceback" not in err


# -- 6. cancel from another process --------------------------------------------------------


def test_cancel_ends_every_job_of_the_run_and_no_job_of_another_run(project, wait):
    project.batch("a", task("quick", ["true"]) + "".join(task(f"w{i}", ["sleep", "30"]) for i in range(3)))
    project.batch("other", held(project, "o1") + held(project, "o2"))
    other = project.spawn("run", "other", "--json")
    runner = project.spawn("run", "a", "--json")
    jobs = wait(lambda: started(project, "a", ["quick", "w0", "w1", "w2"]))
    others = wait(lambda: started(project, "other", ["o1", "o2"]))
    wait(lambda: ended(project, "a", "quick"))
    assert len({claim["pid"] for claim in jobs.values()}) == 1, "one supervisor runs all of run a's jobs"
    run_id = job_ids(project, "a")["w0"].split(".")[0]
    result = project.run("cancel", run_id, "--json")
    assert result.code == 0, result
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 2, err
    tasks = by_label(out)
    assert tasks["quick"]["outcome"] == "succeeded", "a job that had already succeeded stays succeeded"
    assert [tasks[f"w{i}"]["outcome"] for i in range(3)] == ["cancelled"] * 3
    assert not any(alive(jobs[f"w{i}"]["child"]) for i in range(3))
    assert all(alive(claim["child"]) for claim in others.values()), "the other run's jobs keep running"
    release(project)
    out, err = other.communicate(timeout=30)
    assert other.returncode == 0, err
    assert {t["outcome"] for t in by_label(out).values()} == {"succeeded"}


# -- 7. a timeout enforced without a runner ------------------------------------------------

STUBBORN = ('import signal, time\n'
            'signal.signal(signal.SIGTERM, lambda *_: print("SIGTERM ignored", flush=True))\n'
            'print("started", flush=True)\n'
            'end = time.time() + 30\n'
            'while time.time() < end: time.sleep(0.05)')


def test_a_job_ignoring_sigterm_is_killed_after_its_grace_period_with_the_runner_sigkilled(project, wait):
    # test_rel_signals covers the grace period of a cancel; this is a timeout, with no runner alive.
    project.batch("b", '[batch.local]\ngrace = "500ms"\n'
                  + task("stubborn", ["python3", "-c", STUBBORN], 'timeout = "1s"\n'))
    runner = project.spawn("run", "b", "-q")
    job = wait(lambda: started(project, "b", ["stubborn"]))["stubborn"]
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    result = project.run("join", "--json", timeout=30)
    assert result.code == 1, result
    got = result.json()["tasks"][0]
    assert got["outcome"] == "timed_out" and "timed out after 1s" in got["reason"], got
    assert got["exit_code"] == -signal.SIGKILL, "SIGTERM was ignored: SIGKILL ended it after the grace period"
    assert "SIGTERM ignored" in open(got["log_path"]).read()
    assert not alive(job["child"])
    wait(lambda: not alive(job["pid"]), timeout=10)  # and the supervisor, its last job killed, exits


# -- 8. two runs at once -------------------------------------------------------------------


def test_two_batches_running_at_once_each_get_their_own_supervisor(project, wait):
    project.batch("left", held(project, "l0") + task("l1", ["sh", "-c", "exit 3"]))
    project.batch("right", held(project, "r0") + held(project, "r1"))
    left, right = project.spawn("run", "left", "--json"), project.spawn("run", "right", "--json")
    lefts = wait(lambda: started(project, "left", ["l0", "l1"]))
    rights = wait(lambda: started(project, "right", ["r0", "r1"]))
    left_sup, right_sup = {c["pid"] for c in lefts.values()}, {c["pid"] for c in rights.values()}
    assert len(left_sup) == len(right_sup) == 1 and left_sup != right_sup
    assert alive(*left_sup) and alive(*right_sup), "both supervisors run at the same time"
    release(project)
    out_left, err = left.communicate(timeout=30)
    assert left.returncode == 2, err
    out_right, err = right.communicate(timeout=30)
    assert right.returncode == 0, err
    got_left, got_right = by_label(out_left), by_label(out_right)
    assert got_left["l0"]["outcome"] == "succeeded"
    assert got_left["l1"]["outcome"] == "failed" and got_left["l1"]["exit_code"] == 3
    assert {t["outcome"] for t in got_right.values()} == {"succeeded"}
    assert ledger(project) == ["l0", "r0", "r1"]
    for out in (out_left, out_right):  # each run's job records list its own jobs, once each
        data = json.loads(out)
        lines = (project.state / "runs" / data["run_id"] / "local-jobs").read_text().splitlines()
        ends = [r for r in map(json.loads, lines) if r["event"] == "ended"]
        assert sorted(e["job"] for e in ends) == sorted(t["job_id"] for t in data["tasks"])
        assert {e["job"]: e["state"] for e in ends} == {t["job_id"]: t["state"] for t in data["tasks"]}


def test_the_supervisor_writes_no_bytecode_where_the_runner_is_told_not_to(project, tmp_path):
    # The supervisor runs under -I, which ignores PYTHONDONTWRITEBYTECODE; the runner passes it on.
    import agybatch

    copy = tmp_path / "site" / "agybatch"
    shutil.copytree(Path(agybatch.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    project.batch("b", task("a", ["true"]) + task("b", ["true"]))
    project.env = {k: v for k, v in project.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    told = project.run("run", "b", "--json", env={"PYTHONPATH": str(copy.parent), "PYTHONDONTWRITEBYTECODE": "1"})
    assert told.code == 0, told
    assert [t["outcome"] for t in told.json()["tasks"]] == ["succeeded", "succeeded"]
    assert list(copy.rglob("*.pyc")) == []
    untold = project.run("run", "b", "-q", env={"PYTHONPATH": str(copy.parent)})
    assert untold.code == 0, untold
    assert (copy / "backends" / "__pycache__").is_dir(), "the copy is what ran"
