"""The ``ray`` backend: each task a Ray job, submitted and watched through the Ray Jobs API.

``[batch] backend = "ray"`` runs the same ``batch.toml`` on a Ray cluster.
Each task becomes one job whose ``submission_id`` is derived from the
runner's journalled key (run ID, task and attempt), so a resumed run never
submits a task twice. One ``list_jobs()`` call a poll round reports every
job of the run.

Options (``[batch.ray]``): ``address`` (the dashboard URL; default
``$RAY_API_SERVER_ADDRESS``, ``$RAY_ADDRESS``, then ``http://127.0.0.1:8265``),
``request_timeout`` (per HTTP request, default ``30s``) and ``runtime_env``
(the batch's default runtime environment). Task keys: ``command``,
``runtime_env``, ``entrypoint_num_cpus`` (default 1), ``entrypoint_num_gpus``,
``entrypoint_memory`` and ``resources``.
"""
from __future__ import annotations

from typing import Optional

from agybatch.backends import Backend
from agybatch.schedule import PollPolicy
from agybatch.errors import BackendError, PollError, SubmitError
from agybatch.model import JobState, JobStatus

from . import options as opts
from .client import brief, connect, http_status, is_not_found

#: Ray job status -> agybatch job state.
STATES = {
    "PENDING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "STOPPED": JobState.CANCELLED,
}
#: HTTP statuses of ``GET /api/jobs/`` meaning "this server cannot list jobs": poll job by job.
LIST_UNSUPPORTED = {404, 405, 501}
#: Metadata key holding the runner's key, checked before adopting an existing submission.
KEY_METADATA = "agybatch_key"


