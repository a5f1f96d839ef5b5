"""The journal's ledgers and history queries (parts of :class:`agybatch.journal.Journal`).

:class:`Ledgers` writes and reads the ``attempts`` table (each attempt's
outcome, session and usage) and the ``workspaces`` table (each task's
worktree); :class:`HistoryQueries` answers the questions about earlier runs
that :mod:`agybatch.history` and ``agybatch history`` ask, each in one query.
Both use the journal's ``_read`` and ``_write``.
"""
from __future__ import annotations

#: Columns of ``attempts`` that :meth:`Journal.record_attempt` sets.
ATTEMPT_FIELDS = (
    "job_id", "outcome", "reason", "exit_code", "submitted_at", "ended_at", "session_id", "input_tokens",
    "cached_input_tokens", "output_tokens", "thinking_tokens", "total_tokens", "cost_usd", "model", "unpriced",
    "models",
)
WORKSPACE_FIELDS = ("path", "repo", "base_commit", "branch", "state", "tip", "files", "insertions", "deletions",
                    "kept", "error")


#: The history window: the last N finished runs of a batch, leaving one out, started before a time.
WINDOW = ("(SELECT run_id, started_at FROM runs WHERE batch=? AND run_id IS NOT ? AND exit_code IS NOT NULL"
          " AND started_at <= ? ORDER BY started_at DESC LIMIT ?)")


def _window(batch: str, exclude_run, runs: int, before) -> tuple:
    """The parameters of :data:`WINDOW`."""
    return batch, exclude_run, float("inf") if before is None else before, runs


class Ledgers:
    """The ``attempts`` and ``workspaces`` tables."""

    def record_attempt(self, run_id, label, attempt: int, **fields) -> None:
        """Write the ledger row of one attempt (again, if a crash makes the runner record it twice)."""
        unknown = set(fields) - set(ATTEMPT_FIELDS)
        if unknown:
            raise ValueError(f"unknown attempt fields: {sorted(unknown)}")
        names = ", ".join(("run_id", "label", "attempt", *fields))
        marks = ", ".join("?" * (3 + len(fields)))
        self._write(f"INSERT OR REPLACE INTO attempts ({names}) VALUES ({marks})",
                    (run_id, label, attempt, *fields.values()))

    def note_attempt(self, run_id, label, attempt: int, **fields) -> None:
        """Record an attempt that ended without a result of its own (a failed submission, a job given
        up on), unless it already has its row."""
        names = ", ".join(("run_id", "label", "attempt", *fields))
        marks = ", ".join("?" * (3 + len(fields)))
        self._write(f"INSERT OR IGNORE INTO attempts ({names}) VALUES ({marks})",
                    (run_id, label, attempt, *fields.values()))

    def update_attempt(self, run_id, label, attempt: int, **fields) -> None:
        """Change an attempt's row (a check that failed the attempt after its job succeeded)."""
        unknown = set(fields) - set(ATTEMPT_FIELDS)
        if unknown:
            raise ValueError(f"unknown attempt fields: {sorted(unknown)}")
        sets = ", ".join(f"{name}=?" for name in fields)
        self._write(f"UPDATE attempts SET {sets} WHERE run_id=? AND label=? AND attempt=?",
                    (*fields.values(), run_id, label, attempt))

    def attempts(self, run_id, label=None) -> list:
        """The ledger rows of a run (of one task), in attempt order."""
        sql, params = "SELECT * FROM attempts WHERE run_id=?", [run_id]
        if label is not None:
            sql += " AND label=?"
            params.append(label)
        return self._read(sql + " ORDER BY label, attempt", params)

    def add_workspace(self, run_id, label, path, repo, base_commit, branch) -> None:
        """Record a task's worktree before it is created (state ``adding``); a second call changes nothing."""
        self._write("INSERT OR IGNORE INTO workspaces (run_id, label, path, repo, base_commit, branch, state)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'adding')", (run_id, label, str(path), str(repo), base_commit, branch))

    def update_workspace(self, run_id, label, **fields) -> None:
        """Set ``fields`` of a task's workspace row (``state``, and what its conclusion found)."""
        unknown = set(fields) - set(WORKSPACE_FIELDS)
        if unknown:
            raise ValueError(f"unknown workspace fields: {sorted(unknown)}")
        sets = ", ".join(f"{name}=?" for name in fields)
        self._write(f"UPDATE workspaces SET {sets} WHERE run_id=? AND label=?", (*fields.values(), run_id, label))

    def workspaces(self, run_id=None, batch=None) -> list:
        """Workspace rows of one run, or of every run (of ``batch``), newest first, each with its
        run's ``batch`` and its task's ``outcome``."""
        sql = ("SELECT w.*, r.batch, t.outcome FROM workspaces w JOIN runs r ON r.run_id = w.run_id"
               " JOIN tasks t ON t.run_id = w.run_id AND t.label = w.label")
        if run_id is not None:
            return self._read(sql + " WHERE w.run_id=? ORDER BY w.label", (run_id,))
        if batch is not None:
            return self._read(sql + " WHERE r.batch=? ORDER BY r.started_at DESC, w.label", (batch,))
        return self._read(sql + " ORDER BY r.started_at DESC, w.label")


