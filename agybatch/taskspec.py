"""Validating one ``[[task]]`` of a batch file into a :class:`~agybatch.model.Task`.

Keys in :data:`INHERITED_KEYS` may also be set in ``[batch]`` as the default
of every task (``retries``, ``result``, ``idle_timeout``, ``workspace``, ...);
a task's own value wins. Every problem is reported through the batch file's
:class:`~agybatch.validate.Checker`: file, line, task and key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .model import Task
from .states import AUTO, EXIT_CODE
from .validate import Checker

RETRY_KEYS = {"retries", "retry_backoff", "retry_on"}
AGENT_KEYS = {"result", "check_timeout", "idle_timeout", "quota_wait", "quota_retries"}
WORKSPACE_KEYS = {"workspace", "repo", "ref", "commit_author"}
#: Keys a task inherits from ``[batch]`` when it does not set them itself.
INHERITED_KEYS = RETRY_KEYS | AGENT_KEYS | WORKSPACE_KEYS | {"max_log_size"}
TASK_KEYS = {"label", "command", "timeout", "cwd", "env", "vars", "needs", "tags", "check", "max_cost_usd",
             *INHERITED_KEYS}
RETRYABLE = ("failed", "timed_out", "lost", "error", "stalled")
WORKSPACES = ("shared", "worktree")
_IDENTITY = re.compile(r"\s*[^<>\n]*[^<>\s][^<>\n]*<[^<>\s]+>\s*")
#: The smallest log cap: room for a head, the marker line and a tail.
MIN_LOG_SIZE = 1024
#: The log cap when neither the task, ``[batch]`` nor ``[state]`` sets ``max_log_size``.
DEFAULT_MAX_LOG_SIZE = 100 * 10**6


@dataclass(frozen=True)
class TaskContext:
    """What validating a task needs besides the task: where the batch is and what is registered.

    ``defaults`` are the inherited keys as :func:`inherited` validated them from
    ``[batch]``; ``refs`` caches each ``(repo, ref)`` resolved to a commit, so
    that every task of a run starts from the same commit.
    """

    folder: Path
    root: Path
    backend: type
    formats: dict
    defaults: dict = field(default_factory=dict)
    refs: dict = field(default_factory=dict)


def inherited(check: Checker, where: str, raw: dict, index: Optional[int], ctx: TaskContext,
              base: dict) -> dict:
    """The inheritable keys of ``raw`` over ``base``, validated (``ref`` stays unresolved)."""
    found = dict(base)
    if "retries" in raw:
        found["retries"] = check.whole(where, "retries", raw["retries"], index)
    if "retry_backoff" in raw:
        found["retry_backoff"] = check.duration(where, "retry_backoff", raw["retry_backoff"], index)
    if "retry_on" in raw:
        value = raw["retry_on"]
        if not isinstance(value, list) or not all(v in RETRYABLE for v in value):
            check.fail(where, f"retry_on must be a list of {', '.join(RETRYABLE)}; got {value!r}", "retry_on", index)
        found["retry_on"] = tuple(value)
    if "result" in raw:
        names = (AUTO, EXIT_CODE, *sorted(ctx.formats))
        if raw["result"] not in names:
            check.fail(where, f"result {raw['result']!r} is not a result format (known: {', '.join(names)})",
                       "result", index)
        found["result"] = raw["result"]
    for key in ("check_timeout", "quota_wait"):
        if key in raw:
            found[key] = check.duration(where, key, raw[key], index, allow_zero=key == "quota_wait")
    if "idle_timeout" in raw:
        found["idle_timeout"] = check.duration(where, "idle_timeout", raw["idle_timeout"], index, allow_zero=False)
        if not ctx.backend.watches_output:
            check.fail(where, f"idle_timeout needs a backend that can read job output; the {ctx.backend.name} "
                              "backend cannot", "idle_timeout", index)
    if "quota_retries" in raw:
        found["quota_retries"] = check.whole(where, "quota_retries", raw["quota_retries"], index)
    if "max_log_size" in raw:
        found["max_log_size"] = check.size(where, "max_log_size", raw["max_log_size"], index, MIN_LOG_SIZE)
    if "workspace" in raw:
        found["workspace"] = check.choice(where, "workspace", raw["workspace"], WORKSPACES, index)
    for key in ("repo", "ref", "commit_author"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip():
                check.fail(where, f"{key} must be a non-empty string", key, index)
            found[key] = raw[key]
    if "commit_author" in raw and not _IDENTITY.fullmatch(raw["commit_author"]):
        check.fail(where, f"commit_author must look like 'Name <email>', got {raw['commit_author']!r}",
                   "commit_author", index)
    return found


def task(check: Checker, raw, index: int, ctx: TaskContext) -> Task:
    """Validate ``raw``, the ``index``-th ``[[task]]``."""
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
    extra_keys = dict(ctx.backend.task_options)
    for key in raw:
        if key not in TASK_KEYS and key not in extra_keys:
            check.unknown(where, key, TASK_KEYS | set(extra_keys), index)
    command = _command(check, where, raw, "command", index)
    timeout = None
    if "timeout" in raw:
        timeout = check.duration(where, "timeout", raw["timeout"], index, allow_zero=False)
    cwd_raw = raw.get("cwd", ".")
    if not isinstance(cwd_raw, str):
        check.fail(where, "cwd must be a string", "cwd", index)
    cwd = (ctx.folder / Path(cwd_raw).expanduser()).resolve()
    if not cwd.is_dir():
        check.fail(where, f"cwd {cwd_raw!r} does not exist ({cwd})", "cwd", index)
    env = raw.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        check.fail(where, "env must be a table of strings", "env", index)
    for name, value in env.items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            check.fail(where, f"env: {name!r} is not a valid variable (no '=' or NUL in names, no NUL in values)",
                       "env", index)
    options = {}
    for key, kind in extra_keys.items():
        if key in raw:
            if not isinstance(raw[key], kind):
                check.fail(where, f"{key} must be {getattr(kind, '__name__', kind)}", key, index)
            options[key] = raw[key]
    max_cost = None
    if "max_cost_usd" in raw:
        max_cost = check.number(where, "max_cost_usd", raw["max_cost_usd"], index, positive=True)
    settings = inherited(check, where, raw, index, ctx, ctx.defaults)
    workspace = _workspace(check, where, index, ctx, settings, cwd, set(raw))
    result = Task(label=label, command=command, timeout=timeout, cwd=str(cwd), env=dict(env), options=options,
                  needs=_string_list(check, where, raw, "needs", index),
                  tags=_string_list(check, where, raw, "tags", index),
                  check=_command(check, where, raw, "check", index), max_cost_usd=max_cost,
                  max_log_size=settings.get("max_log_size", DEFAULT_MAX_LOG_SIZE),
                  **{k: v for k, v in settings.items() if k in RETRY_KEYS | AGENT_KEYS}, **workspace)
    try:
        ctx.backend.check_task(result)
    except ValueError as exc:
        check.fail(where, str(exc), getattr(exc, "key", None), index)
    return result


def _command(check: Checker, where: str, raw: dict, key: str, index: int):
    """``command`` or ``check``: an argv tuple, a shell string, or None when absent."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            check.fail(where, f"{key} must not be empty", key, index)
        return value
    if not isinstance(value, list):
        check.fail(where, f"{key} must be a list of strings or a string, got {type(value).__name__}", key, index)
    bad = next((item for item in value if not isinstance(item, str)), None)
    if not value or bad is not None or not value[0]:
        what = (f"; item {value.index(bad) + 1} is {type(bad).__name__} {bad!r}" if bad is not None
                else "" if value else "; it is empty")
        check.fail(where, f"{key} must be a non-empty list of strings{what}", key, index)
    if any("\0" in item for item in value):
        check.fail(where, f"{key} arguments must not contain NUL characters", key, index)
    return tuple(value)


