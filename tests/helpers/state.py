"""A read-only look at a project's state folder: journal rows, task phases, integrity, file modes.

The journal is opened read-only with plain ``sqlite3`` so that looking never changes what is
looked at (no migration, no WAL checkpoint by a second writer).
"""
from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

LATEST_RUN = "(SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1)"


def journal_rows(state: Path, sql: str, params=()) -> list:
    """Rows of ``sql`` against the journal opened read-only ([] while it does not exist or is busy)."""
    path = state / "journal.sqlite"
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []


def phases(state: Path) -> dict:
    """``{phase: count}`` of the latest run's tasks (empty before the run is recorded)."""
    return dict(journal_rows(state, f"SELECT phase, COUNT(*) FROM tasks WHERE run_id={LATEST_RUN} GROUP BY phase"))


def submitted(state: Path) -> int:
    """How many of the latest run's tasks have a journalled job ID."""
    rows = journal_rows(state, f"SELECT COUNT(*) FROM tasks WHERE run_id={LATEST_RUN} AND job_id IS NOT NULL")
    return rows[0][0] if rows else 0


def integrity(state: Path) -> str:
    """SQLite's ``PRAGMA integrity_check`` of the journal: "ok", its complaint, or "no journal"."""
    rows = journal_rows(state, "PRAGMA integrity_check")
    return rows[0][0] if rows else "no journal"


def loose_permissions(state: Path) -> list:
    """Paths under ``state`` that group or others may read, write or enter."""
    found = []
    for folder, dirs, files in os.walk(state):
        for name in dirs + files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                continue
            if mode & 0o077:
                found.append(f"{os.path.relpath(path, state)} {stat.filemode(mode)}")
    return found
