"""``agybatch prune [BATCH] [--keep-runs N] [--keep-days N] [--dry-run] [--json]``: free the state folder.

Removes the job logs and run folders retention no longer keeps (see
:mod:`agybatch.retention`; the project's ``[state]`` table, overridden by the
flags), prints what it removed and the bytes freed, and compacts the journal
when that frees more than a quarter of it. ``--dry-run`` only says what it would
remove. A prune killed halfway is finished by the next one.
"""
from __future__ import annotations

import dataclasses

from ..retention import plan, prune, state_settings, unfinished_runs
from ..units import format_size, iso, printable
from .common import open_journal, print_json, project_from_cwd
from .main import finish_parse


def cmd_prune(parser, argv, known) -> int:
    options = finish_parse(parser, argv)
    project = project_from_cwd()
    settings = state_settings(project)
    overrides = {"keep_runs": options.keep_runs, "keep_days": options.keep_days}
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    journal = open_journal(project, read_only=options.dry_run)
    runs = plan(journal, project.state_dir, settings, options.batch)
    compacted = False
    if not options.dry_run:
        prune(journal, project.state_dir, runs)
        compacted = journal.compact()
    freed = sum(run.bytes for run in runs)
    waiting = unfinished_runs(journal, options.batch)
    if options.json:
        print_json({"dry_run": options.dry_run, "keep_runs": settings.keep_runs, "keep_days": settings.keep_days,
                    "runs": [{"run_id": r.run_id, "batch": r.batch, "started_at": iso(r.started_at),
                              "paths": [str(p) for p in r.paths], "bytes": r.bytes} for r in runs],
                    "bytes_freed": 0 if options.dry_run else freed, "journal_compacted": compacted,
                    "unfinished_kept": waiting})
        return 0
    verb = "would remove" if options.dry_run else "removed"
    for run in runs:
        print(f"{verb} run {run.run_id} ({printable(run.batch)}, {iso(run.started_at)}): "
              f"{len(run.paths)} paths, {format_size(run.bytes)}")
    total = f"{len(runs)} run{'s' * (len(runs) != 1)}"
    print(f"{'would free' if options.dry_run else 'freed'} {format_size(freed)} from {total}"
          + (" · journal compacted" if compacted else ""))
    if waiting:
        print(f"kept {len(waiting)} unfinished run{'s' * (len(waiting) != 1)} ({', '.join(waiting[:3])}"
              f"{', ...' if len(waiting) > 3 else ''}): finish them with agybatch join, or cancel them")
    return 0
