"""Names from hostile labels, checked with the real ``git check-ref-format``; and questions about the repository."""
from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agybatch import worktrees
from agybatch.worktrees import NAME_MAX, WorktreeError
from tests.worktree_fixtures import commit_all, git

HOSTILE = [
    "../../etc", "a..b", "x.lock", "x.lock.lock", "-rf", "--force", "foo bar", "@{", "@", "a@{1}", "HEAD",
    "refs/heads/main", "café ☕", "日本語のタスク", "x" * 300, "é" * 300, "!!!", "...", ".", "..", "", " ",
    ".hidden", "trailing.", "trailing/", "a//b", "tab\there", "new\nline", "nul\0byte", "bell\a", "~^:?*[\\",
    "Fix Login", "fix-login", "fix login", "FIX_LOGIN", "a" * 70 + "1", "a" * 70 + "2",
]


def ref_format(*args) -> bool:
    return subprocess.run(["git", "check-ref-format", *args], capture_output=True).returncode == 0


def assert_safe(name: str) -> None:
    assert ref_format("--branch", f"agybatch/nightly/20261126-185112-3f9a/{name}"), name
    assert ref_format(f"refs/heads/agybatch/nightly/run/{name}"), name
    assert ref_format("--branch", name), name  # also alone: never '-rf' nor 'HEAD'
    assert name not in ("", ".", "..") and "/" not in name and "\0" not in name
    assert not name.startswith((".", "-")) and not name.endswith((".", ".lock"))
    assert name.isascii() and name.isprintable() and len(name) <= NAME_MAX
    assert worktrees.safe_name(name) == name


def test_hostile_labels_become_safe_unique_names():
    names = worktrees.safe_labels(HOSTILE)
    assert list(names) == HOSTILE
    for name in names.values():
        assert_safe(name)
    assert len(set(names.values())) == len(HOSTILE)
    assert names["../../etc"] == "etc" and names["café ☕"] == "cafe" and names["HEAD"] == "head"
    assert names["-rf"] == "rf" and names["a..b"] == "a.b" and names["~^:?*[\\"].startswith("task-")
    assert [worktrees.safe_name(label) for label in ("x.lock", "x.lock.lock", "", "!!!")] == ["x", "x", "task", "task"]


def test_labels_that_meet_get_suffixes_that_do_not_depend_on_order():
    labels = ["Fix Login", "fix-login", "deploy"]
    names = worktrees.safe_labels(labels)
    assert names["deploy"] == "deploy"
    assert names["Fix Login"].startswith("fix-login-") and names["fix-login"].startswith("fix-login-")
    assert worktrees.safe_labels(reversed(labels)) == names
    assert worktrees.safe_labels(["fix-login", "other"])["fix-login"] == "fix-login"


def test_a_suffixed_name_that_meets_a_plain_one_is_told_apart():
    first = worktrees.safe_labels(["a b", "a-b"])
    taken = first["a b"]  # "a-b-<hash>": now a label whose plain name is exactly that
    names = worktrees.safe_labels(["a b", "a-b", taken])
    assert len(set(names.values())) == 3
    for name in names.values():
        assert_safe(name)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=80), min_size=1, max_size=6))
def test_any_labels_become_safe_unique_names(labels):
    names = worktrees.safe_labels(labels)
    assert len(set(names.values())) == len(names) == len(set(labels))
    for name in names.values():
        assert_safe(name)


def test_branch_names_pass_git_check_ref_format():
    branch = worktrees.branch_name("Nightly Batch", "20261126-185112-3f9a", "fix-login")
    assert branch == "agybatch/nightly-batch/20261126-185112-3f9a/fix-login"
    for batch in ("../..", "@{", "x.lock", "-rf", "HEAD"):
        assert ref_format("--branch", worktrees.branch_name(batch, "run", "task"))
    for unsafe in ("../x", "-rf", "a b", "", "x.lock"):
        with pytest.raises(ValueError, match="not a safe task name"):
            worktrees.branch_name("nightly", "run", unsafe)


def test_repository_root_is_the_top_of_the_working_tree(repo, tmp_path):
    assert worktrees.repository_root(repo.path / "src") == repo.path
    assert worktrees.repository_root(repo.path / "src" / "app.py") == repo.path
    for outside in (tmp_path / "home", repo.path / ".git"):
        with pytest.raises(WorktreeError, match="not a git repository"):
            worktrees.repository_root(outside)


def test_resolve_names_the_ref_that_names_no_commit(repo, tmp_path):
    assert worktrees.resolve(repo.path) == repo.base == worktrees.resolve(repo.path, "main")
    for ref in ("nope", "-rf", f"{repo.base}:shared.txt"):
        with pytest.raises(WorktreeError, match="nope|-rf|shared.txt"):
            worktrees.resolve(repo.path, ref)
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(empty))
    with pytest.raises(WorktreeError, match="'HEAD' does not name a commit"):
        worktrees.resolve(empty)


def test_path_in_commit_is_true_only_for_folders_of_the_commit(repo):
    (repo.path / "a" / "b c").mkdir(parents=True)
    (repo.path / "a" / "b c" / "f.txt").write_text("f\n")
    (repo.path / "untracked").mkdir()
    commit = commit_all(repo.path, "a folder with a space")
    for relative in ("", ".", "src", "a/b c", "./a/b c/", "docs"):
        assert worktrees.path_in_commit(repo.path, commit, relative), relative
    for relative in ("shared.txt", "missing", "untracked", "../repo", "/src", "src/..", "a/b*"):
        assert not worktrees.path_in_commit(repo.path, commit, relative), relative
    assert not worktrees.path_in_commit(repo.path, repo.base, "a/b c")
