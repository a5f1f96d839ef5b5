"""The run journal: one SQLite file (WAL) holding every run, submission and state change.

Writes are transactions: a runner killed at any instant leaves either the
old or the new row, never half of one. The runner commits before any hook
is called, so ``agybatch join`` can always pick up where a run stopped.
"""
from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import JournalError
from .files import ensure_private_dir
from .journal_reads import HistoryQueries, Ledgers
from .journal_schema import add_missing_columns, create_tables

#: Seconds a journal write waits for another process's write to finish.
BUSY_TIMEOUT = 10.0

#: Columns of ``tasks`` that :meth:`Journal.update_task` may set.
TASK_FIELDS = (
    "phase", "submit_key", "job_id", "attempts", "state", "exit_code", "submitted_at",
    "started_at", "ended_at", "outcome", "reason", "log_path", "not_before", "last_outcome",
    "duration_label", "parks", "session_id", "response_excerpt", "result_reason", "check_run", "stop_outcome",
    "stop_reason",
)


class Journal(Ledgers, HistoryQueries):
    """The SQLite journal in ``<state>/journal.sqlite``.

    ``Journal(state_dir)`` opens it for writing (creating the state folder and
    the schema); :meth:`reader` opens it for commands that only read.
    """

    def __init__(self, state_dir: Path, read_only: bool = False) -> None:
        self._depth = 0
        self.read_only = read_only
        if read_only:
            self._open_read_only(state_dir / "journal.sqlite")
            return
        self.path = ensure_private_dir(state_dir) / "journal.sqlite"
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self._prepare()
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"{self.path}: cannot open journal: {exc}") from None

    @classmethod
    def reader(cls, state_dir: Path) -> "Journal":
        """The journal for reading only (``status``, ``history``, ``logs``, ``report``): it works on a
        read-only state folder and never changes a thing. A state folder without a journal yet gets
        an empty one, as :class:`Journal` would make it."""
        if not (state_dir / "journal.sqlite").exists():
            return cls(state_dir)
        try:
            return cls(state_dir, read_only=True)
        except JournalError:
            if not os.access(state_dir, os.W_OK):
                raise
            # A runner may have just created the file and not its schema yet: make (or wait for) it.
            return cls(state_dir)

    def _open_read_only(self, path: Path) -> None:
        self.path = path
        uri = "file:" + str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
        last = None
        # A read-only folder that holds no -wal/-shm files (the last writer cleaned up) can only be
        # read as immutable; no agybatch can write through that folder meanwhile anyway.
        for mode in ("mode=ro", "immutable=1"):
            try:
                self.db = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
                self.db.row_factory = sqlite3.Row
                self.db.execute("SELECT run_id FROM runs LIMIT 1").fetchall()
                return
            except sqlite3.Error as exc:
                last = exc
        raise JournalError(f"{self.path}: cannot read journal: {last}") from None

    def _prepare(self) -> None:
        """Switch to WAL and create the schema, retrying while another process does the same.

        SQLite answers "database is locked" at once, without waiting, when two
        connections race to change the journal mode of a new file.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                create_tables(self.db)
                add_missing_columns(self.db)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                time.sleep(random.uniform(0.005, 0.05))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self):
        """Group writes into one commit; nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: journal is not writable: {exc}") from None
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: cannot commit to journal: {exc}") from None

    def _write(self, sql: str, params=()) -> None:
        try:
            with self.transaction():
                self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: journal write failed: {exc}") from None

    def _read(self, sql: str, params=()) -> list:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc) and self.read_only:
                return []  # a journal older than the table, opened read-only (so never upgraded)
            raise JournalError(f"{self.path}: journal read failed: {exc}") from None
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: journal read failed: {exc}") from None

    # -- runs ---------------------------------------------------------------

    def create_run(self, run_id, batch, batch_path, backend, settings, started_at, tasks) -> None:
        """Record a new run and its tasks (``[(seq, label, spec_dict)]``) in one commit."""
        try:
            with self.transaction():
                self.db.execute(
                    "INSERT INTO runs (run_id, batch, batch_path, backend, settings, started_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, batch, str(batch_path), backend, json.dumps(settings), started_at),
                )
                self.db.executemany(
                    "INSERT INTO tasks (run_id, seq, label, spec) VALUES (?, ?, ?, ?)",
                    [(run_id, seq, label, json.dumps(spec)) for seq, label, spec in tasks],
                )
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: cannot record run: {exc}") from None

    def finish_run(self, run_id, ended_at, exit_code, verdict, poll_failures, stopped_by=None) -> None:
        self._write(
            "UPDATE runs SET ended_at=?, exit_code=?, verdict=?, poll_failures=?, stopped_by=? WHERE run_id=?",
            (ended_at, exit_code, verdict, poll_failures, stopped_by, run_id),
        )

    def mark_joined(self, run_id, at) -> None:
        """Record that the ``on_join`` hooks (the summary, notifications, reports) ran for ``run_id``."""
        self._write("UPDATE runs SET joined_at=? WHERE run_id=?", (at, run_id))

    def reopen_run(self, run_id) -> None:
        """Mark an interrupted run unfinished again, for ``join``."""
        self._write("UPDATE runs SET ended_at=NULL, exit_code=NULL, verdict=NULL, joined_at=NULL WHERE run_id=?",
                    (run_id,))

    def mark_stopped_by(self, run_id, why: str) -> None:
        """Record what stopped the run early (``budget``), so that a ``join`` after a crash knows it."""
        self._write("UPDATE runs SET stopped_by=? WHERE run_id=?", (why, run_id))

    def set_runner(self, run_id, runner: str) -> None:
        """Record the process that runs (or joins) the run: :func:`agybatch.liveness.me`."""
        self._write("UPDATE runs SET runner=? WHERE run_id=?", (runner, run_id))

    def mark_pruned(self, run_id, at) -> None:
        """Record that a run's files were removed by retention (its rows stay)."""
        self._write("UPDATE runs SET pruned_at=? WHERE run_id=?", (at, run_id))

    def compact(self, threshold: float = 0.25) -> bool:
        """``VACUUM`` when more than ``threshold`` of the file is free pages; False if it was not
        needed or another process holds the journal (a later prune tries again)."""
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        if not pages or free / pages <= threshold:
            return False
        try:
            self.db.execute("VACUUM")
        except sqlite3.OperationalError:
            return False
        return True

    def request_cancel(self, run_id) -> None:
        self._write("UPDATE runs SET cancel_requested=1 WHERE run_id=?", (run_id,))

    def cancel_requested(self, run_id) -> bool:
        rows = self._read("SELECT cancel_requested FROM runs WHERE run_id=?", (run_id,))
        return bool(rows and rows[0]["cancel_requested"])

    def run(self, run_id):
        rows = self._read("SELECT * FROM runs WHERE run_id=?", (run_id,))
        return rows[0] if rows else None

    def runs(self, batch=None, limit=None) -> list:
        """Runs, newest first, optionally of one batch."""
        sql, params = "SELECT * FROM runs", []
        if batch is not None:
            sql += " WHERE batch=?"
            params.append(batch)
        sql += " ORDER BY started_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._read(sql, params)

    def latest_run(self, unfinished=False, batch=None):
        """The newest run; if ``unfinished``, the newest without a verdict, interrupted, or whose
        ``on_join`` hooks never ran (the runner died right after its verdict)."""
        for row in self.runs(batch):
            if not unfinished or row["exit_code"] is None or row["exit_code"] == 130 or row["joined_at"] is None:
                return row
        return None

    # -- tasks and events ----------------------------------------------------

    def tasks(self, run_id) -> list:
        return self._read("SELECT * FROM tasks WHERE run_id=? ORDER BY seq", (run_id,))

    def update_task(self, run_id, label, event=None, **fields) -> None:
        """Set ``fields`` of one task and append ``event`` ``(kind, job_id, state, detail)``."""
        unknown = set(fields) - set(TASK_FIELDS)
        if unknown:
            raise ValueError(f"unknown task fields: {sorted(unknown)}")
        try:
            with self.transaction():
                if fields:
                    sets = ", ".join(f"{name}=?" for name in fields)
                    self.db.execute(
                        f"UPDATE tasks SET {sets} WHERE run_id=? AND label=?",
                        (*fields.values(), run_id, label),
                    )
                if event is not None:
                    kind, job_id, state, detail = event
                    self.db.execute(
                        "INSERT INTO events (run_id, label, at, kind, job_id, state, detail)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (run_id, label, time.time(), kind, job_id, state, detail),
                    )
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: journal write failed: {exc}") from None

    def events(self, run_id, label=None) -> list:
        sql, params = "SELECT * FROM events WHERE run_id=?", [run_id]
        if label is not None:
            sql += " AND label=?"
            params.append(label)
        return self._read(sql + " ORDER BY id", params)
