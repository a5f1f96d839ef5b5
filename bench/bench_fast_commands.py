"""Benchmark: fast commands against a bare ``python -c pass`` from the same venv (issue "A year unattended").

Interleaved A/B repetitions, in one invocation, of:

* ``python -c pass`` (A: the floor, the same interpreter as agybatch's);
* ``agybatch --version`` (the installed console script); goal: median <= 1.5x A;
* ``agybatch status`` and ``agybatch history`` in a project whose journal holds
  365 nightly runs of 12 tasks (``_year.py``); goal: each median <= 2.5x A;
* ``agybatch run nightly -q``, from the command's start to its first job
  running; goal: median <= 0.12 s. Each job is ``date +%s.%N``: it prints the
  time it started, read from the same clock as this script's ``time.time()``
  taken just before the command is started. Measured in a copy of the year-old
  project and in a fresh project with an empty journal (a new one each time).

One untimed round first (caches); then ``--reps`` rounds, the order of the
commands rotating each round. Figures are medians; ratios are median over
median A. Prints the figures and hands in the ``## Fast commands`` section.

    python bench/bench_fast_commands.py [--reps 20]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from _common import ROOT, clean_env, goal, journal_rows, machine, make_project, median, write_section
from _year import nightly_toml, year_project

SECTION = "Fast commands"
RUN_GOAL = 0.120
#: command name -> its goal as a ratio to bare Python's median.
RATIO_GOALS = {"agybatch --version": 1.5, "agybatch status": 2.5, "agybatch history": 2.5}


def console_script() -> list:
    script = Path(sysconfig.get_path("scripts")) / "agybatch"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "agybatch"]


def interpreter() -> str:
    """This interpreter's path, relative to the repository when it is the project's venv."""
    path = Path(sys.executable)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def wall(argv, cwd) -> float:
    """Seconds from starting ``argv`` to its exit (output discarded)."""
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return took


def first_job(argv, cwd) -> tuple:
    """``(seconds from starting agybatch run to its first job's own first action, command wall seconds)``."""
    started = time.time()
    proc = subprocess.run(argv, cwd=cwd, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL)
    took = time.time() - started
    if proc.returncode != 0:
        sys.exit(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    (run_id,) = journal_rows(cwd, "SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1")[0]
    logs = journal_rows(cwd, "SELECT log_path FROM tasks WHERE run_id=?", (run_id,))
    stamps = [float(Path(path).read_text().split()[0]) for (path,) in logs]
    return min(stamps) - started, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    began = time.monotonic()
    agybatch = console_script()
    bare = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory(prefix="agybatch-bench-") as tmp:
        parent = Path(tmp)
        year = year_project(parent)
        runs_in_journal = journal_rows(year, "SELECT COUNT(*) FROM runs")[0][0]
        tasks_in_journal = journal_rows(year, "SELECT COUNT(*) FROM tasks")[0][0]
        old = parent / "year-copy"
        shutil.copytree(year, old)  # runs go here, so status and history keep reading 365 runs

        def fresh_run():
            root = make_project(parent, "nightly", nightly_toml())
            return first_job([*agybatch, "run", "nightly", "-q"], root)

        measures = {
            "python -c pass": lambda: (wall(bare, year), None),
            "agybatch --version": lambda: (wall([*agybatch, "--version"], year), None),
            "agybatch status": lambda: (wall([*agybatch, "status"], year), None),
            "agybatch history": lambda: (wall([*agybatch, "history"], year), None),
            "agybatch run, year-old journal": lambda: first_job([*agybatch, "run", "nightly", "-q"], old),
            "agybatch run, empty journal": fresh_run,
        }
        names = list(measures)
        for name in names:  # untimed: file caches, compiled bytecode
            measures[name]()
        times = {name: [] for name in names}
        walls = {name: [] for name in names}
        for rep in range(args.reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                value, command_wall = measures[name]()
                times[name].append(value)
                if command_wall is not None:
                    walls[name].append(command_wall)
            print(f"round {rep + 1}: " + ", ".join(f"{n.split(',')[0].replace('agybatch ', '')} "
                                                     f"{times[n][-1] * 1000:.0f} ms" for n in names), flush=True)
    floor = median(times["python -c pass"])
    rows, goals, verdicts = [], [], []
    for name in names:
        med = median(times[name])
        is_run = name.startswith("agybatch run")
        what = (f"start → first job running (whole command: {median(walls[name]) * 1000:.0f} ms)" if is_run
                else "wall time")
        rows.append(f"| `{name.split(',')[0]}`{',' + name.split(',')[1] if ',' in name else ''} | {what} | "
                    f"{med * 1000:.1f} ms | {min(times[name]) * 1000:.1f} ms | {med / floor:.2f}× |")
        if name in RATIO_GOALS:
            met = med / floor <= RATIO_GOALS[name]
            goals.append(f"| `{name}` ≤ {RATIO_GOALS[name]:g}× bare Python | {med / floor:.2f}× "
                         f"({med * 1000:.1f} / {floor * 1000:.1f} ms) | {goal(met)} |")
        elif is_run:
            met = med <= RUN_GOAL
            goals.append(f"| `agybatch run` start → first job running ≤ {RUN_GOAL * 1000:.0f} ms "
                         f"({name.split(', ')[1]}) | {med * 1000:.1f} ms | {goal(met)} |")
        else:
            continue
        verdicts.append(met)
        print(f"{name:32s} median {med * 1000:6.1f} ms = {med / floor:.2f}× bare Python  {goal(met)}")
    print(f"{'python -c pass':32s} median {floor * 1000:6.1f} ms")
    body = f"""
Each command against a bare `python -c pass` run by the same interpreter (`{interpreter()}`), in one invocation:
one untimed round, then {args.reps} rounds, the order rotating each round; median and min of the {args.reps}.
`agybatch` is the installed console script. `status` and `history` run in a project whose journal holds
{runs_in_journal} nightly runs ({tasks_in_journal:,} task rows; the newest one real, the others written through
`agybatch.journal.Journal`, see `bench/_year.py`). For `agybatch run nightly -q` (12 tasks, each `date +%s.%N`)
the figure runs from just before the command is started to the moment its first job read the clock (the
same clock, `CLOCK_REALTIME`), in a copy of that project and in a new project with an empty journal.

| command | figure | median | min | × bare Python (medians) |
|---|---|---|---|---|
{chr(10).join(rows)}

| goal (issue "A year unattended", fast commands) | measured | |
|---|---|---|
{chr(10).join(goals)}

{sum(verdicts)} of {len(verdicts)} goals met. What each command imports: the "Imports at start" section.

{machine()}

Reproduce (this took {time.monotonic() - began:.0f} s):

    python bench/bench_fast_commands.py --reps {args.reps}
"""
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
