"""Benchmark: the demo batch on the local backend and on a real single-node Slurm cluster.

Usage (as root, from the repository root, with the plugin and the Slurm packages installed;
``bench/run_all.py`` runs it)::

    python plugins/agybatch-slurm/bench/compare_demo.py [--repeat 3] [--cpus 6] [--poll-max 1s]

Runs ``batches/demo`` ``--repeat`` times on the local backend, then on the
tests' own cluster (``tests/slurm_cluster.py``: munged, MariaDB, slurmdbd,
slurmctld, slurmd on 127.0.0.1) with a node of ``--cpus`` logical CPUs,
started once, with the default polling and with ``[batch.poll] max =
POLL_MAX`` (``--poll-max ''`` to skip). Figures: see ``bench/_demo.py``.
Hands in the ``## Slurm backend (demo batch)`` section.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[3]))  # the repository root: the tests' helpers are tests.helpers
sys.path.insert(0, str(HERE.parents[3] / "bench"))
sys.path.insert(0, str(HERE.parents[1] / "tests"))

from _common import machine, write_section  # noqa: E402
from _demo import measure, method, table  # noqa: E402
from slurm_cluster import slurm_missing, start_cluster  # noqa: E402  (the tests' real-cluster helper)

SECTION = "Slurm backend (demo batch)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=6, help="logical CPUs of the cluster's node (default 6)")
    parser.add_argument("--poll-max", default="1s", help="also run with [batch.poll] max = POLL_MAX "
                                                         "(default 1s; '' to skip)")
    args = parser.parse_args()
    reason = slurm_missing()
    if reason:
        sys.exit(reason)
    began = time.monotonic()
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGYBATCH_")}
    configs = measure([("local", "local", base, None)], args.repeat)
    cluster = start_cluster(cpus=args.cpus)
    try:
        env = cluster.env(base)
        version = subprocess.run(["sinfo", "--version"], env=env, capture_output=True, text=True).stdout.strip()
        turns = [(f"slurm, node with {args.cpus} CPUs, default polling", "slurm", env, None)]
        if args.poll_max:
            turns.append((f"slurm, `[batch.poll] max = \"{args.poll_max}\"`", "slurm", env, args.poll_max))
        configs += measure(turns, args.repeat)
    finally:
        cluster.stop()
        cluster.remove()
    body = f"""
{method(args.repeat)} {version or 'Slurm'}: the plugin tests' single-node cluster
(`plugins/agybatch-slurm/tests/slurm_cluster.py`: munged, MariaDB, slurmdbd, slurmctld, slurmd on 127.0.0.1;
`sched/builtin`), started once for all its rows, on this {os.cpu_count()}-core machine, with a node of
{args.cpus} logical CPUs.

{table(configs)}

{machine()}

Reproduce (as root; this took {time.monotonic() - began:.0f} s):

    python plugins/agybatch-slurm/bench/compare_demo.py --repeat {args.repeat} --cpus {args.cpus} --poll-max '{args.poll_max}'
"""
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
