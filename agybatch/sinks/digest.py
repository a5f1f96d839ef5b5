"""``digest``: append a dated Markdown section to a file, one readable morning file for many runs.

Options: ``path`` (required; ``~`` and ``${VAR}`` expanded, relative to the
project root). The file and missing folders are created owner-only
(0600/0700). Appends are whole sections under an exclusive ``flock``, so
batches finishing at the same moment never interleave.
"""
from __future__ import annotations

import fcntl
import os
import time

from .base import Sink, SinkError


class DigestSink(Sink):
    type_name = "digest"
    options = {"path": str, "title": str}
    required = ("path",)

    def send(self, notification) -> None:
        path = self.path_option("path")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise SinkError(f"cannot open {self.raw['path']}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            fresh = os.fstat(fd).st_size == 0
            os.write(fd, self.section(notification, fresh).encode("utf-8"))
        except OSError as exc:
            raise SinkError(f"cannot append to {self.raw['path']}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def section(self, notification, fresh: bool) -> str:
        """The Markdown appended for one notification (with a file heading when ``fresh``)."""
        stamp = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(notification.created_at))
        head = f"# {self.option('title', 'agybatch digest')}\n\n" if fresh else ""
        return f"{head}## {stamp} · {notification.title}\n\n{notification.markdown}\n"
