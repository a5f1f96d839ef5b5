"""Coding agents on one repository: a worktree per task through ``agybatch run``, and no work ever lost."""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.helpers.state import journal_rows

#: No git identity anywhere: commits must still work.
NO_IDENTITY = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git(repo, *args) -> str:
    env = {**os.environ, **NO_IDENTITY}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(project):
    """The project as a git repository with one commit; the state folder ignored."""
    project.env.update(NO_IDENTITY, HOME=str(project.root.parent))
    (project.root / ".gitignore").write_text(".agybatch/\n*.tmp\n")
    (project.root / "story.txt").write_text("once upon a time\n")
    (project.root / "batches").mkdir()
    (project.root / "batches" / ".keep").write_text("")
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", "-A")
    git(project.root, "-c", "user.name=Test", "-c", "user.email=t@example", "commit", "-qm", "start")
    return project.root


def shell(label, script, **keys) -> str:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    return f'[[task]]\nlabel = {json.dumps(label)}\ncommand = ["sh", "-c", {json.dumps(script)}]\n{extra}'


def commit(repo, batch_text: str, message: str = "batch") -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Test", "-c", "user.email=t@example", "commit", "-qm", message)


def show(repo, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:{path}")


def test_twelve_tasks_edit_the_same_file_each_on_its_own_branch(project, repo):
    tasks = "".join(shell(f"edit:{i:02d}", f"sleep 0.3; echo 'chapter {i}' >> ../../story.txt") for i in range(12))
    project.batch("story", '[batch]\nworkspace = "worktree"\n' + tasks)
    commit(repo, tasks)
    base = git(repo, "rev-parse", "HEAD").strip()
    result = project.run("run", "story", "--json")
    assert result.code == 0, result
    for task in result.json()["tasks"]:
        i = int(task["label"].split(":")[1])
        assert task["branch"].endswith(f"/edit-{i:02d}") and task["diffstat"] == {"files": 1, "insertions": 1,
                                                                                "deletions": 0}
        assert show(repo, task["branch"], "story.txt") == f"once upon a time\nchapter {i}\n"
        assert git(repo, "rev-parse", f"{task['branch']}^").strip() == base  # every task started from one commit
        assert "worktree" not in task  # clean after the commit: removed
    assert (repo / "story.txt").read_text() == "once upon a time\n"  # the main working tree is untouched
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_what_each_kind_of_task_leaves_is_kept_on_its_branch(project, repo):
    own = ("echo draft > draft.md && git add draft.md && git -c user.name=Agent -c user.email=a@x commit -qm "
           "'agent: draft' && echo more >> draft.md")
    tasks = "".join([
        shell("fails", "echo half > ../../partial.txt; exit 1"),
        shell("commits", f"cd ../.. && {own}"),
        shell("untracked", "echo new > ../../fresh.txt && echo junk > ../../scratch.tmp"),
        shell("nothing", "true"),
    ])
    project.batch("kinds", '[batch]\nworkspace = "worktree"\n' + tasks)
    commit(repo, tasks)
    result = project.run("run", "kinds", "--json")
    assert result.code == 2, result
    got = {t["label"]: t for t in result.json()["tasks"]}
    assert show(repo, got["fails"]["branch"], "partial.txt") == "half\n"
    message = git(repo, "log", "-1", "--format=%an <%ae>%n%s", got["fails"]["branch"])
    assert message.splitlines() == ["agybatch <agybatch@localhost>", "agybatch: fails (failed)"]
    log = git(repo, "log", "--format=%an %s", f"main..{got['commits']['branch']}").splitlines()
    assert log == ["agybatch agybatch: commits (succeeded)", "Agent agent: draft"]
    assert show(repo, got["commits"]["branch"], "draft.md") == "draft\nmore\n"
    files = git(repo, "ls-tree", "-r", "--name-only", got["untracked"]["branch"]).split()
    assert "fresh.txt" in files and "scratch.tmp" not in files  # ignored files are never committed
    assert got["nothing"]["branch"] is None and got["nothing"]["changed"] is False
    assert "nothing: changed nothing" in project.run("report").out


def test_a_worktree_that_cannot_be_committed_is_kept_and_reported(project, repo):
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'refusing: lint failed' >&2\nexit 1\n")
    hook.chmod(0o755)
    tasks = shell("refused", "echo work > ../../work.txt")
    project.batch("hooked", '[batch]\nworkspace = "worktree"\n' + tasks)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "batch", "--no-verify")
    result = project.run("run", "hooked", "--json")
    task = result.json()["tasks"][0]
    assert task["outcome"] == "succeeded" and task["branch"] is None
    kept = task["worktree"]
    assert (open(os.path.join(kept, "work.txt")).read() == "work\n")  # nothing lost
    text = project.run("report").out
    assert f"refused: worktree kept at {kept}" in text and "refusing: lint failed" in text
    listing = project.run("worktrees", "--json").json()["worktrees"]
    assert [(w["label"], w["worktree"], w["dirty"]) for w in listing] == [("refused", kept, True)]
    pruned = project.run("worktrees", "--prune", "--json").json()
    assert pruned["deleted"] == [] and os.path.exists(kept)  # never anything dirty


