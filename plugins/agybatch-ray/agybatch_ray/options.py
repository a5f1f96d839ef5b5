"""Validating the ray backend's ``[batch.ray]`` table and ``[[task]]`` keys.

Nothing here imports ray: a batch is checked (and its errors reported with
the file and key) before any connection to a cluster is made.
"""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Optional

from agybatch.units import parse_duration

#: Where the Ray dashboard (and its Jobs API) listens when nothing else says.
DEFAULT_ADDRESS = "http://127.0.0.1:8265"
#: Environment variables read for the address, in this order (as Ray's own CLI does).
ADDRESS_ENV = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
#: Seconds one HTTP request to the Jobs API may take before it counts as failed.
DEFAULT_REQUEST_TIMEOUT = 30.0

BATCH_OPTIONS = ("address", "request_timeout", "runtime_env")
TASK_OPTIONS = ("runtime_env", "entrypoint_num_cpus", "entrypoint_num_gpus", "entrypoint_memory", "resources")

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_MEMORY_FACTORS = {
    "": 1, "B": 1,
    "K": 1000, "KB": 1000, "KI": 1024, "KIB": 1024,
    "M": 1000 ** 2, "MB": 1000 ** 2, "MI": 1024 ** 2, "MIB": 1024 ** 2,
    "G": 1000 ** 3, "GB": 1000 ** 3, "GI": 1024 ** 3, "GIB": 1024 ** 3,
    "T": 1000 ** 4, "TB": 1000 ** 4, "TI": 1024 ** 4, "TIB": 1024 ** 4,
}


def resolve_address(configured: Optional[str], environ=None) -> str:
    """The Jobs API URL: ``configured``, else ``$RAY_API_SERVER_ADDRESS``, ``$RAY_ADDRESS``, the default.

    Raise ValueError for anything that is not an ``http(s)://`` URL; the
    message names where the value came from.
    """
    environ = os.environ if environ is None else environ
    source, address = "address", configured
    if address is None:
        for name in ADDRESS_ENV:
            if environ.get(name):
                source, address = f"${name}", environ[name]
                break
        else:
            source, address = "default", DEFAULT_ADDRESS
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"{source} must be a non-empty string like {DEFAULT_ADDRESS!r}, got {address!r}")
    address = address.strip().rstrip("/")
    scheme, sep, rest = address.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        hint = " (a Ray Client address; use the dashboard's)" if scheme == "ray" and sep else ""
        raise ValueError(
            f"{source} {address!r} is not the URL of a Ray dashboard{hint}: "
            f"use e.g. 'http://HEAD:8265' (the address 'ray job submit' uses)")
    return address


def check_batch_options(options: dict, environ=None) -> dict:
    """Validate ``[batch.ray]`` and return it cleaned, with the address resolved.

    The resolved address is kept in the journalled options, so ``agybatch
    join`` and ``agybatch cancel`` talk to the cluster the run was started on.
    """
    unknown = sorted(set(options) - set(BATCH_OPTIONS))
    if unknown:
        known = ", ".join(repr(k) for k in BATCH_OPTIONS)
        raise ValueError(f"unknown key {unknown[0]!r} (known: {known})")
    cleaned = {"address": resolve_address(options.get("address"), environ)}
    timeout = options.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)
    try:
        cleaned["request_timeout"] = parse_duration(timeout)
    except ValueError as exc:
        raise ValueError(f"request_timeout: {exc}") from None
    if cleaned["request_timeout"] <= 0:
        raise ValueError("request_timeout: must be greater than zero")
    if "runtime_env" in options:
        check_runtime_env(options["runtime_env"], None)
        cleaned["runtime_env"] = options["runtime_env"]
    return cleaned


