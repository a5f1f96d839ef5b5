"""Benchmark: start-up. ``agybatch --version`` wall time, and what each command imports at start.

Times ``--reps`` runs each of ``python -c pass`` (the floor), ``python -m
agybatch --version`` and the installed ``agybatch`` console script (the real
script next to the interpreter, not a shell shim); goal: median <= 100 ms.

Then runs ``python -X importtime`` for ``--version``, ``list``, ``history``,
``status`` and ``run`` (a one-task local batch with no ``[notify]``), lists the
agybatch modules and third-party packages each one imports, and checks that
none imports a backend or plugin dependency it does not need (ray, apprise,
aiosmtpd, smtplib, the network notification sinks, the HTML/JUnit report
modules; ``agybatch.report.summary`` is the terminal's summary formatting).
Installed plugin distributions load as they would for a user.
Prints the figures and rewrites the ``## Start-up`` section of docs/benchmarks.md.

    python bench/bench_startup.py [--reps 30] [--no-write]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from _common import clean_env, goal, machine, make_project, median, write_section

SECTION = "Start-up"
GOAL = 0.100
#: Modules no command may import at start unless it needs them (prefix match on the dotted name).
FORBIDDEN = ("ray", "apprise", "aiosmtpd", "smtplib", "email.mime", "http.client", "urllib.request",
             "agybatch.sinks.email", "agybatch.sinks.webhook", "agybatch.sinks.command",
             "agybatch.report.html", "agybatch.report.junit", "agybatch.report.timeline", "agybatch.report.data")
STDLIB = set(sys.stdlib_module_names) if hasattr(sys, "stdlib_module_names") else set()


def wall(argv, cwd=None, env=None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env or clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - started


def imported(argv, cwd) -> list:
    """Modules imported by ``argv`` (a python command line), in import order, from -X importtime."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True)
    names = []
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            names.append((match.group(3), int(match.group(1))))
            if match.group(3) == "site" and not match.group(2).strip(" "):
                names.clear()  # what the interpreter's site set-up imported is not agybatch's doing
    return names


def summarise(modules) -> tuple:
    names = [n for n, _ in modules]
    ours = sorted(n for n in names if n == "agybatch" or n.startswith("agybatch."))
    third = sorted({n.split(".")[0] for n in names} - STDLIB - {"agybatch", "org"}  # org: copy probing for Jython
                   - {n.split(".")[0] for n in names if n.startswith("_")})
    bad = sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN))
    return ours, third, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    script = Path(sysconfig.get_path("scripts")) / "agybatch"
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -m agybatch --version": [sys.executable, "-m", "agybatch", "--version"],
    }
    if script.is_file():
        commands["agybatch --version"] = [str(script), "--version"]
    times = {name: [] for name in commands}
    for _ in range(args.reps):
        for name, argv in commands.items():
            times[name].append(wall(argv))
    med = {name: median(v) for name, v in times.items()}
    for name, value in med.items():
        print(f"{name:32s} median {value * 1000:.1f} ms (min {min(times[name]) * 1000:.1f})")
    version = med.get("agybatch --version", med["python -m agybatch --version"])
    print(f"goal --version median <= {GOAL * 1000:.0f} ms: {goal(version <= GOAL)}")

    with tempfile.TemporaryDirectory(prefix="agybatch-bench-") as tmp:
        root = make_project(Path(tmp), "one", '[[task]]\nlabel = "a"\ncommand = ["true"]\n')
        subprocess.run([sys.executable, "-m", "agybatch", "run", "one", "-q"], cwd=root, env=clean_env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        checks = {}
        for name, argv in (("--version", ["--version"]), ("list", ["list"]), ("history", ["history"]),
                           ("status", ["status"]), ("run (local, no [notify])", ["run", "one", "-q"])):
            modules = imported(["-m", "agybatch", *argv], root)
            checks[name] = (*summarise(modules), sum(t for n, t in modules if n.count(".") == 0) / 1e6)
    lines = []
    all_clean = True
    for name, (ours, third, bad, cumulative) in checks.items():
        all_clean &= not bad
        print(f"{name}: {len(ours)} agybatch modules, third-party {', '.join(third) or 'none'}; "
              f"forbidden: {', '.join(bad) or 'none'}")
        lines.append(f"| `agybatch {name.split(' ')[0]}`{name[len(name.split(' ')[0]):]} | {len(ours)}: "
                     f"{', '.join(m.replace('agybatch.', '') for m in ours)} | {', '.join(third) or 'none'} | "
                     f"{', '.join(bad) or 'none'} |")
    timing = "\n".join(f"| `{name}` | {value * 1000:.1f} ms | {min(times[name]) * 1000:.1f} ms |"
                       for name, value in med.items())
    body = f"""
Wall time of {args.reps} runs each (median, min). `agybatch` is the installed console script
(`{script.name}` next to the interpreter), not a shell shim.

| command | median | min |
|---|---|---|
{timing}

| goal (issue 8) | measured | |
|---|---|---|
| `agybatch --version` median ≤ {GOAL * 1000:.0f} ms | {version * 1000:.1f} ms | {goal(version <= GOAL)} |
| no backend or plugin dependency imported at start by a command that does not need it | {'none found' if all_clean else 'see the table'} | {goal(all_clean)} |

What each command imports (`python -X importtime -m agybatch ...`, in a project with one finished run;
installed plugin distributions load through their entry points as they would for a user). Forbidden at
start: {', '.join(f'`{f}`' for f in FORBIDDEN)}.

| command | agybatch modules | third-party packages | forbidden found |
|---|---|---|---|
{chr(10).join(lines)}

`agybatch --version` imports the `agybatch` package (pluggy, attrs and `agybatch.model`, for the public API)
and `agybatch.cli.main`; each command imports its own module only when chosen (`COMMANDS` in
`agybatch/cli/main.py`), and the notification sinks are imported only when a batch's `[notify]` uses them.

{machine()}

Reproduce (about {args.reps * sum(med.values()) + 5:.0f} s):

    python bench/bench_startup.py --reps {args.reps}
"""
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
