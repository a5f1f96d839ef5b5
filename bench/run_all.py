"""Regenerate docs/benchmarks.md: every benchmark, at one clean commit, stamped once.

    python bench/run_all.py                 # everything (about 25 minutes; root for Slurm)
    python bench/run_all.py --only NAME     # one benchmark (repeatable); see --list
    python bench/run_all.py --quick         # a smoke run: fewer repetitions, leaves the document alone

Each benchmark is a script run as a child process with ``AGYBATCH_BENCH_SECTIONS``
naming a folder where it hands in its sections (``_common.write_section``).
Once all have succeeded, the document is written from scratch: one stamp
(commit, date, machine, load) at the top, then the sections in the order of
:data:`BENCHMARKS`. If any benchmark fails, nothing is written.

The tree must be clean (tracked changes and untracked files, except
docs/benchmarks.md itself) at the start and unchanged at the end, or nothing
is written; ``--allow-dirty`` writes anyway and says so in bold at the top.
When nothing is written (``--quick``, or a benchmark failed), what was measured
goes to a preview file in the system's temporary folder instead.
``--only`` rewrites just that benchmark's sections, and only if the document
was stamped at the same commit on the same machine (its date is added to the
stamp's dates); otherwise it writes nothing.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import DOC, ROOT, SECTIONS_ENV, machine_facts  # noqa: E402
from _document import Stamp, load_average, parse, render, replace, tree_state  # noqa: E402
from bench_throughput import file_system  # noqa: E402


@dataclass(frozen=True)
class Benchmark:
    """One script run: its name for ``--only``, its path, and its arguments for a full and a quick run."""

    name: str
    script: str
    full: tuple = ()
    quick: tuple = ()
    minutes: float = 1.0              # about how long a full run takes here
    needs: str = ""                   # "tmp-not-tmpfs": only where the system temp folder is not tmpfs

    @property
    def path(self) -> Path:
        return ROOT / self.script


BENCHMARKS = (
    Benchmark("fast-commands", "bench/bench_fast_commands.py", ("--reps", "30"), ("--reps", "3"), 0.6),
    Benchmark("imports", "bench/bench_imports.py", (), (), 0.1),
    Benchmark("overhead", "bench/bench_overhead.py", ("--runs", "3"), ("--runs", "1", "--scale", "0.02"), 0.4),
    Benchmark("throughput", "bench/bench_throughput.py", ("--reps", "5"), ("--reps", "1", "--jobs", "200"), 1.6),
    Benchmark("throughput-tmpfs", "bench/bench_throughput.py", ("--reps", "5", "--tmpdir", "/dev/shm"),
              ("--reps", "1", "--jobs", "200", "--tmpdir", "/dev/shm"), 1.6, needs="tmp-not-tmpfs"),
    Benchmark("memory", "bench/bench_memory.py", (), ("--tasks", "1000"), 0.4),
    Benchmark("longest-first", "bench/bench_longest_first.py", (), ("--scale", "0.02"), 0.4),
    Benchmark("agy", "bench/bench_agy.py", (), ("--scale", "0.05"), 4.2),
    Benchmark("worktree", "bench/bench_worktree.py", (), ("--files", "2000", "--reps", "2", "--parallel-reps", "1"),
              7.5),
    Benchmark("ray", "plugins/agybatch-ray/bench/compare_demo.py", (), ("--repeat", "1", "--ray-cpus", "6"), 4.8),
    Benchmark("slurm", "plugins/agybatch-slurm/bench/compare_demo.py", (), ("--repeat", "1"), 2.0),
)


def available() -> list:
    """The benchmarks that apply on this machine (a script not yet in the tree is left out)."""
    tmp_is_tmpfs = file_system(tempfile.gettempdir()) == "tmpfs"
    return [b for b in BENCHMARKS if b.path.is_file() and not (b.needs == "tmp-not-tmpfs" and tmp_is_tmpfs)]


def run_one(bench: Benchmark, quick: bool, folder: Path) -> tuple:
    """Run one benchmark's script; ``(exit code, seconds, [(name, title, body)])``."""
    argv = [sys.executable, str(bench.path), *(bench.quick if quick else bench.full)]
    print(f"\n=== {bench.name}: {' '.join(argv[1:])}", flush=True)
    out = folder / bench.name
    out.mkdir()
    started = time.monotonic()
    code = subprocess.run(argv, cwd=ROOT, env={**os.environ, SECTIONS_ENV: str(out)}, stdin=subprocess.DEVNULL
                          ).returncode
    took = time.monotonic() - started
    sections = [(bench.name, s["title"], s["body"])
                for s in (json.loads(p.read_text()) for p in sorted(out.glob("*.json")))]
    if code == 0 and not sections:
        print(f"{bench.name}: handed in no section", file=sys.stderr)
        code = 1
    return code, took, sections


