"""The ``slurm`` backend: each task a Slurm batch job, driven through the Slurm CLI.

``[batch] backend = "slurm"`` runs the same ``batch.toml`` on a Slurm cluster
from a login node (or any host with the Slurm client commands and the
cluster's ``slurm.conf``). Every call is an argv list:

* submit: ``sbatch --parsable --job-name LABEL --output RUN/slurm/%x-%j.log
  --comment agybatch:KEY --chdir CWD [options] --wrap COMMAND``;
* poll: one ``squeue -h -t all -j ID,ID,...`` a round for every unsettled job;
  ``sacct -n -P -X -j ...`` only for jobs that have left the controller; a job
  gone from both is ``lost``;
* cancel: one ``scancel ID ...``; logs: the tail of the output file, read locally.

The runner's journalled key goes into the job's comment, so ``recover`` finds
a job submitted just before a crash (in ``squeue``, else in ``sacct``'s
comment or submit line) and a key is never submitted twice.

Options (``[batch.slurm]``): ``partition``, ``account``, ``qos``,
``sbatch_args``, ``conf`` (``slurm.conf`` path; default ``$SLURM_CONF``) and
``call_timeout``. Task keys: ``time``, ``cpus``, ``mem``, ``gpus``,
``partition``, ``account``, ``qos`` and ``sbatch_args``.
"""
from __future__ import annotations

import calendar
import os
import pwd
import time
from pathlib import Path
from typing import Optional

from agybatch.backends import Backend
from agybatch.files import tail_file
from agybatch.schedule import PollPolicy
from agybatch.errors import BackendError, CannotTell, PollError, SubmitError
from agybatch.model import JobState, JobStatus

from . import options as opts
from . import states
from .commands import INVALID_JOB, NO_ACCOUNTING, Slurm, SlurmCommandError, first_error

#: Marker for "cannot tell" in :meth:`SlurmBackend._find`.
UNKNOWN = object()
#: scancel messages that mean "nothing left to stop".
ALREADY_DONE = ("already completing or completed", "invalid job id")


