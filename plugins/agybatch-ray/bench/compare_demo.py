"""Benchmark: the demo batch on the local backend and on a real local Ray head.

Usage (from the repository root, with the plugin installed; ``bench/run_all.py`` runs it)::

    python plugins/agybatch-ray/bench/compare_demo.py [--repeat 3] [--ray-cpus 2 6] [--poll-max 1s]

Runs ``batches/demo`` ``--repeat`` times on the local backend, then on a Ray
head started for each ``--ray-cpus`` value (logical CPUs: at most that many
job drivers run at once, since each task asks for ``entrypoint_num_cpus =
1``), and with ``[batch.poll] max = POLL_MAX`` on the largest head (``--poll-max
''`` to skip). The head is the tests' own (``tests/conftest.py``: ``ray start
--head`` on 127.0.0.1, every port free, stopped by process group). Figures:
see ``bench/_demo.py``. Hands in the ``## Ray backend (demo batch)`` section.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[3]))  # the repository root: the tests' helpers are tests.helpers
sys.path.insert(0, str(HERE.parents[3] / "bench"))
sys.path.insert(0, str(HERE.parents[1] / "tests"))

from _common import machine, write_section  # noqa: E402
from _demo import measure, method, table  # noqa: E402
from conftest import ray_env, ray_missing, start_head  # noqa: E402  (the tests' real-head helper)

SECTION = "Ray backend (demo batch)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ray-cpus", type=int, nargs="+", default=[2, 6])
    parser.add_argument("--poll-max", default="1s", help="also run the largest head with [batch.poll] max = "
                                                         "POLL_MAX (default 1s; '' to skip)")
    args = parser.parse_args()
    reason = ray_missing()
    if reason:
        sys.exit(reason)
    began = time.monotonic()
    env = ray_env()
    configs = measure([("local", "local", env, None)], args.repeat)
    for cpus in args.ray_cpus:
        head = start_head(num_cpus=cpus)
        try:
            ray = {**env, "RAY_API_SERVER_ADDRESS": head.address}
            turns = [(f"ray, head with {cpus} logical CPUs", "ray", ray, None)]
            if args.poll_max and cpus == max(args.ray_cpus):
                turns.append((f"ray, {cpus} logical CPUs, `[batch.poll] max = \"{args.poll_max}\"`", "ray", ray,
                              args.poll_max))
            configs += measure(turns, args.repeat)
        finally:
            head.shutdown()
    body = f"""
{method(args.repeat)} Ray {importlib.metadata.version("ray")}: a head started for each number of logical CPUs, on
this {os.cpu_count()}-core machine (`ray start --head`, loopback only, as the plugin's tests start it), each task with
`entrypoint_num_cpus = 1`, so at most as many job drivers run at once as the head has logical CPUs; default
polling unless the row says otherwise.

{table(configs)}

{machine()}

Reproduce (this took {time.monotonic() - began:.0f} s):

    python plugins/agybatch-ray/bench/compare_demo.py --repeat {args.repeat} --ray-cpus {' '.join(map(str, args.ray_cpus))} --poll-max '{args.poll_max}'
"""
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
