"""Helpers the reliability tests share: ledger batches and a read-only look at the journal."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

#: A job that appends its label to a ledger file, then sleeps: the ledger is the jobs' own record.
LEDGER_JOB = 'import sys, time; open(sys.argv[1], "a").write(sys.argv[2] + "\\n"); time.sleep(float(sys.argv[3]))'


def ledger_batch(project, name: str, sleeps, batch: str = "") -> Path:
    """A batch of ``len(sleeps)`` tasks ``t0..``; task i logs to the ledger then sleeps ``sleeps[i]``."""
    ledger = project.root / f"{name}-ledger.txt"
    tasks = "".join(
        f'[[task]]\nlabel = "t{i}"\n'
        f'command = ["python3", "-c", {json.dumps(LEDGER_JOB)}, "{ledger}", "t{i}", "{s:g}"]\n'
        for i, s in enumerate(sleeps))
    project.batch(name, f"[batch]\n{batch}\n{tasks}")
    return ledger


def ledger_lines(ledger: Path) -> list:
    return ledger.read_text().split() if ledger.exists() else []


def journal_rows(state: Path, sql: str, params=()) -> list:
    """Rows of ``sql`` against the journal opened read-only ([] while it does not exist yet)."""
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
    rows = journal_rows(state, "SELECT phase, COUNT(*) FROM tasks WHERE run_id="
                               "(SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1) GROUP BY phase")
    return dict(rows)


def integrity(state: Path) -> str:
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
