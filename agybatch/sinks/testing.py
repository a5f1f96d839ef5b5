"""Helpers for testing sinks against real loopback servers (for agybatch and plugin authors).

::

    from agybatch.sinks.testing import HttpReceiver, sample_notification

    with HttpReceiver() as receiver:
        sink = make_sink(WebhookSink, {"url": receiver.url("/hook")}, tmp_path)
        sink.send(sample_notification())
    assert receiver.requests[0].json()["event"] == "partial"

Only ``127.0.0.1`` is ever bound. Imported by tests, never by agybatch itself.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class Request:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class HttpReceiver:
    """A real HTTP server on ``127.0.0.1`` (a free port) that records every request.

    :param responses: status codes to answer with, in order; the last one
        repeats (default: always 200).
    :param delay: seconds to wait before answering (to provoke client timeouts).
    """

    def __init__(self, responses=(200,), delay: float = 0.0) -> None:
        self.responses = list(responses)
        self.delay = delay
        self.requests: list = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Request("POST", self.path, dict(self.headers.items()), body))
                    status = receiver.responses.pop(0) if len(receiver.responses) > 1 else receiver.responses[0]
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass

            do_PUT = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait(self, count: int = 1, timeout: float = 30.0) -> list:
        """Wait until ``count`` requests arrived; return them."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} request(s) within {timeout}s, got {len(self.requests)}")

    def __enter__(self) -> "HttpReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def sample_notification(event: str = "partial", **changes):
    """A realistic notification: one succeeded, one failed and one timed-out task."""
    from ..model import Outcome, RunSummary, TaskResult
    from .notification import from_summary

    now = time.time()
    tasks = [
        TaskResult("generate:article-a", Outcome.SUCCEEDED, "job-1", 1, 0, now - 300, now - 300, now - 60),
        TaskResult("audit:internal-links", Outcome.FAILED, "job-2", 1, 3, now - 900, now - 900, now - 180,
                   log_path="/state/runs/r/failed-audit_internal-links-job-2.log",
                   duration_label="audit:internal-links (12m, failed, 3.1× usual)"),
        TaskResult("report:x", Outcome.TIMED_OUT, "job-3", 1, None, now - 3720, now - 3720, now,
                   reason="task timeout reached", duration_label="report:x (1h02m, timed out)"),
    ]
    if event == "wipeout":
        tasks = tasks[1:]
    elif event == "ok":
        tasks = tasks[:1]
    summary = RunSummary("20261126-020000-abcd", "nightly", "local", now - 3720, now, tasks)
    return dataclasses.replace(from_summary(summary), **changes)


def make_sink(factory, options: dict, folder: Path, name: str = "test", env=None):
    """Validate ``options`` as the batch loader does and build a sink rooted at ``folder``."""
    from .base import SinkContext

    factory.validate(dict(options))
    context = SinkContext(project_root=Path(folder), batch_folder=Path(folder), state_dir=Path(folder) / ".agybatch")
    return factory(name, dict(options), context, env=env)
