"""Task selection for ``run`` (``-k``, ``--tag``, ``--lf``) and the ``--collect-only`` listing."""
from __future__ import annotations

import dataclasses

from ..errors import NoTasksError
from ..units import format_duration
from .common import print_json


def apply_selection(batch, options, journal):
    """Narrow ``batch`` to the selected tasks; exit 5 if nothing is selected."""
    last_failed = None
    if options.last_failed:
        last = next((r for r in journal.runs(batch.name) if r["exit_code"] is not None), None)
        if last is not None:
            last_failed = {t["label"] for t in journal.tasks(last["run_id"]) if t["outcome"] != "succeeded"}
    if not (options.keyword or options.tags or last_failed is not None):
        return batch
    from ..selection import select

    selected, _ = select(batch.tasks, options.keyword, options.tags or (), last_failed)
    if not selected:
        how = []
        if options.keyword:
            how.append(f"-k {options.keyword!r}")
        if options.tags:
            how.append("--tag " + ", ".join(options.tags))
        if last_failed is not None:
            how.append("--lf (every task succeeded in the last run)")
        raise NoTasksError(f"{batch.path}: no task selected by {' and '.join(how)}")
    return dataclasses.replace(batch, tasks=tuple(selected))


def collect_only(batch, expected: dict, as_json: bool) -> int:
    """Print what would run, in order, with needs and expected times; submit nothing."""
    from ..plan import makespan, simulate

    planned = simulate(batch.tasks, expected, batch.max_parallel, batch.stagger)
    total = makespan(planned)
    if as_json:
        print_json({
            "batch": batch.name, "backend": batch.backend, "expected_finish_s": total,
            "tasks": [{"label": p.label, "needs": list(p.needs), "usual_s": p.usual,
                       "expected_start_s": p.start, "expected_finish_s": p.finish} for p in planned],
        })
        return 0
    order = "longest first" if batch.max_parallel or batch.stagger else "batch order"
    cap = f"max_parallel {batch.max_parallel}" if batch.max_parallel else "no cap"
    print(f"{batch.name}: {len(planned)} task{'s' * (len(planned) != 1)} on {batch.backend} · {cap} · {order}")
    width = max(len(p.label) for p in planned)
    for number, item in enumerate(planned, 1):
        usual = format_duration(item.usual) if item.usual is not None else "unknown"
        when = (f"+{format_duration(item.start)} → +{format_duration(item.finish)}"
                if item.finish is not None else "finish unknown")
        print(f"{number:>3}. {item.label:<{width}}  usual {usual:<8} {when}")
        for need in item.needs:
            print(f"       └─ needs {need}")
    print(f"expected finish: {'+' + format_duration(total) if total is not None else 'unknown (no history for some tasks)'}")
    return 0