class SlurmBackend(Backend):
    """Run each task as a Slurm batch job (``sbatch``), watched with ``squeue``/``sacct``."""

    name = "slurm"
    task_options = {key: object for key in opts.TASK_OPTIONS}
    #: One squeue a round: after 1s at first, backing off by 1.5x to every 10s (gentle on the controller).
    poll_defaults = PollPolicy(initial=1.0, max=10.0, factor=1.5)
    supports_events = False
    #: The runner cancels a job when its ``timeout`` passes; ``--time`` is a backstop a minute later.
    enforces_timeout = False
    #: Seconds between scancel and the final state arriving (Slurm reports CANCELLED at once).
    grace = 5.0
    #: ``idle_timeout`` works: each job's output file is on a file system the runner shares.
    watches_output = True

    def __init__(self, context) -> None:
        super().__init__(context)
        options = dict(context.options)
        self.options = options
        conf = opts.resolve_conf(options.get("conf"), context.batch_folder)
        self.slurm = Slurm(conf, options.get("call_timeout", opts.DEFAULT_CALL_TIMEOUT))
        self.log_dir = Path(context.run_dir) / "slurm"
        self._names: dict = {}
        missing = self.slurm.missing()
        if missing:
            raise BackendError(f"Slurm commands not found on PATH: {', '.join(missing)} "
                               "(run agybatch where the Slurm client is installed, e.g. a login node)")
        if conf and not Path(conf).is_file():
            raise BackendError(f"{self._where()}: [batch.slurm] conf {conf} does not exist")
        self._check_cluster()

    def _where(self) -> str:
        return str(Path(self.context.batch_folder) / "batch.toml")

    def _check_cluster(self) -> None:
        """Reach the controller once (``sinfo``) and check ``[batch.slurm] partition`` exists."""
        try:
            out = self.slurm.call(["sinfo", "-h", "-a", "-o", "%R"])
        except SlurmCommandError as exc:
            via = f" (SLURM_CONF={self.slurm.conf})" if self.slurm.conf else ""
            raise BackendError(f"cannot reach the Slurm controller{via}: {exc}") from None
        known = set(out.split())
        for name in (self.options.get("partition") or "").split(","):
            if name and name not in known:
                raise BackendError(f"{self._where()}: [batch.slurm] partition {name!r} does not exist on the "
                                   f"cluster (partitions: {', '.join(sorted(known)) or 'none'})")

    @classmethod
    def check_options(cls, options: dict) -> dict:
        return opts.check_batch_options(options)

    @classmethod
    def check_task(cls, task) -> None:
        super().check_task(task)
        opts.check_task_options(task.options)

    # -- submit ---------------------------------------------------------------

    def sbatch_argv(self, task, key: str) -> list:
        """The full ``sbatch`` argv for ``task`` under submission ``key``."""
        name = opts.job_name(task.label)
        argv = ["sbatch", "--parsable", "--job-name", name, "--output", opts.output_pattern(self.log_dir),
                "--comment", opts.comment(key), "--chdir", task.cwd, "--export", "ALL"]
        options = task.options
        for flag, key_name in (("--partition", "partition"), ("--account", "account"), ("--qos", "qos")):
            value = options.get(key_name, self.options.get(key_name))
            if value:
                argv += [flag, value]
        if "time" in options:
            argv += ["--time", opts.slurm_time(options["time"])]
        elif task.timeout:
            argv += ["--time", opts.time_for_timeout(task.timeout)]
        if "cpus" in options:
            argv += ["--cpus-per-task", str(options["cpus"])]
        if "mem" in options:
            argv += ["--mem", opts.slurm_mem(options["mem"])]
        if "gpus" in options:
            argv += ["--gpus", str(options["gpus"])]
        argv += self.options.get("sbatch_args", []) + list(options.get("sbatch_args", []))
        return argv + ["--wrap", opts.script(task.command)]

    def submit(self, task, key: str) -> JobStatus:
        """``sbatch`` the task; after a failed or timed-out call, adopt the job if Slurm has it anyway."""
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SubmitError(f"cannot create the log folder {self.log_dir}: {exc.strerror}") from None
        env = {**task.env, "AGYBATCH_RUN_ID": self.context.run_id, "AGYBATCH_LABEL": task.label}
        try:
            out = self.slurm.call(self.sbatch_argv(task, key), env=env)
        except SlurmCommandError as exc:
            return self._after_failed_submit(key, exc)
        job_id = out.strip().split(";")[0].strip()
        if not job_id.isdigit():
            return self._after_failed_submit(key, SlurmCommandError(f"sbatch printed no job ID: {out.strip()!r}"))
        self._names[job_id] = opts.job_name(task.label)
        return JobStatus(job_id, JobState.QUEUED)

    def _after_failed_submit(self, key: str, failure: SlurmCommandError) -> JobStatus:
        """sbatch may fail after the controller accepted the job (a timeout): look before giving up."""
        try:
            found = self._find(key)
        except BackendError as exc:
            raise SubmitError(f"{failure}; the job may have been submitted (look for comment "
                              f"{opts.comment(key)} in squeue); {exc}") from None
        if isinstance(found, str):
            return JobStatus(found, JobState.QUEUED)
        raise SubmitError(str(failure))

    def recover(self, key: str) -> Optional[str]:
        """The job ID whose comment is ``agybatch:KEY`` (squeue, else sacct); None if Slurm never had it."""
        found = self._find(key)
        if found is UNKNOWN:
            raise CannotTell("the job left squeue and this cluster keeps no accounting")
        return found

    def _find(self, key: str):
        """The job ID marked with ``key``; None if surely not submitted; UNKNOWN if Slurm cannot tell."""
        mark = opts.comment(key)
        user = _user()
        try:
            out = self.slurm.call(["squeue", "-h", "-t", "all", "-u", user, "-O", states.SQUEUE_KEY_FORMAT])
        except SlurmCommandError as exc:
            raise BackendError(f"cannot tell whether {mark} was submitted: {exc}") from None
        for job_id, rest in states.parse_keys(out):
            if states.marks_key(rest, mark):
                return job_id
        argv = ["sacct", "-n", "-P", "-X", "-u", user, "-S", _sacct_since(self.context.run_id), "-E", "now",
                "-o", states.SACCT_KEY_FORMAT]
        try:
            out = self.slurm.call(argv)
        except SlurmCommandError as exc:
            if _no_accounting(exc):
                return UNKNOWN
            raise BackendError(f"cannot tell whether {mark} was submitted: {exc}") from None
        for job_id, rest in states.parse_keys(out):
            if states.marks_key(rest, mark):
                return job_id
        return None

    # -- watch ----------------------------------------------------------------

    def poll(self, job_ids: list) -> dict:
        """One ``squeue`` for all ``job_ids``; ``sacct`` for those the controller no longer lists."""
        wanted = [str(j) for j in job_ids]
        try:
            out = self.slurm.call(["squeue", "-h", "-t", "all", "-j", ",".join(wanted), "-O",
                                   states.SQUEUE_FORMAT])
        except SlurmCommandError as exc:
            if INVALID_JOB not in exc.stderr.lower():  # "Invalid job id": none of them is listed any more
                raise PollError(f"squeue: {exc}") from None
            out = ""
        listed = states.parse_squeue(out)
        found = {j: listed[j] for j in wanted if j in listed}
        gone = [j for j in wanted if j not in found]
        if gone:
            accounted = self._from_accounting(gone, partial=bool(found))
            if accounted is None:
                return found
            found.update(accounted)
        return found

    def _from_accounting(self, job_ids: list, partial: bool) -> Optional[dict]:
        """Final states from ``sacct`` for jobs gone from squeue (None: ask again next round)."""
        note = ""
        try:
            out = self.slurm.call(["sacct", "-n", "-P", "-X", "-j", ",".join(job_ids), "-o", states.SACCT_FORMAT])
        except SlurmCommandError as exc:
            if not _no_accounting(exc):
                if partial:
                    return None
                raise PollError(f"sacct: {exc}") from None
            out, note = "", " (and this cluster keeps no accounting: sacct is disabled)"
        accounted = states.parse_sacct(out)
        result = {}
        for job_id in job_ids:
            result[job_id] = accounted.get(job_id) or JobStatus(job_id, JobState.LOST, reason=(
                f"Slurm no longer knows job {job_id}: gone from squeue and sacct{note}"))
        return result

    # -- control --------------------------------------------------------------

    def cancel(self, job_ids: list) -> None:
        """One ``scancel`` for all ``job_ids`` (SIGTERM, SIGKILL after the cluster's KillWait)."""
        if not job_ids:
            return
        try:
            self.slurm.call(["scancel", *map(str, job_ids)])
        except SlurmCommandError as exc:
            lines = [line.lower() for line in exc.stderr.splitlines() if "error" in line.lower()]
            if lines and all(any(done in line for done in ALREADY_DONE) for line in lines):
                return  # every job it complained about had ended already
            raise BackendError(f"scancel {' '.join(map(str, job_ids))}: {first_error(exc.stderr) or exc}") \
                from None

    def log_path(self, job_id: str) -> Path:
        """The job's output file: ``<run>/slurm/<job name>-<job ID>.log``."""
        matches = sorted(self.log_dir.glob(f"*-{job_id}.log"))
        if matches:
            return matches[0]
        return self.log_dir / f"{self._names.get(job_id, '*')}-{job_id}.log"

    def logs(self, job_id: str, tail: Optional[int] = None) -> str:
        """The output file's text (its last ``tail`` lines); empty before the job starts writing."""
        return tail_file(self.log_path(job_id), tail)

    def output_marks(self, job_ids: list) -> dict:
        """Each job's output file size and modification time (absent before the job writes)."""
        marks = {}
        for job_id in job_ids:
            try:
                info = self.log_path(job_id).stat()
            except OSError:
                marks[job_id] = None
                continue
            marks[job_id] = (info.st_size, info.st_mtime_ns)
        return marks

    def close(self) -> None:
        """Nothing to release; jobs keep running on the cluster."""


def _no_accounting(exc: SlurmCommandError) -> bool:
    text = exc.stderr.lower()
    return any(marker in text for marker in NO_ACCOUNTING)


def _user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _sacct_since(run_id: str) -> str:
    """``sacct -S``: a minute before the run started (its ID begins with the UTC start time)."""
    try:
        started = calendar.timegm(time.strptime(run_id[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        started = time.time() - 7 * 86400
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started - 60))