class HistoryQueries:
    """Questions about a batch's earlier runs."""

    def outcome_counts(self, batch=None) -> dict:
        """``{run_id: {outcome: n}}`` of every run (of one batch), in one query."""
        sql = "SELECT t.run_id, t.outcome, COUNT(*) AS n FROM tasks t"
        params = []
        if batch is not None:
            sql += " JOIN runs r ON r.run_id = t.run_id WHERE r.batch=?"
            params.append(batch)
        found: dict = {}
        for row in self._read(sql + " GROUP BY t.run_id, t.outcome", params):
            if row["outcome"]:
                found.setdefault(row["run_id"], {})[row["outcome"]] = row["n"]
        return found

    def usage_history(self, batch: str, exclude_run: str | None = None, runs: int = 20,
                      before: float | None = None) -> dict:
        """``{label: [(cost_usd, tokens), ...]}``, newest first: what each label's task cost over all its
        attempts in each of the last ``runs`` finished runs of ``batch`` (started before ``before``), for
        tasks whose attempts reported usage. ``tokens`` is the reported total, else the sum of the parts."""
        rows = self._read(
            "SELECT a.label, SUM(a.cost_usd) AS cost, COUNT(a.cost_usd) AS priced,"
            " SUM(COALESCE(a.total_tokens, COALESCE(a.input_tokens, 0) + COALESCE(a.cached_input_tokens, 0)"
            "     + COALESCE(a.output_tokens, 0) + COALESCE(a.thinking_tokens, 0))) AS tokens,"
            " COUNT(COALESCE(a.total_tokens, a.input_tokens, a.cached_input_tokens, a.output_tokens,"
            "     a.thinking_tokens)) AS counted"
            f" FROM attempts a JOIN {WINDOW} r ON r.run_id = a.run_id"
            " GROUP BY a.run_id, a.label ORDER BY MAX(r.started_at) DESC",
            _window(batch, exclude_run, runs, before),
        )
        found: dict = {}
        for row in rows:
            cost = row["cost"] if row["priced"] else None
            tokens = row["tokens"] if row["counted"] else None
            if cost is not None or tokens is not None:
                found.setdefault(row["label"], []).append((cost, tokens))
        return found

    def latest_tasks(self, batch: str, runs: int = 20) -> dict:
        """``{label: row}``: each label's task row (with ``took`` and ``run_id``) in the newest of the
        last ``runs`` finished runs of ``batch`` that has it."""
        rows = self._read(
            "SELECT t.label, t.outcome, t.run_id, t.ended_at - t.submitted_at AS took FROM tasks t"
            " JOIN (SELECT run_id, started_at FROM runs WHERE batch=? AND exit_code IS NOT NULL"
            "       ORDER BY started_at DESC, rowid DESC LIMIT ?) r ON r.run_id = t.run_id"
            " ORDER BY r.started_at DESC, t.seq",
            (batch, runs),
        )
        found: dict = {}
        for row in rows:
            found.setdefault(row["label"], row)
        return found

    def durations(self, batch: str, exclude_run: str | None = None, runs: int = 20,
                  before: float | None = None) -> dict:
        """``{label: [seconds, ...]}``, newest first, from the last ``runs`` finished runs of ``batch``
        (only runs started before ``before``, when given).

        A duration is submit -> end of a task that ran to an end of its own
        (succeeded or failed); stopped, lost and skipped tasks say nothing
        about how long a label usually takes.
        """
        rows = self._read(
            f"SELECT t.label, t.ended_at - t.submitted_at AS took FROM tasks t JOIN {WINDOW} r ON r.run_id = t.run_id"
            " WHERE t.outcome IN ('succeeded', 'failed') AND t.ended_at IS NOT NULL"
            " AND t.submitted_at IS NOT NULL ORDER BY r.started_at DESC",
            _window(batch, exclude_run, runs, before),
        )
        found: dict = {}
        for row in rows:
            found.setdefault(row["label"], []).append(row["took"])
        return found
