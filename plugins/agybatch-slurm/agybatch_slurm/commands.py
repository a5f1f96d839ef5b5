"""Running the Slurm CLI: argv lists only, a time limit per call, one-line errors."""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional

#: The commands the backend needs on ``PATH``.
NEEDED = ("sbatch", "squeue", "sacct", "scancel", "sinfo")
#: What sacct prints when the cluster keeps no accounting (no slurmdbd).
NO_ACCOUNTING = ("accounting storage is disabled", "slurm accounting storage is disabled")
#: What squeue prints when none of the asked job IDs is known.
INVALID_JOB = "invalid job id"


class SlurmCommandError(Exception):
    """A Slurm command failed, timed out or could not be started; ``str()`` is one line."""

    def __init__(self, message: str, stderr: str = "", timed_out: bool = False) -> None:
        super().__init__(message)
        self.stderr = stderr
        self.timed_out = timed_out


class Slurm:
    """Runs ``sbatch``/``squeue``/``sacct``/``scancel``/``sinfo`` with ``SLURM_CONF`` set to ``conf`` (if given)."""

    def __init__(self, conf: Optional[str], call_timeout: float) -> None:
        self.conf = conf
        self.call_timeout = call_timeout

    def missing(self) -> list:
        """The needed commands that are not on ``PATH``."""
        return [name for name in NEEDED if shutil.which(name) is None]

    def environ(self, extra: Optional[dict] = None) -> dict:
        env = dict(os.environ)
        env.update(extra or {})
        if self.conf:
            env["SLURM_CONF"] = self.conf
        return env

    def call(self, argv: list, env: Optional[dict] = None, timeout: Optional[float] = None) -> str:
        """Run ``argv``; return its stdout, or raise :class:`SlurmCommandError` naming the command."""
        limit = self.call_timeout if timeout is None else timeout
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=self.environ(env), timeout=limit,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SlurmCommandError(f"{argv[0]} did not answer within {limit:g}s", timed_out=True) from None
        except OSError as exc:
            raise SlurmCommandError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        if proc.returncode != 0:
            raise SlurmCommandError(f"{argv[0]} exited with {proc.returncode}: {first_error(proc.stderr)}",
                                    stderr=proc.stderr)
        return proc.stdout


def first_error(stderr: str) -> str:
    """The most telling line of a Slurm command's stderr (its last ``error:`` line), without the prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "no message"
    errors = [line for line in lines if "error" in line.lower() or "fatal" in line.lower()]
    line = (errors or lines)[-1]
    for prefix in ("sbatch: error: ", "squeue: error: ", "sacct: error: ", "scancel: error: ", "sinfo: error: ",
                   "sbatch: fatal: ", "squeue: fatal: ", "sacct: fatal: ", "scancel: fatal: ", "sinfo: fatal: "):
        if line.startswith(prefix):
            return line[len(prefix):]
    return line
