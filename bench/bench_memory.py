"""Benchmark: the runner's peak memory on a 10,000-task batch of ``true`` at ``-j 16``.

The runner is started as a child of this script; its peak resident set
(``VmHWM`` in ``/proc/<pid>/status``) and that of its job supervisor (the
runner's child process) are sampled every ``--interval`` seconds until the
runner exits. Goal (issue 8): peak RSS <= 80 MB, for the runner and its
supervisor together. Prints the figures and hands in the ``## Memory``
section.

    python bench/bench_memory.py [--tasks 10000] [--parallel 16]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from _common import agybatch, clean_env, goal, machine, make_project, write_section

SECTION = "Memory"
GOAL_MB = 80.0


def vm(pid: int) -> dict:
    """``VmHWM`` and ``VmRSS`` of ``pid`` in MB (empty once it is gone)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    found[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return found


def children(pid: int) -> list:
    """PIDs of ``pid``'s child processes (the runner's: its job supervisor)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    toml = "".join(f'[[task]]\nlabel = "t{i}"\ncommand = ["true"]\n' for i in range(args.tasks))
    samples, supervisor_peak = [], {}
    with tempfile.TemporaryDirectory(prefix="agybatch-bench-") as tmp:
        root = make_project(Path(tmp), "many", toml)
        started = time.perf_counter()
        proc = subprocess.Popen(agybatch("run", "many", "-j", args.parallel, "-q"), cwd=root, env=clean_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                now = vm(proc.pid)
                if now:
                    samples.append((time.perf_counter() - started, now.get("VmHWM", 0.0), now.get("VmRSS", 0.0)))
                for child in children(proc.pid):
                    peak = vm(child).get("VmHWM")
                    if peak:
                        supervisor_peak[child] = peak
                time.sleep(args.interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode()
        if proc.returncode != 0:
            raise SystemExit(f"agybatch exited {proc.returncode}: {err}")
        db_size = (root / ".agybatch" / "journal.sqlite").stat().st_size / 1e6
    peak = max(h for _, h, _ in samples)
    by_phase = {}
    for fraction in (0.1, 0.5, 0.9):
        at = wall * fraction
        before = [s for s in samples if s[0] <= at]
        by_phase[fraction] = before[-1][2] if before else float("nan")
    maxrss = usage.ru_maxrss / 1024
    supervisor = max(supervisor_peak.values(), default=0.0)
    total = peak + supervisor
    print(f"{args.tasks} tasks at -j {args.parallel}: {wall:.1f} s; peak RSS (VmHWM) runner {peak:.1f} MB + "
          f"supervisor {supervisor:.1f} MB = {total:.1f} MB (goal <= {GOAL_MB:.0f} MB: {goal(total <= GOAL_MB)}); "
          f"wait4 ru_maxrss {maxrss:.1f} MB; {len(samples)} samples; journal {db_size:.1f} MB")
    body = f"""
A batch of {args.tasks:,} tasks that do nothing (`true`) run at `-j {args.parallel}` on the local backend
(`agybatch run many -j {args.parallel} -q`, {wall:.1f} s). The figure is the peak resident set (`VmHWM` from
`/proc/<pid>/status`, sampled every {args.interval * 1000:.0f} ms until the runner exits) of the runner and of its
job supervisor, the one process that starts every job, added together.

| figure | measured | goal (issue 8) |
|---|---|---|
| peak RSS, runner + job supervisor | {peak:.1f} + {supervisor:.1f} = {total:.1f} MB | ≤ {GOAL_MB:.0f} MB: {goal(total <= GOAL_MB)} |
| `wait4` `ru_maxrss` | {maxrss:.1f} MB | |
| RSS at 10 % / 50 % / 90 % of the run | {by_phase[0.1]:.1f} / {by_phase[0.5]:.1f} / {by_phase[0.9]:.1f} MB | |
| journal size afterwards | {db_size:.1f} MB | |

{machine()}

Reproduce (about {wall + 5:.0f} s):

    python bench/bench_memory.py --tasks {args.tasks} --parallel {args.parallel}
"""
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
