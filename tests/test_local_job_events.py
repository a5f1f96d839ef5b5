"""The run's job events (``local-jobs``) as a runner reads them while supervisors append to them."""
from __future__ import annotations

import json

from agybatch.backends._jobevents import JobEvents


def event(job: str, kind: str, **fields) -> bytes:
    return (json.dumps({"job": job, "event": kind, **fields}) + "\n").encode()


def test_events_are_read_as_they_are_appended_and_a_half_written_line_waits(tmp_path):
    path = tmp_path / "local-jobs"
    events = JobEvents(path)
    assert events.read_new() == []  # no file yet
    ended = event("a", "ended", state="succeeded", exit_code=0)
    with open(path, "ab") as fh:
        fh.write(event("a", "started", pid=1, start_ticks=2, child=3, started_at=4.0))
        fh.write(ended[:10])
        fh.flush()
        assert events.read_new() == [] and set(events.started) == {"a"} and events.ended == {}
        fh.write(ended[10:])
    assert [e["job"] for e in events.read_new()] == ["a"]
    assert events.ended["a"]["state"] == "succeeded"
    events.close()


def test_an_event_torn_by_a_full_disk_does_not_hide_the_next_one(tmp_path):
    path = tmp_path / "local-jobs"
    torn = event("a", "ended", state="failed", exit_code=1)[:25]  # cut short: no newline
    path.write_bytes(torn + event("b", "ended", state="succeeded", exit_code=0) + b"garbage\n")
    events = JobEvents(path)
    assert [e["job"] for e in events.read_new()] == ["b"]
    assert "a" not in events.ended
    events.close()
