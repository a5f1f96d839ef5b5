"""Validating the slurm backend's ``[batch.slurm]`` table and ``[[task]]`` keys, and turning them into sbatch flags.

Nothing here calls Slurm: a batch is checked (and its errors reported with
the file and key) before any command runs.
"""
from __future__ import annotations

import math
import os
import re
import shlex
from pathlib import Path
from typing import Optional

from agybatch.units import parse_duration

BATCH_OPTIONS = ("partition", "account", "qos", "sbatch_args", "conf", "call_timeout")
TASK_OPTIONS = ("time", "cpus", "mem", "gpus", "partition", "account", "qos", "sbatch_args")
#: Seconds one Slurm command (sbatch, squeue, sacct, scancel, sinfo) may take.
DEFAULT_CALL_TIMEOUT = 30.0
#: sbatch flags agybatch sets itself; ``sbatch_args`` may not change them.
RESERVED_FLAGS = {
    "-J": "job-name", "--job-name": "job-name", "-o": "output", "--output": "output", "-e": "error",
    "--error": "error", "--comment": "comment", "--wrap": "wrap", "--parsable": "parsable",
    "-a": "array", "--array": "array", "-W": "wait", "--wait": "wait", "--test-only": "test-only",
    "-D": "chdir", "--chdir": "chdir", "-p": "partition", "--partition": "partition",
    "-A": "account", "--account": "account", "-q": "qos", "--qos": "qos", "-t": "time", "--time": "time",
    "-c": "cpus", "--cpus-per-task": "cpus", "--mem": "mem", "-G": "gpus", "--gpus": "gpus",
    "-M": "clusters", "--clusters": "clusters",
}
#: Which key to use instead of a reserved flag (None: agybatch owns it).
INSTEAD = {"partition": "partition", "account": "account", "qos": "qos", "time": "time", "cpus": "cpus",
           "mem": "mem", "gpus": "gpus", "chdir": "cwd"}

_MEM = re.compile(r"^(\d+)\s*([KMGT])?(?:i?B)?$", re.IGNORECASE)
#: Slurm's own time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
_SLURM_TIME = re.compile(r"^(?:\d+-\d+(?::\d+){0,2}|\d+(?::\d+){1,2})$")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")
#: Longest job name agybatch gives (Slurm allows more; squeue columns show less).
NAME_MAX = 64


def check_batch_options(options: dict, environ=None) -> dict:
    """Validate ``[batch.slurm]`` and return it cleaned (``conf`` resolved, durations in seconds).

    ``conf`` defaults to ``$SLURM_CONF`` when set, so the journalled options
    keep pointing ``join``/``cancel``/``logs`` at the cluster the run started on.
    """
    environ = os.environ if environ is None else environ
    unknown = sorted(set(options) - set(BATCH_OPTIONS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(repr(k) for k in BATCH_OPTIONS)})")
    cleaned: dict = {}
    for key in ("partition", "account", "qos"):
        if key in options:
            cleaned[key] = _word(key, options[key])
    if "sbatch_args" in options:
        cleaned["sbatch_args"] = check_sbatch_args(options["sbatch_args"])
    conf = options.get("conf", environ.get("SLURM_CONF") or None)
    if conf is not None:
        if not isinstance(conf, str) or not conf.strip():
            raise ValueError(f"conf must be the path of a slurm.conf, got {conf!r}")
        cleaned["conf"] = conf if "conf" in options else str(Path(conf).expanduser().resolve())
    timeout = options.get("call_timeout", DEFAULT_CALL_TIMEOUT)
    try:
        cleaned["call_timeout"] = parse_duration(timeout)
    except ValueError as exc:
        raise ValueError(f"call_timeout: {exc}") from None
    if cleaned["call_timeout"] <= 0:
        raise ValueError("call_timeout: must be greater than zero")
    return cleaned


def resolve_conf(conf: Optional[str], batch_folder: Path) -> Optional[str]:
    """An absolute ``slurm.conf`` path (relative ones from the batch folder), or None for Slurm's default."""
    if conf is None:
        return None
    return str((Path(batch_folder) / Path(conf).expanduser()).resolve())