def goal_lines(sections: list) -> list:
    """The table rows of ``sections`` that state a goal met or missed (for the closing summary)."""
    rows = []
    for _, title, body in sections:
        for line in body.splitlines():
            if line.startswith("|") and re.search(r"(^|: )(met\b|\*\*missed\*\*)", line.split("|")[-2].strip()):
                cells = [c.strip() for c in line.strip("|").split("|")]
                rows.append(f"  [{title}] " + " · ".join(c for c in cells if c))
    return rows


def main() -> int:
    names = [b.name for b in BENCHMARKS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=names, metavar="NAME",
                        help="run only this benchmark (repeatable): " + ", ".join(names))
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; print only, write nothing")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="write even from a tree with changes (marked in bold at the top)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their commands")
    args = parser.parse_args()
    chosen = [b for b in available() if not args.only or b.name in args.only]
    if args.list:
        for b in BENCHMARKS:
            here = "" if b in chosen else "  (not here)"
            print(f"{b.name:17s} ~{b.minutes:g} min  python {b.script} {' '.join(b.full)}{here}")
        return 0
    commit, dirty = tree_state(ROOT)
    if dirty and not args.quick and not args.allow_dirty:
        print(f"run_all: the tree is not clean ({len(dirty)} changed path(s): {', '.join(dirty[:5])}"
              f"{' …' if len(dirty) > 5 else ''}); commit first, or --quick, or --allow-dirty", file=sys.stderr)
        return 2
    stamp = Stamp(commit=commit, dirty=dirty, dates=[datetime.date.today().isoformat()], machine=machine_facts(),
                  load=load_average(), quick=args.quick)
    print(f"run_all: commit {stamp.short}{' (dirty)' if dirty else ''}, {stamp.machine}, load {stamp.load}; "
          f"{len(chosen)} benchmark(s), about {sum(b.minutes for b in chosen) * (0.3 if args.quick else 1):.0f} min",
          flush=True)
    if os.getloadavg()[0] > (os.cpu_count() or 1) / 2:
        print(f"run_all: warning: the machine is busy (load {stamp.load}); figures move with the load",
              file=sys.stderr)
    started = time.monotonic()
    sections, timings, failed = [], [], []
    with tempfile.TemporaryDirectory(prefix="agybatch-run-all-") as tmp:
        for bench in chosen:
            code, took, handed_in = run_one(bench, args.quick, Path(tmp))
            timings.append((bench.name, took, code))
            sections += handed_in
            if code != 0:
                failed.append(bench.name)
    stamp.took_s = time.monotonic() - started
    print("\n=== summary")
    for name, took, code in timings:
        print(f"  {name:17s} {took:6.1f} s  {'ok' if code == 0 else f'FAILED (exit {code})'}")
    print(f"  {'total':17s} {stamp.took_s:6.1f} s")
    print("goals:\n" + "\n".join(goal_lines(sections) or ["  (none stated)"]))
    return write(stamp, sections, failed, args)


def preview(stamp: Stamp, sections: list) -> Path:
    """Save what was measured, as the document it would make, in the system's temporary folder."""
    fd, name = tempfile.mkstemp(prefix="agybatch-benchmarks-", suffix=".md")
    with os.fdopen(fd, "w") as out:
        out.write(render(stamp, sections))
    return Path(name)


def write(stamp: Stamp, sections: list, failed: list, args) -> int:
    """Write the document, or say why not; the exit code."""
    if failed:
        print(f"run_all: {', '.join(failed)} failed; docs/benchmarks.md left as it was "
              f"(what was measured: {preview(stamp, sections)})", file=sys.stderr)
        return 1
    if args.quick:
        print(f"run_all: --quick: docs/benchmarks.md left as it was (preview: {preview(stamp, sections)})")
        return 0
    if tree_state(ROOT) != (stamp.commit, stamp.dirty):
        print("run_all: the tree changed during the run (a commit or an edit); docs/benchmarks.md left as it was "
              f"(what was measured: {preview(stamp, sections)})", file=sys.stderr)
        return 1
    if not args.only:
        DOC.write_text(render(stamp, sections))
        print(f"run_all: wrote {DOC.relative_to(ROOT)} ({len(sections)} sections)")
        return 0
    old, kept = parse(DOC.read_text()) if DOC.exists() else (None, [])
    if old is None or old.commit != stamp.commit or old.machine != stamp.machine or old.dirty or stamp.dirty:
        print(f"run_all: docs/benchmarks.md was stamped at {'another commit or machine' if old else 'no commit'} "
              "(or a tree with changes); --only writes only into a document of the same clean commit and "
              f"machine: run without --only to regenerate it all (what was measured: {preview(stamp, sections)})",
              file=sys.stderr)
        return 1
    for name in args.only:
        kept = replace(kept, name, [s for s in sections if s[0] == name])
    old.dates = sorted(set(old.dates) | set(stamp.dates))
    DOC.write_text(render(old, kept))
    print(f"run_all: rewrote the sections of {', '.join(args.only)} in {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