def check_task_options(options: dict, cwd: str) -> None:
    """Validate one task's ray keys (``cwd`` is where relative local paths are resolved)."""
    if "runtime_env" in options:
        check_runtime_env(options["runtime_env"], cwd)
    for key in ("entrypoint_num_cpus", "entrypoint_num_gpus"):
        if key in options:
            _number(key, options[key])
    if "entrypoint_memory" in options:
        parse_memory(options["entrypoint_memory"])
    if "resources" in options:
        resources = options["resources"]
        if not isinstance(resources, dict) or not resources:
            raise ValueError(f"resources must be a non-empty table of name = amount, got {resources!r}")
        for name, amount in resources.items():
            _number(f"resources.{name}", amount)


def _number(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{key} must be a number >= 0, got {value!r}")
    return value


def parse_memory(value) -> int:
    """Bytes for ``value``: a whole number of bytes or a string like ``"512MiB"``, ``"2GB"``."""
    if isinstance(value, bool):
        raise ValueError(f"entrypoint_memory must be bytes or a size like '2GiB', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"entrypoint_memory must not be negative, got {value!r}")
        return value
    match = _MEMORY.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"entrypoint_memory must be bytes or a size like '2GiB', got {value!r}")
    return int(float(match.group(1)) * _MEMORY_FACTORS[(match.group(2) or "").upper()])


def check_runtime_env(runtime_env, cwd: Optional[str]) -> None:
    """Light checks of a ``runtime_env`` table (Ray validates the rest at submission).

    With ``cwd`` given, a local ``working_dir`` (or ``py_modules`` entry) must exist.
    """
    if not isinstance(runtime_env, dict):
        raise ValueError(f"runtime_env must be a table, got {runtime_env!r}")
    env_vars = runtime_env.get("env_vars", {})
    if not isinstance(env_vars, dict) or not all(isinstance(v, str) for v in env_vars.values()):
        raise ValueError("runtime_env.env_vars must be a table of strings")
    working_dir = runtime_env.get("working_dir")
    if working_dir is not None and not isinstance(working_dir, str):
        raise ValueError(f"runtime_env.working_dir must be a string, got {working_dir!r}")
    modules = runtime_env.get("py_modules", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ValueError("runtime_env.py_modules must be a list of strings")
    if cwd is None:
        return
    for key, path in [("working_dir", working_dir)] + [("py_modules", m) for m in modules]:
        if path is not None and is_local(path) and not Path(cwd, path).expanduser().exists():
            raise ValueError(f"runtime_env.{key} {path!r} does not exist ({Path(cwd, path).expanduser()})")


def is_local(path: str) -> bool:
    """True for a local path (which Ray uploads), False for a URI such as ``s3://...``."""
    return "://" not in path


def resolve_runtime_env(runtime_env: dict, base: str) -> dict:
    """A copy of ``runtime_env`` with local ``working_dir``/``py_modules`` made absolute from ``base``."""
    env = dict(runtime_env)
    if isinstance(env.get("working_dir"), str) and is_local(env["working_dir"]):
        env["working_dir"] = str(Path(base, env["working_dir"]).expanduser().resolve())
    if isinstance(env.get("py_modules"), list):
        env["py_modules"] = [str(Path(base, m).expanduser().resolve()) if is_local(m) else m
                             for m in env["py_modules"]]
    return env


def merge_runtime_env(batch_env: dict, task_env: dict, env_vars: dict) -> dict:
    """The task's ``runtime_env`` over the batch's, with ``env_vars`` merged key by key.

    ``env_vars`` (the task's ``env`` and agybatch's own variables) win over both.
    """
    merged = {**batch_env, **task_env}
    merged_vars = {**batch_env.get("env_vars", {}), **task_env.get("env_vars", {}), **env_vars}
    if merged_vars:
        merged["env_vars"] = merged_vars
    return merged


def entrypoint(command) -> str:
    """The shell command line Ray runs: an argv list is quoted with :func:`shlex.join`."""
    if isinstance(command, str):
        return command
    return shlex.join(list(command))


def submission_id(key: str) -> str:
    """The Ray ``submission_id`` for the runner's key ``RUNID.SEQ.ATTEMPT``: same key, same ID.

    Ray IDs allow letters, digits, ``-`` and ``_``; every other character becomes ``_``.
    """
    return "agybatch-" + re.sub(r"[^A-Za-z0-9_-]", "_", key)
