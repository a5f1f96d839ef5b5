"""The agy backend: tasks are prompts run as detached Antigravity CLI jobs.

Every call is an argv list (``[bin, *args, "jobs", "list", "--json"]``), never a
shell string. One round of watching is one ``agy jobs list --json`` call,
filtered to this run's unsettled jobs; ``agy jobs get`` per job is used only
when this agy has no ``jobs list`` at all. A failed, timed-out or garbled
status call is a failed poll (:class:`~agybatch.errors.PollError`), never a
failed job. Options come from ``[batch.agy]`` (see :data:`OPTIONS`).

agy has no idempotency key, so each submission is written to a small ledger
(:class:`SubmitLedger`) right before ``agy run`` and again with the job ID
right after it: after a crash, :meth:`AgyBackend.recover` knows whether agy
was ever called, and looks up a job it cannot place by prompt and time.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

from ..schedule import PollPolicy
from ..errors import BackendError, CannotTell, PollError, SubmitError
from ..model import JobState, JobStatus
from ..units import parse_duration
from . import Backend
from . import agy_cli

#: ``[batch.agy]`` keys and their defaults (durations in seconds).
OPTIONS = {
    "bin": "agy",  # the agy executable: a name on PATH or a path
    "args": [],  # extra arguments right after bin, in every call (e.g. a profile flag)
    "run_args": [],  # extra arguments at the end of every ``agy run``
    "model": None,  # default --model for tasks that give none (None: agy's own default)
    "call_timeout": 30.0,  # limit of one jobs list/get/cancel/logs call
    "submit_timeout": 60.0,  # limit of one ``agy run --detach`` call
    "submit_retries": 2,  # further tries after an ``agy run`` that reported failure
    "retry_delay": 1.0,  # wait before the first retry; doubles for each further one
}
_DURATIONS = ("call_timeout", "submit_timeout", "retry_delay")
#: A job whose ``created_at`` is this much earlier than our ``agy run`` call can still be ours (clock skew).
CLOCK_SLACK = 2.0


class AgyBackend(Backend):
    """Run each task's ``prompt`` with ``agy run --detach --json --task PROMPT [--model MODEL]``."""

    name = "agy"
    task_options = {"prompt": str, "model": str}
    #: Chosen for the first-run goals on the benchmark batch (slowest job 75 s): every end
    #: noticed within 2.5 s, makespan within 1.03x, at most 49 calls. One ``jobs list`` covers
    #: every job, so: 1 s, 1.5 s, then every 1.75 s (about 45 calls). See docs/benchmarks.md.
    poll_defaults = PollPolicy(initial=1.0, max=1.75, factor=1.5)
    supports_events = False
    enforces_timeout = False
    #: ``idle_timeout`` works: a job's mark is the length of its ``agy jobs logs``.
    watches_output = True
    #: A job whose output carries agy's result envelope is judged by it under ``result = "auto"``.
    result_format = "agy"

    def __init__(self, context) -> None:
        super().__init__(context)
        options = {**OPTIONS, **context.options}
        self.options = options
        self.base = [options["bin"], *options["args"]]
        if not agy_cli.program_exists(options["bin"]):
            raise BackendError(
                f"agy backend: {options['bin']!r} is not an executable or not on PATH "
                "(install agy or set [batch.agy] bin)")
        self.ledger = SubmitLedger(context.run_dir / "agy-submissions")
        self.list_supported: Optional[bool] = None

    # -- options and tasks ----------------------------------------------------------

    @classmethod
    def check_options(cls, options: dict) -> dict:
        import difflib

        cleaned = {}
        for key, value in options.items():
            if key not in OPTIONS:
                hint = difflib.get_close_matches(key, sorted(OPTIONS), n=1)
                raise ValueError(f"unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                                 + f"; known: {', '.join(sorted(OPTIONS))}")
            if key in ("bin", "model"):
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(f"{key} must be a non-empty string, got {value!r}")
            elif key in ("args", "run_args"):
                if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                    raise ValueError(f"{key} must be a list of strings, got {value!r}")
            elif key == "submit_retries":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
                    raise ValueError(f"submit_retries must be a whole number from 0 to 10, got {value!r}")
            else:
                try:
                    value = parse_duration(value)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
                if key != "retry_delay" and value <= 0:
                    raise ValueError(f"{key} must be greater than zero")
            cleaned[key] = value
        return cleaned

    @classmethod
    def check_task(cls, task) -> None:
        if task.command is not None:
            raise ValueError("the agy backend runs prompts, not commands: give 'prompt' instead of "
                             "'command' (or use the local backend with a command template)")
        prompt = task.options.get("prompt")
        if prompt is None:
            raise ValueError("missing required key 'prompt' (sent to agy as --task)")
        if not prompt.strip():
            raise ValueError("prompt must not be empty")
        if "model" in task.options and not task.options["model"].strip():
            raise ValueError("model must not be empty")
        if task.workspace == "worktree":
            error = ValueError("workspace = \"worktree\" needs a backend that runs commands in a folder; agy jobs "
                               "cannot take a working folder yet (use the local backend with a command template)")
            error.key = "workspace"
            raise error

    # -- submit -----------------------------------------------------------------------

    def run_argv(self, task) -> list:
        """The ``agy run`` argv for ``task``."""
        argv = [*self.base, "run", "--detach", "--json", "--task", task.options["prompt"]]
        model = task.options.get("model") or self.options["model"]
        if model:
            argv += ["--model", model]
        return argv + list(self.options["run_args"])

    def submit(self, task, key: str) -> JobStatus:
        argv = self.run_argv(task)
        env = {**os.environ, **task.env} if task.env else None
        timeout = self.options["submit_timeout"]
        tries = 1 + self.options["submit_retries"]
        delay = self.options["retry_delay"]
        try:
            self.ledger.intent(key, task.options["prompt"], time.time())
        except OSError as exc:
            raise SubmitError(f"cannot record the submission in {self.ledger.folder}: {exc.strerror}") from None
        failures = []
        for attempt in range(tries):
            if attempt:
                time.sleep(delay * 2 ** (attempt - 1))
            called_at = time.time()
            result = agy_cli.call(argv, timeout, cwd=task.cwd, env=env)
            if result.ok:
                try:
                    job_id = agy_cli.parse_job_id(result.stdout)
                except agy_cli.OutputError as exc:
                    problem = f"agy run exited 0 but {exc}"
                else:
                    return self._submitted(key, job_id)
            elif not result.timed_out:
                failures.append(result.describe())
                continue
            else:
                problem = f"agy run gave {result.describe(timeout)}"
            # agy may or may not have created the job: look for it before trying again.
            found = self._find_job(task.options["prompt"], called_at)
            if isinstance(found, str):
                return self._submitted(key, found)
            if found is None:
                raise SubmitError(f"{problem}, and jobs list cannot tell whether a job was created; "
                                  "check `agy jobs list` for a stray job")
            failures.append(problem + " (no job was created)")
        raise SubmitError(f"agy run failed {tries} time{'s' * (tries > 1)}: " + "; ".join(_dedupe(failures)))

    def _submitted(self, key: str, job_id: str) -> JobStatus:
        try:
            self.ledger.done(key, job_id)
        except OSError:
            pass  # the runner journals the ID right away too; the ledger only narrows a crash window
        return JobStatus(job_id, JobState.QUEUED)

    def _find_job(self, prompt: str, since: float):
        """After an unclear ``agy run``: the new job's ID, False if surely none, None if unknowable.

        A job is ours if its ``task`` (or ``prompt``) is our prompt, it was
        created after our call began, and no other submission of this run
        claimed it. agy versions whose list shows no task text cannot tell.
        """
        if self.list_supported is False:
            return None
        result = agy_cli.call([*self.base, "jobs", "list", "--json"], self.options["call_timeout"])
        try:
            records = agy_cli.parse_list(result.stdout) if result.ok else None
        except agy_cli.OutputError:
            records = None
        if records is None:
            return None
        if records and not any("task" in r or "prompt" in r for r in records):
            return None
        claimed = self.ledger.claimed()
        matches = []
        for record in records:
            created = agy_cli.timestamp(record.get("created_at") or record.get("submitted_at"))
            text = record.get("task", record.get("prompt"))
            if record["job_id"] in claimed or text != prompt:
                continue
            if created is None:
                return None
            if created >= since - CLOCK_SLACK:
                matches.append(record["job_id"])
        if len(matches) > 1:
            return None
        return matches[0] if matches else False

    def recover(self, key: str) -> Optional[str]:
        entry = self.ledger.read(key)
        if entry is None:
            return None  # the runner stopped before agy was called
        if entry.get("job_id"):
            return entry["job_id"]
        found = self._find_job(entry["prompt"], entry["called_at"])
        if isinstance(found, str):
            self._submitted(key, found)
            return found
        raise CannotTell(
            "agy has no idempotency key and its job list shows no job that is surely this one")

    # -- watch --------------------------------------------------------------------------

    def poll(self, job_ids: list) -> dict:
        if self.list_supported is not False:
            records = self._list()
            if records is not None:
                return {job_id: (agy_cli.to_status(records[job_id]) if job_id in records else _lost(job_id))
                        for job_id in job_ids}
        return self._get_each(job_ids)

    def _list(self) -> Optional[dict]:
        """``{job_id: record}`` from one ``jobs list``; None when this agy has no ``jobs list``."""
        timeout = self.options["call_timeout"]
        result = agy_cli.call([*self.base, "jobs", "list", "--json"], timeout)
        if result.unknown_command and self.list_supported is None:
            self.list_supported = False
            return None
        if not result.ok:
            raise PollError(f"agy jobs list: {result.describe(timeout)}")
        try:
            records = agy_cli.parse_list(result.stdout)
        except agy_cli.OutputError as exc:
            raise PollError(f"agy jobs list {exc}") from None
        self.list_supported = True
        return {r["job_id"]: r for r in records}

    def _get_each(self, job_ids: list) -> dict:
        """One ``jobs get`` per job, for agy versions without ``jobs list``.

        Jobs whose call failed are left out (asked again next round); only when
        every call failed is the round a failed poll.
        """
        timeout = self.options["call_timeout"]
        found, failures = {}, []
        for job_id in job_ids:
            result = agy_cli.call([*self.base, "jobs", "get", job_id, "--json"], timeout)
            if result.not_found:
                found[job_id] = _lost(job_id)
                continue
            try:
                if not result.ok:
                    raise agy_cli.OutputError(result.describe(timeout))
                found[job_id] = agy_cli.to_status(agy_cli.parse_record(result.stdout), job_id)
            except agy_cli.OutputError as exc:
                failures.append(f"{job_id}: {exc}")
        if failures and not found:
            raise PollError(f"agy jobs get failed for all {len(job_ids)} jobs ({failures[0]})")
        return found

    # -- control --------------------------------------------------------------------------

    def cancel(self, job_ids: list) -> None:
        timeout = self.options["call_timeout"]
        failed = []
        for job_id in job_ids:
            result = agy_cli.call([*self.base, "jobs", "cancel", job_id], timeout)
            if not result.ok and not result.not_found:
                result = agy_cli.call([*self.base, "jobs", "cancel", job_id], timeout)
                if not result.ok and not result.not_found:
                    failed.append(f"{job_id} ({result.describe(timeout)})")
        if failed:
            raise agy_cli.AgyError("agy jobs cancel failed for " + ", ".join(failed))

    def output_marks(self, job_ids: list) -> dict:
        """The length of each job's ``agy jobs logs`` (one call a job); a failed call leaves the job out,
        which the silence watchdog never counts as silence."""
        marks = {}
        for job_id in job_ids:
            try:
                marks[job_id] = len(self.logs(job_id))
            except agy_cli.AgyError:
                continue
        return marks

    def logs(self, job_id: str, tail: Optional[int] = None) -> str:
        argv = [*self.base, "jobs", "logs", job_id]
        if tail is not None:
            argv += ["--tail", str(int(tail))]
        timeout = self.options["call_timeout"]
        result = agy_cli.call(argv, timeout)
        if not result.ok:
            raise agy_cli.AgyError(f"agy jobs logs {job_id}: {result.describe(timeout)}")
        return result.stdout


def _lost(job_id: str) -> JobStatus:
    return JobStatus(job_id, JobState.LOST,
                     reason="agy no longer knows the job (gone before its end was seen: past the retention window?)")


def _dedupe(items: list) -> list:
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


class SubmitLedger:
    """``<run_dir>/agy-submissions/<key>.json``: written before ``agy run`` and with the ID right after.

    It narrows the crash window agy's missing idempotency key leaves: no file
    means agy was never called for that key; a file with a ``job_id`` means
    the job exists. Only a file without one is unclear.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def _write(self, key: str, data: dict) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path(key))

    def intent(self, key: str, prompt: str, called_at: float) -> None:
        self._write(key, {"prompt": prompt, "called_at": called_at, "job_id": None})

    def done(self, key: str, job_id: str) -> None:
        entry = self.read(key) or {"prompt": None, "called_at": None}
        self._write(key, {**entry, "job_id": job_id})

    def read(self, key: str) -> Optional[dict]:
        try:
            return json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None

    def claimed(self) -> set:
        """Job IDs already placed with a submission of this run."""
        ids = set()
        for path in self.folder.glob("*.json"):
            try:
                job_id = json.loads(path.read_text()).get("job_id")
            except (OSError, ValueError):
                continue
            if job_id:
                ids.add(job_id)
        return ids
