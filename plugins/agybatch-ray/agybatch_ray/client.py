"""The Ray Jobs API client the backend uses, and turning its errors into one line.

Ray is imported here, lazily, when a backend is built: never at agybatch start-up.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re

from .options import ADDRESS_ENV


def connect(address: str, request_timeout: float):
    """A :class:`ray.job_submission.JobSubmissionClient` for ``address``, connection checked.

    Every HTTP request it makes gives up after ``request_timeout`` seconds, so
    a hung dashboard cannot block the runner (Ray's own client waits forever).
    Raises whatever Ray raises when the cluster cannot be reached.
    """
    from ray.job_submission import JobSubmissionClient

    # Ray logs each working_dir upload at INFO on stderr; agybatch's terminal output stays its own.
    for name in ("ray", "ray.dashboard.modules.dashboard_sdk"):  # the SDK sets INFO on its own logger
        logging.getLogger(name).setLevel(logging.WARNING)

    class TimedClient(JobSubmissionClient):
        """Ray's client with a timeout on each request (``_do_request`` forwards it to requests)."""

        def _do_request(self, method, endpoint, **kwargs):
            kwargs.setdefault("timeout", request_timeout)
            return super()._do_request(method, endpoint, **kwargs)

    # Ray lets $RAY_ADDRESS / $RAY_API_SERVER_ADDRESS override the address it is
    # given; the batch's resolved address must win, so hide them while connecting.
    with _without_env(ADDRESS_ENV):
        return TimedClient(address)


@contextlib.contextmanager
def _without_env(names):
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


_STATUS = re.compile(r"Request failed with status code (\d{3}): ?(.*)", re.DOTALL)


def http_status(exc: BaseException):
    """The HTTP status of a failed Jobs API call (Ray raises RuntimeError), else None."""
    match = _STATUS.search(str(exc)) if isinstance(exc, RuntimeError) else None
    return int(match.group(1)) if match else None


def is_not_found(exc: BaseException) -> bool:
    """True when the Jobs API said the job does not exist."""
    return http_status(exc) == 404


def brief(exc: BaseException) -> str:
    """One readable line for ``exc``: no tracebacks, no urllib3 repr soup."""
    try:
        import requests
    except ImportError:  # pragma: no cover - ray[default] depends on requests
        requests = None
    if requests is not None:
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return "connection timed out"
        if isinstance(exc, requests.exceptions.Timeout):
            return "no answer within the request timeout"
        if isinstance(exc, requests.exceptions.ConnectionError):
            return _connection_reason(str(exc))
    if isinstance(exc, ConnectionError):
        cause = exc.__cause__ or exc.__context__
        return brief(cause) if cause is not None else _connection_reason(str(exc))
    match = _STATUS.search(str(exc)) if isinstance(exc, RuntimeError) else None
    if match:
        return f"HTTP {match.group(1)}: {_last_line(match.group(2))}"
    return _clip(f"{type(exc).__name__}: {_last_line(str(exc))}")


def _connection_reason(text: str) -> str:
    match = re.search(r"\[Errno -?\d+\] ([^'\"\)]+)", text)
    if match:
        return match.group(1).strip().lower().rstrip(".")
    if "Failed to connect" in text:
        return "connection failed"
    return _clip(_last_line(text))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip().strip(".")]
    return lines[-1].rstrip(".") if lines else text.strip()


def _clip(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
