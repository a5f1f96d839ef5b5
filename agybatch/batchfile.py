"""Loading and validating a batch: ``batch.toml`` over the project's defaults.

Every problem is a :class:`~agybatch.errors.ConfigError` naming the file and
the key (and the line where it can be found), raised before anything runs.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Optional

import attrs

from .errors import ConfigError
from .model import Task
from .project import Project, load_toml
from .schedule import PollPolicy
from .template import apply_templates
from .units import parse_duration

RETRY_KEYS = {"retries", "retry_backoff", "retry_on"}
BATCH_KEYS = {
    "name", "backend", "deadline", "stagger", "max_parallel", "queued_timeout",
    "on_stalled", "poll", "vars", *RETRY_KEYS,
}
POLL_KEYS = {"initial", "max", "factor"}
TASK_KEYS = {"label", "command", "timeout", "cwd", "env", "vars", "needs", "tags", *RETRY_KEYS}
STALLED_ACTIONS = ("cancel", "leave")
RETRYABLE = ("failed", "timed_out", "lost", "error", "stalled")


@attrs.frozen
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
    poll: dict = attrs.field(factory=dict)
    backend_options: dict = attrs.field(factory=dict)
    tables: dict = attrs.field(factory=dict)
    tasks: tuple = ()

    @property
    def folder(self) -> Path:
        return self.path.parent

    def poll_policy(self, defaults: PollPolicy) -> PollPolicy:
        """The batch's ``[batch.poll]`` over a backend's own defaults."""
        return attrs.evolve(defaults, **self.poll)

    def settings(self) -> dict:
        """The run-level settings as plain data, for the journal."""
        return {
            "backend": self.backend, "deadline": self.deadline, "stagger": self.stagger,
            "max_parallel": self.max_parallel, "queued_timeout": self.queued_timeout,
            "on_stalled": self.on_stalled, "poll": dict(self.poll),
            "backend_options": dict(self.backend_options), "tables": dict(self.tables),
        }


class _Checker:
    """Builds error messages that name the file, the line when found, and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            self.lines = []

    def fail(self, where: str, message: str, key: str | None = None, task_index: int | None = None):
        line = self._line_of(key, task_index)
        location = f"{self.path}:{line}" if line else str(self.path)
        raise ConfigError(location, f"{where}: {message}" if where else message)

    def _line_of(self, key: str | None, task_index: int | None) -> int | None:
        start = 0
        if task_index is not None:
            headers = [i for i, l in enumerate(self.lines) if re.match(r"\s*\[\[\s*task\s*\]\]", l)]
            if task_index >= len(headers):
                return None
            start = headers[task_index]
            if key is None:
                return start + 1
        if key is None:
            return None
        pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for i in range(start, len(self.lines)):
            if i > start and task_index is not None and re.match(r"\s*\[", self.lines[i]):
                return None
            if pattern.match(self.lines[i]):
                return i + 1
        return None

    def unknown(self, where, key, known, task_index=None):
        hint = difflib.get_close_matches(key, sorted(known), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        self.fail(where, f"unknown key {key!r}{suggestion}", key, task_index)

    def duration(self, where, key, value, task_index=None, allow_zero=True) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(where, f"{key}: {exc}", key, task_index)
        if not allow_zero and seconds <= 0:
            self.fail(where, f"{key}: must be greater than zero", key, task_index)
        return seconds


def _merge(defaults: dict, override: dict) -> dict:
    merged = dict(defaults)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_batch(path: Path, project: Project, backends, tables: dict, overrides: dict | None = None,
               blocked=()) -> BatchSpec:
    """Validate ``path`` over the project defaults and return a :class:`BatchSpec`.

    ``backends`` maps names to backend classes (for their task and option
    schemas); ``tables`` maps plugin-owned top-level table names to a
    validator ``(data) -> None`` raising ValueError; ``overrides`` are CLI
    values for ``[batch]`` keys. A table named after a ``blocked`` plugin
    (``-p no:notify`` and ``[notify]``) is left alone, unvalidated and unused.
    """
    check = _Checker(path)
    data = load_toml(path)
    defaults = {k: v for k, v in project.settings.items() if k != "plugins"}
    data = _merge(defaults, data)
    known_top = {"batch", "task", *tables}
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
    backend_cls = backends[backend]
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
    retry_defaults = _retry(check, "[batch]", batch, None, {})
    tasks = tuple(_task(check, path.parent, raw, i, backend_cls, retry_defaults) for i, raw in enumerate(raw_tasks))
    tasks = apply_templates(check, tasks, raw_tasks, batch.get("vars", {}))
    seen: dict[str, int] = {}
    for i, task in enumerate(tasks):
        if task.label in seen:
            check.fail(f"task {i + 1}", f"duplicate label {task.label!r} (also task {seen[task.label] + 1})", "label", i)
        seen[task.label] = i
    _check_needs(check, tasks, seen)
    return BatchSpec(path=path, project=project, tables=plugin_tables, tasks=tasks, **spec)


def _check_needs(check: _Checker, tasks, index: dict) -> None:
    from .graph import find_cycle

    for i, task in enumerate(tasks):
        for need in task.needs:
            if need == task.label:
                check.fail(f"task {task.label!r}", "needs itself", "needs", i)
            if need not in index:
                hint = difflib.get_close_matches(need, list(index), n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                check.fail(f"task {task.label!r}", f"needs unknown task {need!r}{suggestion}", "needs", i)
    cycle = find_cycle({t.label: t.needs for t in tasks})
    if cycle:
        check.fail("", "dependency cycle: " + " -> ".join(cycle), "needs", index[cycle[0]])


def _retry(check: _Checker, where: str, raw: dict, index, defaults: dict) -> dict:
    found = dict(defaults)
    if "retries" in raw:
        value = raw["retries"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            check.fail(where, f"retries must be a whole number >= 0, got {value!r}", "retries", index)
        found["retries"] = value
    if "retry_backoff" in raw:
        found["retry_backoff"] = check.duration(where, "retry_backoff", raw["retry_backoff"], index)
    if "retry_on" in raw:
        value = raw["retry_on"]
        if not isinstance(value, list) or not all(v in RETRYABLE for v in value):
            check.fail(where, f"retry_on must be a list of {', '.join(RETRYABLE)}; got {value!r}", "retry_on", index)
        found["retry_on"] = tuple(value)
    return found


def _string_list(check: _Checker, where: str, raw: dict, key: str, index: int) -> tuple:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        check.fail(where, f"{key} must be a list of non-empty strings", key, index)
    return tuple(value)


def _poll(check: _Checker, poll) -> dict:
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


def _task(check: _Checker, folder: Path, raw, index: int, backend_cls, retry_defaults: dict) -> Task:
    where = f"task {index + 1}"
    if not isinstance(raw, dict):
        check.fail(where, "must be a table", task_index=index)
    label = raw.get("label")
    if label is None:
        check.fail(where, "missing required key 'label'", task_index=index)
    if not isinstance(label, str) or not label.strip():
        check.fail(where, f"label must be a non-empty string, got {label!r}", "label", index)
    if "\0" in label or "\n" in label:
        check.fail(where, "label must not contain NUL or newline characters", "label", index)
    where = f"task {label!r}"
    extra_keys = dict(backend_cls.task_options)
    for key in raw:
        if key not in TASK_KEYS and key not in extra_keys:
            check.unknown(where, key, TASK_KEYS | set(extra_keys), index)
    command = raw.get("command")
    if command is not None:
        if isinstance(command, str):
            if not command.strip():
                check.fail(where, "command must not be empty", "command", index)
        elif isinstance(command, list):
            if not command or not all(isinstance(a, str) for a in command) or not command[0]:
                check.fail(where, "command must be a non-empty list of strings", "command", index)
            command = tuple(command)
        else:
            check.fail(where, f"command must be a list of strings or a string, got {type(command).__name__}", "command", index)
    timeout = None
    if "timeout" in raw:
        timeout = check.duration(where, "timeout", raw["timeout"], index, allow_zero=False)
    cwd_raw = raw.get("cwd", ".")
    if not isinstance(cwd_raw, str):
        check.fail(where, "cwd must be a string", "cwd", index)
    cwd = (folder / Path(cwd_raw).expanduser()).resolve()
    if not cwd.is_dir():
        check.fail(where, f"cwd {cwd_raw!r} does not exist ({cwd})", "cwd", index)
    env = raw.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        check.fail(where, "env must be a table of strings", "env", index)
    for name, value in env.items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            check.fail(where, f"env: {name!r} is not a valid variable (no '=' or NUL in names, no NUL in values)",
                       "env", index)
    if isinstance(command, tuple) and any("\0" in arg for arg in command):
        check.fail(where, "command arguments must not contain NUL characters", "command", index)
    options = {}
    for key, kind in extra_keys.items():
        if key in raw:
            if not isinstance(raw[key], kind):
                check.fail(where, f"{key} must be {getattr(kind, '__name__', kind)}", key, index)
            options[key] = raw[key]
    task = Task(label=label, command=command, timeout=timeout, cwd=str(cwd), env=dict(env), options=options,
                needs=_string_list(check, where, raw, "needs", index),
                tags=_string_list(check, where, raw, "tags", index),
                **_retry(check, where, raw, index, retry_defaults))
    try:
        backend_cls.check_task(task)
    except ValueError as exc:
        check.fail(where, str(exc), getattr(exc, "key", None), index)
    return task


def batch_from_journal(run_row, project: Project, tasks: tuple) -> BatchSpec:
    """Rebuild the :class:`BatchSpec` a run was started with, from its journal row."""
    import json

    settings = json.loads(run_row["settings"])
    return BatchSpec(
        name=run_row["batch"], path=Path(run_row["batch_path"]), project=project, tasks=tasks,
        **{k: settings[k] for k in ("backend", "deadline", "stagger", "max_parallel", "queued_timeout",
                                    "on_stalled", "poll", "backend_options", "tables")},
    )
