"""``command``: run an argv with the notification as JSON on its standard input.

Options:

- ``argv`` (required): a list of strings, run directly (never through a
  shell), in the batch folder; ``${VAR}`` is expanded in each element.
- ``env``: extra environment variables (``${VAR}`` expanded).
- ``timeout``: default ``"30s"``; the command is killed after it.

The command also gets ``AGYBATCH_EVENT``, ``AGYBATCH_SEVERITY``,
``AGYBATCH_BATCH`` and ``AGYBATCH_RUN_ID`` in its environment. A non-zero
exit status is a failed delivery; its last line of stderr is reported.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess

from ..units import parse_duration
from .base import Sink, SinkError


class CommandSink(Sink):
    type_name = "command"
    options = {"argv": list, "env": dict, "timeout": (str, int, float)}
    required = ("argv",)

    @classmethod
    def validate(cls, options: dict) -> None:
        super().validate(options)
        argv = options["argv"]
        if not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
            raise ValueError("argv must be a non-empty list of strings, e.g. [\"notify-send\", \"agybatch\"]")
        if not all(isinstance(v, str) for v in options.get("env", {}).values()):
            raise ValueError("env must be a table of strings")
        if "timeout" in options and parse_duration(options["timeout"]) <= 0:
            raise ValueError("timeout must be greater than zero")

    def describe(self) -> str:
        return f"command sink {self.name!r} ({self.raw['argv'][0]})"

    def send(self, notification) -> None:
        argv = self.option("argv")
        env = dict(self.env)
        env.update(self.option("env", {}))
        env.update(AGYBATCH_EVENT=notification.event, AGYBATCH_SEVERITY=notification.severity,
                   AGYBATCH_BATCH=notification.batch, AGYBATCH_RUN_ID=notification.run_id)
        timeout = parse_duration(self.raw.get("timeout", 30))
        payload = json.dumps(notification.to_json()).encode("utf-8")
        shown = self.raw["argv"][0]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, cwd=str(self.context.batch_folder), env=env,
                                    start_new_session=True)
        except OSError as exc:
            raise SinkError(f"cannot run {shown}: {exc.strerror or exc}") from None
        try:
            _, stderr = proc.communicate(payload, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SinkError(f"{shown} did not finish within {timeout:g}s and was killed") from None
        if proc.returncode != 0:
            last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            from .notification import printable

            detail = f": {printable(self.redact(last[0]))[:200]}" if last[0] else ""
            status = f"exit {proc.returncode}" if proc.returncode > 0 else f"signal {-proc.returncode}"
            raise SinkError(f"{shown} failed ({status}){detail}")


def _kill_group(proc) -> None:
    """Kill the command and everything it started (it runs in its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.communicate()
