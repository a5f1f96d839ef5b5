"""A capped job log written chunk by chunk, as the supervisor writes it, and read back as the local
backend reads it: the file never passes the cap, keeps the head and the tail with one marker that
counts the bytes dropped, and a reader following it by logical offset gets every kept byte once."""
from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from agybatch.backends._joboutput import (
    MARKER_SIZE, CappedLog, head_size, marker, parse_marker, read_lines, read_span, written)

#: Output made of numbered lines of assorted lengths, some long, some not ended yet, some not ASCII.
LINES = st.lists(st.tuples(st.integers(0, 300), st.sampled_from(["x", "é", "€", "𝄞"])), min_size=1, max_size=60)


def output_of(lines) -> bytes:
    return b"".join(f"{i}:{ch * n}\n".encode() for i, (n, ch) in enumerate(lines))


def chunked(data: bytes, sizes) -> list:
    chunks, pos = [], 0
    for size in sizes:
        if pos >= len(data):
            break
        chunks.append(data[pos:pos + size])
        pos += size
    if pos < len(data):
        chunks.append(data[pos:])
    return chunks


def check_log(path, data: bytes, cap: int) -> None:
    """The log at ``path`` is what a cap of ``cap`` keeps of ``data``."""
    log = path.read_bytes()
    head = head_size(cap)
    assert len(log) <= max(cap, 1024)
    if len(data) <= max(cap, 1024):
        assert log == data, "under the cap the log is the output"
        return
    assert log[:head] == data[:head], "the head is kept for good"
    dropped = parse_marker(log[head:head + MARKER_SIZE])
    assert isinstance(dropped, int) and dropped > 0, log[head:head + MARKER_SIZE]
    tail = log[head + MARKER_SIZE:]
    assert data.endswith(tail), "the tail is the latest output"
    assert head + dropped + len(tail) == len(data), "the marker counts exactly the bytes dropped"
    assert tail, "the last bytes written are always kept"


@settings(max_examples=300, deadline=None)
@given(lines=LINES, sizes=st.lists(st.integers(1, 3000), max_size=80), cap=st.sampled_from([1024, 1500, 4096]))
def test_each_write_keeps_the_log_within_the_cap_with_head_marker_and_tail(tmp_path_factory, lines, sizes, cap):
    path = tmp_path_factory.mktemp("log") / "job.log"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    log = CappedLog(fd, cap)
    data = output_of(lines)
    sent = b""
    for chunk in chunked(data, sizes):
        log.write(chunk)
        sent += chunk
        check_log(path, sent, cap)
        assert written(path, log.head) == len(sent)
    os.close(fd)


@settings(max_examples=200, deadline=None)
@given(lines=LINES, sizes=st.lists(st.integers(1, 3000), max_size=80), reads=st.lists(st.integers(0, 6), max_size=80))
def test_a_follower_gets_every_kept_byte_once_at_its_place_and_is_told_of_the_rest(tmp_path_factory, lines, sizes,
                                                                                    reads):
    """A follower reads 0-6 times between writes; offsets count the bytes dropped."""
    path = tmp_path_factory.mktemp("log") / "job.log"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    log = CappedLog(fd, 1024)
    data = output_of(lines)
    offset, got, dropped_total = 0, bytearray(), 0
    reads = iter(reads)

    def follow(times: int) -> None:
        nonlocal offset, dropped_total
        for _ in range(times):
            text, next_offset, dropped = read_span(path, log.head, offset, limit=700)
            start = offset + dropped
            assert text == data[start:next_offset], "each byte is returned at its own offset"
            got.extend(text)
            dropped_total += dropped
            offset = next_offset

    for chunk in chunked(data, sizes):
        log.write(chunk)
        follow(next(reads, 1))
    while True:  # the job has ended: read to the end
        before = offset
        follow(1)
        if offset == before:
            break
    os.close(fd)
    assert offset == len(data)
    assert len(got) + dropped_total == len(data), "what was not returned was reported dropped"
    log_now = path.read_bytes()
    assert bytes(got).endswith(log_now[log.head + MARKER_SIZE:] if log.cut else log_now), "it ends with the log's tail"


def test_the_tail_starts_on_a_line_and_the_marker_line_reads_as_text(tmp_path):
    path = tmp_path / "job.log"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    log = CappedLog(fd, 4096)
    data = b"".join(b"line %05d\n" % i for i in range(2000))
    for chunk in chunked(data, [100] * 1000):
        log.write(chunk)
    os.close(fd)
    text = path.read_text()
    lines = text.split("\n")
    cut = next(i for i, line in enumerate(lines) if line.startswith("[agybatch: "))
    assert lines[cut].rstrip() == f"[agybatch: {len(data) - len(text) + MARKER_SIZE} bytes of output dropped here" \
                                  f" (max_log_size)]"
    assert lines[cut + 1].startswith("line ") and len(lines[cut + 1]) == 10, "the tail starts on a whole line"
    assert lines[-2] == "line 01999" and lines[-1] == ""
    assert read_lines(path, 2048, 2) == b"line 01998\nline 01999\n"


def test_a_marker_is_told_from_output_that_looks_like_one():
    assert parse_marker(marker(123)) == 123
    assert parse_marker(marker(123)[:-1] + b"x") is None
    assert parse_marker(marker(123).replace(b"123", b"12a")) is None
    assert parse_marker(b"\n[agybatch: 5 bytes of output dropped here (max_log_size)]\n") is None  # not padded


def test_a_reader_that_meets_a_compaction_waits_for_it_and_reads_the_new_state(tmp_path, monkeypatch):
    from agybatch.backends import _joboutput

    path = tmp_path / "job.log"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    log = CappedLog(fd, 1024)
    data = b"".join(b"%04d\n" % i for i in range(1000))
    log.write(data[:1000])
    before = path.read_bytes()
    log.write(data[1000:])
    after = path.read_bytes()
    busy = bytearray(before)
    busy[log.head:log.head + MARKER_SIZE] = _joboutput.BUSY  # as the writer leaves it while it compacts
    path.write_bytes(bytes(busy))
    naps = []

    def compaction_ends(seconds):
        naps.append(seconds)
        path.write_bytes(after)

    monkeypatch.setattr(_joboutput.time, "sleep", compaction_ends)
    text, next_offset, dropped = read_span(path, log.head, log.head + 10)
    assert naps, "the reader waited"
    assert next_offset == len(data) and text == data[next_offset - len(text):]
    assert dropped == len(data) - len(text) - log.head - 10
    os.close(fd)


def test_a_log_left_mid_compaction_by_a_killed_supervisor_is_read_as_it_is(tmp_path, monkeypatch):
    from agybatch.backends import _joboutput

    monkeypatch.setattr(_joboutput, "SETTLE", 0.05)
    path = tmp_path / "job.log"
    path.write_bytes(b"a" * 512 + _joboutput.BUSY + b"tail\n")
    assert _joboutput.read_all(path, 512) == path.read_bytes()
    assert read_lines(path, 512, 1) == b"tail\n"
    assert read_span(path, 512, 600) == (b"", 600, 0), "a follower is told nothing rather than something wrong"
