"""A real Ray head for the ray backend's tests: started once per session, stopped after.

The head runs ``ray start --head --block`` in its own process group, with
every port picked free on 127.0.0.1 and a private temp dir, and with
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` so that Ray uses the loopback address
as the node IP and binds nothing outside 127.0.0.1. Teardown stops every job
still running, then ends that process group (never ``ray stop``, which would
kill every Ray process of the machine's user).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers.need import need
from tests.helpers.net import free_port

#: Ports ``ray start`` would otherwise take at fixed or random numbers.
PORT_FLAGS = (
    "port", "dashboard-port", "ray-client-server-port", "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port", "metrics-export-port", "node-manager-port",
    "object-manager-port", "runtime-env-agent-port",
)
STARTUP_TIMEOUT = 90.0


def ray_missing() -> str | None:
    """Why the Ray tests cannot run here, or None."""
    if importlib.util.find_spec("ray") is None:
        return "ray is not installed (pip install -e ./plugins/agybatch-ray)"
    return None


def ray_env() -> dict:
    """The environment for ``ray`` and for agybatch under test: no inherited Ray address."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS") and not k.startswith("AGYBATCH_")}
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    return env


def _ray_cli() -> list:
    beside = Path(sys.executable).parent / "ray"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ray")
    if found:
        return [found]
    return [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]


class RayHead:
    """A running head: ``address`` (the dashboard URL) and a Jobs API ``client``."""

    def __init__(self, proc: subprocess.Popen, address: str, temp_dir: str, log: Path) -> None:
        self.proc = proc
        self.address = address
        self.temp_dir = temp_dir
        self.log = log
        self.client = None

    def jobs_of(self, run_id: str) -> list:
        """Every job Ray knows that agybatch submitted for ``run_id`` (from Ray's own list)."""
        return [j for j in self.client.list_jobs() if (j.metadata or {}).get("agybatch_run_id") == run_id]

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "".join(self.log.read_text(errors="replace").splitlines(True)[-lines:])
        except OSError:
            return ""

    def stop_jobs(self, timeout: float = 15.0) -> None:
        """Stop every unfinished job and wait (briefly) for them to end."""
        if self.client is None:
            return
        try:
            live = [j.submission_id for j in self.client.list_jobs() if not j.status.is_terminal()]
            for sid in live:
                self.client.stop_job(sid)
            end = time.monotonic() + timeout
            while live and time.monotonic() < end:
                time.sleep(0.3)
                live = [s for s in live if self.client.get_job_status(s) == "RUNNING"]
        except Exception:  # the head may already be gone; the process group kill follows
            pass

    def shutdown(self) -> None:
        self.stop_jobs()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # --block: Ray ends the processes it started
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything left in our own process group
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_head(num_cpus: int = 2) -> RayHead:
    """Start a head with ``num_cpus`` logical CPUs and wait until it runs jobs."""
    ports = {flag: free_port() for flag in PORT_FLAGS}
    temp_dir = tempfile.mkdtemp(prefix="agyray-")  # short: Ray's socket paths must fit 107 bytes
    log = Path(temp_dir, "ray-start.log")
    argv = [*_ray_cli(), "start", "--head", "--block", "--num-cpus", str(num_cpus), "--disable-usage-stats",
            "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1", "--temp-dir", temp_dir,
            "--include-log-monitor", "false"]
    for flag, port in ports.items():
        argv += [f"--{flag}", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=ray_env(), start_new_session=True)
    head = RayHead(proc, f"http://127.0.0.1:{ports['dashboard-port']}", temp_dir, log)
    try:
        _wait_ready(head)
    except BaseException:
        tail = head.log_tail()
        head.shutdown()
        pytest.fail(f"the Ray head did not start:\n{tail}")
    return head


def _wait_ready(head: RayHead) -> None:
    """Wait for the Jobs API, then run one trivial job (the job agent must be up too)."""
    from ray.job_submission import JobSubmissionClient

    end = time.monotonic() + STARTUP_TIMEOUT
    last = None
    while time.monotonic() < end:
        if head.proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.proc.returncode}")
        try:
            head.client = head.client or JobSubmissionClient(head.address)
            sid = head.client.submit_job(entrypoint="true", entrypoint_num_cpus=1)
            break
        except Exception as exc:  # not up yet
            last = exc
            time.sleep(0.5)
    else:
        raise RuntimeError(f"no Jobs API at {head.address}: {last}")
    while time.monotonic() < end:
        status = head.client.get_job_status(sid)
        if status.is_terminal():
            if status != "SUCCEEDED":
                raise RuntimeError(f"warm-up job ended {status}")
            return
        time.sleep(0.2)
    raise RuntimeError("warm-up job did not finish")


@pytest.fixture(scope="session")
def ray_head():
    """The session's Ray head (the test is skipped, or fails in CI, where ray is not installed)."""
    reason = ray_missing()
    need(reason is None, f"a Ray head: {reason}")
    head = start_head()
    yield head
    head.shutdown()


@pytest.fixture
def ray_project(project):
    """The root ``project`` fixture, with no Ray address inherited from the environment."""
    project.env = {k: v for k, v in project.env.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    return project
