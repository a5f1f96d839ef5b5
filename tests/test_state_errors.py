"""A state folder or journal that cannot be used: exit 3, one line, nothing submitted."""

BATCH = '[[task]]\nlabel = "a"\ncommand = ["true"]\n'


def test_corrupted_journal_exits_3(project):
    project.batch("b", BATCH)
    project.state.mkdir()
    (project.state / "journal.sqlite").write_bytes(b"this is not a database" * 100)
    result = project.run("run", "b")
    assert result.code == 3, result
    assert str(project.state / "journal.sqlite") in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert not (project.state / "jobs").exists()


def test_state_folder_that_cannot_be_created_exits_3(project, tmp_path):
    project.batch("b", BATCH)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = project.run("run", "b", env={"AGYBATCH_STATE_DIR": str(blocker / "state")})
    assert result.code == 3, result
    assert "cannot create state folder" in result.err and str(blocker / "state") in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_earlier_runs_survive_in_the_journal(project):
    project.batch("b", BATCH)
    for _ in range(3):
        assert project.run("run", "b", "-q").code == 0
    runs = project.run("history", "b", "--json").json()["runs"]
    assert len(runs) == 3 and all(r["verdict"] == "ok" for r in runs)


def _open_journal(folder, results):
    from agybatch.journal import Journal

    try:
        Journal(folder).close()
        results.put("ok")
    except Exception as exc:  # the assertion below shows what went wrong
        results.put(repr(exc))


def test_processes_racing_to_create_the_journal_all_succeed(tmp_path):
    # Several launches on a fresh state folder race to switch it to WAL; none may fail.
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    failures = []
    for round_ in range(15):
        results = ctx.Queue()
        procs = [ctx.Process(target=_open_journal, args=(tmp_path / str(round_), results)) for _ in range(3)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(30)
        failures += [r for r in (results.get(timeout=5) for _ in procs) if r != "ok"]
    assert failures == []


def test_a_journal_from_before_retries_and_joined_at_is_upgraded_in_place(project):
    import sqlite3

    project.batch("b", BATCH)
    project.state.mkdir(mode=0o700)
    old = sqlite3.connect(project.state / "journal.sqlite")
    from agybatch.journal import SCHEMA

    old.executescript(SCHEMA.replace("    not_before REAL,\n    last_outcome TEXT,\n", "")
                      .replace("DEFAULT 0,\n    joined_at REAL\n", "DEFAULT 0\n"))
    old.execute("INSERT INTO runs (run_id, batch, batch_path, backend, settings, started_at, exit_code, verdict)"
                " VALUES ('old-run', 'b', 'x', 'local', '{}', 1.0, 0, 'ok')")
    old.commit()
    old.close()
    result = project.run("run", "b", "-q")
    assert result.code == 0, result
    runs = project.run("history", "b", "--json").json()["runs"]
    assert [r["run_id"] for r in runs][-1] == "old-run" and len(runs) == 2
    # Runs that ended before on_join was recorded count as told: join does not tell them again.
    assert "already finished (ok); nothing to join" in project.run("join", "old-run").err
    assert "no unfinished run to join" in project.run("join").err
