"""left_behind lists what runs left; prune deletes only what holds nothing unsaved."""
from __future__ import annotations

import shutil

import pytest

from agybatch import worktrees
from agybatch.worktrees._registry import IN_USE
from tests.worktree_fixtures import AGENT, commit_all, git

BRANCH = "agybatch/nightly/run-1/{}"


def task(repo, name, edit=None):
    path = worktrees.add(repo.path, repo.wt(name), repo.base)
    if edit:
        (path / "shared.txt").write_text(edit)
    return path


@pytest.fixture
def leftovers(repo, tmp_path):
    """A repository after a few runs: every kind of branch and worktree prune must tell apart."""
    for name in ("merged", "unmerged"):
        worktrees.conclude(repo.path, task(repo, name, f"{name}\n"), BRANCH.format(name), repo.base, "m")
    repo.git("merge", "--ff-only", "-q", BRANCH.format("merged"))
    repo.git("branch", BRANCH.format("checked-out"), repo.base)
    repo.git("worktree", "add", "-q", str(tmp_path / "elsewhere" / "mine"), BRANCH.format("checked-out"))
    repo.git("worktree", "add", "-q", "--detach", str(tmp_path / "elsewhere" / "clean"))
    hook = repo.hook("pre-commit", "exit 1\n")
    dirty = task(repo, "dirty", "unsaved work\n")
    worktrees.conclude(repo.path, dirty, BRANCH.format("dirty"), repo.base, "m")
    tidied = task(repo, "tidied", "discarded later\n")
    worktrees.conclude(repo.path, tidied, BRANCH.format("tidied"), repo.base, "m")
    git(tidied, "checkout", "HEAD", "--", "shared.txt")  # someone looked at the kept worktree and threw its change away
    hook.unlink()
    running = task(repo, "running")
    unsaved = task(repo, "unsaved", "committed on no branch\n")
    commit_all(unsaved, "a commit only this worktree has", identity=AGENT)
    released = task(repo, "released")
    for path in (unsaved, released):
        repo.git("worktree", "unlock", str(path))
    return dict(dirty=dirty, tidied=tidied, running=running, unsaved=unsaved, released=released,
                elsewhere=tmp_path / "elsewhere")


def test_left_behind_tells_what_each_leftover_holds(repo, leftovers):
    found = worktrees.left_behind(repo.path, worktrees_root=repo.worktrees)
    branches = {item.branch: item for item in found if item.kind == "branch"}
    assert {name: item.merged for name, item in branches.items()} == {
        BRANCH.format("merged"): True, BRANCH.format("unmerged"): False, BRANCH.format("checked-out"): True}
    assert branches[BRANCH.format("unmerged")].tip == repo.git("rev-parse", BRANCH.format("unmerged"))
    trees = {item.path: item for item in found if item.kind == "worktree"}
    assert set(trees) == {leftovers[name] for name in ("dirty", "tidied", "running", "unsaved", "released")}
    assert trees[leftovers["dirty"]].dirty is True
    assert trees[leftovers["dirty"]].locked.startswith("agybatch: kept: git commit failed")
    assert trees[leftovers["running"]].locked == IN_USE and trees[leftovers["running"]].dirty is False
    assert trees[leftovers["unsaved"]].saved is False and trees[leftovers["released"]].saved is True
    assert all(item.tip for item in trees.values())
    assert worktrees.left_behind(repo.path) == [item for item in found if item.kind == "branch"]


def test_prune_deletes_only_what_holds_nothing_unsaved_and_dry_run_nothing(repo, leftovers):
    before = (repo.branches(), repo.registered())
    would = worktrees.prune(repo.path, "agybatch/", repo.worktrees, dry_run=True)
    assert (repo.branches(), repo.registered()) == before
    assert {(item.kind, item.branch if item.kind == "branch" else item.path) for item in would} == {
        ("branch", BRANCH.format("merged")), ("worktree", leftovers["tidied"]), ("worktree", leftovers["released"])}

    assert worktrees.prune(repo.path, "agybatch/", repo.worktrees) == would
    assert sorted(repo.branches()) == sorted(BRANCH.format(name) for name in ("unmerged", "checked-out"))
    remaining = set(repo.registered())
    assert remaining == {leftovers["dirty"], leftovers["running"], leftovers["unsaved"],
                         leftovers["elsewhere"] / "mine", leftovers["elsewhere"] / "clean"}
    assert not leftovers["tidied"].exists() and not leftovers["released"].exists()
    assert (leftovers["dirty"] / "shared.txt").read_text() == "unsaved work\n"
    assert worktrees.prune(repo.path, "agybatch/", repo.worktrees) == []


def test_prune_drops_the_record_of_a_worktree_whose_folder_is_gone(repo):
    path = task(repo, "deleted")
    repo.git("worktree", "unlock", str(path))
    shutil.rmtree(path)
    gone = worktrees.prune(repo.path, worktrees_root=repo.worktrees)
    assert [(item.kind, item.path, item.dirty) for item in gone] == [("worktree", path, None)]
    assert repo.registered() == {}


def test_prune_refuses_a_prefix_that_would_reach_every_branch(repo):
    for prefix in ("", "/", "*"):
        with pytest.raises(ValueError, match="not a branch prefix"):
            worktrees.prune(repo.path, prefix)
