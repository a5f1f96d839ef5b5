"""Reading Slurm's answers: job states, exit codes and times from ``squeue`` and ``sacct`` output.

Pure functions over text, tested on lines captured from a real Slurm 22.05.
"""
from __future__ import annotations

import time
from typing import Optional

from agybatch.model import JobState, JobStatus

#: ``squeue -O`` fields agybatch asks for; ``|`` ends each, the free-text reason comes last.
SQUEUE_FORMAT = "JobID:|,State:|,StartTime:|,EndTime:|,exit_code:|,Reason:|"
#: ``sacct -o`` fields (with ``-n -P``: ``|``-separated, no header).
SACCT_FORMAT = "JobID,State,ExitCode,Start,End,Reason"
#: For recovery: every job of the user with its comment (last: it is free text).
SQUEUE_KEY_FORMAT = "JobID:|,Comment:|"
SACCT_KEY_FORMAT = "JobID,Comment,SubmitLine"

#: Slurm base state -> (agybatch state, reason to report or None).
STATES = {
    "PENDING": (JobState.QUEUED, None),
    "REQUEUED": (JobState.QUEUED, "requeued by Slurm"),
    "REQUEUE_FED": (JobState.QUEUED, "requeued by Slurm (federation)"),
    "REQUEUE_HOLD": (JobState.QUEUED, "requeued and held by Slurm"),
    "RESV_DEL_HOLD": (JobState.QUEUED, "held: its reservation was deleted"),
    "SPECIAL_EXIT": (JobState.QUEUED, "held by Slurm after a special exit code"),
    "CONFIGURING": (JobState.RUNNING, None),
    "RUNNING": (JobState.RUNNING, None),
    "COMPLETING": (JobState.RUNNING, None),
    "SUSPENDED": (JobState.RUNNING, "suspended by Slurm"),
    "STOPPED": (JobState.RUNNING, "stopped (SIGSTOP) in Slurm"),
    "SIGNALING": (JobState.RUNNING, None),
    "STAGE_OUT": (JobState.RUNNING, None),
    "RESIZING": (JobState.RUNNING, None),
    "COMPLETED": (JobState.SUCCEEDED, None),
    "FAILED": (JobState.FAILED, None),
    "OUT_OF_MEMORY": (JobState.FAILED, "out of memory (Slurm OUT_OF_MEMORY)"),
    "NODE_FAIL": (JobState.FAILED, "a node of the job failed (Slurm NODE_FAIL)"),
    "BOOT_FAIL": (JobState.FAILED, "its node failed to boot (Slurm BOOT_FAIL)"),
    "PREEMPTED": (JobState.FAILED, "preempted by Slurm (PREEMPTED)"),
    "TIMEOUT": (JobState.TIMED_OUT, "Slurm time limit reached (TIMEOUT)"),
    "DEADLINE": (JobState.TIMED_OUT, "Slurm --deadline reached (DEADLINE)"),
    "CANCELLED": (JobState.CANCELLED, None),
    "REVOKED": (JobState.CANCELLED, "revoked by Slurm (the job ran on another cluster of a federation)"),
}
#: Slurm's "no value" spellings in time and reason columns.
_NONE = {"", "N/A", "NONE", "UNKNOWN", "(NULL)", "NONE(S)"}


def map_state(text: str, final_only: bool = False) -> tuple:
    """``(JobState, reason)`` for a Slurm state such as ``RUNNING`` or ``CANCELLED by 1000``.

    An unknown state is reported running (from squeue: the job is still
    known) or, with ``final_only`` (from sacct: it left the controller), lost.
    """
    words = text.strip().split()
    base = words[0].rstrip("+").upper() if words else ""
    if base in STATES:
        state, reason = STATES[base]
        if state is JobState.CANCELLED and base == "CANCELLED":
            who = " ".join(words[1:])
            reason = f"cancelled in Slurm ({text.strip()})" if who else "cancelled in Slurm"
        return state, reason
    if final_only:
        return JobState.LOST, f"unknown Slurm job state {text.strip()!r}"
    return JobState.RUNNING, f"unknown Slurm job state {text.strip()!r}"


