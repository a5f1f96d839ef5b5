"""``agybatch run`` and ``agybatch join``: set up a session and hand it to the runner."""
from __future__ import annotations

import os
import time
from pathlib import Path

from ..batchfile import batch_from_journal, load_batch
from ..errors import AgybatchError, NoTasksError, UsageError
from ..manager import call_strict, load, registered
from ..model import ExitCode
from ..project import load_project, resolve_batch
from ..records import TaskRecord
from ..session import Session
from .collect import apply_selection, collect_only
from .common import find_run, make_backend, make_config, open_journal, print_json, project_from_cwd
from .main import finish_parse


def new_run_id() -> str:
    """A sortable, unique run ID such as ``20261126-185112-3f9a``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(2).hex()


def _setup(parser, argv, known, project, batch_folder):
    config = make_config(known, project, batch_folder)
    pm = config.pluginmanager
    call_strict(pm, "addoption", historic=True, parser=parser.subparsers[known.command])
    config.option = finish_parse(parser, argv)
    call_strict(pm, "configure", historic=True, config=config)
    return config


def cmd_run(parser, argv, known) -> int:
    batch_path = resolve_batch(known.batch)
    project = load_project(batch_path.parent)
    config = _setup(parser, argv, known, project, batch_path.parent)
    options = config.option
    pm = config.pluginmanager
    overrides = {"deadline": options.deadline, "max_parallel": options.max_parallel, "backend": options.backend}
    blocked = {spec[3:] for spec in options.plugins or () if spec.startswith("no:")}
    batch = load_batch(batch_path, project, registered(pm, "register_backends"), registered(pm, "register_tables"),
                       overrides, blocked, registered(pm, "register_result_formats"))
    if not batch.tasks:
        raise NoTasksError(f"{batch_path}: the batch has no [[task]] to run")
    journal = open_journal(project)
    batch = apply_selection(batch, options, journal)
    if options.collect_only:
        return collect_only(batch, usual_durations(journal, batch.name, None), options.json)
    session = Session(config=config, batch=batch, run_id=new_run_id(), journal=journal)
    records = [TaskRecord(seq=i, task=task) for i, task in enumerate(batch.tasks)]
    return _execute(session, records, started_at=time.time(), new=True)


def cmd_join(parser, argv, known) -> int:
    project = project_from_cwd()
    journal = open_journal(project)
    row = find_run(journal, known.run_id, unfinished=True)
    if _has_verdict(row) and row["joined_at"] is not None:
        raise UsageError(f"run {row['run_id']} already finished ({row['verdict']}); nothing to join")
    batch_folder = Path(row["batch_path"]).parent
    project = load_project(batch_folder) if batch_folder.is_dir() else project
    config = _setup(parser, argv, known, project, batch_folder if batch_folder.is_dir() else None)
    records = [TaskRecord.from_row(r) for r in journal.tasks(row["run_id"])]
    batch = batch_from_journal(row, project, tuple(r.task for r in records))
    session = Session(config=config, batch=batch, run_id=row["run_id"], journal=journal, resumed=True)
    return _execute(session, records, started_at=row["started_at"], new=False, run_row=row)


def _execute(session, records, started_at: float, new: bool, run_row=None) -> int:
    from ..backends import BackendContext
    from ..manager import call_hook

    config, batch, journal = session.config, session.batch, session.journal
    pm = config.pluginmanager
    if run_row is None:
        context = BackendContext(run_id=session.run_id, state_dir=session.state_dir, run_dir=session.run_dir,
                                 batch_folder=batch.folder, options=batch.backend_options)
        backend = load(registered(pm, "register_backends")[batch.backend])(context)
    else:
        backend = make_backend(config, run_row)
    session.backend = backend
    exit_code, error = ExitCode.INTERNAL_ERROR, None
    started = False
    try:
        call_strict(pm, "on_session_start", session=session)
        started = True
        if run_row is None or not _has_verdict(run_row):
            backend.prepare()
        if new:
            journal.create_run(session.run_id, batch.name, batch.path, batch.backend, batch.settings(),
                               started_at, [(r.seq, r.label, r.task.to_dict()) for r in records])
        if run_row is not None and _has_verdict(run_row):  # its runner died between verdict and on_join
            from ..ledger import attach
            from ..report.data import summary_from_rows

            summary = attach(summary_from_rows(run_row, journal.tasks(session.run_id)), journal)
        else:
            summary = _run(session, backend, records, started_at, new)
        call_hook(pm, "on_join", summary.plugin_errors, session=session, summary=summary)
        journal.mark_joined(session.run_id, time.time())
        if not summary.interrupted:
            _retain(session)
        exit_code = summary.exit_code
        if config.option.json:
            print_json(summary.to_json())
        return int(exit_code)
    except AgybatchError as exc:
        exit_code, error = exc.exit_code, str(exc)
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if started:
            call_hook(pm, "on_session_end", None, session=session, exit_code=int(exit_code), error=error)
        backend.close()


def _run(session, backend, records, started_at: float, new: bool):
    """Run (or resume) the batch to its verdict, journalled; the summary."""
    from ..liveness import me
    from ..runner import Runner

    journal, config = session.journal, session.config
    formats = registered(config.pluginmanager, "register_result_formats")
    missing = sorted({r.task.result for r in records} - {"auto", "exit-code", *formats})
    if missing:
        raise UsageError(f"run {session.run_id} judges results with {missing[0]!r}, which is not registered now")
    workspaces = None
    if any(r.task.workspace == "worktree" for r in records):
        from ..workspace import Workspaces

        workspaces = Workspaces(session)
    if not new:
        journal.reopen_run(session.run_id)
    journal.set_runner(session.run_id, me())
    runner = Runner(session, backend, records, started_at, cancel_on_interrupt=config.option.cancel_on_interrupt,
                    expected=usual_durations(journal, session.batch.name, session.run_id), formats=formats,
                    workspaces=workspaces)
    summary = runner.run()
    journal.finish_run(session.run_id, summary.ended_at, int(summary.exit_code), summary.verdict,
                       summary.poll_failures, summary.stopped_by)
    return summary


def _retain(session) -> None:
    """Prune the batch's runs that retention no longer keeps; trouble is a warning, never the verdict."""
    import sys

    from ..retention import plan, prune, state_settings

    try:
        prune(session.journal, session.state_dir,
              plan(session.journal, session.state_dir, state_settings(session.batch.project), session.batch.name,
                   keep=(session.run_id,)))
    except (AgybatchError, OSError) as exc:
        print(f"agybatch: warning: retention: {exc}", file=sys.stderr)


def _has_verdict(run_row) -> bool:
    return run_row["exit_code"] is not None and run_row["exit_code"] != ExitCode.INTERRUPTED


def usual_durations(journal, batch: str, run_id) -> dict:
    """Each label's median duration over the batch's earlier runs (when its job is expected to end)."""
    from ..history import History

    return History(journal, batch).expected(exclude_run=run_id)
