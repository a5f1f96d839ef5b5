"""bench/_year.py: the year-old project that status, history and run are timed in, read by the real CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

from _common import WORKLOAD, agybatch, clean_env  # noqa: E402
from _year import year_project  # noqa: E402


def cli(root: Path, *args) -> dict:
    proc = subprocess.run(agybatch(*args, "--json"), cwd=root, env=clean_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_history_lists_a_year_of_nightly_runs_the_newest_real(tmp_path):
    root = year_project(tmp_path, runs=365)
    history = cli(root, "history")
    runs = history["runs"]
    assert len(runs) == 365 and {r["batch"] for r in runs} == {"nightly"}
    assert len({r["started_at"][:10] for r in runs}) == 365  # one a night
    assert {r["verdict"] for r in runs} == {"ok", "partial"}
    assert sum(r["counts"]["succeeded"] for r in runs) + sum(r["counts"]["failed"] for r in runs) == 365 * 12
    usual = {s["label"]: s["median_s"] for s in history["labels"]}
    assert 0.8 * 75 * 60 <= usual["generate:article-a"] <= 1.2 * 75 * 60  # nominal minutes, give or take 20 %

    status = cli(root, "status")
    assert status["run_id"] == runs[0]["run_id"]
    assert [t["label"] for t in status["tasks"]] == [label for label, _ in WORKLOAD]
    stamp = Path(status["tasks"][0]["log_path"]).read_text().split()[0]  # the real run's job printed its start
    assert float(stamp) > 1e9
