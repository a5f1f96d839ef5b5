"""What a summary shows beside outcomes, from the journal's ledgers: usage per task, and worktrees.

:func:`attach` fills each task of a :class:`~agybatch.model.RunSummary` with
the :class:`~agybatch.usage.Usage` of all its attempts (the ``attempts``
table) and the :class:`~agybatch.workspace.Concluded` of its worktree (the
``workspaces`` table), for a run just joined and for one rebuilt from the
journal alike.
"""
from __future__ import annotations

from .usage import from_row, total


def attach(summary, journal):
    """``summary`` with ``usage`` and ``workspace`` of each task filled from ``journal``; returns it."""
    attempts: dict = {}
    for row in journal.attempts(summary.run_id):
        attempts.setdefault(row["label"], []).append(from_row(row))
    workspaces = {row["label"]: row for row in journal.workspaces(summary.run_id)}
    if workspaces:
        from .workspace import concluded_from_row

    for task in summary.tasks:
        task.usage = total(attempts.get(task.label, []))
        if task.label in workspaces:
            task.workspace = concluded_from_row(workspaces[task.label])
    return summary
