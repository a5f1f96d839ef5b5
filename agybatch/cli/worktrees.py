"""``agybatch worktrees [BATCH] [--prune] [--dry-run] [--json]``: the branches and kept worktrees runs left.

Lists, from the journal and from git, each task that ran in a worktree and
still has something to show for it: its branch (with its diffstat, and
whether it is merged into the repository's current branch) or its kept
worktree (with why it was kept). ``--prune`` deletes branches already merged
and worktrees that are clean (see :func:`agybatch.worktrees.prune`); it never
touches anything unmerged or dirty, and says what it deleted.
"""
from __future__ import annotations

import sys

from ..units import printable
from .common import open_journal, print_json, project_from_cwd
from .main import finish_parse


def cmd_worktrees(parser, argv, known) -> int:
    from .. import worktrees

    options = finish_parse(parser, argv)
    project = project_from_cwd()
    journal = open_journal(project, read_only=not options.prune)
    rows = journal.workspaces(batch=options.batch)
    root = project.state_dir / "worktrees"
    prefix = worktrees.BRANCH_PREFIX + (worktrees.safe_name(options.batch) + "/" if options.batch else "")
    by_repo: dict = {}
    for row in rows:
        by_repo.setdefault(row["repo"], set()).add(row["run_id"])
    deleted, left, trouble = [], {}, []
    for repo, runs in by_repo.items():
        try:
            if options.prune:
                for run_id in sorted(runs):  # only this batch's runs' worktrees
                    deleted += [(repo, item) for item in worktrees.prune(repo, prefix, root / run_id,
                                                                         dry_run=options.dry_run)]
                    _remove_if_empty(root / run_id)
            for item in worktrees.left_behind(repo, prefix, root):
                left[item.branch if item.kind == "branch" else str(item.path)] = item
        except worktrees.WorktreeError as exc:  # a repository that moved or went away: say so, go on
            trouble.append(f"{repo}: {exc}")
    for line in trouble:
        print(f"agybatch: warning: {printable(line)}", file=sys.stderr)
    entries = [e for e in (_entry(row, left) for row in rows) if e["branch"] or e["worktree"]]
    if options.json:
        print_json({"worktrees": entries, "deleted": [_deleted(repo, item) for repo, item in deleted],
                    "dry_run": bool(options.prune and options.dry_run), "warnings": trouble})
        return 0
    verb = "would delete" if options.dry_run else "deleted"
    for repo, item in deleted:
        what = f"branch {item.branch}" if item.kind == "branch" else f"worktree {item.path}"
        print(f"{verb} {printable(what)}")
    if not entries:
        print("no branches or kept worktrees" + (f" of batch {options.batch!r}" if options.batch else ""))
    for entry in entries:
        head = f"{entry['run_id']}  {printable(entry['label'])} ({(entry['outcome'] or 'unsettled').replace('_', ' ')})"
        if entry["worktree"]:
            why = entry["error"] or ("its run has not finished: agybatch join" if not entry["concluded"] else "")
            print(f"{head}: worktree {'kept ' if entry['concluded'] else ''}at {printable(entry['worktree'])}"
                  + (f" ({printable(why)})" if why else ""))
        if entry["branch"]:
            stat = entry["diffstat"]
            merged = " · merged" if entry["merged"] else ""
            print(f"{head}: {printable(entry['branch'])} ({stat['files']} files, +{stat['insertions']} "
                  f"-{stat['deletions']}){merged}")
    return 0


def _entry(row, left: dict) -> dict:
    """One task's worktree: what the journal recorded, and what git still has. A worktree shows when it
    was kept, and when its task was never concluded (its run has no verdict yet: it may hold work)."""
    concluded = row["state"] == "concluded"
    branch = left.get(row["branch"])
    tree = left.get(row["path"]) if row["kept"] or not concluded else None
    return {
        "run_id": row["run_id"], "batch": row["batch"], "label": row["label"], "outcome": row["outcome"],
        "repo": row["repo"], "concluded": concluded, "branch": row["branch"] if branch else None,
        "commit": branch.tip if branch else None, "merged": branch.merged if branch else None,
        "diffstat": {"files": row["files"], "insertions": row["insertions"], "deletions": row["deletions"]}
        if row["files"] is not None else None,
        "worktree": str(tree.path) if tree else None, "dirty": tree.dirty if tree else None,
        "error": row["error"] if tree else None,
    }


def _deleted(repo: str, item) -> dict:
    return {"repo": repo, "kind": item.kind, "branch": item.branch,
            "path": str(item.path) if item.path else None}


def _remove_if_empty(folder) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
