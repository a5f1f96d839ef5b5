"""The journal's tables, and the upgrade of a journal written by an older agybatch.

A table or column is never dropped or renamed: an older journal gains what
it lacks (:func:`add_missing_columns`), so every agybatch reads every journal.
"""
from __future__ import annotations

import re
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    batch TEXT NOT NULL,
    batch_path TEXT NOT NULL,
    backend TEXT NOT NULL,
    settings TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    exit_code INTEGER,
    verdict TEXT,
    poll_failures INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    joined_at REAL,
    stopped_by TEXT,
    pruned_at REAL
);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    seq INTEGER NOT NULL,
    label TEXT NOT NULL,
    spec TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT 'pending',
    submit_key TEXT,
    job_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT,
    exit_code INTEGER,
    submitted_at REAL,
    started_at REAL,
    ended_at REAL,
    outcome TEXT,
    reason TEXT,
    log_path TEXT,
    not_before REAL,
    last_outcome TEXT,
    duration_label TEXT,
    parks INTEGER NOT NULL DEFAULT 0,
    session_id TEXT,
    response_excerpt TEXT,
    result_reason TEXT,
    check_run TEXT,
    stop_outcome TEXT,
    stop_reason TEXT,
    PRIMARY KEY (run_id, label)
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL,
    label TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    job_id TEXT,
    outcome TEXT,
    reason TEXT,
    exit_code INTEGER,
    submitted_at REAL,
    ended_at REAL,
    session_id TEXT,
    input_tokens INTEGER,
    cached_input_tokens INTEGER,
    output_tokens INTEGER,
    thinking_tokens INTEGER,
    total_tokens INTEGER,
    cost_usd REAL,
    model TEXT,
    unpriced INTEGER NOT NULL DEFAULT 0,
    models TEXT,
    PRIMARY KEY (run_id, label, attempt)
);
CREATE TABLE IF NOT EXISTS workspaces (
    run_id TEXT NOT NULL,
    label TEXT NOT NULL,
    path TEXT NOT NULL,
    repo TEXT NOT NULL,
    base_commit TEXT NOT NULL,
    branch TEXT NOT NULL,
    state TEXT NOT NULL,
    tip TEXT,
    files INTEGER,
    insertions INTEGER,
    deletions INTEGER,
    kept INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    PRIMARY KEY (run_id, label)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    label TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    job_id TEXT,
    state TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_batch ON runs(batch, started_at);
CREATE INDEX IF NOT EXISTS task_outcomes ON tasks(run_id, outcome);
"""

#: Columns added after the first release of the schema: (table, column, type, SQL that fills old rows).
ADDED_COLUMNS = (
    ("tasks", "not_before", "REAL", None),
    ("tasks", "last_outcome", "TEXT", None),
    ("runs", "joined_at", "REAL",
     "UPDATE runs SET joined_at = COALESCE(ended_at, started_at) WHERE exit_code IS NOT NULL"),
    ("tasks", "duration_label", "TEXT", None),
    ("tasks", "parks", "INTEGER NOT NULL DEFAULT 0", None),
    ("tasks", "session_id", "TEXT", None),
    ("tasks", "response_excerpt", "TEXT", None),
    ("tasks", "result_reason", "TEXT", None),
    ("tasks", "check_run", "TEXT", None),
    ("tasks", "stop_outcome", "TEXT", None),
    ("tasks", "stop_reason", "TEXT", None),
    ("runs", "stopped_by", "TEXT", None),
    ("runs", "pruned_at", "REAL", None),
    ("runs", "runner", "TEXT", None),
)


def create_tables(db: sqlite3.Connection) -> None:
    """Create what :data:`SCHEMA` names and the journal lacks, in one transaction (none if it lacks
    nothing, so that opening a journal another process is writing to never waits for it)."""
    names = set(re.findall(r"CREATE (?:TABLE|INDEX) IF NOT EXISTS (\w+)", SCHEMA))
    if names <= {row[0] for row in db.execute("SELECT name FROM sqlite_master")}:
        return
    db.executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a journal written by an older agybatch up to the current columns (one transaction)."""
    def missing():
        return [(table, column, kind, fill) for table, column, kind, fill in ADDED_COLUMNS
                if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}]

    if not missing():
        return
    db.execute("BEGIN IMMEDIATE")
    for table, column, kind, fill in missing():
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        if fill:
            db.execute(fill)
    db.execute("COMMIT")
