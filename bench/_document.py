"""docs/benchmarks.md as bench/run_all.py writes it: one stamp, then the sections the scripts handed in.

The stamp (commit, tree state, date, machine) is written once, at the top,
as a table for readers and as a JSON comment for :func:`read_stamp`, so
``run_all.py --only NAME`` can tell whether a section it re-measures belongs
to the same commit and machine as the rest of the document.
"""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

STAMP_MARK = "<!-- run_all stamp: "


@dataclass
class Stamp:
    """What every figure of the document shares."""

    commit: str                       # full HEAD commit
    dirty: list = field(default_factory=list)  # changed paths (docs/benchmarks.md excepted); empty: clean
    dates: list = field(default_factory=list)  # ISO dates the figures were measured on
    machine: str = ""
    load: str = ""                    # 1/5/15-minute load averages at the start
    took_s: float = 0.0
    quick: bool = False

    @property
    def short(self) -> str:
        return self.commit[:7]


def tree_state(root: Path) -> tuple:
    """``(HEAD commit, changed paths)``: tracked changes and untracked files, docs/benchmarks.md excepted."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                            check=True).stdout.strip()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", ".",
                             ":!docs/benchmarks.md"], cwd=root, capture_output=True, text=True, check=True).stdout
    return commit, [line[3:] for line in status.splitlines() if line.strip()]


def load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def header(stamp: Stamp, sections: list) -> str:
    """The top of the document: what generated it, the stamp, and the sections with their commands."""
    if stamp.dirty:
        shown = ", ".join(f"`{p}`" for p in stamp.dirty[:8]) + (" …" if len(stamp.dirty) > 8 else "")
        tree = f"**not a clean commit**: {len(stamp.dirty)} changed path(s) ({shown}); these figures cannot be reproduced"
    else:
        tree = "clean tree"
    dates = stamp.dates[0] if len(set(stamp.dates)) == 1 else f"{min(stamp.dates)} to {max(stamp.dates)}"
    minutes, seconds = divmod(round(stamp.took_s), 60)
    contents = "\n".join(f"- [{title}](#{anchor(title)}): `python bench/run_all.py --only {name}`"
                         for name, title in sections)
    return f"""# Benchmarks

Written by `python bench/run_all.py`: every figure below was produced by the scripts in `bench/` and
`plugins/*/bench/` in one run, at one commit, on one machine (see `bench/README.md`). Do not edit by hand.

| | |
|---|---|
| commit | `{stamp.short}` ({tree}) |
| measured | {dates} |
| machine | {stamp.machine} |
| load average at the start (1 / 5 / 15 min) | {stamp.load} |
| time for the whole run | {minutes} min {seconds} s{" (**--quick smoke run: not figures to quote**)" if stamp.quick else ""} |

{contents}

{STAMP_MARK}{json.dumps(asdict(stamp))} -->
"""


def anchor(title: str) -> str:
    """GitHub's anchor for a ``## title`` heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def render(stamp: Stamp, sections: list) -> str:
    """The whole document from the stamp and ``[(benchmark name, title, body)]``."""
    text = header(stamp, [(name, title) for name, title, _ in sections])
    for _, title, body in sections:
        text += f"\n## {title}\n\n{body.strip()}\n"
    return text


def parse(text: str) -> tuple:
    """``(stamp or None, [(benchmark name, title, body)])`` of a document :func:`render` wrote."""
    stamp = None
    for line in text.splitlines():
        if line.startswith(STAMP_MARK):
            stamp = Stamp(**json.loads(line[len(STAMP_MARK):].rsplit(" -->", 1)[0]))
    names = {title: name for title, name in re.findall(r"^- \[(.+?)\]\(#[^)]*\): `python bench/run_all\.py "
                                                       r"--only (\S+)`$", text, re.M)}
    sections = []
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    for title, body in zip(parts[1::2], parts[2::2]):
        sections.append((names.get(title, ""), title, body.strip()))
    return stamp, sections


def replace(sections: list, name: str, fresh: list) -> list:
    """``sections`` with benchmark ``name``'s sections swapped for ``fresh`` (in place, or appended)."""
    out, placed = [], False
    for entry in sections:
        if entry[0] == name:
            if not placed:
                out.extend(fresh)
                placed = True
            continue
        out.append(entry)
    if not placed:
        out.extend(fresh)
    return out