def test_prune_deletes_merged_branches_and_never_unmerged_work(project, repo):
    tasks = shell("a", "echo a > ../../a.txt") + shell("b", "echo b > ../../b.txt")
    project.batch("two", '[batch]\nworkspace = "worktree"\n' + tasks)
    commit(repo, tasks)
    got = {t["label"]: t for t in project.run("run", "two", "--json").json()["tasks"]}
    git(repo, "-c", "user.name=T", "-c", "user.email=t@e", "merge", "-q", "--no-edit", got["a"]["branch"])
    dry = project.run("worktrees", "--prune", "--dry-run", "--json").json()
    assert [d["branch"] for d in dry["deleted"]] == [got["a"]["branch"]]
    assert got["a"]["branch"] in git(repo, "branch", "--list", "agybatch/*")  # a dry run deletes nothing
    result = project.run("worktrees", "--prune")
    assert result.out.splitlines()[0] == f"deleted branch {got['a']['branch']}"
    branches = git(repo, "branch", "--list", "agybatch/*", "--format=%(refname:short)").split()
    assert branches == [got["b"]["branch"]]


@pytest.mark.parametrize("kill_when", ["before the worktree is added", "while the job runs"])
def test_sigkill_around_the_worktree_then_join(project, repo, wait, tmp_path, kill_when):
    gate = tmp_path / "gate"
    tasks = shell("slow", f"echo ran >> {tmp_path / 'ledger'}; while [ ! -e {gate} ]; do sleep 0.05; done; "
                          "echo done > ../../out.txt")
    conf = ""
    if kill_when == "before the worktree is added":
        conf = ("import os, signal\nfrom agybatch import worktrees\nfrom agybatch.workspace import Workspaces\n"
                "original = worktrees.add\n\ndef add(*args, **kwargs):\n"
                "    if not os.environ.get('RESUMED'):\n        os.kill(os.getpid(), signal.SIGKILL)\n"
                "    return original(*args, **kwargs)\n\nworktrees.add = add\n")
    project.batch("k", '[batch]\nworkspace = "worktree"\n' + tasks, **({"batchconf.py": conf} if conf else {}))
    commit(repo, tasks)
    runner = project.spawn("run", "k", "-q")
    if kill_when == "while the job runs":
        wait(lambda: (tmp_path / "ledger").exists(), what="the job running in its worktree")
        os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait(timeout=60) == -signal.SIGKILL
    rows = journal_rows(project.state, "SELECT state FROM workspaces")
    assert rows == [("adding",)] if kill_when.startswith("before") else [("ready",)]
    gate.touch()
    result = project.run("join", "--json", env={"RESUMED": "1"})
    assert result.code == 0, result
    task = result.json()["tasks"][0]
    assert show(repo, task["branch"], "out.txt") == "done\n"
    assert (tmp_path / "ledger").read_text() == "ran\n"  # the job ran once
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1  # nothing orphaned


def test_hostile_labels_become_safe_unique_branches(project, repo):
    labels = ["../../etc", "a..b", "x.lock", "-rf", "foo bar", "@{", "ünïcode", "HEAD", "a/b", "a_b"]
    tasks = "".join(shell(label, "echo x > ../../out.txt") for label in labels)
    project.batch("hostile", '[batch]\nworkspace = "worktree"\n' + tasks)
    commit(repo, tasks)
    result = project.run("run", "hostile", "--json")
    assert result.code == 0, result
    branches = [t["branch"] for t in result.json()["tasks"]]
    assert len(set(branches)) == len(labels)
    for branch in branches:
        assert subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True).returncode == 0
        assert ".." not in branch and branch.startswith("agybatch/hostile/")
    assert not (repo.parent / "etc").exists() and sorted(os.listdir(project.state / "worktrees")) == []


