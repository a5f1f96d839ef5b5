"""Benchmark: 2,000 trivial jobs (``true``) 8 at a time: agybatch vs ``xargs -P 8`` vs GNU ``parallel -j 8``.

All three run in the same invocation, interleaved, ``--reps`` times each; the
figure is the median wall time of each. agybatch runs the whole command
(``python -m agybatch run BATCH -j 8 -q``: start-up, batch-file loading, the
journal, the job supervisor), each repetition in a fresh project. GNU
parallel is installed with ``apt-get install parallel`` when missing.
``--tmpdir`` chooses where the projects and every tool's temporary files go
(``TMPDIR`` for all three); the section handed in is "Throughput", or
"Throughput on tmpfs" when that folder is on tmpfs.

Goals (issue 8): no slower than GNU parallel; within 2x xargs.
``--profile out.svg`` also records one agybatch run with py-spy.
Prints the figures and hands in the section.

    python bench/bench_throughput.py [--jobs 2000] [--parallel 8] [--reps 5] [--tmpdir DIR]
                                     [--profile out.svg]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import agybatch, clean_env, ensure_gnu_parallel, goal, machine, make_project, median, write_section

SECTION = "Throughput"


def batch_toml(jobs: int) -> str:
    return "".join(f'[[task]]\nlabel = "t{i}"\ncommand = ["true"]\n' for i in range(jobs))


def settle(seconds: float = 2.0) -> None:
    """Flush and wait, so no tool pays for the file-system writes of the one before."""
    os.sync()
    time.sleep(seconds)


def file_system(folder: str) -> str:
    """The type of the file system holding ``folder`` (``ext4``, ``tmpfs``, ...)."""
    found = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", folder], capture_output=True, text=True)
    lines = found.stdout.split()
    return lines[0] if lines else "unknown file system"


def timed(argv, tmpdir: str, cwd=None, stdin_text=None) -> float:
    settle()
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, input=stdin_text, text=True, env=clean_env(TMPDIR=tmpdir),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{argv[:4]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--tmpdir", default=tempfile.gettempdir(),
                        help="where projects and temporary files go (default: %(default)s)")
    parser.add_argument("--profile", metavar="SVG", help="also record one agybatch run with py-spy")
    args = parser.parse_args()
    began = time.monotonic()
    n, j = args.jobs, args.parallel
    parallel = ensure_gnu_parallel()
    numbers = "".join(f"{i}\n" for i in range(n))
    times: dict = {"agybatch": [], "xargs": [], "parallel": []}
    fs = file_system(args.tmpdir)
    with tempfile.TemporaryDirectory(prefix="agybatch-bench-", dir=args.tmpdir) as tmp:
        for rep in range(args.reps):
            root = make_project(Path(tmp), "trivial", batch_toml(n))
            times["agybatch"].append(timed(agybatch("run", "trivial", "-j", j, "-q"), tmp, cwd=root))
            # Projects go with the temporary folder at the end: deleting thousands of files here would
            # slow down the file creations of whatever runs next.
            times["xargs"].append(timed(["xargs", "-P", str(j), "-n", "1", "true"], tmp, stdin_text=numbers))
            if parallel:
                times["parallel"].append(timed([parallel, "--will-cite", "-j", str(j), "true"], tmp,
                                               stdin_text=numbers))
            print(f"rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if v))
        if args.profile:
            root = make_project(Path(tmp), "trivial", batch_toml(n))
            subprocess.run(["py-spy", "record", "-o", args.profile, "--", *agybatch("run", "trivial", "-j", j, "-q")],
                           cwd=root, env=clean_env(), check=False)
    med = {k: median(v) for k, v in times.items() if v}
    ours, xargs = med["agybatch"], med["xargs"]
    theirs = med.get("parallel")
    for name, value in med.items():
        print(f"{name:9s} median {value:.2f} s ({value / n * 1000:.2f} ms a job)")
    vs_parallel = f"{ours / theirs:.2f}× GNU parallel" if theirs else "GNU parallel not available"
    print(f"agybatch: {vs_parallel}, {ours / xargs:.2f}× xargs")
    rows = "\n".join(
        f"| {name} | `{cmd}` | {med[name]:.2f} s | {med[name] / n * 1000:.2f} ms | "
        + " / ".join(f"{t:.2f}" for t in times[name]) + " |"
        for name, cmd in (("agybatch", f"agybatch run trivial -j {j} -q"),
                          ("xargs", f"xargs -P {j} -n 1 true"),
                          ("parallel", f"parallel -j {j} true"))
        if times[name])
    goals = (f"| no slower than GNU parallel | {vs_parallel} | {goal(bool(theirs) and ours <= theirs)} |\n"
             f"| within 2× xargs | {ours / xargs:.2f}× xargs | {goal(ours <= 2 * xargs)} |")
    body = f"""
{n:,} jobs that do nothing (`true`), {j} at a time, on the local backend, against `xargs -P {j}` and GNU
`parallel -j {j}` in the same invocation ({args.reps} interleaved repetitions; median wall time). Projects and
every tool's temporary files are in `{args.tmpdir}` ({fs}). agybatch's time is the whole command: interpreter
start-up, loading a {n:,}-task batch file, the journal (every intent, job ID and end committed before anything
else sees it), and the detached job supervisor that starts each job and records its end, so jobs survive the
runner. Before every timed command the script calls `sync` and waits 2 s, for all three tools alike; the
projects are deleted only after the last repetition.

| tool | command | median wall time | per job | each repetition (s) |
|---|---|---|---|---|
{rows}

| goal (issue 8) | measured | |
|---|---|---|
{goals}

{machine()}

Reproduce (this took {time.monotonic() - began:.0f} s):

    python bench/bench_throughput.py --jobs {n} --parallel {j} --reps {args.reps} --tmpdir {args.tmpdir}
"""
    write_section(SECTION if fs != "tmpfs" else f"{SECTION} on tmpfs", body)


if __name__ == "__main__":
    main()
