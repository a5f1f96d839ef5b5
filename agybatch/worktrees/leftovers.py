"""What runs left behind: agybatch's branches and kept worktrees, and pruning the ones that hold nothing unsaved."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import _registry as registry
from ._git import WorktreeError, git, out
from .names import BRANCH_PREFIX


@dataclass(frozen=True)
class Leftover:
    """A branch or a worktree a run left behind.

    - ``kind``: ``"branch"`` or ``"worktree"``.
    - ``branch``: the branch's name; for a worktree, the branch it has checked
      out (None when detached, as agybatch's are).
    - ``tip``: the branch's tip, or the commit the worktree has checked out.
    - ``merged`` (branches): whether the tip is in the repository's current
      branch (its ``HEAD``), so deleting the branch loses nothing.
    - ``path`` (worktrees): its folder.
    - ``dirty`` (worktrees): uncommitted changes, untracked files that are
      not ignored, or a git repository of its own inside; None when its folder
      is missing or cannot be read.
    - ``saved`` (worktrees): whether every commit it has checked out is on a
      branch or a tag (None when that cannot be told).
    - ``locked`` (worktrees): the lock's reason (``""`` when none was given),
      None when it is not locked. ``agybatch: in use by a task`` means a task
      may be running in it; ``agybatch: kept: ...`` says why conclude kept it.
    - ``operation`` (worktrees): a git operation left in progress in it (``a
      rebase``), whose state (the commits still to apply) lives only there.
    """

    kind: str
    branch: Optional[str] = None
    tip: Optional[str] = None
    merged: Optional[bool] = None
    path: Optional[Path] = None
    dirty: Optional[bool] = None
    saved: Optional[bool] = None
    locked: Optional[str] = None
    operation: Optional[str] = None


def left_behind(repo, prefix: str = BRANCH_PREFIX, worktrees_root=None) -> list:
    """The branches under ``prefix`` and the worktrees of ``repo`` under ``worktrees_root``, as :class:`Leftover`.

    Branches come first, by name, then worktrees, by path. Only worktrees git
    has registered are listed (``worktrees_root`` None: none at all); nothing
    is written, and no lock is taken in a worktree a task may be using.
    """
    namespace = _namespace(prefix)
    merged = set(out(repo, "for-each-ref", "--merged", "HEAD", "--format=%(refname)", namespace).split("\n")) \
        if _has_head(repo) else set()
    found = []
    for line in out(repo, "for-each-ref", "--format=%(refname)%00%(objectname)", namespace).split("\n"):
        if line:
            ref, tip = line.split("\0")
            found.append(Leftover("branch", branch=ref[len("refs/heads/"):], tip=tip, merged=ref in merged))
    if worktrees_root is not None:
        root = os.path.realpath(worktrees_root) + os.sep
        for entry in registry.listing(repo):
            if os.path.realpath(entry.path).startswith(root):
                found.append(_worktree(repo, entry))
    return sorted(found, key=lambda item: (item.kind != "branch", item.branch or "", str(item.path or "")))


def prune(repo, prefix: str = BRANCH_PREFIX, worktrees_root=None, dry_run: bool = False) -> list:
    """Delete what :func:`left_behind` finds that holds nothing unsaved; return what was (or would be) deleted.

    - A worktree under ``worktrees_root`` goes when it is clean, every commit it
      has checked out is on a branch or a tag, it holds no git repository of
      its own, and it is not locked or is locked by conclude as ``kept`` (and
      someone has since saved its work). One locked ``in use by a task`` (a
      task may be running in it) or by anyone else stays; one whose removal a
      crash cut short goes (conclude saved it and checked it clean first).
      Its ignored files go with it.
    - A branch under ``prefix`` goes when it is merged into the repository's
      current branch and no worktree has it checked out; git's own check
      (``git branch -d``) runs too.

    Never anything unmerged or dirty. ``dry_run`` deletes nothing.
    """
    doomed = []
    for item in left_behind(repo, prefix, worktrees_root):
        if item.kind == "worktree" and _removable(item):
            doomed.append(item)
        elif item.kind == "branch" and item.merged and not _checked_out(repo, item.branch):
            doomed.append(item)
    doomed.sort(key=lambda item: item.kind == "branch")  # worktrees first: one may hold a branch
    if dry_run:
        return doomed
    deleted = []
    for item in doomed:
        try:
            _delete(repo, item)
        except WorktreeError:
            continue  # it changed since it was looked at, or git refused: it stays
        deleted.append(item)
    return deleted


def _removable(item: Leftover) -> bool:
    if item.locked == registry.REMOVING:
        return True  # conclude saved it and checked it clean before it began removing it
    if item.locked is not None and not item.locked.startswith(registry.KEPT):
        return False
    if item.operation:  # a rebase's commits still to apply live only in the worktree
        return False
    if not item.saved:
        return False
    return item.dirty is False or (item.dirty is None and not os.path.lexists(item.path))


def _delete(repo, item: Leftover) -> None:
    if item.kind == "branch":
        git(repo, "branch", "--delete", "--", item.branch)
    elif not os.path.lexists(item.path):
        registry.forget(repo, item.path)
    elif item.locked == registry.REMOVING:
        registry.finish_removal(repo, item.path)
    else:
        if registry.dirty(item.path) or registry.nested_repositories(item.path):
            raise WorktreeError(f"{item.path} is not clean any more")
        registry.relock(repo, item.path, item.locked, registry.REMOVING)
        registry.remove(repo, item.path)


def _worktree(repo, entry: registry.Entry) -> Leftover:
    dirty = operation = None
    inside = registry.inspect(repo, entry) if os.path.isdir(entry.path) else registry.Inside(False)
    if inside.complete:
        operation = inside.operation
        try:
            dirty = registry.dirty(entry.path) or bool(registry.nested_repositories(entry.path))
        except WorktreeError:
            pass
    saved = None
    if entry.head is not None:
        try:
            saved = not out(repo, "rev-list", "-n", "1", entry.head, "--not", "--branches", "--tags")
        except WorktreeError:
            pass  # a commit git cannot read: not known to be saved
    return Leftover("worktree", branch=entry.branch, tip=entry.head, path=entry.path, dirty=dirty, saved=saved,
                    locked=entry.locked, operation=operation)


def _checked_out(repo, branch: str) -> bool:
    return bool(out(repo, "for-each-ref", "--format=%(worktreepath)", f"refs/heads/{branch}").strip())


def _has_head(repo) -> bool:
    return git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", ok=(0, 1)).returncode == 0


def _namespace(prefix: str) -> str:
    name = prefix.strip("/")
    if not name or any(char in name for char in "*?[\\"):
        raise ValueError(f"not a branch prefix: {prefix!r}")
    return f"refs/heads/{name}/"
