"""A worktree per task: parallel tasks on one repository, and conclude keeping every task's work."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from agybatch import worktrees
from agybatch.worktrees import Diffstat, WorktreeError
from tests.worktree_fixtures import AGENT, commit_all, git

BRANCH = "agybatch/nightly/run-1/{}"


def test_the_machine_has_no_git_identity(repo):
    (repo.path / "x.txt").write_text("x\n")
    git(repo.path, "add", "x.txt")
    refused = subprocess.run(["git", "commit", "-m", "x"], cwd=repo.path, capture_output=True, text=True,
                             env={**os.environ, "LC_ALL": "C"})
    assert refused.returncode != 0 and "auto-detection is disabled" in refused.stderr


TASK = r"""
import json, sys
from pathlib import Path
from agybatch import worktrees
repo, path, base, name = sys.argv[1:]
print("ready", flush=True)
sys.stdin.readline()
worktrees.add(repo, path, base)
Path(path, "shared.txt").write_text(f"edited by {name}\n")
done = worktrees.conclude(repo, path, f"agybatch/nightly/run-1/{name}", base, f"agybatch: {name} succeeded")
print(json.dumps([done.branch, done.commit, done.worktree and str(done.worktree), done.error]))
"""


def run_in_processes(repo, names):
    procs = [subprocess.Popen([sys.executable, "-c", TASK, str(repo.path), str(repo.wt(name)), repo.base, name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in names]
    for proc in procs:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    for proc in procs:  # all at once
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = {}
    for name, proc in zip(names, procs):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results[name] = json.loads(out)
    return results


def run_in_threads(repo, names):
    start_add, start_conclude = threading.Barrier(len(names)), threading.Barrier(len(names))
    results, failures = {}, []

    def task(name):
        try:
            start_add.wait(timeout=60)
            path = worktrees.add(repo.path, repo.wt(name), repo.base)
            (path / "shared.txt").write_text(f"edited by {name}\n")
            start_conclude.wait(timeout=60)
            done = worktrees.conclude(repo.path, path, BRANCH.format(name), repo.base, f"agybatch: {name} succeeded")
            results[name] = [done.branch, done.commit, done.worktree, done.error]
        except BaseException as err:  # reported below, with its task
            failures.append((name, err))

    threads = [threading.Thread(target=task, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    return results


@pytest.mark.parametrize("run", [run_in_threads, run_in_processes], ids=["threads", "processes"])
def test_twelve_tasks_edit_one_file_at_once_and_each_edit_is_kept(repo, run):
    names = [f"task-{n:02d}" for n in range(12)]
    results = run(repo, names)
    branches = repo.branches()
    assert sorted(branches) == sorted(BRANCH.format(name) for name in names)
    for name in names:
        branch, commit, kept, error = results[name]
        assert (branch, kept, error) == (BRANCH.format(name), None, None)
        assert branches[branch] == commit
        assert repo.show(branch, "shared.txt") == f"edited by {name}"
        assert repo.git("rev-parse", f"{branch}^") == repo.base
    assert repo.status() == ""
    assert (repo.path / "shared.txt").read_text() == "original line\n"
    assert repo.git("rev-parse", "HEAD") == repo.base
    assert repo.registered() == {}
    assert not any(repo.wt(name).exists() for name in names)


def test_an_unchanged_task_gets_no_branch_and_its_worktree_goes(repo):
    path = worktrees.add(repo.path, repo.wt("idle"), repo.base)
    assert (path / "src" / "app.py").read_text() == "print('hello')\n"
    assert repo.registered() == {path: "agybatch: in use by a task"}
    done = worktrees.conclude(repo.path, path, BRANCH.format("idle"), repo.base, "agybatch: idle succeeded")
    assert done == worktrees.Concluded(branch=None, commit=None, diffstat=Diffstat(0, 0, 0), worktree=None,
                                       changed=False, error=None)
    assert repo.branches() == {} and repo.registered() == {} and not path.exists()


def test_a_failed_tasks_partial_work_is_kept_on_its_branch(repo):
    path = worktrees.add(repo.path, repo.wt("broken"), repo.base)
    (path / "src" / "app.py").write_text("print('hello')\nprint('half done')\n")
    done = worktrees.conclude(repo.path, path, BRANCH.format("broken"), repo.base,
                              "agybatch: broken failed (exit 1)\n\nPartial work of a failed task.")
    assert done.changed and done.error is None and done.worktree is None
    assert done.diffstat == Diffstat(files=1, insertions=1, deletions=0)
    assert repo.git("log", "-1", "--format=%s", done.branch) == "agybatch: broken failed (exit 1)"
    assert repo.show(done.branch, "src/app.py") == "print('hello')\nprint('half done')"


def test_the_jobs_own_commits_and_its_uncommitted_change_are_both_on_the_branch(repo):
    path = worktrees.add(repo.path, repo.wt("committer"), repo.base)
    (path / "docs" / "guide.md").write_text("# Guide\n\nNew section.\n")
    own = commit_all(path, "docs: a new section", identity=AGENT)
    (path / "shared.txt").write_text("changed after the commit\n")
    done = worktrees.conclude(repo.path, path, BRANCH.format("committer"), repo.base, "agybatch: committer succeeded")
    log = repo.git("log", "--format=%an <%ae>|%cn|%s", f"{repo.base}..{done.branch}").splitlines()
    assert log == ["agybatch <agybatch@localhost>|agybatch|agybatch: committer succeeded",
                   "Agent Smith <agent@example.com>|Agent Smith|docs: a new section"]
    assert repo.git("rev-parse", f"{done.branch}^") == own
    assert repo.show(done.branch, "docs/guide.md").endswith("New section.")
    assert repo.show(done.branch, "shared.txt") == "changed after the commit"
    assert done.diffstat == Diffstat(files=2, insertions=3, deletions=1)


def test_a_job_that_only_commits_gets_its_branch_without_a_commit_of_ours(repo):
    path = worktrees.add(repo.path, repo.wt("tidy"), repo.base)
    (path / "shared.txt").write_text("tidied\n")
    own = commit_all(path, "tidy", identity=AGENT)
    done = worktrees.conclude(repo.path, path, BRANCH.format("tidy"), repo.base, "agybatch: tidy succeeded")
    assert (done.branch, done.commit, done.changed) == (BRANCH.format("tidy"), own, True)


def test_untracked_files_are_committed_and_ignored_ones_never_are(repo):
    path = worktrees.add(repo.path, repo.wt("files"), repo.base)
    (path / "notes").mkdir()
    (path / "notes" / "new.txt").write_text("a new file\n")
    (path / "debug.log").write_text("ignored\n")
    (path / "build").mkdir()
    (path / "build" / "out.bin").write_bytes(b"\0" * 10)
    done = worktrees.conclude(repo.path, path, BRANCH.format("files"), repo.base, "agybatch: files succeeded")
    tracked = repo.git("ls-tree", "-r", "--name-only", done.branch).splitlines()
    assert "notes/new.txt" in tracked
    assert "debug.log" not in tracked and "build/out.bin" not in tracked
    assert not path.exists()  # removing a clean worktree deletes its ignored files


def test_the_author_can_be_chosen(repo):
    path = worktrees.add(repo.path, repo.wt("signed"), repo.base)
    (path / "shared.txt").write_text("signed\n")
    done = worktrees.conclude(repo.path, path, BRANCH.format("signed"), repo.base, "agybatch: signed succeeded",
                              author="Night Batch <night@example.org>")
    assert repo.git("log", "-1", "--format=%an <%ae>|%cn <%ce>", done.branch) == \
        "Night Batch <night@example.org>|Night Batch <night@example.org>"
    with pytest.raises(ValueError, match="Name <email>"):
        worktrees.conclude(repo.path, path, BRANCH.format("signed"), repo.base, "m", author="nobody")


def test_the_diffstat_counts_binary_files_and_renames(repo):
    path = worktrees.add(repo.path, repo.wt("stats"), repo.base)
    (path / "logo.png").write_bytes(bytes(range(256)) * 4)
    (path / "docs" / "guide.md").rename(path / "docs" / "manual.md")
    (path / "shared.txt").write_text("one\ntwo\n")
    done = worktrees.conclude(repo.path, path, BRANCH.format("stats"), repo.base, "agybatch: stats succeeded")
    assert done.diffstat == Diffstat(files=3, insertions=2, deletions=1)


def test_a_refused_commit_keeps_the_worktree_and_a_second_conclude_saves_it(repo):
    hook = repo.hook("pre-commit", "echo 'lint: trailing whitespace in shared.txt' >&2\nexit 1\n")
    path = worktrees.add(repo.path, repo.wt("linted"), repo.base)
    (path / "shared.txt").write_text("work worth keeping \n")
    (path / "fresh.txt").write_text("untracked work\n")
    branch = BRANCH.format("linted")
    kept = worktrees.conclude(repo.path, path, branch, repo.base, "agybatch: linted succeeded")
    assert (kept.branch, kept.commit, kept.worktree, kept.changed) == (None, None, path, True)
    assert "pre-commit" in kept.error and "lint: trailing whitespace" in kept.error and "\n" not in kept.error
    assert (path / "shared.txt").read_text() == "work worth keeping \n"
    assert (path / "fresh.txt").read_text() == "untracked work\n"
    assert repo.registered()[path].startswith("agybatch: kept: git commit failed")
    assert repo.branches() == {}
    assert worktrees.conclude(repo.path, path, branch, repo.base, "agybatch: linted succeeded") == kept

    hook.write_text("#!/bin/sh\nexit 0\n")
    done = worktrees.conclude(repo.path, path, branch, repo.base, "agybatch: linted succeeded")
    assert (done.branch, done.worktree, done.error) == (branch, None, None)
    assert repo.show(branch, "shared.txt") == "work worth keeping"
    assert repo.show(branch, "fresh.txt") == "untracked work"
    assert not path.exists() and repo.registered() == {}


def test_a_refused_commit_still_puts_the_jobs_own_commits_on_the_branch(repo):
    path = worktrees.add(repo.path, repo.wt("half"), repo.base)
    (path / "shared.txt").write_text("committed by the job\n")
    own = commit_all(path, "first step", identity=AGENT)
    repo.hook("pre-commit", "exit 1\n")
    (path / "src" / "app.py").write_text("uncommitted\n")
    kept = worktrees.conclude(repo.path, path, BRANCH.format("half"), repo.base, "agybatch: half failed")
    assert (kept.branch, kept.commit, kept.worktree) == (BRANCH.format("half"), own, path)
    assert kept.diffstat == Diffstat(1, 1, 1) and "pre-commit" in kept.error
    assert (path / "src" / "app.py").read_text() == "uncommitted\n"


def test_a_merge_left_in_progress_is_kept_as_it_is(repo):
    repo.git("checkout", "-q", "-b", "other")
    (repo.path / "shared.txt").write_text("the other side\n")
    commit_all(repo.path, "other side")
    repo.git("checkout", "-q", "main")
    path = worktrees.add(repo.path, repo.wt("merging"), repo.base)
    (path / "shared.txt").write_text("this side\n")
    own = commit_all(path, "this side", identity=AGENT)
    git(path, *AGENT, "merge", "other", check=False)  # a conflict: the job gave up halfway
    kept = worktrees.conclude(repo.path, path, BRANCH.format("merging"), repo.base, "agybatch: merging failed")
    assert "a merge was left in progress" in kept.error
    assert (kept.branch, kept.commit, kept.worktree) == (BRANCH.format("merging"), own, path)
    assert "<<<<<<<" in (path / "shared.txt").read_text()


def test_a_worktree_holding_a_repository_of_its_own_is_kept(repo):
    path = worktrees.add(repo.path, repo.wt("vendoring"), repo.base)
    inner = path / "vendor" / "lib"
    inner.mkdir(parents=True)
    git(inner, "init", "-q")
    (inner / "lib.py").write_text("unpushed work\n")
    commit_all(inner, "work that lives only here", identity=AGENT)
    kept = worktrees.conclude(repo.path, path, BRANCH.format("vendoring"), repo.base, "agybatch: vendoring succeeded")
    assert kept.worktree == path and "vendor/lib" in kept.error and kept.branch == BRANCH.format("vendoring")
    assert (inner / "lib.py").read_text() == "unpushed work\n"


@pytest.mark.parametrize("vandalism", ["rm .git", "git init"])
def test_a_worktree_whose_git_link_a_job_destroyed_is_kept(repo, vandalism):
    path = worktrees.add(repo.path, repo.wt("vandal"), repo.base)
    (path / "shared.txt").write_text("first step\n")
    own = commit_all(path, "first step", identity=AGENT)
    (path / "shared.txt").write_text("work after the commit\n")
    (path / ".git").unlink()
    if vandalism == "git init":
        git(path, "init", "-q")
        git(path, "add", "-A")
    kept = worktrees.conclude(repo.path, path, BRANCH.format("vandal"), repo.base, "agybatch: vandal failed")
    assert "not a complete worktree" in kept.error and kept.worktree == path
    assert (kept.branch, kept.commit) == (BRANCH.format("vandal"), own)  # the commit it made before is saved
    assert (path / "shared.txt").read_text() == "work after the commit\n"


def test_errors_are_one_line_and_name_what_failed(repo, tmp_path):
    with pytest.raises(WorktreeError) as caught:
        worktrees.add(repo.path, repo.wt("ghost"), "0" * 40)
    assert "git worktree add failed" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(WorktreeError, match="not a git repository"):
        worktrees.add(tmp_path / "home", repo.wt("nowhere"), repo.base)
