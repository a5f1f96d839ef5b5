"""The run's job records as a runner reads them while supervisors append to them."""
from __future__ import annotations

import json

from agybatch.backends._jobrecords import JobRecords


def record(job: str, event: str, **fields) -> bytes:
    return (json.dumps({"job": job, "event": event, **fields}) + "\n").encode()


def test_records_are_read_as_they_are_appended_and_a_half_written_line_waits(tmp_path):
    path = tmp_path / "local-jobs"
    records = JobRecords(path)
    assert records.read_new() == []  # no file yet
    ended = record("a", "ended", state="succeeded", exit_code=0)
    with open(path, "ab") as fh:
        fh.write(record("a", "started", pid=1, start_ticks=2, child=3, started_at=4.0))
        fh.write(ended[:10])
        fh.flush()
        assert records.read_new() == [] and set(records.started) == {"a"} and records.ended == {}
        fh.write(ended[10:])
    assert [r["job"] for r in records.read_new()] == ["a"]
    assert records.ended["a"]["state"] == "succeeded"
    records.close()


def test_a_record_torn_by_a_full_disk_does_not_hide_the_next_one(tmp_path):
    path = tmp_path / "local-jobs"
    torn = record("a", "ended", state="failed", exit_code=1)[:25]  # cut short: no newline
    path.write_bytes(torn + record("b", "ended", state="succeeded", exit_code=0) + b"garbage\n")
    records = JobRecords(path)
    assert [r["job"] for r in records.read_new()] == ["b"]
    assert "a" not in records.ended
    records.close()