@pytest.mark.parametrize("toml, key, message", [
    ('[batch]\nworkspace = "worktree"\nrepo = "../../../outside"\n', "repo", "needs a git repository"),
    ('[batch]\nworkspace = "worktree"\nref = "no-such-branch"\n', "ref", "ref 'no-such-branch' does not resolve"),
    ('[batch]\nworkspace = "worktree"\ncommit_author = "nobody"\n', "commit_author",
     "commit_author must look like 'Name <email>'"),
    ('[batch]\nworkspace = "tent"\n', "workspace", "workspace must be one of 'shared', 'worktree'"),
])
def test_bad_workspace_settings_exit_4_before_anything_is_submitted(project, repo, toml, key, message):
    (repo.parent / "outside").mkdir()
    folder = project.batch("bad", toml + shell("a", "true"))
    commit(repo, toml)
    result = project.run("run", "bad")
    assert result.code == 4, result
    line = toml.splitlines().index(next(l for l in toml.splitlines() if l.startswith(key))) + 1
    assert result.err.startswith(f"agybatch: error: {folder / 'batch.toml'}:{line}: ") and message in result.err
    assert result.err.count("\n") == 1 and not (project.state / "jobs").exists()


def test_a_task_folder_missing_from_the_commit_is_refused(project, repo):
    project.batch("uncommitted", '[batch]\nworkspace = "worktree"\n' + shell("a", "true"))  # not committed
    result = project.run("run", "uncommitted")
    assert result.code == 4, result
    assert "task 'a': cwd batches/uncommitted is not in commit" in result.err


def test_the_agy_backend_refuses_worktrees(project, repo, agy):
    project.batch("agy", '[batch]\nbackend = "agy"\nworkspace = "worktree"\n[[task]]\nlabel = "a"\nprompt = "x"\n')
    commit(repo, "")
    result = project.run("run", "agy")
    assert result.code == 4 and "agy jobs cannot take a working folder" in result.err, result


def test_the_state_folder_in_the_repository_stays_out_of_git_status(project, repo):
    (repo / ".gitignore").write_text("")  # the user never ignored .agybatch/
    tasks = shell("a", "echo a > ../../a.txt")
    project.batch("plain", '[batch]\nworkspace = "worktree"\n' + tasks)
    commit(repo, tasks)
    assert project.run("run", "plain").code == 0
    assert git(repo, "status", "--porcelain") == ""  # the state folder (and its worktrees) is excluded
    assert "/.agybatch/" in (repo / ".git" / "info" / "exclude").read_text()


def test_the_documented_check_fails_a_task_that_changed_nothing(project, repo):
    recipe = 'test -n "$(git status --porcelain)" || ! git diff --quiet "$AGYBATCH_BASE_COMMIT" HEAD'
    committer = "cd ../.. && echo c > c.txt && git add c.txt && git -c user.name=A -c user.email=a@x commit -qm c"
    tasks = "".join([
        shell("idle", "true", check=["sh", "-c", recipe]),
        shell("edits", "echo e > ../../e.txt", check=["sh", "-c", recipe]),
        shell("commits", committer, check=["sh", "-c", recipe]),
    ])
    project.batch("checked", '[batch]\nworkspace = "worktree"\n' + tasks)
    commit(repo, tasks)
    result = project.run("run", "checked", "--json")
    got = {t["label"]: (t["outcome"], t["reason"], t["changed"]) for t in result.json()["tasks"]}
    assert got == {"idle": ("failed", "check failed: exit 1", False), "edits": ("succeeded", None, True),
                   "commits": ("succeeded", None, True)}, result


def test_a_retry_never_throws_away_what_an_attempt_left_in_a_broken_worktree(project, repo):
    vandal = "echo edited >> ../../story.txt; rm -f ../../.git; exit 1"
    tasks = shell("vandal", vandal, retries=1, retry_backoff="0s")
    project.batch("v", '[batch]\nworkspace = "worktree"\n' + tasks)
    commit(repo, tasks)
    result = project.run("run", "v", "--json")
    task = result.json()["tasks"][0]
    assert task["worktree"] and task["changed"] is True, result
    assert open(os.path.join(task["worktree"], "story.txt")).read() == "once upon a time\nedited\n"
    assert "not a complete worktree" in task["reason"]


def test_prune_keeps_a_worktree_with_a_rebase_left_in_progress(project, repo):
    rebase = ("cd ../.. && for n in 1 2; do echo $n > c$n.txt && git add c$n.txt && "
              "git -c user.name=A -c user.email=a@x commit -qm c$n; done && "
              "GIT_SEQUENCE_EDITOR='sed -i s/^pick/edit/' git -c user.name=A -c user.email=a@x rebase -q -i HEAD~2")
    tasks = shell("rebaser", rebase)
    project.batch("r", '[batch]\nworkspace = "worktree"\n' + tasks)
    commit(repo, tasks)
    task = project.run("run", "r", "--json").json()["tasks"][0]
    assert task["worktree"], task  # kept: the rebase's state lives in it
    pruned = project.run("worktrees", "--prune", "--json").json()
    assert all(d["kind"] != "worktree" for d in pruned["deleted"]) and os.path.isdir(task["worktree"])
