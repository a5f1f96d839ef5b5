"""Benchmark: agybatch's own overhead on the source's 12-job workload, local backend.

The article's jobs (75, 31, 22, 18, 15, 12, 10, 9, 8, 6, 5, 3 minutes) run as
``sleep`` commands scaled to ``--scale`` seconds a minute (0.1: the slowest
job sleeps 7.5 s), all at once. Two figures per run:

* overhead: makespan (the run's start, before the first submission, to its
  verdict) minus the slowest job's nominal length; goal <= 0.25 s. The
  command's wall time (with Python's start-up) is shown too;
* detection latency: for each job, the journal's ``final`` event time minus
  the job's own end (``ended_at`` in the run's job records, ``<state>/runs/<run>/local-jobs``);
  goal: median <= 50 ms.

Each of ``--runs`` runs uses a fresh project. Prints the figures and hands in
the ``## Overhead (local backend)`` section.

    python bench/bench_overhead.py [--runs 3] [--scale 0.1]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import WORKLOAD, goal, job_ends, machine, make_project, median, run_json, workload_toml, write_section

SECTION = "Overhead (local backend)"
GOAL_OVERHEAD, GOAL_LATENCY = 0.25, 0.050


def one_run(parent: Path, scale: float) -> dict:
    root = make_project(parent, "nightly", workload_toml(scale))
    summary, wall = run_json(root, "run", "nightly")
    assert summary["verdict"] == "ok", summary
    slowest = max(m for _, m in WORKLOAD) * scale
    ends = job_ends(root, summary["run_id"])
    latency = {label: final - ended for label, (_, ended, final) in ends.items()}
    return {
        "makespan": summary["duration_s"], "wall": wall, "overhead": summary["duration_s"] - slowest,
        "wall_overhead": wall - slowest, "latency": latency,
        "latency_median": median(latency.values()), "latency_max": max(latency.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.1, help="seconds per minute of the article (0.1)")
    args = parser.parse_args()
    slowest = max(m for _, m in WORKLOAD) * args.scale
    runs = []
    with tempfile.TemporaryDirectory(prefix="agybatch-bench-") as tmp:
        for i in range(args.runs):
            run = one_run(Path(tmp), args.scale)
            runs.append(run)
            print(f"run {i + 1}: makespan {run['makespan']:.3f} s (overhead {run['overhead'] * 1000:.0f} ms), "
                  f"command {run['wall']:.3f} s; detection latency median {run['latency_median'] * 1000:.1f} ms, "
                  f"max {run['latency_max'] * 1000:.1f} ms")
    overhead = median([r["overhead"] for r in runs])
    wall_overhead = median([r["wall_overhead"] for r in runs])
    lat_median = median([r["latency_median"] for r in runs])
    lat_max = max(r["latency_max"] for r in runs)
    all_latencies = sorted(v for r in runs for v in r["latency"].values())
    print(f"overhead (makespan - slowest job): median {overhead * 1000:.0f} ms over {args.runs} runs "
          f"(goal <= {GOAL_OVERHEAD * 1000:.0f} ms: {goal(overhead <= GOAL_OVERHEAD)})")
    print(f"detection latency: median {lat_median * 1000:.1f} ms, max {lat_max * 1000:.1f} ms "
          f"(goal median <= {GOAL_LATENCY * 1000:.0f} ms: {goal(lat_median <= GOAL_LATENCY)})")
    rows = "\n".join(
        f"| {i + 1} | {r['makespan']:.3f} s | {r['overhead'] * 1000:.0f} ms | {r['wall']:.3f} s | "
        f"{r['latency_median'] * 1000:.1f} ms | {r['latency_max'] * 1000:.1f} ms |"
        for i, r in enumerate(runs))
    body = f"""
The source's 12 jobs ({', '.join(str(m) for _, m in WORKLOAD)} minutes) as `sleep` commands at {args.scale:g} s a
minute, all fanned out at once on the local backend; the slowest job sleeps {slowest:g} s. *Makespan* runs from
the start of the run (before the first submission) to its verdict; *overhead* is makespan minus the slowest
job's {slowest:g} s. The command's wall time adds the interpreter's start-up and the journal set-up.
*Detection latency* is, per job, the time of the journal's `final` event minus the job's own end (`ended_at`
in the run's job records `<state>/runs/<run>/local-jobs`, written by the job supervisor when the command exits).

| run | makespan | overhead | command wall time | detection latency median | max |
|---|---|---|---|---|---|
{rows}

| figure | measured (median of {args.runs} runs) | goal (issue 8) |
|---|---|---|
| overhead: makespan − slowest job | {overhead * 1000:.0f} ms (command wall time − slowest job: {wall_overhead * 1000:.0f} ms) | ≤ {GOAL_OVERHEAD * 1000:.0f} ms: {goal(overhead <= GOAL_OVERHEAD)} |
| detection latency, job end → journal | median {lat_median * 1000:.1f} ms, max {lat_max * 1000:.1f} ms (all {len(all_latencies)} jobs) | median ≤ {GOAL_LATENCY * 1000:.0f} ms: {goal(lat_median <= GOAL_LATENCY)} |

{machine()}

Reproduce (about {args.runs * (slowest + 1.5):.0f} s):

    python bench/bench_overhead.py --runs {args.runs} --scale {args.scale:g}
"""
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
