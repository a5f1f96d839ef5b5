"""Real git repositories for the worktree tests, on a machine with no git identity at all.

``HOME`` and ``XDG_CONFIG_HOME`` point at empty folders and ``GIT_CONFIG_NOSYSTEM``
is set, so neither the machine's nor the user's git configuration can help; the
repository also sets ``user.useConfigOnly``, so git refuses to guess an
identity. The set-up commits and the stand-in agent's commits name their own
identity with ``-c``; agybatch gets nothing.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SETUP = ("-c", "user.name=Setup", "-c", "user.email=setup@example.com")
AGENT = ("-c", "user.name=Agent Smith", "-c", "user.email=agent@example.com")


def git(cwd, *args, check: bool = True) -> str:
    """Run git for the test itself; return stdout (stripped)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr}")
    return proc.stdout.strip()


def commit_all(cwd, message: str, identity=SETUP) -> str:
    git(cwd, "add", "-A")
    git(cwd, *identity, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


class Repo:
    """A repository at ``path`` with one commit (``base``) on ``main``, and a folder for worktrees."""

    def __init__(self, path: Path, worktrees: Path) -> None:
        self.path = path
        self.worktrees = worktrees
        self.base = git(path, "rev-parse", "HEAD")

    def git(self, *args, check: bool = True) -> str:
        return git(self.path, *args, check=check)

    def wt(self, name: str) -> Path:
        return self.worktrees / "run-1" / name

    def branches(self, prefix: str = "agybatch/") -> dict:
        lines = self.git("for-each-ref", "--format=%(refname:short) %(objectname)", f"refs/heads/{prefix}")
        return dict(line.split(" ") for line in lines.splitlines())

    def registered(self) -> dict:
        """``{path: lock reason or None}`` of the linked worktrees git knows of."""
        found, path = {}, None
        for line in self.git("worktree", "list", "--porcelain").splitlines():
            if line.startswith("worktree "):
                path = Path(line[len("worktree "):])
                found[path] = None
            elif line.startswith("locked"):
                found[path] = line[len("locked "):]
        found.pop(self.path, None)
        return found

    def status(self) -> str:
        return self.git("status", "--porcelain", "--untracked-files=all")

    def show(self, rev: str, name: str) -> str:
        return self.git("show", f"{rev}:{name}")

    def hook(self, name: str, body: str) -> Path:
        hook = Path(self.git("rev-parse", "--git-common-dir"))
        hook = (self.path / hook if not hook.is_absolute() else hook) / "hooks" / name
        hook.parent.mkdir(exist_ok=True)
        hook.write_text("#!/bin/sh\n" + body)
        hook.chmod(0o755)
        return hook


@pytest.fixture
def no_identity(tmp_path, monkeypatch):
    """An environment in which git knows no identity and reads no configuration but the repository's."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in list(os.environ):
        if name.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_", "GIT_CONFIG_")) and name != "GIT_CONFIG_NOSYSTEM":
            monkeypatch.delenv(name)
    monkeypatch.delenv("EMAIL", raising=False)
    return home


@pytest.fixture
def repo(tmp_path, no_identity) -> Repo:
    """A repository with ``shared.txt``, ``src/app.py``, ``docs/guide.md`` and a ``.gitignore``, all committed."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.useConfigOnly", "true")
    (path / "shared.txt").write_text("original line\n")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("print('hello')\n")
    (path / "docs").mkdir()
    (path / "docs" / "guide.md").write_text("# Guide\n")
    (path / ".gitignore").write_text("*.log\nbuild/\n")
    commit_all(path, "initial")
    return Repo(path, tmp_path / "state" / "worktrees")
