"""The project-wide ``[state]`` table: how much of the state folder is kept.

``[state]`` lives in ``agybatch.toml`` or ``[tool.agybatch.state]`` of
``pyproject.toml``; it is not a batch default, so a batch file cannot set
it, and its errors name the project's settings file::

    [state]
    keep_runs = 30          # per batch: the job logs and run folders of the last 30 runs
    keep_days = 0           # also keep anything newer than this many days
    max_log_size = "100MB"  # default cap of each job's log ([batch] and tasks may set their own)

After every run that reached a verdict, and with ``agybatch prune``, the
files of older runs are removed (:func:`plan`, :func:`prune`); the journal
keeps every run's rows, so ``history``, medians and ``--lf`` are unaffected,
and ``agybatch logs`` for a pruned run says the logs are gone.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .taskspec import DEFAULT_MAX_LOG_SIZE, MIN_LOG_SIZE
from .validate import Checker


@dataclass(frozen=True)
class StateSettings:
    """The validated ``[state]`` table."""

    keep_runs: int = 30
    keep_days: float = 0.0
    max_log_size: int = DEFAULT_MAX_LOG_SIZE


def state_settings(project) -> StateSettings:
    """The project's ``[state]``; a bad value is a ConfigError naming the settings file and key."""
    table: Optional[dict] = project.settings.get("state")
    if table is None:
        return StateSettings()
    check = Checker(project.settings_path)
    where = "[tool.agybatch.state]" if project.settings_path.name == "pyproject.toml" else "[state]"
    if not isinstance(table, dict):
        check.fail("", f"{where} must be a table", "state")
    found = {}
    for key, value in table.items():
        if key == "keep_runs":
            found[key] = check.whole(where, key, value, minimum=1)
        elif key == "keep_days":
            found[key] = check.number(where, key, value)
        elif key == "max_log_size":
            found[key] = check.size(where, key, value, minimum=MIN_LOG_SIZE)
        else:
            check.unknown(where, key, {"keep_runs", "keep_days", "max_log_size"})
    return StateSettings(**found)


@dataclass(frozen=True)
class Pruned:
    """One run whose files a prune removes (or, dry, would remove)."""

    run_id: str
    batch: str
    started_at: float
    paths: tuple
    bytes: int


def plan(journal, state_dir: Path, settings: StateSettings, batch: Optional[str] = None,
         now: Optional[float] = None, keep: tuple = ()) -> list:
    """The runs whose files retention no longer keeps, oldest first, each with the paths it still has.

    Per batch, the newest ``keep_runs`` runs are kept, and every run newer than
    ``keep_days``; so are runs without a verdict (running, interrupted, or
    never told: ``join`` may still want them) whatever their age. The journal's
    rows are never part of it, nor the runs in ``keep`` (the run just joined,
    however old). A plan made again after a prune that was killed halfway finds
    the same runs, minus the files already gone.
    """
    now = time.time() if now is None else now
    keep_after = now - settings.keep_days * 86400 if settings.keep_days else None
    found, seen = [], {}
    for row in journal.runs(batch):  # newest first
        name = row["batch"]
        seen[name] = seen.get(name, 0) + 1
        unfinished = row["exit_code"] is None or row["exit_code"] == 130 or row["joined_at"] is None
        if unfinished or row["run_id"] in keep or seen[name] <= settings.keep_runs \
                or (keep_after and row["started_at"] >= keep_after):
            continue
        paths = run_files(state_dir, row["run_id"])
        if paths or not _column(row, "pruned_at"):
            found.append(Pruned(row["run_id"], name, row["started_at"], tuple(paths), _size(paths)))
    return found[::-1]


def prune(journal, state_dir: Path, runs: list) -> None:
    """Mark each run of ``runs`` (from :func:`plan`) pruned in the journal, then remove its files: a run
    whose files a killed prune left half removed says so, and the next prune finishes it."""
    for run in runs:
        journal.mark_pruned(run.run_id, time.time())
        for path in run.paths:
            _remove(path)


def unfinished_runs(journal, batch: Optional[str] = None) -> list:
    """Runs without a verdict (interrupted, or their runner died): retention keeps their files until
    they are joined (``agybatch join``) or cancelled."""
    return [row["run_id"] for row in journal.runs(batch)
            if row["exit_code"] is None or row["exit_code"] == 130 or row["joined_at"] is None]


def run_files(state_dir: Path, run_id: str) -> list:
    """What a run left in the state folder: its run folder and its jobs' logs (``jobs/<run_id>.*``).

    Worktrees (``worktrees/<run_id>/``) are not among them: they may hold work nobody committed;
    ``agybatch worktrees --prune`` removes the ones that are clean.
    """
    paths = [path for path in (state_dir / "runs" / run_id,) if path.exists()]
    jobs = state_dir / "jobs"
    if jobs.is_dir():
        paths += sorted(jobs.glob(f"{run_id}.*"))
    return paths


def _size(paths) -> int:
    total = 0
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for folder, _, files in os.walk(path):
                total += sum(_lsize(os.path.join(folder, name)) for name in files)
        else:
            total += _lsize(path)
    return total


def _lsize(path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def _column(row, name: str):
    return row[name] if name in row.keys() else None
