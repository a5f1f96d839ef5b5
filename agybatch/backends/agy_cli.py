"""Calling the agy CLI and reading what it prints: argv lists, timeouts, tolerant JSON parsing.

Nothing here knows about runs or tasks. :func:`call` runs one CLI command
(never through a shell) and returns a :class:`CallResult`; the ``parse_*``
functions turn its output into job IDs and :class:`~agybatch.model.JobStatus`
objects, raising :class:`OutputError` when the output cannot be read.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Optional

from ..errors import AgybatchError
from ..model import JobState, JobStatus
from ..units import parse_iso

#: agy's job states (and common spellings of them) -> JobState.
STATES = {
    "queued": JobState.QUEUED, "pending": JobState.QUEUED,
    "running": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED, "canceled": JobState.CANCELLED,
}
END_FIELDS = ("ended_at", "finished_at", "completed_at")

#: How a CLI says that it has no such (sub)command: cobra, click, argparse and friends.
_UNKNOWN_COMMAND = re.compile(
    r"unknown (sub)?command|unrecognized (sub)?command|no such (sub)?command|invalid choice|"
    r"is not an? (agy )?(sub)?command",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"not found|no such job|unknown job|does not exist", re.IGNORECASE)


class AgyError(AgybatchError):
    """An agy call that agybatch needed failed (``jobs logs``, ``jobs cancel``); exit 3."""


class OutputError(ValueError):
    """The CLI's output is not what its interface documents."""


@dataclass(frozen=True)
class CallResult:
    """One finished (or timed-out) CLI call."""

    argv: tuple
    returncode: Optional[int]
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.returncode == 0

    def describe(self, timeout: float | None = None) -> str:
        """A one-line reason for a failed call, e.g. ``exit 1: rate limit exceeded``."""
        if self.timed_out:
            return f"no answer within {timeout:g}s" if timeout else "timed out"
        text = first_line(self.stderr) or first_line(self.stdout)
        return f"exit {self.returncode}" + (f": {text}" if text else "")

    @property
    def unknown_command(self) -> bool:
        """True when the CLI rejected the (sub)command itself, as an older agy does."""
        return not self.ok and not self.timed_out and bool(
            _UNKNOWN_COMMAND.search(self.stderr) or _UNKNOWN_COMMAND.search(self.stdout))

    @property
    def not_found(self) -> bool:
        """True when the CLI answered that the job does not exist (any more)."""
        return not self.ok and not self.timed_out and bool(_NOT_FOUND.search(self.stderr))


def first_line(text: str, limit: int = 200) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            line = re.sub(r"^(error|Error|ERROR):\s*", "", line)
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def call(argv: list, timeout: float, cwd: str | None = None, env: dict | None = None) -> CallResult:
    """Run ``argv`` (no shell) and collect its output; a call past ``timeout`` is killed.

    The child gets its own session, so a Ctrl-C meant for the runner does not
    kill a submission half-way; only the child itself is killed on timeout,
    never its process group (a detaching CLI may have started the job there).
    """
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, errors="replace", cwd=cwd, env=env, start_new_session=True,
        )
    except OSError as exc:
        return CallResult(tuple(argv), 127, "", f"cannot run {argv[0]!r}: {exc.strerror or exc}")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            out, err = proc.communicate(timeout=2.0)
        except subprocess.TimeoutExpired:
            out, err = "", ""
            for pipe in (proc.stdout, proc.stderr):
                pipe.close()
            proc.wait()
        return CallResult(tuple(argv), proc.returncode, out or "", err or "", timed_out=True)
    return CallResult(tuple(argv), proc.returncode, out, err)


def find_json(text: str):
    """The JSON value in ``text``: all of it, or the first line-leading ``{``/``[`` value.

    CLIs print banners ("a new version is available") before their JSON;
    those lines are skipped. Raise :class:`OutputError` if there is no JSON.
    """
    text = (text or "").strip()
    if not text:
        raise OutputError("printed nothing")
    try:
        return json.loads(text)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                value, end = decoder.raw_decode(text, pos + len(line) - len(stripped))
            except ValueError:
                pass
            else:
                if not text[end:].strip():
                    return value
        pos += len(line)
    raise OutputError(f"printed no JSON: {first_line(text, 80)!r}")


def parse_job_id(text: str) -> str:
    """The ``job_id`` of ``agy run --detach --json`` output."""
    data = find_json(text)
    job_id = data.get("job_id") if isinstance(data, dict) else None
    if not isinstance(job_id, str) or not job_id.strip():
        raise OutputError(f"printed no job_id: {first_line(text, 80)!r}")
    return job_id.strip()


def parse_list(text: str) -> list:
    """The job records of ``agy jobs list --json``: a top-level array or ``{"jobs": [...]}``."""
    data = find_json(text)
    if isinstance(data, dict) and isinstance(data.get("jobs"), list):
        data = data["jobs"]
    if not isinstance(data, list):
        raise OutputError("printed neither a JSON array nor an object with a 'jobs' array")
    return [item for item in data if isinstance(item, dict) and isinstance(item.get("job_id"), str)]


def parse_record(text: str) -> dict:
    """The one job record of ``agy jobs get ID --json``."""
    data = find_json(text)
    if isinstance(data, dict) and isinstance(data.get("job"), dict):
        data = data["job"]
    if not isinstance(data, dict) or not isinstance(data.get("job_id"), str):
        raise OutputError("printed no job record")
    return data


def timestamp(value) -> Optional[float]:
    """Epoch seconds from an ISO 8601 string (or an epoch number); None when absent or unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return parse_iso(str(value))
    except (ValueError, TypeError, OverflowError):
        return None


def to_status(record: dict, job_id: str | None = None) -> JobStatus:
    """A :class:`JobStatus` from one agy job record.

    An unknown state with a numeric ``exit_code`` counts as ended (0 succeeded,
    else failed); without one, as running, with the odd state as the reason.
    """
    job_id = job_id or record["job_id"]
    raw = str(record.get("state") or "").strip().lower()
    code = record.get("exit_code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    state = STATES.get(raw)
    reason = None
    if state is None:
        if code is not None:
            state = JobState.SUCCEEDED if code == 0 else JobState.FAILED
        else:
            state, reason = JobState.RUNNING, f"agy reports unknown state {raw or '(none)'!r}"
    ended = None
    if state.final:
        ended = next((t for t in (timestamp(record.get(f)) for f in END_FIELDS) if t is not None), None)
    return JobStatus(job_id, state, exit_code=code, started_at=timestamp(record.get("started_at")),
                     ended_at=ended, reason=reason)


def program_exists(program: str, env: dict | None = None) -> bool:
    """True if ``program`` is a path to an executable or found on PATH."""
    import shutil

    if os.sep in program:
        return os.access(program, os.X_OK) and not os.path.isdir(program)
    path = (env or os.environ).get("PATH", os.defpath)
    return shutil.which(program, path=path) is not None
