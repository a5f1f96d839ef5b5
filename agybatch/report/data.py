"""What a report shows, from a live run or rebuilt from the journal for any past run.

:func:`from_journal` rebuilds the :class:`~agybatch.model.RunSummary` of a
recorded run from its journal rows (with the duration labels the run
journalled, if its ``durations`` plugin made any); :func:`from_summary` takes
the summary a run just joined with. Both then go through :func:`build`, which
adds what only the journal knows: each label's usual (median) duration over
the runs of the same batch *before* this one (:mod:`agybatch.history`), and
the earlier attempts of retried tasks. So ``agybatch run --html`` and a later
``agybatch report RUN_ID --html`` draw the same page.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Optional

#: Lines of a failed job's log shown in the HTML page and JUnit ``system-out``.
TAIL_LINES = 40
TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class Attempt:
    """An earlier attempt of a retried task, from the journal's events (times are epoch seconds)."""

    submitted_at: float
    started_at: Optional[float]
    ended_at: float
    outcome: str
    job_id: Optional[str] = None


@dataclass
class Report:
    """A run summary plus what reports show beside it.

    :ivar summary: the :class:`~agybatch.model.RunSummary`.
    :ivar usual: ``{label: agybatch.history.Usual}`` from earlier runs of the batch.
    :ivar attempts: ``{label: [Attempt, ...]}`` for tasks that were retried.
    :ivar unfinished: the run has no verdict in the journal (still running,
        or its runner died; ``agybatch join`` finishes it).
    :ivar logs_removed: retention removed the run's files; the tasks' ``log_path``
        is None where the log went with them.
    :ivar host: the machine the report was made on.
    :ivar generated_at: when the report was made.
    """

    summary: object
    usual: dict = field(default_factory=dict)
    attempts: dict = field(default_factory=dict)
    unfinished: bool = False
    logs_removed: bool = False
    host: str = ""
    generated_at: float = field(default_factory=time.time)

    @property
    def state(self) -> str:
        """``unfinished`` or the summary's verdict (``ok``, ``partial``, ``wipeout``, ``interrupted``)."""
        return "unfinished" if self.unfinished else self.summary.verdict

    def pace_setter(self):
        """The task the run waited for: the one that ended last (ties: the longest). None if none ended."""
        ended = [t for t in self.summary.tasks if t.ended_at is not None]
        if not ended:
            return None
        return max(ended, key=lambda t: (t.ended_at, t.duration_s or 0.0))

    def log_tail(self, task, lines: int = TAIL_LINES) -> Optional[str]:
        """The last ``lines`` lines of the log of a task that did not succeed, or None.

        Succeeded tasks' logs are never read. A missing, unreadable or empty file is None.
        """
        if task.ok or not task.log_path:
            return None
        return read_tail(task.log_path, lines) or None


def read_tail(path, lines: int = TAIL_LINES, max_bytes: int = TAIL_BYTES) -> Optional[str]:
    """The last ``lines`` lines of the regular file ``path`` (at most ``max_bytes``), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        import stat

        if not stat.S_ISREG(info.st_mode):
            return None
        start = max(0, info.st_size - max_bytes)
        os.lseek(fd, start, os.SEEK_SET)
        data = b""
        while True:
            chunk = os.read(fd, max_bytes - len(data))
            if not chunk or len(data) >= max_bytes:
                break
            data += chunk
    except OSError:
        return None
    finally:
        os.close(fd)
    text = data.decode("utf-8", "replace")
    if start and "\n" in text:
        text = text.split("\n", 1)[1]
    kept = text.splitlines()[-lines:] if lines else []
    return "\n".join(kept) + ("\n" if kept else "")


def earlier_attempts(events) -> dict:
    """``{label: [Attempt, ...]}``: the attempts that ended in a retry (or a park for a rate limit),
    from journal event rows."""
    current: dict = {}
    found: dict = {}
    for event in events:
        label, kind = event["label"], event["kind"]
        if kind == "submitted":
            current[label] = {"submitted_at": event["at"], "started_at": None, "job_id": event["job_id"]}
        elif kind == "state" and event["state"] == "running" and label in current:
            current[label]["started_at"] = current[label]["started_at"] or event["at"]
        elif kind in ("retry", "park") and label in current:
            attempt = current.pop(label)
            found.setdefault(label, []).append(Attempt(ended_at=event["at"], outcome=event["state"] or "failed",
                                                       **attempt))
    return found


def build(summary, journal, run_row, unfinished: bool = False) -> Report:
    """A :class:`Report` for ``summary``, with usual durations and earlier attempts from ``journal``."""
    from ..history import History, settings_or_defaults

    window = settings_or_defaults(json.loads(run_row["settings"]).get("tables", {}))["history"]
    usual = History(journal, summary.batch, window).usual_durations(run_row["run_id"], before=run_row["started_at"])
    attempts = earlier_attempts(journal.events(summary.run_id))
    return Report(summary=summary, usual=usual, attempts=attempts, unfinished=unfinished, host=_host())


def from_summary(session, summary) -> Report:
    """The report of the run ``session`` just joined."""
    return build(summary, session.journal, session.journal.run(session.run_id))


def summary_from_rows(run_row, task_rows, now: Optional[float] = None):
    """The :class:`~agybatch.model.RunSummary` of a recorded run, with the duration labels it journalled."""
    from ..model import ExitCode, RunSummary
    from ..records import TaskRecord

    tasks = [TaskRecord.from_row(row).result() for row in task_rows]
    exit_code = run_row["exit_code"]
    return RunSummary(
        run_id=run_row["run_id"], batch=run_row["batch"], backend=run_row["backend"],
        started_at=run_row["started_at"], ended_at=run_row["ended_at"] if exit_code is not None else (now or time.time()),
        tasks=tasks, interrupted=exit_code is None or exit_code == ExitCode.INTERRUPTED,
        poll_failures=run_row["poll_failures"] or 0,
        stopped_by=run_row["stopped_by"] if "stopped_by" in run_row.keys() else None,
    )


def from_journal(journal, run_id: str) -> Report:
    """Rebuild the report of run ``run_id`` from the journal alone (any past run, or one in progress)."""
    run_row = journal.run(run_id)
    if run_row is None:
        raise LookupError(f"no run {run_id!r} in {journal.path}")
    from ..ledger import attach

    summary = attach(summary_from_rows(run_row, journal.tasks(run_id)), journal)
    report = build(summary, journal, run_row, unfinished=run_row["exit_code"] is None)
    if "pruned_at" in run_row.keys() and run_row["pruned_at"]:
        report.logs_removed = True
        for task in summary.tasks:
            if task.log_path and not os.path.exists(task.log_path):
                task.log_path = None
    return report


def _host() -> str:
    try:
        return socket.gethostname()
    except OSError:
        return ""
