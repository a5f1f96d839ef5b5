"""One git worktree per task, so a batch of coding agents can share one repository safely.

The life of a task's worktree, for the runner:

1. :func:`repository_root` and :func:`resolve` once per run: the repository and
   the base commit every task starts from; :func:`path_in_commit` refuses a
   task whose folder is not in that commit.
2. :func:`safe_labels` once per run: a folder and branch name per label;
   :func:`branch_name` gives ``agybatch/<batch>/<run_id>/<name>``.
3. Record ``(path, base commit)`` in the journal, then :func:`add`. Call it
   again after a crash: it reuses, repairs, or refuses, never resets.
4. Run the task in the worktree (the task's folder maps to the same relative
   path inside it).
5. :func:`conclude`, whatever the outcome: the work is committed on the task's
   branch and the worktree removed, or the worktree is kept and the reason
   told. Call it again after a crash: it finishes and gives the same answer.
6. Later, :func:`left_behind` lists the branches and kept worktrees runs
   left, and :func:`prune` deletes those that hold nothing unsaved.

Every git command runs from an argv list (never a shell) with prompts off
and a timeout; every failure is a :class:`WorktreeError` with a one-line
message. See docs/worktrees.md for the user's side.
"""
from ._git import WorktreeError
from .leftovers import Leftover, left_behind, prune
from .lifecycle import DEFAULT_AUTHOR, Concluded, Diffstat, add, conclude, diffstat, parse_identity
from .names import BRANCH_PREFIX, NAME_MAX, branch_name, safe_labels, safe_name
from .repo import path_in_commit, repository_root, resolve

__all__ = [
    "BRANCH_PREFIX", "DEFAULT_AUTHOR", "NAME_MAX", "Concluded", "Diffstat", "Leftover", "WorktreeError", "add",
    "branch_name", "conclude", "diffstat", "left_behind", "parse_identity", "path_in_commit", "prune",
    "repository_root", "resolve", "safe_labels", "safe_name",
]
