"""The worktrees git knows of, what state each is in, and the careful ways to lock and remove one.

A task's worktree is always locked while agybatch owns it, and the lock's
reason says what it is doing, so a crash at any instant leaves a state the next
call can read: ``IN_USE`` from ``git worktree add`` until the task is
concluded, ``KEPT`` when conclude could not save its work, ``REMOVING`` once it
was saved, checked clean, and its removal began.
"""
from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ._git import WorktreeError, environment, git, out, version

IN_USE = "agybatch: in use by a task"
KEPT = "agybatch: kept"
REMOVING = "agybatch: saved and clean, being removed"

# What a file in a worktree's git folder says is in progress there.
_OPERATIONS = {
    "MERGE_HEAD": "a merge", "rebase-merge": "a rebase", "rebase-apply": "a rebase or am",
    "CHERRY_PICK_HEAD": "a cherry-pick", "REVERT_HEAD": "a revert", "BISECT_LOG": "a bisect",
}


@dataclass(frozen=True)
class Entry:
    """One linked worktree as ``git worktree list`` shows it."""

    path: Path
    head: Optional[str]  #: None while unborn (an add that never finished)
    branch: Optional[str]  #: the branch checked out, None when detached
    locked: Optional[str]  #: the lock's reason ("" for none given), None when not locked


@dataclass(frozen=True)
class Inside:
    """What a look inside a worktree's folder found."""

    complete: bool  #: git finished adding it: it is a working tree of its own, with an index and a HEAD
    operation: Optional[str] = None  #: e.g. "a rebase", when one was left in progress


def ours(reason: Optional[str]) -> bool:
    """Whether a lock ``reason`` is one agybatch set."""
    return bool(reason) and reason.startswith("agybatch:")


def listing(repo) -> list:
    """Every linked worktree of ``repo`` (not the main one), as :class:`Entry`."""
    nul = version() >= (2, 36)  # older git cannot list paths holding a newline, which agybatch never makes
    text = out(repo, "worktree", "list", "--porcelain", *(["-z"] if nul else []))
    records, fields = [], {}
    for line in text.split("\0" if nul else "\n") + [""]:
        if line:
            key, _, value = line.partition(" ")
            fields.setdefault(key, value)
        elif fields:
            records.append(fields)
            fields = {}
    return [_entry(fields) for fields in records[1:] if "bare" not in fields]


def find(repo, path) -> Optional[Entry]:
    """The worktree of ``repo`` registered at ``path``, or None."""
    wanted = os.path.realpath(path)
    return next((entry for entry in listing(repo) if os.path.realpath(entry.path) == wanted), None)


def inspect(repo, entry: Entry) -> Inside:
    """Look inside a registered worktree of ``repo`` whose folder exists.

    It is complete when git sees a working tree of ``repo`` at its top (not
    the repository around the folder, not one a task made with ``git init``)
    with an index and a HEAD.
    """
    args = ["rev-parse", "--show-toplevel", "--git-common-dir", "--git-path", "index"]
    for name in _OPERATIONS:
        args += ["--git-path", name]
    ceiling = os.path.dirname(os.path.realpath(entry.path))  # never the repository the folder sits in
    proc = git(entry.path, *args, ok=(0, 128), env=environment(GIT_CEILING_DIRECTORIES=ceiling), retry=False)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 3 + len(_OPERATIONS) or entry.head is None:
        return Inside(False)
    top, common, index, *flags = (os.path.join(entry.path, line) for line in lines)
    if (os.path.realpath(top) != os.path.realpath(entry.path) or not os.path.exists(index)
            or os.path.realpath(common) != common_dir(repo)):
        return Inside(False)
    operation = next((what for what, flag in zip(_OPERATIONS.values(), flags) if os.path.exists(flag)), None)
    return Inside(True, operation)


def common_dir(repo) -> str:
    """The real path of the git folder ``repo`` shares with all its worktrees."""
    return _common_dir(os.path.realpath(repo))