def parse_time(text: str) -> Optional[float]:
    """Epoch seconds for Slurm's local ``2026-11-26T19:26:52``; None for ``N/A``/``Unknown``/``None``."""
    text = text.strip()
    if text.upper() in _NONE:
        return None
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def exit_from_wait_status(text: str) -> Optional[int]:
    """squeue's ``exit_code`` is a raw wait status (``768`` = exit 3, ``9`` = SIGKILL): the exit
    code, or minus the signal number."""
    try:
        status = int(text.strip())
    except ValueError:
        return None
    if status & 0x7F:
        return -(status & 0x7F)
    return (status >> 8) & 0xFF


def exit_from_pair(text: str) -> Optional[int]:
    """sacct's ``ExitCode`` ``CODE:SIGNAL`` (``3:0``, ``0:9``): the exit code, or minus the signal."""
    code, _, signal = text.strip().partition(":")
    try:
        code_i, signal_i = int(code), int(signal or 0)
    except ValueError:
        return None
    return -signal_i if signal_i else code_i


def _status(job_id: str, state_text: str, start: str, end: str, exit_code: Optional[int], reason: str,
            final_only: bool) -> JobStatus:
    state, state_reason = map_state(state_text, final_only)
    slurm_reason = reason.strip()
    if slurm_reason.upper() in _NONE:
        slurm_reason = ""
    if state is JobState.SUCCEEDED:
        exit_code = 0 if exit_code is None else exit_code
    elif not state.final:
        exit_code = None
    elif exit_code == 0:
        exit_code = None  # cancelled, timed out, a node failure: 0 would read as success
    if state is JobState.QUEUED:
        reason = state_reason or (f"pending ({slurm_reason})" if slurm_reason else None)
    elif state_reason and state in (JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT, JobState.LOST):
        reason = state_reason
    elif state is JobState.FAILED and exit_code is None:
        reason = f"Slurm: {state_text.strip()}" + (f" ({slurm_reason})" if slurm_reason else "")
    else:
        reason = state_reason
    started = parse_time(start) if state is not JobState.QUEUED else None
    ended = parse_time(end) if state.final else None
    return JobStatus(job_id, state, exit_code=exit_code, started_at=started, ended_at=ended, reason=reason)


def parse_squeue(stdout: str) -> dict:
    """``{job_id: JobStatus}`` from ``squeue -h -O SQUEUE_FORMAT`` output."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split("|", 5)
        if len(parts) < 6 or not parts[0].strip():
            continue
        job_id, state, start, end, status, reason = parts
        reason = reason[:-1] if reason.endswith("|") else reason
        found[job_id.strip()] = _status(job_id.strip(), state, start, end, exit_from_wait_status(status),
                                        reason, final_only=False)
    return found


def parse_sacct(stdout: str) -> dict:
    """``{job_id: JobStatus}`` from ``sacct -n -P -X -o SACCT_FORMAT`` output."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split("|", 5)
        if len(parts) < 6 or not parts[0].strip():
            continue
        job_id, state, exit_code, start, end, reason = parts
        found[job_id.strip()] = _status(job_id.strip(), state, start, end, exit_from_pair(exit_code), reason,
                                        final_only=True)
    return found


def parse_keys(stdout: str) -> list:
    """``[(job_id, text), ...]`` from a recovery listing: the job ID, then the rest of the line.

    Lines that do not start with a job ID are skipped: a submit line holding
    a multi-line ``--wrap`` command continues on lines of its own.
    """
    rows = []
    for line in stdout.splitlines():
        job_id, sep, rest = line.partition("|")
        if sep and job_id.strip().isdigit():
            rows.append((job_id.strip(), rest))
    return rows


def marks_key(text: str, mark: str) -> bool:
    """True if ``mark`` (``agybatch:KEY``) is a whole ``|``- or space-separated word of ``text``
    (the comment column, or the submit line that holds ``--comment agybatch:KEY``)."""
    words = text.replace("|", " ").replace("=", " ").split()
    return mark in words
