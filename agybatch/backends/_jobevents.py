"""The runner's reading of a run's job events, written by its job supervisors.

Each supervisor appends one JSON object a line to ``<state>/runs/<run_id>/local-jobs``
(see :mod:`agybatch.backends._supervisor`): a ``started`` event naming the
supervisor and the command's process, and an ``ended`` event with the job's
final state. Several supervisors of one run (a runner's and the one of a
``join`` after it) append to the same file; each line is one ``write``.
"""
from __future__ import annotations

import json
from pathlib import Path

#: The file in the run folder that holds the run's job events.
EVENTS_FILE = "local-jobs"


class JobEvents:
    """Follows a run's job events: ``started`` and ``ended`` map job IDs to their events."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started: dict = {}
        self.ended: dict = {}
        self._fh = None
        self._partial = b""

    def read_new(self) -> list:
        """Read the events appended since the last call into ``started`` and ``ended``; return the new
        ``ended`` events (a line still being written waits for the next call)."""
        if self._fh is None:
            try:
                self._fh = open(self.path, "rb")
            except OSError:
                return []
        data = self._fh.read()
        if not data:
            return []
        *lines, self._partial = (self._partial + data).split(b"\n")
        ends = []
        for line in lines:
            event = parse_event(line)
            if event is None:
                continue
            if event.get("event") == "started":
                self.started[event["job"]] = event
            elif event.get("event") == "ended":
                self.ended[event["job"]] = event
                ends.append(event)
        return ends

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def parse_event(line: bytes):
    """One event as a dict with a string ``job``; None if the line holds none.

    An event cut short (a full disk) has no newline, so the next event lands on
    the same line: that one is still found, after the torn one.
    """
    for start in (0, line.rfind(b'{"job": ')):
        if start < 0:
            continue
        try:
            event = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("job"), str):
            return event
    return None
