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
