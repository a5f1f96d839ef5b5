"""A nightly start by cron: an environment with only PATH, no TTY, no HOME, no locale."""
from __future__ import annotations

import os
import subprocess
import sys

BATCH = """
    [notify]
    partial = ["digest", "screen"]
    [notify.sinks.digest]
    type = "digest"
    path = "agy-night/digest.md"
    [notify.sinks.screen]
    type = "console"

    [[task]]
    label = "generate:article-a"
    command = ["sh", "-c", "echo généré"]

    [[task]]
    label = "audit:internal-links"
    command = ["sh", "-c", "echo 3 broken links >&2; exit 3"]
"""


def cron_run(project, *args):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run([sys.executable, "-m", "agybatch", *args], cwd=project.root, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120)


def test_cron_like_environment_runs_and_prints_plain_text(project):
    project.batch("nightly", BATCH)
    proc = cron_run(project, "run", "nightly")
    out, err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    assert proc.returncode == 2, (out, err)
    assert b"\x1b" not in proc.stdout + proc.stderr  # no colour, no progress line
    assert "\r" not in out
    lines = out.splitlines()
    assert lines[0].startswith("agybatch running batch 'nightly': 2 tasks on local")
    assert any(line.startswith("  audit:internal-links (") and line.endswith("failed): exit 3") for line in lines)
    assert "== 1 succeeded, 1 failed in " in out
    assert "notified: digest, screen" in out
    assert err == ""
    digest = (project.root / "agy-night" / "digest.md").read_text()
    assert "audit:internal-links" in digest


def test_cron_quiet_run_prints_only_the_verdict_line(project):
    project.batch("nightly", BATCH.replace('partial = ["digest", "screen"]', 'partial = ["digest"]'))
    proc = cron_run(project, "run", "-q", "nightly")
    assert proc.returncode == 2
    assert proc.stdout.decode().splitlines()[0].startswith("== 1 succeeded, 1 failed in ")
    assert b"\x1b" not in proc.stdout


def test_cron_second_start_is_refused_by_the_lock(project):
    project.batch("nightly", """
        [[task]]
        label = "long"
        command = ["sleep", "3"]
    """)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    first = subprocess.Popen([sys.executable, "-m", "agybatch", "run", "nightly"], cwd=project.root, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert first.stdout.readline().startswith(b"agybatch running batch")
        second = cron_run(project, "run", "nightly")
        assert first.poll() is None, "the first run still held the lock"
        assert second.returncode == 6
        assert b"already running" in second.stderr
    finally:
        first.communicate(timeout=60)
    assert first.returncode == 0
