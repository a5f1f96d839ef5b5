"""The worktrees of a run: each task with ``workspace = "worktree"`` runs in its own git worktree.

:class:`Workspaces` is the runner's side of :mod:`agybatch.worktrees`:

- :meth:`~Workspaces.prepare`, at each submission: the worktree's path,
  repository, base commit and branch are journalled first (state
  ``adding``), then the worktree is added (``git worktree add --detach``,
  idempotent), then marked ``ready``. A runner killed at any point leaves a
  row that ``join`` finishes from: nothing is added twice or orphaned.
- :meth:`~Workspaces.cwd_of`: the task's folder inside its worktree (the same
  path relative to the repository).
- :meth:`~Workspaces.conclude`, once the task is final, whatever its outcome:
  its work is committed on ``agybatch/<batch>/<run_id>/<label>`` and the
  worktree removed only when nothing can be lost; the result is journalled
  (state ``concluded``) and shown as the task's :class:`WorkspaceResult`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class WorkspaceResult:
    """What became of a task's worktree, as summaries show it.

    :ivar branch: the branch holding its work (None when it changed nothing).
    :ivar commit: the branch's tip. :ivar diffstat: ``{files, insertions, deletions}``.
    :ivar worktree: the worktree's path when it was kept (its work could not be committed).
    :ivar error: why it was kept. :ivar concluded: False until the task ended and its work was saved.
    """

    branch: Optional[str] = None
    commit: Optional[str] = None
    diffstat: Optional[dict] = None
    worktree: Optional[str] = None
    error: Optional[str] = None
    concluded: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.branch) or self.worktree is not None

    def to_json(self) -> dict:
        """The keys ``--json`` adds to a task: branch, commit, diffstat, changed, and worktree when kept."""
        data = {"branch": self.branch, "commit": self.commit, "diffstat": self.diffstat, "changed": self.changed}
        if self.worktree:
            data["worktree"] = self.worktree
        return data


def concluded_from_row(row) -> WorkspaceResult:
    """The :class:`WorkspaceResult` of a journal ``workspaces`` row."""
    done = row["state"] == "concluded"
    stat = {"files": row["files"], "insertions": row["insertions"], "deletions": row["deletions"]} \
        if done and row["files"] is not None else None
    return WorkspaceResult(branch=(row["branch"] if done and row["tip"] else None), commit=row["tip"],
                           diffstat=stat, worktree=row["path"] if row["kept"] else None, error=row["error"],
                           concluded=done)


class Workspaces:
    """The worktrees of one run (a new run or a join), kept in the journal's ``workspaces`` table."""

    def __init__(self, session) -> None:
        from .worktrees import safe_labels

        self.journal = session.journal
        self.run_id = session.run_id
        self.batch = session.batch.name
        self.root = session.state_dir / "worktrees" / session.run_id
        labels = [t.label for t in session.batch.tasks if t.workspace == "worktree"]
        self.names = safe_labels(labels)
        self.rows = {row["label"]: row for row in self.journal.workspaces(session.run_id)}

    def prepare(self, rec) -> str:
        """Make sure the task's worktree exists (journalled before it is made); its folder for the job."""
        from .worktrees import add, branch_name

        task = rec.task
        row = self.rows.get(rec.label)
        if row is None:
            path = self.root / self.names[rec.label]
            branch = branch_name(self.batch, self.run_id, self.names[rec.label])
            self.journal.add_workspace(self.run_id, rec.label, path, task.repo, task.base_commit, branch)
            row = self._reload(rec.label)
        exclude_state(row["repo"], self.root.parent.parent)
        add(row["repo"], row["path"], row["base_commit"], fresh=row["state"] == "adding")
        if row["state"] == "adding":
            self.journal.update_workspace(self.run_id, rec.label, state="ready")
            row = self._reload(rec.label)
        return self.cwd_of(rec)

    def cwd_of(self, rec) -> str:
        """The task's ``cwd`` inside its worktree (its own ``cwd`` when it has none)."""
        row = self.rows.get(rec.label)
        if row is None:
            return rec.task.cwd
        return os.path.join(row["path"], os.path.relpath(rec.task.cwd, row["repo"]))

    def conclude(self, rec) -> None:
        """Save the final task's work on its branch (:func:`agybatch.worktrees.conclude`) and journal it."""
        from .worktrees import WorktreeError, conclude

        row = self.rows.get(rec.label)
        if row is None or row["state"] == "concluded":
            return
        outcome = rec.outcome.text if rec.outcome else "unsettled"
        message = (f"agybatch: {rec.label} ({outcome})\n\nTask {rec.label!r} of batch {self.batch}, "
                   f"run {self.run_id}: {outcome}" + (f" ({rec.reason})" if rec.reason else "") + ".\n")
        try:
            done = conclude(row["repo"], row["path"], row["branch"], row["base_commit"], message,
                            rec.task.commit_author or _default_author())
        except (WorktreeError, ValueError) as exc:  # left "ready": a join tries again
            self.journal.update_workspace(self.run_id, rec.label, kept=1, error=f"cannot conclude: {exc}")
        else:
            stat = done.diffstat
            self.journal.update_workspace(
                self.run_id, rec.label, state="concluded", tip=done.commit if done.branch else None,
                files=stat.files if stat else None, insertions=stat.insertions if stat else None,
                deletions=stat.deletions if stat else None, kept=int(done.worktree is not None), error=done.error)
        self._reload(rec.label)
        try:
            self.root.rmdir()  # the run's folder of worktrees, once the last one is gone
        except OSError:
            pass

    def _reload(self, label: str):
        self.rows[label] = next(row for row in self.journal.workspaces(self.run_id) if row["label"] == label)
        return self.rows[label]


def exclude_state(repo, state_dir) -> None:
    """Have git ignore the state folder when it is inside ``repo`` and not ignored yet, so that the
    worktrees agybatch keeps there never show in ``git status`` or ``git add -A`` of the checkout:
    one line in the repository's ``info/exclude``."""
    import subprocess

    repo, state_dir = os.path.realpath(repo), os.path.realpath(state_dir)
    if os.path.commonpath([repo, state_dir]) != repo or repo == state_dir:
        return
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    ignored = subprocess.run(["git", "check-ignore", "-q", "--", state_dir + "/"], cwd=repo, env=env,
                             stdin=subprocess.DEVNULL, capture_output=True)
    if ignored.returncode == 0:
        return
    info = subprocess.run(["git", "rev-parse", "--git-path", "info/exclude"], cwd=repo, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if info.returncode != 0:
        return
    exclude = os.path.join(repo, info.stdout.strip())
    line = "/" + re.sub(r"([\\*?\[\]!#])", r"\\\1", os.path.relpath(state_dir, repo)) + "/"
    try:
        with open(exclude, encoding="utf-8") as fh:
            if line in fh.read().splitlines():
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(exclude), exist_ok=True)
    with open(exclude, "a", encoding="utf-8") as fh:
        fh.write(f"\n# agybatch's state folder (its worktrees)\n{line}\n")


def _default_author() -> str:
    from .worktrees import DEFAULT_AUTHOR

    return DEFAULT_AUTHOR
