"""Loading and validating a batch: ``batch.toml`` over the project's defaults.

Every problem is a :class:`~agybatch.errors.ConfigError` naming the file and
the key (and the line where it can be found), raised before anything runs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from . import taskspec
from .manager import load
from .prices import check_prices
from .project import Project, load_toml
from .schedule import PollPolicy
from .taskspec import INHERITED_KEYS, TaskContext, inherited
from .template import apply_templates
from .validate import Checker

BATCH_KEYS = {
    "name", "backend", "deadline", "stagger", "max_parallel", "queued_timeout", "on_stalled", "poll", "vars",
    "max_cost_usd", "max_tokens", "on_budget", *INHERITED_KEYS,
}
POLL_KEYS = {"initial", "max", "factor"}
STALLED_ACTIONS = ("cancel", "leave")
BUDGET_ACTIONS = ("finish", "cancel")
#: Top-level tables of the project settings that are not batch defaults.
PROJECT_ONLY = ("plugins", "state")


@dataclass(frozen=True)
class BatchSpec:
    """A validated batch, ready to run. ``tables`` holds the plugin-owned tables (e.g. ``notify``)."""

    name: str
    path: Path
    project: Project
    backend: str = "local"
    deadline: Optional[float] = None
    stagger: float = 0.0
    max_parallel: int = 0
    queued_timeout: Optional[float] = None
    on_stalled: str = "cancel"
    max_cost_usd: Optional[float] = None
    max_tokens: Optional[int] = None
    on_budget: str = "finish"
    prices: dict = field(default_factory=dict)
    poll: dict = field(default_factory=dict)
    backend_options: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    tasks: tuple = ()

    @property
    def folder(self) -> Path:
        return self.path.parent

    def poll_policy(self, defaults: PollPolicy) -> PollPolicy:
        """The batch's ``[batch.poll]`` over a backend's own defaults."""
        return dataclasses.replace(defaults, **self.poll)

    def settings(self) -> dict:
        """The run-level settings as plain data, for the journal."""
        return {
            "backend": self.backend, "deadline": self.deadline, "stagger": self.stagger,
            "max_parallel": self.max_parallel, "queued_timeout": self.queued_timeout,
            "on_stalled": self.on_stalled, "max_cost_usd": self.max_cost_usd, "max_tokens": self.max_tokens,
            "on_budget": self.on_budget, "prices": dict(self.prices), "poll": dict(self.poll),
            "backend_options": dict(self.backend_options), "tables": dict(self.tables),
        }


def _merge(defaults: dict, override: dict) -> dict:
    merged = dict(defaults)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_batch(path: Path, project: Project, backends, tables: dict, overrides: dict | None = None,
               blocked=(), formats: dict | None = None) -> BatchSpec:
    """Validate ``path`` over the project defaults and return a :class:`BatchSpec`.

    ``backends`` maps names to backend classes (for their task and option
    schemas); ``tables`` maps plugin-owned top-level table names to a
    validator ``(data) -> None`` raising ValueError; ``overrides`` are CLI
    values for ``[batch]`` keys. A table named after a ``blocked`` plugin
    (``-p no:notify`` and ``[notify]``) is left alone, unvalidated and unused.
    ``formats`` maps result format names to formats (for ``result``).
    """
    check = Checker(path)
    data = load_toml(path)
    if "state" in data:
        check.fail("", "[state] is project-wide: set it in agybatch.toml or [tool.agybatch.state]", "state")
    defaults = {k: v for k, v in project.settings.items() if k not in PROJECT_ONLY}
    data = _merge(defaults, data)
    known_top = {"batch", "task", "prices", *tables}
    data = {k: v for k, v in data.items() if k in known_top or k not in blocked}
    for key in data:
        if key not in known_top:
            check.unknown("", key, known_top)
    batch = data.get("batch", {})
    if not isinstance(batch, dict):
        check.fail("", "'batch' must be a table", "batch")
    batch = {**batch, **{k: v for k, v in (overrides or {}).items() if v is not None}}

    backend = batch.get("backend", "local")
    if not isinstance(backend, str) or backend not in backends:
        names = ", ".join(sorted(backends)) or "none"
        check.fail("[batch]", f"backend {backend!r} is not registered (available: {names})", "backend")
    backend_cls = load(backends[backend])
    for key in batch:
        if key not in BATCH_KEYS and key != backend:
            if isinstance(batch[key], dict) and key in backends:
                continue
            check.unknown("[batch]", key, BATCH_KEYS | {backend})

    spec: dict[str, Any] = {"backend": backend}
    name = batch.get("name", path.parent.name)
    if not isinstance(name, str) or not name.strip() or "/" in name or "\0" in name:
        check.fail("[batch]", f"name must be a non-empty string without '/', got {name!r}", "name")
    spec["name"] = name
    for key in ("deadline", "queued_timeout"):
        if key in batch:
            spec[key] = check.duration("[batch]", key, batch[key], allow_zero=False)
    if "stagger" in batch:
        spec["stagger"] = check.duration("[batch]", "stagger", batch["stagger"])
    if "max_parallel" in batch:
        value = batch["max_parallel"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            check.fail("[batch]", f"max_parallel must be a whole number >= 0, got {value!r}", "max_parallel")
        spec["max_parallel"] = value
    if "on_stalled" in batch:
        if batch["on_stalled"] not in STALLED_ACTIONS:
            check.fail("[batch]", f"on_stalled must be one of {STALLED_ACTIONS}, got {batch['on_stalled']!r}", "on_stalled")
        spec["on_stalled"] = batch["on_stalled"]
    if "max_cost_usd" in batch:
        spec["max_cost_usd"] = check.number("[batch]", "max_cost_usd", batch["max_cost_usd"], positive=True)
    if "max_tokens" in batch:
        spec["max_tokens"] = check.whole("[batch]", "max_tokens", batch["max_tokens"], minimum=1)
    if "on_budget" in batch:
        spec["on_budget"] = check.choice("[batch]", "on_budget", batch["on_budget"], BUDGET_ACTIONS)
    spec["prices"] = check_prices(check, data.get("prices", {}))
    spec["poll"] = _poll(check, batch.get("poll", {}))
    options = batch.get(backend, {})
    if not isinstance(options, dict):
        check.fail("[batch]", f"'{backend}' must be a table", backend)
    try:
        spec["backend_options"] = backend_cls.check_options(dict(options))
    except ValueError as exc:
        check.fail(f"[batch.{backend}]", str(exc))

    plugin_tables = {}
    for table, validate in tables.items():
        if table in data:
            try:
                validate(data[table])
            except ValueError as exc:
                check.fail(f"[{table}]", str(exc), table)
            plugin_tables[table] = data[table]
    raw_tasks = data.get("task", [])
    if not isinstance(raw_tasks, list):
        check.fail("", "tasks are written as [[task]] tables", "task")
    from .retention import state_settings

    ctx = TaskContext(folder=path.parent, root=project.root, backend=backend_cls, formats=formats or {})
    base = {"max_log_size": state_settings(project).max_log_size}
    ctx = dataclasses.replace(ctx, defaults=inherited(check, "[batch]", batch, None, ctx, base))
    tasks = tuple(taskspec.task(check, raw, i, ctx) for i, raw in enumerate(raw_tasks))
    tasks = apply_templates(check, tasks, raw_tasks, batch.get("vars", {}))
    seen: dict[str, int] = {}
    for i, task in enumerate(tasks):
        if task.label in seen:
            check.fail(f"task {i + 1}", f"duplicate label {task.label!r} (also task {seen[task.label] + 1})", "label", i)
        seen[task.label] = i
    _check_needs(check, tasks, seen)
    return BatchSpec(path=path, project=project, tables=plugin_tables, tasks=tasks, **spec)


def _check_needs(check: Checker, tasks, index: dict) -> None:
    from .graph import find_cycle

    for i, task in enumerate(tasks):
        for need in task.needs:
            if need == task.label:
                check.fail(f"task {task.label!r}", "needs itself", "needs", i)
            if need not in index:
                hint = _close(need, list(index), n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                check.fail(f"task {task.label!r}", f"needs unknown task {need!r}{suggestion}", "needs", i)
    cycle = find_cycle({t.label: t.needs for t in tasks})
    if cycle:
        check.fail("", "dependency cycle: " + " -> ".join(cycle), "needs", index[cycle[0]])


def _poll(check: Checker, poll) -> dict:
    if not isinstance(poll, dict):
        check.fail("[batch]", "poll must be a table", "poll")
    result = {}
    for key, value in poll.items():
        if key not in POLL_KEYS:
            check.unknown("[batch.poll]", key, POLL_KEYS)
        if key == "factor":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
                check.fail("[batch.poll]", f"factor must be a number >= 1, got {value!r}", "factor")
            result[key] = float(value)
        else:
            result[key] = check.duration("[batch.poll]", key, value, allow_zero=False)
    if "initial" in result and "max" in result and result["initial"] > result["max"]:
        check.fail("[batch.poll]", "initial must not exceed max", "initial")
    return result


def batch_from_journal(run_row, project: Project, tasks: tuple) -> BatchSpec:
    """Rebuild the :class:`BatchSpec` a run was started with, from its journal row."""
    import json

    settings = json.loads(run_row["settings"])
    return BatchSpec(
        name=run_row["batch"], path=Path(run_row["batch_path"]), project=project, tasks=tasks,
        **{k: settings[k] for k in ("backend", "deadline", "stagger", "max_parallel", "queued_timeout",
                                    "on_stalled", "poll", "backend_options", "tables") if k in settings},
        **{k: settings[k] for k in ("max_cost_usd", "max_tokens", "on_budget", "prices") if k in settings},
    )


def _close(word, choices, n=1):
    """``difflib.get_close_matches``, imported only when an error needs a "did you mean"."""
    import difflib

    return difflib.get_close_matches(word, choices, n=n)