def _string_list(check: Checker, where: str, raw: dict, key: str, index: int) -> tuple:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        check.fail(where, f"{key} must be a list of non-empty strings", key, index)
    return tuple(value)


def _workspace(check: Checker, where: str, index: int, ctx: TaskContext, settings: dict, cwd: Path,
               own: set) -> dict:
    """``workspace``, ``repo`` and ``base_commit`` of a task; a worktree's repository and commit are
    checked here, before anything is submitted. ``own`` are the task's own keys (the others came from
    ``[batch]``, where an error points instead)."""
    if settings.get("workspace", "shared") != "worktree":
        return {}
    from . import worktrees

    def fail(message: str, key: str):
        check.fail(where, message, key, index if key in own else None)

    repo_key = "repo" if "repo" in settings else "workspace"
    start = (ctx.folder / settings["repo"]).resolve() if "repo" in settings else ctx.root
    if not start.is_dir():
        fail(f"repo {settings['repo']!r} is not a folder ({start})", "repo")
    try:
        repo = worktrees.repository_root(start)
    except worktrees.WorktreeError as exc:
        fail(f"workspace = \"worktree\" needs a git repository: {start}: {exc}", repo_key)
    ref = settings.get("ref", "HEAD")
    if (repo, ref) not in ctx.refs:
        try:
            ctx.refs[(repo, ref)] = worktrees.resolve(repo, ref)
        except worktrees.WorktreeError as exc:
            fail(f"ref {ref!r} does not resolve in {repo}: {exc}", "ref" if "ref" in settings else repo_key)
    commit = ctx.refs[(repo, ref)]
    try:
        inside = cwd.relative_to(repo)
    except ValueError:
        check.fail(where, f"cwd {cwd} is outside the repository {repo}", "cwd", index)
    if not worktrees.path_in_commit(repo, commit, str(inside)):
        check.fail(where, f"cwd {inside} is not in commit {commit[:12]} of {repo}, so the task has nowhere to "
                          "run in its worktree", "cwd", index)
    return {"workspace": "worktree", "repo": str(repo), "base_commit": commit,
            "commit_author": settings.get("commit_author")}
