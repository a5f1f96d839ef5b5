"""Shared fixtures: a throw-away project on disk and the real ``agybatch`` CLI run against it.

Tests drive agybatch as a user does, through ``python -m agybatch`` in a
subprocess, with real processes, a real SQLite journal and real signals.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.need import REQUIRE_ALL, strict
from tests.helpers.waiting import wait_for

#: ``agy`` (the agy CLI stand-in first on PATH of ``project``); ``repo`` and ``no_identity`` (git without identity).
pytest_plugins = ["tests.agy_fixtures", "tests.worktree_fixtures"]


class Result:
    """A finished CLI call: ``code``, ``out``, ``err`` and ``json()``."""

    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"<Result code={self.code}\n--- out\n{self.out}\n--- err\n{self.err}>"


class Project:
    """A project folder (``tmp/proj``) with a ``pyproject.toml`` and ``batches/``."""

    def __init__(self, root: Path, env: dict) -> None:
        self.root = root
        self.env = env
        self.state = root / ".agybatch"

    def batch(self, name: str, toml: str, **files: str) -> Path:
        """Write ``batches/<name>/batch.toml`` (dedented) and extra files; return the folder."""
        folder = self.root / "batches" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "batch.toml").write_text(textwrap.dedent(toml))
        for filename, text in files.items():
            (folder / filename).write_text(textwrap.dedent(text))
        return folder

    def command(self, *args) -> list:
        return [sys.executable, "-m", "agybatch", *map(str, args)]

    def run(self, *args, timeout: float = 120, env: dict | None = None, cwd: Path | None = None) -> Result:
        """Run ``agybatch ARGS`` to completion."""
        proc = subprocess.run(
            self.command(*args), cwd=cwd or self.root, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        return Result(proc)

    def spawn(self, *args, env: dict | None = None) -> subprocess.Popen:
        """Start ``agybatch ARGS`` in the background (its own process group)."""
        return subprocess.Popen(
            self.command(*args), cwd=self.root, env={**self.env, **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def journal(self):
        """Open the project's journal read-only-ish for assertions."""
        from agybatch.journal import Journal

        return Journal(self.state)

    def job_records(self, event: str) -> dict:
        """``{job ID: record}`` of the ``started`` or ``ended`` records local job supervisors wrote."""
        found = {}
        for path in self.state.glob("runs/*/local-jobs"):
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:  # a line still being written
                    continue
                if record.get("event") == event:
                    found[record["job"]] = record
        return found

    def job_ends(self) -> dict:
        """``{job ID: end record}`` of every local job that ended."""
        return self.job_records("ended")


@pytest.fixture
def project(tmp_path) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "nightly"\nversion = "0"\n')
    keep = {"AGYBATCH_DISABLE_PLUGIN_AUTOLOAD"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGYBATCH_") or k in keep}
    env["PYTHONUNBUFFERED"] = "1"
    project = Project(root, env)
    yield project
    _kill_leftover_jobs(project)


def _kill_leftover_jobs(project: Project) -> None:
    """Stop the jobs a test left running, and their supervisors (they are detached by design)."""
    from agybatch.backends._supervisor import start_ticks

    ended = project.job_ends()
    for job_id, started in project.job_records("started").items():
        if job_id not in ended and start_ticks(started["pid"]) == started["start_ticks"]:
            for kill, pid in ((os.killpg, started["child"]), (os.kill, started["pid"])):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass


@pytest.fixture
def wait():
    """:func:`tests.helpers.waiting.wait_for`: poll for an event, fail the test after a timeout."""
    return wait_for


CRASH_AFTER_SUBMIT = '''
import os
import signal

from agybatch import hookimpl
from {module} import {cls}


class CrashAfterSubmit({cls}):
    """{cls}, but the runner dies right after the backend accepted the job of the task named by
    $CRASH_AFTER_SUBMITTING: the job ID never reaches the journal, only the intent does."""

    def submit(self, task, key):
        status = super().submit(task, key)
        if task.label == os.environ.get("CRASH_AFTER_SUBMITTING"):
            os.kill(os.getpid(), signal.SIGKILL)
        return status


@hookimpl
def register_backends(register):
    register({name!r}, CrashAfterSubmit)
'''


@pytest.fixture
def crash_after_submit():
    """``make(backend, name)``: the text of a ``batchconf.py`` registering backend ``name``, the
    backend class ``backend`` ("package.module:Class") that kills the runner right after the job of
    the task named by ``$CRASH_AFTER_SUBMITTING`` was accepted."""
    def make(backend: str, name: str) -> str:
        module, cls = backend.split(":")
        return CRASH_AFTER_SUBMIT.format(module=module, cls=cls, name=name)

    return make


def pytest_sessionfinish(session, exitstatus):
    """With ``AGYBATCH_REQUIRE_ALL=1`` (CI) a skipped test fails the run, however it was skipped.

    :func:`tests.helpers.need.need` already fails instead of skipping there; this catches a skip
    that bypassed it, so CI can never pass with part of the suite not run.
    """
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if strict() and skipped and session.exitstatus == 0:
        reporter.write_line(f"{REQUIRE_ALL}=1: {len(skipped)} test(s) skipped; every test must run here",
                            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
