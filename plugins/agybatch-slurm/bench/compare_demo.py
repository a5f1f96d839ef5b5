"""Run the demo batch on the local backend and on a real single-node Slurm cluster; print makespan and overhead.

Usage (as root, from the repository root, with the plugin and the Slurm packages installed)::

    python plugins/agybatch-slurm/bench/compare_demo.py [--repeat 3] [--cpus 6] [--poll-max 1s]

For each backend it copies ``batches/demo/batch.toml`` into a throw-away
project, runs ``agybatch run demo --json`` ``--repeat`` times and reports the
median makespan (the run's ``duration_s``) and the median per-task overhead:
a task's ``duration_s`` (submitted to ended, as agybatch saw it) minus the
time its command needs (its sleeps, or its timeout). The cluster is the
tests' own (``tests/slurm_cluster.py``: munged, MariaDB, slurmdbd, slurmctld,
slurmd on 127.0.0.1), with a node of ``--cpus`` logical CPUs, started once.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from slurm_cluster import slurm_missing, start_cluster  # noqa: E402  (the tests' real-cluster helper)

#: Seconds each demo task's command needs (its timeout for the one that hangs).
NOMINAL = {
    "generate:article-a": 4.0, "audit:internal-links": 2.0, "report:admob-mediation": 6.0,
    "i18n:store-screenshots": 3.0, "cleanup:tmp": 1.0, "translate:stuck-call": 3.0,
}


def run_demo(backend: str, env: dict, poll_max: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="agybench-") as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
        (root / "batches" / "demo").mkdir(parents=True)
        toml = (ROOT / "batches" / "demo" / "batch.toml").read_text()
        if poll_max:
            toml += f'\n[batch.poll]\nmax = "{poll_max}"\n'
        (root / "batches" / "demo" / "batch.toml").write_text(toml)
        proc = subprocess.run([sys.executable, "-m", "agybatch", "run", "demo", "--backend", backend, "--json", "-q"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=300)
        summary = json.loads(proc.stdout)
    overheads = [t["duration_s"] - NOMINAL[t["label"]] for t in summary["tasks"] if t["duration_s"] is not None]
    return {"exit": summary["exit_code"], "makespan": summary["duration_s"],
            "overhead": statistics.median(overheads), "worst": max(overheads),
            "outcomes": sorted(t["outcome"] for t in summary["tasks"])}


def measure(name: str, backend: str, env: dict, repeat: int, poll_max: str | None = None) -> None:
    runs = [run_demo(backend, env, poll_max) for _ in range(repeat)]
    assert len({json.dumps([r["exit"], r["outcomes"]]) for r in runs}) == 1, runs
    print(f"{name:<28} exit {runs[0]['exit']}  makespan median {statistics.median(r['makespan'] for r in runs):5.1f}s"
          f"  (runs: {', '.join('%.1f' % r['makespan'] for r in runs)})"
          f"  per-task overhead median {statistics.median(r['overhead'] for r in runs):4.2f}s"
          f"  worst {max(r['worst'] for r in runs):4.1f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=6, help="logical CPUs of the cluster's node (default 6)")
    parser.add_argument("--poll-max", help="also run Slurm with [batch.poll] max = POLL_MAX (e.g. 1s)")
    parser.add_argument("--no-local", action="store_true", help="skip the local backend")
    args = parser.parse_args()
    reason = slurm_missing()
    if reason:
        sys.exit(reason)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGYBATCH_")}
    if not args.no_local:
        measure("local", "local", base, args.repeat)
    cluster = start_cluster(cpus=args.cpus)
    try:
        env = cluster.env(base)
        measure(f"slurm ({args.cpus} CPUs)", "slurm", env, args.repeat)
        if args.poll_max:
            measure(f"  poll max {args.poll_max}", "slurm", env, args.repeat, args.poll_max)
    finally:
        cluster.stop()
        cluster.remove()


if __name__ == "__main__":
    main()
