"""add and conclude called again after a crash: they reuse, repair, finish or refuse, and never lose work.

Two crashes are real: git is SIGKILLed (with the runner) inside its own
checkout, and inside a post-commit hook, each paused there by a stand-in that
says when it got there. Crashes between git commands are rebuilt from the
states they leave.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from agybatch import worktrees
from agybatch.worktrees import WorktreeError
from agybatch.worktrees._registry import IN_USE, REMOVING
from tests.worktree_fixtures import AGENT, commit_all, git

BRANCH = "agybatch/nightly/run-1/{}"

# Stands in for a slow smudge filter or hook: says where its process group is, then blocks.
BLOCKER = """
import os, sys, time
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(str(os.getpgid(0)))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)
"""


def wait_for(path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def kill_midway(tmp_path, call: str, *args) -> None:
    """Run ``worktrees.CALL(*args)`` in a runner process; SIGKILL it and its git when the blocker is reached."""
    marker = tmp_path / "blocked"
    runner = subprocess.Popen([sys.executable, "-c", f"import sys; from agybatch import worktrees; "
                               f"worktrees.{call}(*sys.argv[1:])", *map(str, args)],
                              start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(marker)
    finally:
        runner.kill()
        if marker.exists():
            os.killpg(int(marker.read_text()), signal.SIGKILL)  # git, and what it started
        runner.communicate()


def blocker(tmp_path) -> str:
    script = tmp_path / "blocker.py"
    script.write_text(BLOCKER)
    return shlex.join([sys.executable, str(script), str(tmp_path / "blocked")])


def killed_add(repo, tmp_path):
    """A worktree whose ``git worktree add`` was killed halfway through its checkout; returns (path, commit)."""
    (repo.path / ".gitattributes").write_text("m-slow.txt filter=slow\n")
    for n in range(3):
        (repo.path / f"a{n}.txt").write_text("written before the kill\n")
        (repo.path / f"z{n}.txt").write_text("written after the kill\n")
    (repo.path / "m-slow.txt").write_text("slow\n")
    commit = commit_all(repo.path, "files around a slow one")
    repo.git("config", "filter.slow.smudge", blocker(tmp_path))
    path = repo.wt("slow")
    kill_midway(tmp_path, "add", repo.path, path, commit)
    repo.git("config", "filter.slow.smudge", "cat")
    assert repo.registered() == {path: IN_USE}
    assert (path / "a0.txt").exists() and not (path / "z2.txt").exists()  # the checkout was cut short
    return path, commit


def test_add_finishes_an_add_that_was_killed_halfway(repo, tmp_path):
    path, commit = killed_add(repo, tmp_path)
    assert worktrees.add(repo.path, path, commit) == path
    assert (path / "z2.txt").read_text() == "written after the kill\n"
    assert git(path, "status", "--porcelain") == "" and git(path, "rev-parse", "HEAD") == commit
    assert repo.registered() == {path: IN_USE}


def test_add_refuses_a_killed_add_that_holds_files_git_did_not_write(repo, tmp_path):
    path, commit = killed_add(repo, tmp_path)
    (path / "notes.txt").write_text("someone's work\n")
    with pytest.raises(WorktreeError, match="notes.txt"):
        worktrees.add(repo.path, path, commit)
    assert (path / "notes.txt").read_text() == "someone's work\n"


def test_add_again_reuses_the_worktree_as_it_is(repo):
    path = worktrees.add(repo.path, repo.wt("again"), repo.base)
    (path / "shared.txt").write_text("the task already started\n")
    (path / "new.txt").write_text("new\n")
    assert worktrees.add(repo.path, path, repo.base) == path
    assert (path / "shared.txt").read_text() == "the task already started\n"
    assert (path / "new.txt").exists() and list(repo.registered()) == [path]


def test_add_again_after_its_folder_was_deleted_makes_it_afresh(repo):
    path = worktrees.add(repo.path, repo.wt("vanished"), repo.base)
    git(repo.path, "worktree", "unlock", str(path))
    subprocess.run(["rm", "-rf", str(path)], check=True)
    assert worktrees.add(repo.path, path, repo.base) == path
    assert (path / "shared.txt").read_text() == "original line\n" and list(repo.registered()) == [path]


def test_add_uses_an_empty_folder_and_refuses_a_folder_with_files(repo):
    empty = repo.wt("empty")
    empty.mkdir(parents=True)
    assert (worktrees.add(repo.path, empty, repo.base) / "shared.txt").exists()
    busy = repo.wt("busy")
    busy.mkdir()
    (busy / "precious.txt").write_text("keep me\n")
    with pytest.raises(WorktreeError, match="is not a worktree of"):
        worktrees.add(repo.path, busy, repo.base)
    assert os.listdir(busy) == ["precious.txt"]


def test_conclude_twice_gives_the_same_answer(repo):
    path = worktrees.add(repo.path, repo.wt("twice"), repo.base)
    (path / "shared.txt").write_text("done\n")
    first = worktrees.conclude(repo.path, path, BRANCH.format("twice"), repo.base, "agybatch: twice succeeded")
    second = worktrees.conclude(repo.path, path, BRANCH.format("twice"), repo.base, "agybatch: twice succeeded")
    assert first == second and first.branch == BRANCH.format("twice") and first.worktree is None
    idle = worktrees.add(repo.path, repo.wt("idle"), repo.base)
    answers = [worktrees.conclude(repo.path, idle, BRANCH.format("idle"), repo.base, "m") for _ in range(2)]
    assert answers[0] == answers[1] and not answers[0].changed


def test_conclude_after_a_kill_between_the_commit_and_the_branch(repo, tmp_path):
    path = worktrees.add(repo.path, repo.wt("killed"), repo.base)
    (path / "shared.txt").write_text("work done before the crash\n")
    hook = repo.hook("post-commit", f"exec {blocker(tmp_path)}\n")
    branch = BRANCH.format("killed")
    kill_midway(tmp_path, "conclude", repo.path, path, branch, repo.base, "agybatch: killed succeeded")
    committed = git(path, "rev-parse", "HEAD")
    assert committed != repo.base and repo.branches() == {}  # the commit was made, the branch was not
    hook.unlink()
    done = worktrees.conclude(repo.path, path, branch, repo.base, "agybatch: killed succeeded")
    assert (done.branch, done.commit, done.worktree, done.error) == (branch, committed, None, None)
    assert repo.show(branch, "shared.txt") == "work done before the crash"
    assert not path.exists() and repo.registered() == {}


@pytest.mark.parametrize("deleted", [("shared.txt", "src/app.py"), (".git", "shared.txt", "notes/new.txt")])
def test_conclude_finishes_a_removal_that_was_cut_short(repo, deleted):
    path = worktrees.add(repo.path, repo.wt("halfgone"), repo.base)
    (path / "shared.txt").write_text("saved\n")
    (path / "notes").mkdir()
    (path / "notes" / "new.txt").write_text("new\n")
    saved = commit_all(path, "saved", identity=AGENT)
    branch = BRANCH.format("halfgone")
    # what conclude leaves when killed while deleting the folder: saved, locked REMOVING, half deleted
    repo.git("update-ref", f"refs/heads/{branch}", saved)
    repo.git("worktree", "unlock", str(path))
    repo.git("worktree", "lock", "--reason", REMOVING, str(path))
    for name in deleted:
        (path / name).unlink()
    done = worktrees.conclude(repo.path, path, branch, repo.base, "agybatch: halfgone succeeded")
    assert (done.branch, done.commit, done.worktree) == (branch, saved, None)  # no commit of the deletions
    assert not path.exists() and repo.registered() == {}


def test_add_refuses_a_path_whose_removal_was_cut_short(repo):
    path = repo.wt("leaving")
    repo.git("worktree", "add", "--detach", "--lock", "--reason", REMOVING, str(path), repo.base)
    (path / "shared.txt").unlink()
    with pytest.raises(WorktreeError, match="cut short; conclude it first"):
        worktrees.add(repo.path, path, repo.base)


def test_conclude_after_the_folder_was_removed_answers_from_the_branch(repo):
    path = worktrees.add(repo.path, repo.wt("removed"), repo.base)
    (path / "shared.txt").write_text("saved\n")
    done = worktrees.conclude(repo.path, path, BRANCH.format("removed"), repo.base, "m")
    # killed after git deleted the folder, before it dropped its record: rebuilt with a fresh record
    repo.git("worktree", "add", "--detach", "--lock", "--reason", REMOVING, str(path), repo.base)
    subprocess.run(["rm", "-rf", str(path)], check=True)
    assert worktrees.conclude(repo.path, path, BRANCH.format("removed"), repo.base, "m") == done
    assert repo.registered() == {}