def check_task_options(options: dict) -> None:
    """Validate one task's slurm keys; the ValueError carries the offending ``key``."""
    for key in ("partition", "account", "qos"):
        if key in options:
            _keyed(key, _word, key, options[key])
    if "time" in options:
        _keyed("time", slurm_time, options["time"])
    if "cpus" in options:
        value = options["cpus"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            _fail("cpus", f"cpus must be a whole number >= 1, got {value!r}")
    if "mem" in options:
        _keyed("mem", slurm_mem, options["mem"])
    if "gpus" in options:
        value = options["gpus"]
        ok = (isinstance(value, int) and not isinstance(value, bool) and value >= 1) or (
            isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_.-]+(:\d+)?", value))
        if not ok:
            _fail("gpus", f"gpus must be a count >= 1 or 'TYPE:COUNT' like 'a100:2', got {value!r}")
    if "sbatch_args" in options:
        _keyed("sbatch_args", check_sbatch_args, options["sbatch_args"])


def _keyed(key: str, func, *args):
    try:
        return func(*args)
    except ValueError as exc:
        _fail(key, str(exc))


def _fail(key: str, message: str):
    err = ValueError(message)
    err.key = key
    raise err


def _word(key: str, value) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"{key} must be a non-empty name without spaces, got {value!r}")
    return value


def check_sbatch_args(args) -> list:
    """A list of extra sbatch arguments; flags agybatch sets itself are refused with the key to use."""
    if not isinstance(args, list) or not all(isinstance(a, str) and a for a in args):
        raise ValueError(f"sbatch_args must be a list of non-empty strings, got {args!r}")
    for arg in args:
        flag = arg.split("=", 1)[0] if arg.startswith("--") else arg[:2] if arg.startswith("-") else None
        if flag in RESERVED_FLAGS:
            what = RESERVED_FLAGS[flag]
            hint = f"use the '{INSTEAD[what]}' key" if what in INSTEAD else "agybatch sets it itself"
            raise ValueError(f"sbatch_args must not contain {arg!r} ({hint})")
    return list(args)


def slurm_time(value) -> str:
    """The ``--time`` value for ``value``: a duration (``"90m"``, ``"2h"``, seconds) rounded up
    to whole minutes, or a string in Slurm's own format (``"1-00:00:00"``, ``"30:00"``)."""
    if isinstance(value, str) and _SLURM_TIME.match(value.strip()):
        return value.strip()
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError(f"time must be a duration like '90m' or a Slurm time like '1-12:00:00', got {value!r}") \
            from None
    if seconds <= 0:
        raise ValueError(f"time must be greater than zero, got {value!r}")
    return str(max(1, math.ceil(seconds / 60)))


def time_for_timeout(timeout: float) -> str:
    """A ``--time`` backstop for a task ``timeout``: one minute past it, in whole minutes.

    The runner cancels the job when the timeout passes; the limit ends the job
    anyway if no runner is watching then (Slurm checks limits every ~30 s).
    """
    return str(math.ceil(timeout / 60) + 1)


def slurm_mem(value) -> str:
    """The ``--mem`` value: a whole number of MiB, or ``"512M"``, ``"4G"``, ``"4GiB"``, ``"1T"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"{value}M"
    match = _MEM.match(value.strip()) if isinstance(value, str) else None
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"mem must be MiB or a size like '4G' or '512M', got {value!r}")
    return f"{match.group(1)}{(match.group(2) or 'M').upper()}"


def job_name(label: str) -> str:
    """A job name safe in squeue, in sacct and in the output file name (``%x``): ``[A-Za-z0-9._-]``."""
    name = _NAME.sub("_", label).strip("._")[:NAME_MAX]
    return name or "task"


def comment(key: str) -> str:
    """The ``--comment`` that marks a job as the runner's submission ``key``."""
    return f"agybatch:{key}"


def script(command) -> str:
    """The ``--wrap`` text: sets ``AGYBATCH_JOB_ID`` to the Slurm job ID, then runs the command.

    One line (for an argv command), so sacct's ``SubmitLine`` stays one line too.

    An argv list is quoted with :func:`shlex.join` and run with ``exec`` (its
    exit status and signals are the job's); a string is run by ``/bin/sh`` as written.
    """
    prefix = 'AGYBATCH_JOB_ID="$SLURM_JOB_ID"; export AGYBATCH_JOB_ID; '
    if isinstance(command, str):
        return prefix + command
    return prefix + "exec " + shlex.join(list(command))


def output_pattern(folder: Path) -> str:
    """``--output`` for jobs writing into ``folder``: ``FOLDER/%x-%j.log`` (a ``%`` in the folder escaped)."""
    return str(folder).replace("%", "%%") + "/%x-%j.log"