class RayBackend(Backend):
    """Run each task as a Ray job (``ray job submit``) on the cluster at ``[batch.ray] address``."""

    name = "ray"
    task_options = {key: object for key in opts.TASK_OPTIONS}
    #: Jobs are watched by polling ``list_jobs()``: every 0.5s at first, backing off to every 5s.
    poll_defaults = PollPolicy(initial=0.5, max=5.0, factor=1.5)
    supports_events = False
    #: Ray has no per-job timeout: the runner stops the job with ``stop_job`` when it passes.
    enforces_timeout = False
    #: Seconds Ray gives a stopped job between SIGTERM and SIGKILL (``RAY_JOB_STOP_WAIT_TIME_S``).
    grace = 3.0
    #: ``idle_timeout`` works: the driver log's length is the job's output mark.
    watches_output = True

    def __init__(self, context) -> None:
        super().__init__(context)
        options = dict(context.options)
        try:
            self.address = options.get("address") or opts.resolve_address(None)
        except ValueError as exc:
            raise BackendError(f"[batch.ray] {exc}") from None
        self.request_timeout = options.get("request_timeout", opts.DEFAULT_REQUEST_TIMEOUT)
        self.runtime_env = self._batch_runtime_env(options.get("runtime_env", {}))
        self._bulk = True
        self._last: dict = {}
        self._stopped_pending: set = set()
        try:
            self.client = connect(self.address, self.request_timeout)
        except Exception as exc:
            raise BackendError(f"cannot reach the Ray cluster at {self.address}: {brief(exc)}") from None

    def _batch_runtime_env(self, runtime_env: dict) -> dict:
        folder = str(self.context.batch_folder)
        try:
            opts.check_runtime_env(runtime_env, folder)
        except ValueError as exc:
            raise BackendError(f"{self.context.batch_folder / 'batch.toml'}: [batch.ray] {exc}") from None
        return opts.resolve_runtime_env(runtime_env, folder)

    @classmethod
    def check_options(cls, options: dict) -> dict:
        return opts.check_batch_options(options)

    @classmethod
    def check_task(cls, task) -> None:
        super().check_task(task)
        opts.check_task_options(task.options, task.cwd)

    # -- submit ---------------------------------------------------------------

    def submit(self, task, key: str) -> JobStatus:
        """Submit ``task`` as the job ``agybatch-<key>``; adopt it if Ray already has it (ours)."""
        sid = opts.submission_id(key)
        options = task.options
        env_vars = {**task.env, "AGYBATCH_RUN_ID": self.context.run_id, "AGYBATCH_LABEL": task.label,
                    "AGYBATCH_JOB_ID": sid}
        task_env = opts.resolve_runtime_env(options.get("runtime_env", {}), task.cwd)
        kwargs = {
            "entrypoint": opts.entrypoint(task.command),
            "submission_id": sid,
            "runtime_env": opts.merge_runtime_env(self.runtime_env, task_env, env_vars),
            "metadata": {KEY_METADATA: key, "agybatch_run_id": self.context.run_id,
                         "agybatch_label": task.label},
            "entrypoint_num_cpus": options.get("entrypoint_num_cpus", 1),
        }
        if "entrypoint_num_gpus" in options:
            kwargs["entrypoint_num_gpus"] = options["entrypoint_num_gpus"]
        if "entrypoint_memory" in options:
            kwargs["entrypoint_memory"] = opts.parse_memory(options["entrypoint_memory"])
        if "resources" in options:
            kwargs["entrypoint_resources"] = {k: float(v) for k, v in options["resources"].items()}
        try:
            self.client.submit_job(**kwargs)
        except Exception as exc:
            return self._adopt(sid, key, exc)
        return JobStatus(sid, JobState.QUEUED)

    def _adopt(self, sid: str, key: str, failure: BaseException) -> JobStatus:
        """After a failed submission: the job's status if Ray has ``sid`` from us, else SubmitError.

        This covers "already exists" on a resumed run and a request that timed
        out after Ray accepted it. Another job that holds the same ID is never adopted.
        """
        try:
            details = self.client.get_job_info(sid)
        except Exception as exc:
            if is_not_found(exc):
                raise SubmitError(f"Ray refused job {sid}: {brief(failure)}") from None
            raise SubmitError(f"{brief(failure)}; job {sid} may have been submitted "
                              f"(check: ray job status {sid}); lookup failed: {brief(exc)}") from None
        if (details.metadata or {}).get(KEY_METADATA) != key:
            raise SubmitError(f"submission_id {sid} is already used by another job on the Ray cluster")
        return self._status(details)

    def recover(self, key: str) -> Optional[str]:
        """The job ID if Ray knows ``agybatch-<key>`` as our submission, else None."""
        sid = opts.submission_id(key)
        try:
            details = self.client.get_job_info(sid)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise BackendError(f"cannot tell whether Ray job {sid} was submitted "
                               f"({self.address}): {brief(exc)}") from None
        if (details.metadata or {}).get(KEY_METADATA) != key:
            return None
        return sid

    # -- watch ----------------------------------------------------------------

    def poll(self, job_ids: list) -> dict:
        """One ``list_jobs()`` call for all ``job_ids`` (job by job on servers that cannot list)."""
        wanted = set(job_ids)
        found = {}
        if self._bulk:
            try:
                jobs = self.client.list_jobs()
            except Exception as exc:
                if http_status(exc) not in LIST_UNSUPPORTED:
                    raise PollError(f"Ray at {self.address}: {brief(exc)}") from None
                self._bulk = False
            else:
                found = {d.submission_id: self._status(d) for d in jobs if d.submission_id in wanted}
        for job_id in job_ids:
            if job_id not in found:
                found[job_id] = self._status_of(job_id)
        for job_id, status in found.items():
            if status.state is JobState.QUEUED and job_id in self._stopped_pending:
                found[job_id] = JobStatus(job_id, JobState.CANCELLED, reason=(
                    "stopped while pending: Ray keeps it pending and ends it at once if it ever starts"))
            self._last[job_id] = status.state
        return found

    def _status_of(self, job_id: str) -> JobStatus:
        try:
            return self._status(self.client.get_job_info(job_id))
        except Exception as exc:
            if is_not_found(exc):
                return JobStatus(job_id, JobState.LOST, reason=(
                    "the Ray cluster no longer knows this job (was the head node restarted?)"))
            raise PollError(f"Ray at {self.address}: {brief(exc)}") from None

    @staticmethod
    def _status(details) -> JobStatus:
        """A :class:`JobStatus` from Ray's ``JobDetails``.

        Ray's ``start_time`` is when the job was submitted, not when it began
        to run, so it is not reported: the runner stamps the start when it
        first sees the job running (task timeouts count from there).
        """
        status = getattr(details.status, "value", details.status)
        state = STATES.get(str(status))
        if state is None:
            return JobStatus(details.submission_id, JobState.LOST, reason=f"unknown Ray job status {status!r}")
        exit_code = getattr(details, "driver_exit_code", None)
        if state is JobState.SUCCEEDED and exit_code is None:
            exit_code = 0
        reason = None
        if state is JobState.FAILED and exit_code is None:
            reason = _first_line(details.message) or getattr(details, "error_type", None)
        ended = details.end_time / 1000.0 if state.final and details.end_time else None
        return JobStatus(details.submission_id, state, exit_code=exit_code, ended_at=ended, reason=reason)

    # -- control --------------------------------------------------------------

    def cancel(self, job_ids: list) -> None:
        """``stop_job`` each job (SIGTERM, then SIGKILL after Ray's wait); finished ones are left alone."""
        failures = []
        for job_id in job_ids:
            try:
                stopped = self.client.stop_job(job_id)
            except Exception as exc:
                if not is_not_found(exc):
                    failures.append(f"{job_id}: {brief(exc)}")
                continue
            # Ray cannot end a job that waits for resources: stop_job only tells its
            # supervisor, which kills the entrypoint the moment it starts. The job
            # stays PENDING meanwhile, so poll reports it cancelled itself.
            if stopped and self._last.get(job_id, JobState.QUEUED) is JobState.QUEUED:
                self._stopped_pending.add(job_id)
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise BackendError(f"cannot stop Ray job {failures[0]}{more}")

    def logs(self, job_id: str, tail: Optional[int] = None) -> str:
        """The job's driver log from Ray (its last ``tail`` lines when given); works after the job ended."""
        try:
            text = self.client.get_job_logs(job_id)
        except Exception as exc:
            raise BackendError(f"cannot fetch the logs of Ray job {job_id}: {brief(exc)}") from None
        if tail is None:
            return text
        if tail <= 0:
            return ""
        return "".join(text.splitlines(keepends=True)[-tail:])

    def output_marks(self, job_ids: list) -> dict:
        """The length of each job's driver log (one ``get_job_logs`` a job); jobs whose log cannot be
        read now are left out, which the silence watchdog never counts as silence."""
        marks = {}
        for job_id in job_ids:
            try:
                marks[job_id] = len(self.client.get_job_logs(job_id))
            except Exception:
                continue
        return marks

    def close(self) -> None:
        """Nothing to release: each request is its own connection; jobs keep running."""


def _first_line(text: Optional[str]) -> Optional[str]:
    if not text:
        return None
    line = text.strip().splitlines()[0].strip()
    return line.split(", last available logs")[0] or None
