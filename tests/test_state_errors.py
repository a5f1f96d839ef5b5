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


def _read_journal(folder, results):
    from agybatch.journal import Journal

    try:
        journal = Journal.reader(folder)
        journal.latest_run()
        journal.close()
        results.put("ok")
    except Exception as exc:  # the assertion below shows what went wrong
        results.put(repr(exc))


def _race(targets: list, folder) -> list:
    """Run each ``target(folder, results)`` in a process of its own, all at once; what went wrong."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(folder, results)) for target in targets]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    return [r for r in (results.get(timeout=5) for _ in procs) if r != "ok"]


def test_processes_racing_to_create_the_journal_all_succeed(tmp_path):
    # Several launches on a fresh state folder race to switch it to WAL; none may fail.
    failures = []
    for round_ in range(15):
        failures += _race([_open_journal] * 3, tmp_path / str(round_))
    assert failures == []


def test_a_journal_created_but_not_yet_laid_out_reads_as_empty(project):
    # The instant after a runner creates journal.sqlite and before its tables exist.
    project.state.mkdir()
    (project.state / "journal.sqlite").touch()
    result = project.run("history", "--json")
    assert result.code == 0, result
    assert result.json()["runs"] == []


def test_readers_racing_a_runner_that_creates_the_journal_all_succeed(tmp_path):
    # `logs -f` or `status --watch` started just before `run`: they open the journal while it is made.
    failures = []
    for round_ in range(10):
        folder = tmp_path / str(round_)
        folder.mkdir()
        failures += _race([_open_journal, _read_journal, _read_journal], folder)
    assert failures == []


#: The journal as the first release wrote it: no retries, no joined_at, no ledger of attempts.
FIRST_SCHEMA = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, batch TEXT NOT NULL, batch_path TEXT NOT NULL, backend TEXT NOT NULL,
    settings TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL, exit_code INTEGER, verdict TEXT,
    poll_failures INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0);
CREATE TABLE tasks (run_id TEXT NOT NULL REFERENCES runs(run_id), seq INTEGER NOT NULL, label TEXT NOT NULL,
    spec TEXT NOT NULL, phase TEXT NOT NULL DEFAULT 'pending', submit_key TEXT, job_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, state TEXT, exit_code INTEGER, submitted_at REAL, started_at REAL,
    ended_at REAL, outcome TEXT, reason TEXT, log_path TEXT, PRIMARY KEY (run_id, label));
CREATE TABLE events (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, label TEXT NOT NULL, at REAL NOT NULL,
    kind TEXT NOT NULL, job_id TEXT, state TEXT, detail TEXT);
CREATE INDEX runs_by_batch ON runs(batch, started_at);
"""


def test_a_journal_from_the_first_release_is_upgraded_in_place(project):
    import sqlite3

    project.batch("b", BATCH)
    project.state.mkdir(mode=0o700)
    old = sqlite3.connect(project.state / "journal.sqlite")
    old.executescript(FIRST_SCHEMA)
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
