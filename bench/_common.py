"""What the benchmark scripts share: the workload, machine details, throw-away projects
and handing in one's own section of docs/benchmarks.md.

Each ``bench_*.py`` script produces one or more ``## ...`` sections with
:func:`write_section`. Only ``bench/run_all.py`` writes docs/benchmarks.md:
it runs the scripts with :data:`SECTIONS_ENV` naming a folder, collects the
sections handed in there and stamps the commit, date and machine once for the
whole document. A script run on its own prints its sections instead.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
#: Set by bench/run_all.py: the folder where :func:`write_section` hands in sections.
SECTIONS_ENV = "AGYBATCH_BENCH_SECTIONS"

#: The source's 12 nightly jobs: (label, minutes); 214 minutes in total.
WORKLOAD = [
    ("generate:article-a", 75), ("report:admob-mediation", 31), ("audit:internal-links", 22),
    ("i18n:store-screenshots", 18), ("generate:article-b", 15), ("audit:image-alt", 12),
    ("report:weekly-traffic", 10), ("i18n:play-listing", 9), ("generate:article-c", 8),
    ("audit:sitemap", 6), ("report:crash-digest", 5), ("cleanup:tmp", 3),
]


# -- machine ------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit() -> str:
    """The short HEAD commit, with ``-dirty`` if tracked files other than docs/benchmarks.md changed."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!docs/benchmarks.md"],  # the benchmarks write it themselves
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def machine_facts() -> str:
    """Cores, CPU, kernel and Python, in one phrase."""
    return (f"{os.cpu_count()} cores (`nproc`), {cpu_model()}, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def machine() -> str:
    """One line for the end of a section printed on its own: machine, commit, date.

    Empty when the section goes to bench/run_all.py, which stamps the commit,
    the date and the machine once, at the top of the document.
    """
    if os.environ.get(SECTIONS_ENV):
        return ""
    return (f"Machine: {machine_facts()}, agybatch at commit {git_commit()}. "
            f"Measured {datetime.date.today().isoformat()}.")


# -- the document ---------------------------------------------------------------

def write_section(title: str, body: str) -> None:
    """Hand in the ``## title`` section (``body`` is its Markdown, without the heading).

    Under bench/run_all.py (:data:`SECTIONS_ENV` set) the section is saved for
    the document; a script run on its own prints it, since a section measured
    apart from the others would not share the document's commit and date.
    """
    body = re.sub(r"\n{3,}", "\n\n", body.strip())
    folder = os.environ.get(SECTIONS_ENV)
    if not folder:
        print(f"\n## {title}\n\n{body}\n")
        print("(printed only: docs/benchmarks.md is written by bench/run_all.py)", file=sys.stderr)
        return
    handed_in = sorted(Path(folder).glob("*.json"))
    path = Path(folder) / f"{len(handed_in):03d}-{os.getpid()}.json"
    path.write_text(json.dumps({"title": title, "body": body}))


def goal(met: bool) -> str:
    return "met" if met else "**missed**"


# -- projects and runs ------------------------------------------------------------

def clean_env(**extra) -> dict:
    """The caller's environment without AGYBATCH_* settings (plugins autoload as for a user), and with
    bytecode caching on, as a user has it (``PYTHONDONTWRITEBYTECODE`` would make every start compile)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AGYBATCH_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def make_project(parent: Path, name: str, toml: str) -> Path:
    """A fresh project folder under ``parent`` with ``batches/<name>/batch.toml``; returns its root."""
    root = parent / f"proj-{name}-{time.monotonic_ns()}"
    (root / "batches" / name).mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    (root / "batches" / name / "batch.toml").write_text(toml)
    return root


def workload_toml(scale: float, order=None, batch: str = "") -> str:
    """The 12-job workload as a batch file, each job ``sleep minutes*scale``."""
    jobs = order or WORKLOAD
    lines = [batch] if batch else []
    for label, minutes in jobs:
        lines.append(f'[[task]]\nlabel = "{label}"\ncommand = ["sleep", "{minutes * scale:g}"]\n')
    return "\n".join(lines)


def agybatch(*args) -> list:
    return [sys.executable, "-m", "agybatch", *map(str, args)]


def run_json(root: Path, *args, env: dict | None = None) -> tuple[dict, float]:
    """Run ``agybatch ARGS --json`` in ``root``; return (summary, command wall seconds)."""
    started = time.perf_counter()
    proc = subprocess.run(agybatch(*args, "--json"), cwd=root, env=env or clean_env(),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1, 2):
        sys.exit(f"agybatch {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return json.loads(proc.stdout), wall


def journal_rows(root: Path, sql: str, params=()) -> list:
    """Rows of ``sql`` against a project's journal, opened read-only."""
    db = sqlite3.connect(f"file:{root / '.agybatch' / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def job_ends(root: Path, run_id: str) -> dict:
    """``{label: (job started_at, ended_at from the run's job records, journal time of the final event)}``."""
    state = root / ".agybatch"
    db = sqlite3.connect(f"file:{state / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT label, job_id FROM tasks WHERE run_id=?", (run_id,)).fetchall()
        finals = dict(db.execute("SELECT label, MAX(at) FROM events WHERE run_id=? AND kind='final' GROUP BY label",
                                 (run_id,)).fetchall())
    finally:
        db.close()
    ends = {}
    for line in (state / "runs" / run_id / "local-jobs").read_text().splitlines():
        record = json.loads(line)
        if record["event"] == "ended":
            ends[record["job"]] = record
    return {label: (ends[job_id]["started_at"], ends[job_id]["ended_at"], finals[label]) for label, job_id in rows}


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def ensure_gnu_parallel() -> str | None:
    """Path of GNU parallel, installing the distribution's package with apt-get if missing."""
    found = shutil.which("parallel")
    if found:
        return found
    if shutil.which("apt-get"):
        print("installing GNU parallel (apt-get install parallel) ...", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq", "parallel"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return shutil.which("parallel")
