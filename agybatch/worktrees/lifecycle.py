"""A task's worktree: added before the task runs, concluded after it ends, whatever its outcome."""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import _registry as registry
from ._git import (
    ATTEMPTS,
    TIMEOUT,
    WorktreeError,
    environment,
    git,
    out,
    pause,
    require,
    shorten,
)
from .names import check_branch

#: Author and committer of the commits :func:`conclude` makes, unless told otherwise.
DEFAULT_AUTHOR = "agybatch <agybatch@localhost>"

_IDENTITY = re.compile(r"\s*([^<>\n]*?)\s*<([^<>\s]+)>\s*")
_COMMIT_HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg")


@dataclass(frozen=True)
class Diffstat:
    """Files changed, lines inserted and lines deleted between two commits (a binary file counts as a file)."""

    files: int = 0
    insertions: int = 0
    deletions: int = 0


@dataclass(frozen=True)
class Concluded:
    """What :func:`conclude` did with a task's worktree.

    - ``branch``: the branch holding the task's work; None when the task
      changed nothing (no branch is made for it) or its work could not be saved.
    - ``commit``: the branch's tip, None without a branch.
    - ``diffstat``: the base commit against the tip (zeros when nothing
      changed, None when work was kept unsaved).
    - ``worktree``: the worktree's path when it was KEPT, else None.
    - ``changed``: whether the task left work: changes, or commits of its own.
    - ``error``: one line saying why the worktree was kept, else None.
    """

    branch: Optional[str]
    commit: Optional[str]
    diffstat: Optional[Diffstat]
    worktree: Optional[Path]
    changed: bool
    error: Optional[str] = None


def parse_identity(text: str) -> tuple:
    """``(name, email)`` from ``"Name <email>"``; ``ValueError`` for anything else."""
    found = _IDENTITY.fullmatch(text)
    if not found or not found.group(1):
        raise ValueError(f"not an identity of the form 'Name <email>': {text!r}")
    return found.group(1), found.group(2)


