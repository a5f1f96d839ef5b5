"""Failed-job log tails: only failures, only the tail, private files inside the run folder."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agybatch.builtin.failedlogs import log_file_name
from agybatch.units import safe_name

NOISY_FAIL = """
    [[task]]
    label = "audit:internal-links"
    command = ["sh", "-c", "for i in $(seq 1 100); do echo line $i; done; echo the cause >&2; exit 3"]
"""
NOISY_OK = """
    [[task]]
    label = "generate:article-a"
    command = ["sh", "-c", "for i in $(seq 1 100); do echo fine $i; done"]
"""


def failed_logs(project):
    return sorted((project.state / "runs").glob("*/failed-*.log"))


def test_tail_of_failed_jobs_only(project):
    project.batch("nightly", NOISY_FAIL + NOISY_OK)
    result = project.run("run", "nightly", "--json")
    assert result.code == 2, result
    [path] = failed_logs(project)
    run_id = result.json()["run_id"]
    assert path.parent == project.state / "runs" / run_id
    lines = path.read_text().splitlines()
    assert len(lines) == 40
    assert lines[-1] == "the cause" and lines[0] == "line 62"
    tasks = {t["label"]: t for t in result.json()["tasks"]}
    assert tasks["audit:internal-links"]["log_path"] == str(path)
    assert path.name.startswith("failed-audit_internal-links-")
    assert "fine" not in "".join(p.read_text() for p in failed_logs(project))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_status_shows_the_saved_log_path(project):
    project.batch("nightly", NOISY_FAIL)
    result = project.run("run", "nightly", "--json")
    path = result.json()["tasks"][0]["log_path"]
    assert Path(path).name.startswith("failed-")
    status = project.run("status", "--json").json()
    assert status["tasks"][0]["log_path"] == path
    assert f"log: {path}" in project.run("status").out


def test_terminal_lists_the_log_path(project):
    project.batch("nightly", NOISY_FAIL)
    result = project.run("run", "nightly")
    [path] = failed_logs(project)
    assert f"      log: {path}" in result.out


def test_command_line_tail_wins_over_the_batch_table(project):
    project.batch("nightly", "[failedlogs]\ntail = 3\n" + NOISY_FAIL)
    project.run("run", "nightly")
    [first] = failed_logs(project)
    assert first.read_text().splitlines() == ["line 99", "line 100", "the cause"]
    project.run("run", "nightly", "--failed-log-tail", "1")
    second = [p for p in failed_logs(project) if p != first][0]
    assert second.read_text() == "the cause\n"


def test_zero_turns_it_off(project):
    project.batch("nightly", NOISY_FAIL)
    result = project.run("run", "nightly", "--failed-log-tail", "0", "--json")
    assert result.code == 1
    assert failed_logs(project) == []


def test_bad_tail_option_is_a_usage_error(project):
    project.batch("nightly", NOISY_FAIL)
    result = project.run("run", "nightly", "--failed-log-tail", "many")
    assert result.code == 4
    assert "--failed-log-tail" in result.err and "many" in result.err


def test_block_the_plugin(project):
    project.batch("nightly", NOISY_FAIL)
    result = project.run("run", "-p", "no:failedlogs", "nightly", "--json")
    assert result.code == 1, result
    assert failed_logs(project) == []


@pytest.mark.parametrize("text", [
    "../../x", "..", ".", "/etc/passwd", "a/../../b", "$(touch pwned)", "x\x00y", "tab\there",
    "\x1b[31mred", "é" * 200, "", "-rf", "...",
])
def test_safe_names_stay_plain(text):
    name = safe_name(text)
    assert name and "/" not in name and "\x00" not in name and ".." not in name
    assert not name.startswith((".", "-"))
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    assert len(name) <= 80
    full = log_file_name(text, text)
    assert Path(full).name == full


def test_different_labels_keep_different_names():
    names = [safe_name(label) for label in ("a/b", "a_b", "a b", "a:b")]
    assert len(set(names)) == len(names), names
    assert log_file_name("audit:internal-links", "r.1.1") == "failed-audit_internal-links-r.1.1.log"
