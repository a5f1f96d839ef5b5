"""Benchmark: the agy backend against the article's bash loop, on the source's 12-job workload.

The jobs last 75, 31, 22, 18, 15, 12, 10, 9, 8, 6, 5 and 3 minutes in the
article; here 1 s stands for a minute (``--scale``), run by the agy stand-in
(tests/agy_standin/agy). Three runs, about 80-95 s each:

1. ``bash``: the article's fan-out / poll / join loop (bench/bash_loop.sh);
2. ``first``: ``agybatch run`` with an empty journal (default poll schedule);
3. ``history``: ``agybatch run`` again, with run 2 in the journal.

For each: makespan (wall time of the whole command, and its ratio to the
slowest job), status calls (``agy jobs list`` + ``agy jobs get``, counted by
the stand-in) and detection latency (when the runner noticed an end minus when
the job really ended, per job). Figures are printed and handed in as the
``## agy backend`` section.

    python bench/bench_agy.py [--runs bash,first,history] [--scale 1.0]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, WORKLOAD, machine, write_section

STANDIN_DIR = ROOT / "tests" / "agy_standin"
SECTION = "agy backend"
MODEL = "gemini-3.5-flash"
GOALS = {
    "first": {"ratio": 1.03, "calls": 49, "max_latency": 2.5},
    "history": {"ratio": 1.03, "calls": 20, "max_latency": 1.0},
}
NAMES = {
    "bash": "article's bash loop (`bench/bash_loop.sh`)",
    "first": "agybatch, first run (default polling)",
    "history": "agybatch, one earlier run in the journal",
}


def standin_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGYBATCH_", "AGY_STANDIN_"))}
    env.update(PATH=f"{STANDIN_DIR}{os.pathsep}{env.get('PATH', os.defpath)}", AGY_STANDIN_HOME=str(home),
               PYTHONUNBUFFERED="1")
    return env


def standin_jobs(home: Path) -> dict:
    jobs = {}
    for path in (home / "jobs").glob("*.json"):
        job = json.loads(path.read_text())
        jobs[job["job_id"]] = job
    return jobs


def status_calls(home: Path) -> int:
    count = 0
    for line in (home / "calls.log").read_text().splitlines():
        argv = json.loads(line.split(" ", 1)[1])
        count += argv[:2] in (["jobs", "list"], ["jobs", "get"])
    return count


def make_project(base: Path, scale: float) -> Path:
    project = base / "project"
    folder = project / "batches" / "nightly"
    folder.mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    tasks = "".join(f'\n[[task]]\nlabel = "{label}"\nprompt = "sleep={minutes * scale:g}"\n'
                    for label, minutes in WORKLOAD)
    (folder / "batch.toml").write_text(f'[batch]\nbackend = "agy"\n\n[batch.agy]\nmodel = "{MODEL}"\n{tasks}')
    return project


def run_agybatch(project: Path, home: Path) -> dict:
    home.mkdir()
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "agybatch", "run", "nightly", "--json", "-q"], cwd=project,
                          env=standin_env(home), capture_output=True, text=True, timeout=900)
    wall = time.time() - started
    if proc.returncode != 0:
        raise SystemExit(f"agybatch run failed ({proc.returncode}):\n{proc.stderr}")
    summary = json.loads(proc.stdout)
    db = sqlite3.connect(project / ".agybatch" / "journal.sqlite")
    noticed = dict(db.execute("SELECT label, at FROM events WHERE run_id=? AND kind='final'",
                              (summary["run_id"],)).fetchall())
    db.close()
    jobs = standin_jobs(home)
    latency = {t["label"]: noticed[t["label"]] - jobs[t["job_id"]]["ended_at"] for t in summary["tasks"]}
    return result(summary["duration_s"], wall, status_calls(home), latency, jobs, summary["poll_failures"])


def run_bash(base: Path, home: Path, scale: float) -> dict:
    home.mkdir()
    taskfile = base / "tasks.txt"
    taskfile.write_text("".join(f"{label}|sleep={minutes * scale:g}|{MODEL}\n" for label, minutes in WORKLOAD))
    env = {**standin_env(home), "LOG_DIR": str(base)}
    started = time.time()
    proc = subprocess.run(["bash", str(ROOT / "bench" / "bash_loop.sh"), str(taskfile)], env=env,
                          capture_output=True, text=True, timeout=900)
    wall = time.time() - started
    if proc.returncode != 0:
        raise SystemExit(f"bash loop failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    jobs = standin_jobs(home)
    latency = {}
    for match in re.finditer(r"^(\d+\.\d+) done: (.+) -> \w+ \((\S+)\)$", proc.stdout, re.M):
        latency[match.group(2)] = float(match.group(1)) - jobs[match.group(3)]["ended_at"]
    return result(wall, wall, status_calls(home), latency, jobs, 0)


def result(makespan: float, wall: float, calls: int, latency: dict, jobs: dict, poll_failures: int) -> dict:
    slowest = max(j["ended_at"] - j["started_at"] for j in jobs.values())
    values = sorted(latency.values())
    return {
        "makespan": makespan, "wall": wall, "slowest_job": slowest, "calls": calls, "latency": latency,
        "median": statistics.median(values), "max": values[-1], "poll_failures": poll_failures,
    }


def verdict(kind: str, res: dict, nominal: float) -> str:
    goal = GOALS.get(kind)
    if not goal:
        return "—"
    if nominal != WORKLOAD[0][1]:
        return "— (the goals are for 1 s a minute)"
    checks = [res["makespan"] / nominal <= goal["ratio"], res["calls"] <= goal["calls"],
              res["max"] <= goal["max_latency"]]
    text = f"≤ {goal['ratio']}×, ≤ {goal['calls']} calls, max ≤ {goal['max_latency']} s"
    return ("met" if all(checks) else "**missed**") + f" ({text})"


def report(results: dict, scale: float) -> str:
    nominal = WORKLOAD[0][1] * scale
    lines = [
        f"The source's 12-job nightly batch (jobs of {', '.join(str(m) for _, m in WORKLOAD)} minutes, "
        f"{sum(m for _, m in WORKLOAD)} minutes in total), scaled to {scale:g} s per minute, so the slowest "
        f"job lasts {nominal:g} s. Jobs run on the agy stand-in (`tests/agy_standin/agy`), which counts "
        "every CLI call. A status call is one `agy jobs list` or `agy jobs get`. Detection latency is "
        "when the runner noticed a job's end minus when the job really ended. Makespan runs from the start "
        "of the run (before the first submission) to its verdict; the wall time of the whole command "
        "adds the Python interpreter's start-up for agybatch.", "",
        "| run | makespan (× slowest job) | command wall time | status calls | detection latency median / max "
        "| goal (issue 4) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, res in results.items():
        lines.append(
            f"| {NAMES[kind]} | {res['makespan']:.1f} s ({res['makespan'] / nominal:.3f}×) | {res['wall']:.1f} s "
            f"| {res['calls']} | "
            f"{res['median']:.2f} s / {res['max']:.2f} s | {verdict(kind, res, nominal)} |")
    lines += ["", "Detection latency per job, in seconds:", "",
              "| job | minutes | " + " | ".join(NAMES[k].split(" (")[0] for k in results) + " |",
              "|---|---|" + "---|" * len(results)]
    for label, minutes in WORKLOAD:
        cells = " | ".join(f"{res['latency'].get(label, float('nan')):.2f}" for res in results.values())
        lines.append(f"| {label} | {minutes} | {cells} |")
    lines += [
        "",
        machine(),
        "",
        "Reproduce (needs `bash` and `jq` for the article's loop):",
        "",
        f"    python bench/bench_agy.py --scale {scale:g}",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="bash,first,history", help="comma-separated: bash, first, history")
    parser.add_argument("--scale", type=float, default=1.0, help="seconds per article minute (default 1)")
    options = parser.parse_args()
    runs = [r.strip() for r in options.runs.split(",") if r.strip()]
    if "history" in runs and "first" not in runs:
        parser.error("'history' needs 'first' (its earlier run)")
    if "bash" in runs and not (shutil.which("bash") and shutil.which("jq")):
        parser.error("the article's loop needs bash and jq on PATH")
    base = Path(tempfile.mkdtemp(prefix="agybatch-bench-"))
    results = {}
    try:
        project = make_project(base, options.scale)
        for kind in runs:
            print(f"running {NAMES[kind]} ...", file=sys.stderr, flush=True)
            home = base / f"agy-{kind}"
            results[kind] = run_bash(base, home, options.scale) if kind == "bash" else run_agybatch(project, home)
            res = results[kind]
            print(f"  makespan {res['makespan']:.1f} s ({res['makespan'] / (75 * options.scale):.3f}x), "
                  f"{res['calls']} status calls, latency median {res['median']:.2f} s max {res['max']:.2f} s",
                  file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    write_section(SECTION, report(results, options.scale))


if __name__ == "__main__":
    main()
