"""Benchmark: what a git worktree per task costs, on a repository of 10,000 files.

A throw-away repository (``--files`` small files in nested folders, one
commit) under the system's temporary folder. Measured with
:mod:`agybatch.worktrees`, each figure the median of ``--reps`` repetitions:

- ``git worktree add --detach`` alone, for comparison;
- :func:`~agybatch.worktrees.add` of one task's worktree;
- :func:`~agybatch.worktrees.conclude` of a task that changed nothing (a
  status check, then the worktree's removal), and of one that edited three
  files and made one (commit, branch, removal);
- 12 adds at once (threads: the most git's locks are contended; a runner adds one task's worktree at a
  time, as it submits each task), then their 12
  concludes at once, one edited file each: wall time of all 12.

Prints a table; without ``--no-write`` also hands in the ``## Worktrees``
section of docs/benchmarks.md.

    python bench/bench_worktree.py [--files 10000] [--reps 7] [--dir /dev/shm] [--no-write]
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import machine, write_section

from agybatch import worktrees

SECTION = "Worktrees"
PARALLEL = 12
SETUP = ("-c", "user.name=bench", "-c", "user.email=bench@localhost")


def git(cwd, *args) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repository(folder: Path, files: int) -> tuple:
    """A repository of ``files`` files, 100 to a folder, two folders deep; returns (path, commit, bytes)."""
    repo = folder / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    size = 0
    for n in range(files):
        path = repo / f"pkg{n // 1000:02d}" / f"mod{n // 100 % 10}" / f"file{n:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = f"# file {n}\n" + "".join(f"def f{k}():\n    return {n * k}\n" for k in range(4))
        path.write_text(text)
        size += len(text)
    git(repo, "add", "-A")
    git(repo, *SETUP, "commit", "-q", "-m", "10k files")
    return repo, git(repo, "rev-parse", "HEAD"), size


def timed(call, *args, **kwargs) -> tuple:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - started


def edit(path: Path, count: int) -> None:
    for n in range(count):
        target = path / "pkg00" / "mod0" / f"file{n:05d}.py"
        target.write_text(target.read_text() + "# edited by the task\n")


def one_at_a_time(repo: Path, base: str, root: Path, reps: int) -> dict:
    times = {"raw": [], "add": [], "unchanged": [], "changed": []}
    for rep in range(reps):
        raw = root / f"raw-{rep}"
        _, seconds = timed(git, repo, "worktree", "add", "-q", "--detach", str(raw), base)
        times["raw"].append(seconds)
        git(repo, "worktree", "remove", "--force", str(raw))

        idle, seconds = timed(worktrees.add, repo, root / f"idle-{rep}", base)
        times["add"].append(seconds)
        done, seconds = timed(worktrees.conclude, repo, idle, f"agybatch/bench/r/idle-{rep}", base, "unchanged")
        assert not done.changed and done.worktree is None, done
        times["unchanged"].append(seconds)

        busy = worktrees.add(repo, root / f"busy-{rep}", base)
        edit(busy, 3)
        (busy / "pkg00" / "NEW.md").write_text("a file the task made\n")
        done, seconds = timed(worktrees.conclude, repo, busy, f"agybatch/bench/r/busy-{rep}", base, "changed")
        assert done.diffstat.files == 4 and done.worktree is None, done
        times["changed"].append(seconds)
    return times


def all_at_once(calls) -> float:
    """Run every call in a thread of its own, all released together; return the wall time of all."""
    start, failures = threading.Barrier(len(calls) + 1), []

    def run(call):
        start.wait()
        try:
            call()
        except Exception as err:  # noqa: BLE001 - reported after the join, with the others
            failures.append(err)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"a task failed: {failures[0]!r}")
    return time.perf_counter() - started


def at_once(repo: Path, base: str, root: Path, reps: int) -> dict:
    times = {"adds": [], "concludes": [], "each_add": []}

    def add(path):
        _, seconds = timed(worktrees.add, repo, path, base)
        times["each_add"].append(seconds)
        edit(path, 1)

    def conclude(path, branch):
        done = worktrees.conclude(repo, path, branch, base, "parallel")
        assert done.branch and done.worktree is None, done

    for rep in range(reps):
        paths = [root / f"par-{rep}-{n:02d}" for n in range(PARALLEL)]
        times["adds"].append(all_at_once([functools.partial(add, path) for path in paths]))
        times["concludes"].append(all_at_once([functools.partial(conclude, path, f"agybatch/bench/r{rep}/{path.name}")
                                               for path in paths]))
    return times


def ms(values) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def spread(values) -> str:
    return f"{min(values) * 1000:.0f}–{max(values) * 1000:.0f} ms"


def file_system(path: Path) -> str:
    found = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)], check=False, capture_output=True,
                           text=True)
    return found.stdout.splitlines()[0].strip() if found.returncode == 0 and found.stdout else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--parallel-reps", type=int, default=3)
    parser.add_argument("--dir", help="where to make the repository (default: the system's temporary folder)")
    parser.add_argument("--no-write", action="store_true", help="only print the figures")
    options = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="agybatch-bench-worktree-", dir=options.dir) as tmp:
        folder = Path(tmp)
        print(f"making a repository of {options.files:,} files in {folder} ...", file=sys.stderr)
        (repo, base, size), made = timed(make_repository, folder, options.files)
        root = folder / "state" / "worktrees"
        single = one_at_a_time(repo, base, root, options.reps)
        parallel = at_once(repo, base, root, options.parallel_reps)
        fs = file_system(folder)
    load = f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    git_version = ".".join(map(str, worktrees._git.version()))
    rows = [
        ("`git worktree add --detach` alone (for comparison)", single["raw"], "—"),
        ("`add`: one task's worktree", single["add"], "—"),
        ("`conclude`, task changed nothing (status, removal)", single["unchanged"], "—"),
        ("`conclude`, task edited 3 files and made 1 (commit, branch, removal)", single["changed"], "—"),
        (f"{PARALLEL} × `add` at once (wall time of all)", parallel["adds"],
         f"{statistics.median(parallel['adds']) / PARALLEL * 1000:.0f} ms"),
        (f"{PARALLEL} × `conclude` at once, 1 edited file each (wall time of all)", parallel["concludes"],
         f"{statistics.median(parallel['concludes']) / PARALLEL * 1000:.0f} ms"),
    ]
    duration = sum(map(sum, single.values())) + sum(parallel["adds"]) + sum(parallel["concludes"]) + made + 2
    table = "\n".join(f"| {what} | {ms(values)} | {spread(values)} | {len(values)} | {per_task} |"
                      for what, values, per_task in rows)
    command = "python bench/bench_worktree.py" + (f" --files {options.files}" if options.files != 10_000 else "") + \
        (f" --reps {options.reps}" if options.reps != 7 else "") + (f" --dir {options.dir}" if options.dir else "")
    body = f"""
What a git worktree per task (`workspace = "worktree"`) adds to each task, measured with `agybatch.worktrees` on a
throw-away repository of {options.files:,} small Python files ({size / 1e6:.1f} MB, 100 to a folder, two folders
deep, one commit; made in {made:.1f} s) on {fs}, git {git_version}. Each single figure is the median of
{options.reps} repetitions, the parallel ones of {options.parallel_reps}; the {PARALLEL} adds at once run in
threads, the most git's own locks are contended (a runner adds one task's worktree at a time, as it
submits each task, so a batch of {PARALLEL} pays {PARALLEL} single adds); each add among them took {ms(parallel['each_add'])} (median).
Load average (1 min): {load}.

| step | median | range | repetitions | per task |
|---|---|---|---|---|
{table}

`add` is git's own `worktree add` (a checkout of every file) plus one listing of the worktrees, to find an
earlier attempt. `conclude` of an unchanged task is about ten short git commands (the worktree's state, a
`git status`, the check for repositories of its own, its lock) and the removal, which deletes every file; a
changed one adds `git add --all`, the commit and the branch. Lost races for git's locks are retried inside
these figures.

{machine()}

Reproduce (about {duration:.0f} s):

    {command}
"""
    print(body)
    if not options.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
