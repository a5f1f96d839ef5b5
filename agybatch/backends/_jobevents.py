"""The runner's reading of a run's job records, written by its job supervisors.

Each supervisor appends one JSON object a line to ``<state>/runs/<run_id>/local-jobs``
(see :mod:`agybatch.backends._supervisor`): a ``started`` record naming the
supervisor and the command's process, and an ``ended`` record with the job's
final state. Several supervisors of one run (a runner and the one that
joined after it) append to the same file; each line is one ``write``.
"""
from __future__ import annotations

import json
from pathlib import Path

#: The file in the run folder that holds the run's job records.
RECORDS_FILE = "local-jobs"


class JobRecords:
    """Follows a run's job records: ``started`` and ``ended`` map job IDs to their records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started: dict = {}
        self.ended: dict = {}
        self._fh = None
        self._partial = b""

    def read_new(self) -> list:
        """Read the records appended since the last call into ``started`` and ``ended``; return the new
        ``ended`` records (a line still being written waits for the next call)."""
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
            record = parse_record(line)
            if record is None:
                continue
            if record.get("event") == "started":
                self.started[record["job"]] = record
            elif record.get("event") == "ended":
                self.ended[record["job"]] = record
                ends.append(record)
        return ends

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def parse_record(line: bytes):
    """One record as a dict with a string ``job``; None if the line holds none.

    A record cut short (a full disk) has no newline, so the next record lands on
    the same line: that one is still found, after the torn one.
    """
    for start in (0, line.rfind(b'{"job": ')):
        if start < 0:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("job"), str):
            return record
    return None
