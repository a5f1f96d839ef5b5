"""The ``agy`` fixture: the agy CLI stand-in (tests/agy_standin/agy) first on PATH for a project.

The root conftest loads this module as a plugin (``pytest_plugins``), so every test can ask for ``agy``.
The stand-in keeps its jobs under a per-test ``AGY_STANDIN_HOME``; the fixture
reads them back for assertions and stops every job worker a test left behind.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

STANDIN_DIR = Path(__file__).parent / "agy_standin"
STANDIN = STANDIN_DIR / "agy"


class AgyStandin:
    """Handle on the stand-in: set knobs with :meth:`configure`, read its jobs and calls."""

    def __init__(self, home: Path, project) -> None:
        self.home = home
        self.project = project
        self.bin = str(STANDIN)

    def configure(self, **knobs) -> None:
        """Set ``AGY_STANDIN_<KNOB>`` for every later ``project.run``; None removes a knob."""
        for name, value in knobs.items():
            key = f"AGY_STANDIN_{name.upper()}"
            if value is None:
                self.project.env.pop(key, None)
            else:
                self.project.env[key] = str(value)

    def cli(self, *args, **knobs) -> subprocess.CompletedProcess:
        """Call the stand-in directly (as a user would call agy)."""
        env = dict(self.project.env)
        env.update({f"AGY_STANDIN_{k.upper()}": str(v) for k, v in knobs.items()})
        return subprocess.run([sys.executable, self.bin, *map(str, args)], env=env,
                              capture_output=True, text=True, timeout=30)

    def jobs(self) -> list:
        """Every job record the stand-in still holds, oldest first (epoch-second times)."""
        records = []
        for path in (self.home / "jobs").glob("*.json"):
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                pass
        return sorted(records, key=lambda j: j["created_at"])

    def job(self, job_id: str) -> dict:
        return json.loads((self.home / "jobs" / f"{job_id}.json").read_text())

    def calls(self) -> list:
        """The argv of every CLI invocation so far, in order."""
        path = self.home / "calls.log"
        if not path.exists():
            return []
        return [json.loads(line.split(" ", 1)[1]) for line in path.read_text().splitlines() if line]

    def count(self, *prefix) -> int:
        """How many calls began with ``prefix``, e.g. ``count("jobs", "list")``."""
        return sum(1 for argv in self.calls() if tuple(argv[: len(prefix)]) == prefix)

    def stop_workers(self) -> None:
        for job in self.jobs():
            if job.get("pid"):
                try:
                    os.killpg(job["pid"], signal.SIGKILL)
                except OSError:
                    pass


@pytest.fixture
def agy(project, tmp_path):
    """Put the agy stand-in first on PATH of ``project``'s CLI runs; yields an :class:`AgyStandin`."""
    home = tmp_path / "agy-home"
    home.mkdir()
    project.env["PATH"] = f"{STANDIN_DIR}{os.pathsep}{project.env.get('PATH', os.defpath)}"
    project.env["AGY_STANDIN_HOME"] = str(home)
    standin = AgyStandin(home, project)
    yield standin
    standin.stop_workers()
