"""``console``: print the notification on the terminal (stdout, or stderr with ``--json``).

Options: ``format`` (``text``, ``markdown`` or ``json``; default ``text``) and
``stream`` (``stdout`` or ``stderr``; default: stdout, stderr under ``--json``).
"""
from __future__ import annotations

import json
import sys

from .base import Sink

FORMATS = ("text", "markdown", "json")
STREAMS = ("stdout", "stderr")


class ConsoleSink(Sink):
    type_name = "console"
    options = {"format": str, "stream": str}

    @classmethod
    def validate(cls, options: dict) -> None:
        super().validate(options)
        if options.get("format", "text") not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {options['format']!r}")
        if options.get("stream", "stdout") not in STREAMS:
            raise ValueError(f"stream must be stdout or stderr, got {options['stream']!r}")

    def send(self, notification) -> None:
        fmt = self.option("format", "text")
        if "stream" in self.raw:
            stream = sys.stderr if self.option("stream") == "stderr" else sys.stdout
        else:
            stream = self.context.stream or sys.stdout
        if fmt == "json":
            body = json.dumps(notification.to_json(), indent=2) + "\n"
        elif fmt == "markdown":
            body = f"## {notification.title}\n\n{notification.markdown}"
        else:
            body = f"{notification.title}\n{notification.text}"
        stream.write(body)
        stream.flush()