@functools.lru_cache(maxsize=64)
def _common_dir(repo: str) -> str:
    return os.path.realpath(os.path.join(repo, out(repo, "rev-parse", "--git-common-dir")))


def head(path) -> str:
    """The commit checked out in the worktree at ``path``."""
    return out(path, "rev-parse", "--verify", "HEAD", retry=False)


def dirty(path) -> bool:
    """Whether the worktree at ``path`` holds changes: tracked, or untracked and not ignored."""
    return bool(out(path, "status", "--porcelain", "-z", "--untracked-files=normal", "--ignore-submodules=none"))


def nested_repositories(path) -> list:
    """Folders of the worktree at ``path`` that are git repositories of their own (which removal would delete)."""
    found = []
    for entry in out(path, "ls-files", "--stage", "-z").split("\0"):
        info, _, name = entry.partition("\t")
        if info.startswith("160000 ") and os.path.lexists(os.path.join(path, name, ".git")):
            found.append(name)
    return found


def relock(repo, path, current: Optional[str], reason: str) -> None:
    """Change the lock of the worktree at ``path`` from agybatch's ``current`` reason to ``reason``.

    Raises :class:`WorktreeError` if someone else locked it: their lock stays.
    """
    if current is not None:
        if not ours(current):
            raise WorktreeError(f"{path} is locked by someone else ({current or 'no reason given'}); kept")
        git(repo, "worktree", "unlock", str(path))
    git(repo, "worktree", "lock", "--reason", reason, str(path))


def remove(repo, path) -> None:
    """Delete a worktree locked ``REMOVING``: its folder, ignored files included, then git's record of it."""
    git(repo, "worktree", "remove", "--force", "--force", str(path))


def finish_removal(repo, path) -> None:
    """Finish a removal that was cut short (its ``REMOVING`` lock says the work was saved first)."""
    delete_folder(path)
    forget(repo, path)


def forget(repo, path) -> None:
    """Drop git's record of the worktree at ``path``, whose folder is gone (only that one, unlike prune)."""
    if os.path.lexists(path):
        raise WorktreeError(f"{path} still exists; not forgetting it")
    git(repo, "worktree", "remove", "--force", "--force", str(path))


def discard_unfinished(repo, path, commit: str) -> None:
    """Remove a worktree whose ``git worktree add`` of ``commit`` never finished.

    It goes only if its folder holds nothing but what that add writes (its
    ``.git`` file and paths of ``commit``); otherwise :class:`WorktreeError`.
    """
    tracked = set(out(repo, "ls-tree", "-r", "-t", "-z", "--name-only", "--full-tree", commit).split("\0"))
    foreign = sorted(_foreign(path, tracked))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise WorktreeError(f"{path}: an unfinished worktree holding files git did not put there ({shown}); "
                            "not touching it")
    delete_folder(path)
    forget(repo, path)


def delete_folder(path) -> None:
    """Delete the folder ``path`` and everything in it, if it exists."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise WorktreeError(f"cannot delete {err.filename or path}: {err.strerror or err}") from None


def _foreign(path, tracked: set):
    for folder, dirs, files in os.walk(path):
        inside = os.path.relpath(folder, path).replace(os.sep, "/")
        prefix = "" if inside == "." else inside + "/"
        if prefix == "" and ".git" in files:
            files.remove(".git")  # the link to the repository that git writes first
        for name in list(dirs) + files:
            if prefix + name not in tracked:
                yield prefix + name
                if name in dirs:
                    dirs.remove(name)  # one foreign folder is enough; do not walk it


def _entry(fields: dict) -> Entry:
    head = fields.get("HEAD")
    branch = fields.get("branch")
    return Entry(
        path=Path(fields["worktree"]),
        head=None if not head or set(head) == {"0"} else head,
        branch=branch[len("refs/heads/"):] if branch and branch.startswith("refs/heads/") else branch,
        locked=fields.get("locked"),
    )