def add(repo, path, commit: str, *, timeout: float = TIMEOUT, fresh: bool = True) -> Path:
    """Make ``path`` a worktree of ``repo`` with ``commit`` checked out (detached); return its absolute path.

    It is ``git worktree add --detach --lock``: the worktree stays locked (so
    neither ``git worktree prune`` nor :func:`prune` removes it) until
    :func:`conclude`. Idempotent and crash-safe, for a caller that records
    ``(path, commit)`` before calling and calls again after a crash:

    - ``path`` already a complete worktree of ``repo``: reused as it is,
      whatever it holds and whatever is checked out (never reset);
    - registered but its folder gone: git's record of it is dropped (only that
      one) and it is added again;
    - registered but unfinished (git was killed before its checkout
      completed): removed and added again, if it holds nothing but what git
      wrote; anything else in it raises :class:`WorktreeError`;
    - ``path`` exists but is not a worktree of ``repo``: an empty folder is
      used, anything else raises :class:`WorktreeError` and is not touched.

    ``fresh=False`` says a task may already have run in ``path`` (a retry):
    then an unfinished worktree raises :class:`WorktreeError` instead of being
    removed and added again, since what looks unfinished may be a task's work
    with a broken ``.git`` link.

    Many threads or processes may add worktrees of one repository at once
    (each its own ``path``): a command that loses a race for one of git's locks
    is tried again after a short pause. Needs git 2.33 or newer.
    """
    require((2, 33))
    path = _absolute(path)
    for attempt in range(ATTEMPTS):
        entry = registry.find(repo, path)
        if entry is not None:
            if entry.locked == registry.REMOVING:
                raise WorktreeError(f"{path}: the removal of this worktree was cut short; conclude it first")
            if not os.path.lexists(path):
                registry.forget(repo, path)
            elif not _folder(path):
                raise WorktreeError(f"{path} is registered as a worktree of {repo} but is not a folder")
            elif registry.inspect(repo, entry).complete:
                return path
            elif not fresh:
                raise WorktreeError(f"{path} is not a complete worktree of {repo} any more (its .git link, index "
                                    "or HEAD is gone or replaced); kept as it is")
            else:
                registry.discard_unfinished(repo, path, commit)
        elif os.path.lexists(path) and not _empty_folder(path):
            raise WorktreeError(f"{path} exists and is not a worktree of {repo}; not touching it")
        try:
            git(repo, "worktree", "add", "--detach", "--lock", "--reason", registry.IN_USE, "--", str(path), commit,
                timeout=timeout, retry=False)
            return path
        except WorktreeError as err:
            if not err.transient or attempt + 1 == ATTEMPTS:
                raise
        pause(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def conclude(repo, path, branch: str, base_commit: str, message: str, author: str = DEFAULT_AUTHOR, *,
             hooks: bool = True, timeout: float = TIMEOUT) -> Concluded:
    """Save a task's work on ``branch``, then remove its worktree if, and only if, nothing can be lost.

    Call it after the task ended, whatever its outcome (name the outcome in
    ``message``):

    1. Changes in the worktree (tracked, or untracked and not ignored) are
       staged with ``git add -A`` and committed with ``message``, ``author``
       (``"Name <email>"``) as author and committer, whatever git identity the
       machine has, if any. Ignored files are never committed. The
       repository's commit hooks run unless ``hooks=False``.
    2. If the worktree's HEAD is not ``base_commit`` (the task changed files,
       or made commits of its own), ``branch`` is created at it, holding
       both. An unchanged task gets no branch.
    3. The worktree is removed only when it is clean, its HEAD is on the
       branch (or is ``base_commit``) and it holds no git repository of its
       own. Removal deletes its ignored files.

    A worktree whose work cannot be saved (a hook refused the commit, the
    disk is full, a rebase was left in progress, someone else locked it) is
    kept as it is, with ``error`` saying why; its own commits still get the
    branch. Nothing is ever reset, checked out or deleted over uncommitted work.

    Idempotent: called again after a crash at any point (commit made, branch
    created, worktree half or fully removed) it finishes the job and returns
    the same answer; called again on a kept worktree, it tries again.
    Raises only for bad arguments or when ``repo`` cannot be read.
    """
    name, email = parse_identity(author)
    if not message.strip():
        raise ValueError("conclude needs a commit message")
    check_branch(branch)
    path = _absolute(path)
    env = environment(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
    entry = registry.find(repo, path)
    if entry is None or not os.path.lexists(path):  # concluded already, or its folder was deleted
        if entry is not None:
            registry.forget(repo, path)
        return _settled(repo, branch, base_commit)
    if entry.locked == registry.REMOVING:
        return _removed(repo, path, branch, base_commit, registry.finish_removal)
    inside = registry.inspect(repo, entry) if _folder(path) else registry.Inside(False)
    if not inside.complete:  # a task deleted its .git link, or ran git init at its top, or ...
        return _keep(repo, path, entry, branch, base_commit, env, entry.head or base_commit,
                     f"{path} is not a complete worktree of {repo} any more (its .git link, index or HEAD "
                     "is gone or replaced)")
    try:
        if inside.operation:
            raise WorktreeError(f"{inside.operation} was left in progress in {path}")
        tip = registry.head(path) if _commit_changes(path, message, hooks, env, timeout) else entry.head
        if tip != base_commit:
            _point(repo, branch, tip, env)
        nested = registry.nested_repositories(path)
        if nested:
            raise WorktreeError(f"{path} holds git repositories of its own ({', '.join(nested[:3])}), "
                                "which removing it would delete")
    except WorktreeError as err:
        return _keep(repo, path, entry, branch, base_commit, env, None, str(err))
    try:
        registry.relock(repo, path, entry.locked, registry.REMOVING)
    except WorktreeError as err:
        return dataclasses.replace(_settled(repo, branch, base_commit), worktree=path, error=str(err))
    return _removed(repo, path, branch, base_commit, registry.remove)


def diffstat(repo, base: str, tip: str) -> Diffstat:
    """The :class:`Diffstat` of ``base..tip`` (renames found as ``git diff -M`` does: one file)."""
    tokens = iter(out(repo, "diff", "--numstat", "-z", "-M", "--no-ext-diff", "--no-textconv", base, tip).split("\0"))
    files = insertions = deletions = 0
    for token in tokens:
        if not token:
            continue
        added, deleted, name = token.split("\t", 2)
        if not name:  # a rename: the old and the new path follow
            next(tokens, None), next(tokens, None)
        files += 1
        insertions += int(added) if added != "-" else 0
        deletions += int(deleted) if deleted != "-" else 0
    return Diffstat(files, insertions, deletions)


def _commit_changes(path, message, hooks, env, timeout) -> bool:
    """Commit every change in the worktree at ``path``; return whether there was any."""
    for attempt in range(3):
        if not registry.dirty(path):
            return attempt > 0
        if attempt == 2:
            raise WorktreeError(f"{path} still has changes after two commits (does a hook change files?)")
        git(path, "add", "--all", env=env, timeout=timeout)
        try:
            git(path, "commit", "--quiet", "--message", message, *(() if hooks else ("--no-verify",)),
                env=env, timeout=timeout)
        except WorktreeError as err:
            present = _commit_hooks(path) if hooks else []
            if not present or err.transient:
                raise
            raise WorktreeError(f"git commit failed in {path} (a hook may have refused it: {', '.join(present)}): "
                                f"{shorten(err.stderr) or 'no message'}", err.stderr) from None


def _commit_hooks(path) -> list:
    """The commit hooks the worktree at ``path`` runs (``core.hooksPath`` honoured)."""
    args = [arg for hook in _COMMIT_HOOKS for arg in ("--git-path", f"hooks/{hook}")]
    found = out(path, "rev-parse", *args).splitlines()
    return [hook for hook, where in zip(_COMMIT_HOOKS, found) if os.access(os.path.join(path, where), os.X_OK)]


def _point(repo, branch: str, tip: str, env) -> None:
    """Create ``branch`` at ``tip``, or move it forward to ``tip`` (an earlier, interrupted conclude)."""
    ref = f"refs/heads/{branch}"
    current = _tip(repo, branch)
    if current == tip:
        return
    if current is not None and git(repo, "merge-base", "--is-ancestor", current, tip, ok=(0, 1)).returncode:
        raise WorktreeError(f"branch {branch} already exists at {current[:12]}, which this worktree's history lacks")
    git(repo, "update-ref", "-m", "agybatch: a task's work", ref, tip, current or "", env=env)


def _tip(repo, branch: str) -> Optional[str]:
    proc = git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", ok=(0, 1))
    return proc.stdout.strip() or None


def _settled(repo, branch: str, base: str) -> Concluded:
    """The answer once the worktree is gone: the branch, if the task's work made one."""
    tip = _tip(repo, branch)
    if tip is None:
        return Concluded(None, None, Diffstat(), None, False)
    return Concluded(branch, tip, diffstat(repo, base, tip), None, True)


def _removed(repo, path, branch, base, removal) -> Concluded:
    answer = _settled(repo, branch, base)
    try:
        removal(repo, path)
    except WorktreeError as err:
        return dataclasses.replace(answer, worktree=path, error=f"saved, but the worktree could not be removed: {err}")
    return answer


def _keep(repo, path, entry, branch, base, env, tip, error) -> Concluded:
    """Leave the worktree as it is, its commits (up to ``tip``, default its HEAD) on ``branch``, locked ``KEPT``."""
    saved = None
    try:
        tip = tip or registry.head(path)
        if tip != base:
            _point(repo, branch, tip, env)
            saved = tip
    except WorktreeError as err:
        error = f"{error}; {err}"
    try:
        registry.relock(repo, path, entry.locked, f"{registry.KEPT}: {_printable(error)}")
    except WorktreeError:
        pass  # the lock only labels the kept worktree; someone else's lock stays
    return Concluded(branch if saved else None, saved, diffstat(repo, base, saved) if saved else None, path, True,
                     error)


def _printable(text: str, limit: int = 200) -> str:
    text = re.sub(r'[^\x20-\x7e]|["\\]', "?", text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _empty_folder(path: Path) -> bool:
    if not _folder(path):
        return False
    with os.scandir(path) as entries:
        return next(entries, None) is None


def _absolute(path) -> Path:
    path = Path(os.path.abspath(path))
    if "\n" in str(path):
        raise WorktreeError(f"a worktree path cannot hold a newline: {str(path)!r}")
    return path
