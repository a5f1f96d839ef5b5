"""Benchmark: what each command imports at start (``python -X importtime``).

Runs ``python -X importtime -m agybatch`` for ``--version``, ``list``,
``status``, ``history`` (in a project whose journal holds 365 runs, as in
bench_fast_commands.py) and ``run`` (that project's 12-task local batch, no
``[notify]``); lists the agybatch modules and third-party packages each one
imports, their total import time and the slowest imports, and checks that
none imports a backend or plugin dependency it does not need (ray, apprise,
aiosmtpd, smtplib, the network notification sinks, the HTML/JUnit report
modules). Installed plugin distributions load as they would for a user.
Goal (issue 8): nothing forbidden imported. Hands in the ``## Imports at
start`` section.

    python bench/bench_imports.py
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import clean_env, goal, machine, write_section
from _year import year_project

SECTION = "Imports at start"
#: Modules no command may import at start unless it needs them (prefix match on the dotted name).
FORBIDDEN = ("ray", "apprise", "aiosmtpd", "smtplib", "email.mime", "http.client", "urllib.request",
             "agybatch.sinks.email", "agybatch.sinks.webhook", "agybatch.sinks.command",
             "agybatch.report.html", "agybatch.report.junit", "agybatch.report.timeline", "agybatch.report.data")
STDLIB = set(sys.stdlib_module_names)
COMMANDS = (("--version", ["--version"]), ("list", ["list"]), ("status", ["status"]), ("history", ["history"]),
            ("run (local, no [notify])", ["run", "nightly", "-q"]))
SLOWEST = 5


def imported(argv, cwd) -> list:
    """``[(module, cumulative µs, nesting depth)]`` imported by ``argv`` after the interpreter's own start-up."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        sys.exit(f"{argv} exited {proc.returncode}: {proc.stderr[-2000:]}")
    modules = []
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            depth = len(match.group(2)) // 2
            modules.append((match.group(3), int(match.group(1)), depth))
            if match.group(3) == "site" and depth == 0:
                modules.clear()  # what the interpreter's site set-up imported is not agybatch's doing
    return modules


def summarise(modules) -> dict:
    names = [n for n, _, _ in modules]
    top = [(n, us) for n, us, depth in modules if depth == 0]
    return {
        "ours": sorted(n for n in names if n == "agybatch" or n.startswith("agybatch.")),
        "third": sorted({n.split(".")[0] for n in names} - STDLIB - {"agybatch", "org"}  # org: Jython probing
                        - {n.split(".")[0] for n in names if n.startswith("_")}),
        "bad": sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)),
        "total_ms": sum(us for _, us in top) / 1000,
        "slowest": sorted(top, key=lambda item: -item[1])[:SLOWEST],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="agybatch-bench-") as tmp:
        root = year_project(Path(tmp))
        checks = {name: summarise(imported(["-m", "agybatch", *argv], root)) for name, argv in COMMANDS}
    rows, slow_rows = [], []
    for name, found in checks.items():
        command, _, rest = name.partition(" ")
        print(f"{name}: {len(found['ours'])} agybatch modules, {found['total_ms']:.1f} ms of imports, third-party "
              f"{', '.join(found['third']) or 'none'}; forbidden: {', '.join(found['bad']) or 'none'}")
        rows.append(f"| `agybatch {command}`{' ' + rest if rest else ''} | {len(found['ours'])}: "
                    f"{', '.join(m.replace('agybatch.', '') for m in found['ours'])} | "
                    f"{', '.join(found['third']) or 'none'} | {', '.join(found['bad']) or 'none'} |")
        slow_rows.append(f"| `agybatch {command}` | {found['total_ms']:.1f} ms | "
                         + ", ".join(f"`{n}` {us / 1000:.1f}" for n, us in found["slowest"]) + " |")
    all_clean = not any(found["bad"] for found in checks.values())
    body = f"""
What each command imports (`python -X importtime -m agybatch ...`, after the interpreter's own start-up), in a
project whose journal holds 365 runs (`bench/_year.py`); installed plugin distributions load through their entry
points as they would for a user. Forbidden at start: {', '.join(f'`{f}`' for f in FORBIDDEN)}.

| command | agybatch modules | third-party packages | forbidden found |
|---|---|---|---|
{chr(10).join(rows)}

Import time (one run each, `-X importtime` cumulative times, which the tracing itself inflates; wall times
are in "Fast commands"):

| command | imports in total | the {SLOWEST} slowest top-level imports (ms) |
|---|---|---|
{chr(10).join(slow_rows)}

| goal (issue 8) | measured | |
|---|---|---|
| no backend or plugin dependency imported at start by a command that does not need it | {'none found' if all_clean else 'see the first table'} | {goal(all_clean)} |

{machine()}

Reproduce (this took {time.monotonic() - began:.0f} s):

    python bench/bench_imports.py
"""
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
