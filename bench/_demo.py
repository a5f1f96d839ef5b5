"""The demo batch on one backend and another: what plugins/*/bench/compare_demo.py share.

Each run copies ``batches/demo/batch.toml`` into a throw-away project, runs
``agybatch run demo --backend B --json -q`` and keeps, per task, its overhead:
its ``duration_s`` (submitted to ended, as agybatch saw it) minus the time its
command needs (its sleeps, or its timeout, :data:`NOMINAL`), and the time from
submission to agybatch seeing it running.
"""
from __future__ import annotations

import datetime
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT

#: Seconds each demo task's command needs (its timeout for the one that hangs).
NOMINAL = {
    "generate:article-a": 4.0, "audit:internal-links": 2.0, "report:admob-mediation": 6.0,
    "i18n:store-screenshots": 3.0, "cleanup:tmp": 1.0, "translate:stuck-call": 3.0,
}
DEMO = ROOT / "batches" / "demo" / "batch.toml"


def _seconds(iso: str | None) -> float | None:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


def run_demo(backend: str, env: dict, poll_max: str | None = None) -> dict:
    """One run of the demo batch on ``backend``: exit code, makespan, per-task figures, outcomes."""
    with tempfile.TemporaryDirectory(prefix="agybench-") as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
        (root / "batches" / "demo").mkdir(parents=True)
        toml = DEMO.read_text() + (f'\n[batch.poll]\nmax = "{poll_max}"\n' if poll_max else "")
        (root / "batches" / "demo" / "batch.toml").write_text(toml)
        proc = subprocess.run([sys.executable, "-m", "agybatch", "run", "demo", "--backend", backend, "--json", "-q"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=300)
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.exit(f"agybatch run demo --backend {backend} exited {proc.returncode}: {proc.stderr[-2000:]}")
    tasks = summary["tasks"]
    return {
        "exit": summary["exit_code"], "makespan": summary["duration_s"],
        "overheads": [t["duration_s"] - NOMINAL[t["label"]] for t in tasks if t["duration_s"] is not None],
        "to_running": [_seconds(t["started_at"]) - _seconds(t["submitted_at"]) for t in tasks
                       if t["started_at"] and t["submitted_at"]],
        "outcomes": sorted(t["outcome"] for t in tasks),
    }


def measure(configs: list, repeat: int) -> list:
    """``repeat`` rounds over ``configs`` (``[(name, backend, env, poll_max)]``, one backend instance),
    after one uncounted warm-up run of the first; ``[{"name", "runs", "warm_up"}]``, printed as they go.

    The configurations take turns, so the one measured first on a new head or
    cluster does not alone pay for its first minutes.
    """
    name, backend, env, poll_max = configs[0]
    warm_up = run_demo(backend, env, poll_max)["makespan"]
    print(f"{name}: warm-up run (not counted) {warm_up:.1f} s", flush=True)
    results = [{"name": c[0], "runs": [], "warm_up": None} for c in configs]
    results[0]["warm_up"] = warm_up
    for _ in range(repeat):
        for (name, backend, env, poll_max), result in zip(configs, results):
            result["runs"].append(run_demo(backend, env, poll_max))
            print(f"{name}: exit {result['runs'][-1]['exit']}, makespan {result['runs'][-1]['makespan']:.1f} s",
                  flush=True)
    return results


def outcome_words(outcomes: list) -> str:
    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    return ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in counts.items())


def table(configs: list) -> str:
    """The Markdown table and the sentences computed from it, for ``[measure(...), ...]``."""
    lines = ["| backend | makespan, median (each run) | per-task overhead, median / max | "
             "submitted → seen running, median | exit (outcomes) |", "|---|---|---|---|---|"]
    for config in configs:
        runs = config["runs"]
        overheads = [o for r in runs for o in r["overheads"]]
        to_running = [s for r in runs for s in r["to_running"]]
        verdicts = sorted({f"{r['exit']} ({outcome_words(r['outcomes'])})" for r in runs})
        each = ", ".join(f"{r['makespan']:.2f}" for r in runs)
        lines.append(
            f"| {config['name']} | {statistics.median(r['makespan'] for r in runs):.2f} s ({each}) | "
            f"{statistics.median(overheads):.2f} s / {max(overheads):.2f} s | "
            f"{statistics.median(to_running):.2f} s | {'; '.join(verdicts)} |")
    all_verdicts = {(r["exit"], tuple(r["outcomes"])) for c in configs for r in c["runs"]}
    local = next((c for c in configs if c["name"] == "local"), None)
    said = ["Every run ended with the same verdict." if len(all_verdicts) == 1
            else f"**The verdicts differ** ({len(all_verdicts)} different ones): see the last column."]
    if local:
        base = statistics.median(r["makespan"] for r in local["runs"])
        said.append("Makespan against local: " + "; ".join(
            f"{c['name']} {statistics.median(r['makespan'] for r in c['runs']) / base:.2f}×"
            for c in configs if c is not local) + ".")
    warm = [f"{c['warm_up']:.2f} s before the {c['name']} rows" for c in configs if c.get("warm_up") is not None]
    if warm:
        said.append(f"Uncounted warm-up runs (the first on each new backend instance): {'; '.join(warm)}.")
    return "\n".join(lines) + "\n\n" + " ".join(said)


def method(repeat: int) -> str:
    return (f"`batches/demo` (six tasks: {', '.join(f'{v:g}' for v in NOMINAL.values())} s of command time; one "
            f"task fails, one is stopped at its timeout) run {repeat} time(s) per configuration; the "
            "configurations of one backend instance take turns, after one uncounted warm-up run. "
            "Per-task overhead: a task's submitted → ended time as agybatch saw it, minus the time its command "
            "needs; the median and the maximum are over every task of every run of the configuration. "
            "\"Seen running\" is when agybatch first saw the job running.")
