"""Benchmark: longest-first submission (issue 6) against the LPT bound.

The source's 12 jobs at ``--scale`` seconds a minute, written in the batch
file in ascending order (the worst order for a capped run), with
``max_parallel = 3``. Run 1 has no history: unknown durations go in batch
order, so the 75-minute job starts last. Run 2 has run 1 in the journal and
submits the ready tasks longest-first. Its makespan (run start to verdict) is
compared with :func:`agybatch.plan.lpt_bound` of the jobs' nominal lengths on
3 workers; goal: within 5 %. Prints the figures and hands in the
``## Longest-first (max_parallel = 3)`` section.

    python bench/bench_longest_first.py [--scale 0.1] [--max-parallel 3]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import WORKLOAD, goal, journal_rows, machine, make_project, run_json, workload_toml, write_section

from agybatch.plan import lpt_bound

SECTION = "Longest-first (max_parallel = 3)"
GOAL = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--max-parallel", type=int, default=3)
    args = parser.parse_args()
    ascending = sorted(WORKLOAD, key=lambda job: job[1])
    toml = workload_toml(args.scale, ascending, batch=f"[batch]\nmax_parallel = {args.max_parallel}\n")
    bound = lpt_bound([m * args.scale for _, m in WORKLOAD], args.max_parallel)
    serial = sum(m for _, m in WORKLOAD) * args.scale
    with tempfile.TemporaryDirectory(prefix="agybatch-bench-") as tmp:
        root = make_project(Path(tmp), "nightly", toml)
        first, _ = run_json(root, "run", "nightly")
        second, wall = run_json(root, "run", "nightly")
        order = [label for (label,) in journal_rows(root, "SELECT label FROM events WHERE run_id=? AND kind='intent'"
                                                        " ORDER BY id", (second["run_id"],))]
    ratio_first, ratio = first["duration_s"] / bound, second["duration_s"] / bound
    print(f"LPT bound {bound:.2f} s on {args.max_parallel} workers (serial {serial:.1f} s)")
    print(f"run 1 (no history, ascending file order): makespan {first['duration_s']:.2f} s = {ratio_first:.3f}x bound")
    print(f"run 2 (history, longest first): makespan {second['duration_s']:.2f} s = {ratio:.3f}x bound "
          f"(goal <= {1 + GOAL:.2f}x: {goal(ratio <= 1 + GOAL)})")
    print("run 2 submission order:", ", ".join(order))
    body = f"""
The source's 12 jobs ({', '.join(str(m) for _, m in WORKLOAD)} minutes) as `sleep` commands at {args.scale:g} s a
minute, written in the batch file shortest first, run with `max_parallel = {args.max_parallel}`. The LPT bound
(`agybatch.plan.lpt_bound`: longest-processing-time-first list scheduling of the nominal lengths on
{args.max_parallel} workers) is {bound:.2f} s; run one after another they would take {serial:.1f} s. Makespan runs from
the start of the run to its verdict.

| run | makespan | × LPT bound | goal (issue 6) |
|---|---|---|---|
| 1: no history (unknown durations go in file order: the longest job last) | {first['duration_s']:.2f} s | {ratio_first:.3f} | — |
| 2: run 1 in the journal (ready tasks longest-first) | {second['duration_s']:.2f} s | {ratio:.3f} | within {GOAL:.0%}: {goal(ratio <= 1 + GOAL)} |

Run 2 submitted: {', '.join(f'`{label}`' for label in order)}.

{machine()}

Reproduce (about {first['duration_s'] + wall + 3:.0f} s):

    python bench/bench_longest_first.py --scale {args.scale:g} --max-parallel {args.max_parallel}
"""
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
