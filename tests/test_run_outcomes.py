"""Fan-out, wait and join on the local backend: outcomes, verdicts and exit codes."""
import json
import os


def outcomes(result):
    return {t["label"]: t["outcome"] for t in result.json()["tasks"]}


def test_all_succeed_exits_0(project):
    project.batch("b", """
        [[task]]
        label = "one"
        command = ["true"]
        [[task]]
        label = "two"
        command = "exit 0"
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["verdict"] == "ok" and data["exit_code"] == 0
    assert data["counts"]["succeeded"] == 2
    assert all(t["job_id"] and t["attempts"] == 1 for t in data["tasks"])


def test_none_succeed_is_a_wipeout_exit_1(project):
    project.batch("b", """
        [[task]]
        label = "one"
        command = ["false"]
        [[task]]
        label = "two"
        command = ["no-such-program-agybatch"]
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 1, result
    data = result.json()
    assert data["verdict"] == "wipeout"
    assert outcomes(result) == {"one": "failed", "two": "failed"}
    two = data["tasks"][1]
    assert two["exit_code"] == 127
    log = project.run("logs", "two").out
    assert "cannot start 'no-such-program-agybatch'" in log


def test_json_is_the_only_thing_on_stdout(project):
    project.batch("b", """
        [[task]]
        label = "noisy"
        command = ["sh", "-c", "echo to-stdout; echo to-stderr >&2"]
    """)
    result = project.run("run", "b", "--json", "-v")
    data = json.loads(result.out)
    assert set(data) >= {"run_id", "batch", "backend", "exit_code", "verdict", "started_at", "ended_at",
                         "duration_s", "counts", "tasks"}
    assert set(data["counts"]) == {"succeeded", "failed", "cancelled", "timed_out", "stalled", "rate_limited", "lost",
                                   "skipped", "error"}
    task = data["tasks"][0]
    assert set(task) >= {"label", "outcome", "job_id", "attempts", "exit_code", "submitted_at", "started_at",
                         "ended_at", "duration_s", "log_path"}
    assert data["started_at"].endswith("Z") and data["batch"] == "b" and data["backend"] == "local"
    assert "to-stdout" not in result.out
    assert "to-stdout" in open(task["log_path"]).read()


def test_per_task_timeout_and_deadline_are_kept_apart(project):
    project.batch("b", """
        [batch]
        deadline = "2s"
        max_parallel = 2
        [[task]]
        label = "quick"
        command = ["true"]
        [[task]]
        label = "own-timeout"
        command = ["sleep", "30"]
        timeout = "500ms"
        [[task]]
        label = "slow"
        command = ["sleep", "30"]
        [[task]]
        label = "blocked"
        command = ["sleep", "30"]
        [[task]]
        label = "never-started"
        command = ["true"]
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 2, result
    got = {t["label"]: t for t in result.json()["tasks"]}
    assert got["quick"]["outcome"] == "succeeded"
    assert got["own-timeout"]["outcome"] == "timed_out"
    assert "timed out after 0.5s" in got["own-timeout"]["reason"]
    assert got["slow"]["outcome"] == "timed_out"
    assert "deadline" in got["slow"]["reason"]
    skipped = [t for t in got.values() if t["outcome"] == "skipped"]
    assert skipped and all("deadline" in t["reason"] for t in skipped)
    assert all(t["job_id"] is None for t in skipped)


def test_max_parallel_caps_concurrency(project):
    marks = project.root / "marks"
    marks.mkdir()
    script = (
        'import os, sys, time; d = sys.argv[1]; open(os.path.join(d, "start-" + sys.argv[2]), "w").close();'
        ' running = len([f for f in os.listdir(d) if f.startswith("start-")]) -'
        ' len([f for f in os.listdir(d) if f.startswith("end-")]);'
        ' open(os.path.join(d, "seen-%s-%d" % (sys.argv[2], running)), "w").close(); time.sleep(0.3);'
        ' open(os.path.join(d, "end-" + sys.argv[2]), "w").close()'
    )
    tasks = "".join(
        f'[[task]]\nlabel = "t{i}"\ncommand = ["python3", "-c", {json.dumps(script)}, "{marks}", "{i}"]\n'
        for i in range(6)
    )
    project.batch("b", "[batch]\nmax_parallel = 2\n" + tasks)
    result = project.run("run", "b", "-q")
    assert result.code == 0, result
    seen = [int(name.rsplit("-", 1)[1]) for name in os.listdir(marks) if name.startswith("seen-")]
    assert len(seen) == 6 and max(seen) <= 2


def test_stagger_spaces_submissions(project):
    project.batch("b", """
        [batch]
        stagger = "300ms"
        [[task]]
        label = "a"
        command = ["true"]
        [[task]]
        label = "b"
        command = ["true"]
        [[task]]
        label = "c"
        command = ["true"]
    """)
    result = project.run("run", "b", "--json")
    stamps = sorted(t["submitted_at"] for t in result.json()["tasks"])
    from agybatch.units import parse_iso

    gaps = [parse_iso(b) - parse_iso(a) for a, b in zip(stamps, stamps[1:])]
    assert all(gap >= 0.29 for gap in gaps), gaps


def test_string_command_runs_in_sh_and_argv_is_never_interpolated(project):
    sentinel = project.root / "pwned"
    project.batch("b", f"""
        [[task]]
        label = "$(touch {sentinel})"
        command = ["echo", "$(touch {sentinel})", "; rm -rf /"]
        [[task]]
        label = "shell"
        command = "echo $((6 * 7)) && echo \\"$AGYBATCH_LABEL\\""
        env = {{ GREETING = "hi" }}
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 0, result
    assert not sentinel.exists()
    tasks = {t["label"]: t for t in result.json()["tasks"]}
    assert open(tasks["shell"]["log_path"]).read() == "42\nshell\n"
    assert f"$(touch {sentinel}) ; rm -rf /" in open(tasks[f"$(touch {sentinel})"]["log_path"]).read()


def test_task_cwd_and_env(project):
    folder = project.batch("b", """
        [[task]]
        label = "where"
        command = ["sh", "-c", "pwd; echo $GREETING"]
        cwd = "sub"
        env = { GREETING = "hello there" }
    """)
    (folder / "sub").mkdir()
    result = project.run("run", "b", "--json")
    log = open(result.json()["tasks"][0]["log_path"]).read().split("\n")
    assert log[0] == str((folder / "sub").resolve()) and log[1] == "hello there"


def test_state_files_are_owner_only(project):
    project.batch("b", '[[task]]\nlabel = "a"\ncommand = ["echo", "secret"]\n')
    result = project.run("run", "b", "--json")
    assert result.code == 0
    log = result.json()["tasks"][0]["log_path"]
    assert os.stat(project.state).st_mode & 0o777 == 0o700
    assert os.stat(project.state / "journal.sqlite").st_mode & 0o777 == 0o600
    assert os.stat(log).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(log)).st_mode & 0o777 == 0o700


def test_completion_is_noticed_by_event_not_at_a_poll_interval(project):
    # Polling is set to 5 s; an event-driven backend must still notice the end at once.
    project.batch("b", """
        [batch.poll]
        initial = "5s"
        max = "5s"
        [[task]]
        label = "short"
        command = ["sleep", "0.2"]
        [[task]]
        label = "long"
        command = ["sleep", "1.5"]
    """)
    result = project.run("run", "b", "--json")
    run_id = result.json()["run_id"]
    journal, ends = project.journal(), project.job_ends()
    for task in journal.tasks(run_id):
        final = [e for e in journal.events(run_id, task["label"]) if e["kind"] == "final"][0]
        status = ends[task["job_id"]]
        assert final["at"] - status["ended_at"] < 1.0, (task["label"], final["at"] - status["ended_at"])
    assert result.json()["duration_s"] < 5


def test_run_by_name_from_a_subfolder_and_by_path(project):
    project.batch("nightly", '[[task]]\nlabel = "a"\ncommand = ["true"]\n')
    deep = project.root / "src" / "pkg"
    deep.mkdir(parents=True)
    assert project.run("run", "nightly", cwd=deep).code == 0
    assert project.run("run", project.root / "batches" / "nightly" / "batch.toml").code == 0
    assert project.run("run", "batches/nightly").code == 0
    history = project.run("history", "nightly", "--json").json()
    assert len(history["runs"]) == 3 and {r["verdict"] for r in history["runs"]} == {"ok"}


def test_state_dir_override(project, tmp_path):
    elsewhere = tmp_path / "state"
    project.batch("nightly", '[[task]]\nlabel = "a"\ncommand = ["true"]\n')
    result = project.run("run", "nightly", env={"AGYBATCH_STATE_DIR": str(elsewhere)})
    assert result.code == 0
    assert (elsewhere / "journal.sqlite").exists()
    assert not project.state.exists()
