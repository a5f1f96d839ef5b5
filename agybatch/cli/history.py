"""``agybatch history [BATCH]``: past runs, then each label's usual duration (from :mod:`agybatch.history`)."""
from __future__ import annotations

from ..history import WINDOW, History
from ..units import format_duration, format_tokens, format_usd, printable
from .common import ZERO_COUNTS, open_journal, print_json, project_from_cwd, run_json
from .main import finish_parse


def cmd_history(parser, argv, known) -> int:
    """Past runs (verdict, counts, duration), then each label's median and last duration."""
    options = finish_parse(parser, argv)
    journal = open_journal(project_from_cwd(), read_only=True)
    runs, batches = [], []
    counts = journal.outcome_counts(options.batch)
    for row in journal.runs(options.batch):
        runs.append({**run_json(row), "counts": {**ZERO_COUNTS, **counts.get(row["run_id"], {})}})
        if row["batch"] not in batches:
            batches.append(row["batch"])
    labels = [stat for batch in batches for stat in History(journal, batch).labels()]
    if options.json:
        print_json({"batch": options.batch, "runs": runs, "labels": labels})
        return 0
    if not runs:
        print("no runs yet" + (f" of batch {options.batch!r}" if options.batch else ""))
    for run in runs:
        counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in run["counts"].items() if n)
        took = format_duration(run["duration_s"]) if run["duration_s"] is not None else "-"
        print(f"{run['started_at']}  {run['run_id']}  {printable(run['batch']):<16} {run['verdict']:<11} {took:>8}  {counts}")
    for batch in batches:
        stats = [s for s in labels if s["batch"] == batch]
        if not stats:
            continue
        width = min(40, max(len(printable(s["label"])) for s in stats))
        costs = any(s["median_cost_usd"] is not None or s["median_tokens"] is not None for s in stats)
        what = "duration, cost and tokens" if costs else "duration"
        print(f"\n{printable(batch)}: {what} per label (median of the last {WINDOW} finished runs)")
        extra = f"  {'COST':>9}  {'TOKENS':>7}" if costs else ""
        print(f"  {'LABEL':<{width}}  {'MEDIAN':>8}{extra}  {'LAST':>8}  RUNS  LAST OUTCOME")
        for s in stats:
            median = format_duration(s["median_s"]) if s["median_s"] is not None else "-"
            last = format_duration(s["last_s"]) if s["last_s"] is not None else "-"
            outcome = (s["last_outcome"] or "-").replace("_", " ")
            extra = ""
            if costs:
                cost = format_usd(s["median_cost_usd"]) if s["median_cost_usd"] is not None else "-"
                tokens = format_tokens(s["median_tokens"]) if s["median_tokens"] is not None else "-"
                extra = f"  {cost:>9}  {tokens:>7}"
            print(f"  {printable(s['label']):<{width}}  {median:>8}{extra}  {last:>8}  {s['runs']:>4}  {outcome}")
    return 0
