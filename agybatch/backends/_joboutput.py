"""A local job's log under a size cap: its format, its writer (the supervisor) and its readers.

Until a job's output passes its cap, its log is the output, byte for byte.
Past it, the log holds the output's head, one marker line and its tail, and
never more than the cap::

    head    the first head_size(cap) bytes of the output (half the cap), kept for good
    marker  "\\n[agybatch: N bytes of output dropped here (max_log_size)]", padded with
            spaces to MARKER_SIZE bytes with its "\\n"; N counts every byte dropped so far
    tail    the latest output, from the start of a line when one begins near the cut

The head's length is in the job's ``started`` event (``log_head``), so a reader
finds the marker with one ``pread``; a log without it is read as plain output.

The writer (:class:`CappedLog`, one a job, in the supervisor) appends while the
log stays within the cap. A chunk that would take it past the cap compacts it:
the marker is made busy, the last ``keep`` bytes (about a quarter of the cap)
of the tail and the chunk are copied down behind it, the file is cut there,
and the marker gets its new count. The next compaction is ``keep`` bytes of
output later, so each byte is written about twice; the writer holds one chunk
in memory.

Readers see one state of the log: they read the marker before and after
reading the output, and read again if it was busy or changed in between.

This module uses the standard library only: the supervisor, which runs as
``python -I -S``, imports it too.
"""
from __future__ import annotations

import os
import time

_PREFIX = b"\n[agybatch: "
_SUFFIX = b" bytes of output dropped here (max_log_size)]"
#: Bytes of the marker line, "\n" included (room for a 20-digit count).
MARKER_SIZE = 80
#: The marker while the writer compacts the log.
BUSY = (_PREFIX + b"dropping output here (max_log_size)]").ljust(MARKER_SIZE - 1) + b"\n"
#: The smallest cap applied; a smaller one acts as this.
MIN_CAP = 1024
#: How far into the kept tail a compaction looks for a line start.
ALIGN = 4096
#: How long a reader waits for a compaction to finish before it reads the log as it is.
SETTLE = 2.0


def marker(dropped: int) -> bytes:
    """The marker line for ``dropped`` bytes."""
    return (_PREFIX + str(dropped).encode() + _SUFFIX).ljust(MARKER_SIZE - 1) + b"\n"


def parse_marker(raw: bytes):
    """The count in a marker line; :data:`BUSY` for the busy marker; None if ``raw`` is no marker."""
    if raw == BUSY:
        return BUSY
    if len(raw) != MARKER_SIZE or not raw.startswith(_PREFIX) or not raw.endswith(b"\n"):
        return None
    digits, found, padding = raw[len(_PREFIX):].partition(_SUFFIX)
    if found and digits.isdigit() and not padding[:-1].strip(b" "):
        return int(digits)
    return None


def head_size(cap: int) -> int:
    """Bytes of output a log capped at ``cap`` keeps from the start."""
    return max(cap, MIN_CAP) // 2


# -- writing ------------------------------------------------------------------------


class CappedLog:
    """Writes one job's output to its log (the open descriptor ``fd``), within ``cap`` bytes (None: no cap).

    :ivar head: the head's length when capped (the marker's offset), else None.
    :ivar written: bytes of output received so far.
    :ivar failed: a write failed (a full disk): the rest of the output is read and dropped.
    """

    __slots__ = ("fd", "cap", "head", "keep", "size", "written", "cut", "failed")

    def __init__(self, fd: int, cap) -> None:
        self.fd, self.size, self.written, self.cut, self.failed = fd, 0, 0, False, False
        if cap is None:
            self.cap = self.head = self.keep = None
        else:
            self.cap = max(cap, MIN_CAP)
            self.head = head_size(cap)
            self.keep = (self.cap - self.head - MARKER_SIZE) // 2

    def take(self, pipe: int, chunk: int = 65536) -> int:
        """Move up to ``chunk`` bytes from ``pipe`` (non-blocking) to the log: how many; 0 at end of file.
        Raise BlockingIOError if the pipe is empty."""
        data = os.read(pipe, chunk)
        self.write(data)
        return len(data)

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.failed:
            return
        try:
            if self.cap is None or self.size + len(data) <= self.cap:
                _put(self.fd, data, self.size)
                self.size += len(data)
            else:
                self._compact(data)
        except Exception:  # a full disk, or a bug here: this log stops, the supervisor and its other jobs go on
            self.failed = True

    def _compact(self, data: bytes) -> None:
        """Keep head, marker and the last ``keep`` bytes of tail and ``data``, from a line start if near."""
        fd, head, keep = self.fd, self.head, self.keep
        if not self.cut and self.size < head:  # the head comes first
            fill = data[:head - self.size]
            _put(fd, fill, self.size)
            self.size += len(fill)
            data = data[len(fill):]
        base = head + MARKER_SIZE
        tail_start = base if self.cut else head
        data = data[-keep:]
        from_file = min(keep - len(data), self.size - tail_start)
        src = self.size - from_file
        probe = (os.pread(fd, min(from_file, ALIGN), src) if from_file else b"") + data[:ALIGN]
        skip = _line_start(probe[:min(ALIGN, keep // 4)])
        if skip <= from_file:
            src, from_file = src + skip, from_file - skip
        else:
            data, src, from_file = data[skip - from_file:], self.size, 0
        _put(fd, BUSY, head)
        _copy_down(fd, src, base, from_file)
        _put(fd, data, base + from_file)
        self.size = base + from_file + len(data)
        os.ftruncate(fd, self.size)
        self.cut = True
        _put(fd, marker(self.written - head - (self.size - base)), head)


def _line_start(probe: bytes) -> int:
    """Bytes to skip in ``probe`` to start on a new line, or else on a whole UTF-8 character."""
    newline = probe.find(b"\n")
    if newline >= 0:
        return newline + 1
    skip = 0
    while skip < min(3, len(probe)) and probe[skip] & 0xC0 == 0x80:
        skip += 1
    return skip


def _put(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _copy_down(fd: int, src: int, dst: int, count: int) -> None:
    """Copy ``count`` bytes of ``fd`` from ``src`` to ``dst`` (``dst <= src``), in the kernel when it can."""
    if dst + count <= src:  # copy_file_range refuses overlapping ranges
        try:
            while count > 0:
                copied = os.copy_file_range(fd, fd, count, src, dst)
                if copied == 0:
                    return
                src, dst, count = src + copied, dst + copied, count - copied
            return
        except OSError:  # not on this file system: copy through memory
            pass
    while count > 0:  # front to back is safe with dst below src
        chunk = os.pread(fd, min(count, 1 << 20), src)
        if not chunk:
            return
        _put(fd, chunk, dst)
        src, dst, count = src + len(chunk), dst + len(chunk), count - len(chunk)


# -- reading ------------------------------------------------------------------------


def look(path, head, read, missing=None, stuck=None):
    """``read(fd, size, dropped)`` on one state of the log at ``path``: ``dropped`` is None while the log is
    the whole output, else the marker's count. ``missing`` if there is no log.

    A log still being compacted after :data:`SETTLE` seconds (its supervisor was killed in the middle)
    gives ``stuck`` if it is not None, else is read as it is, as plain output.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return missing
    try:
        give_up = time.monotonic() + SETTLE
        while True:
            size, dropped = _state(fd, head)
            if dropped is not BUSY:
                result = read(fd, size, dropped)
                if _state(fd, head)[1] == dropped:
                    return result
            if time.monotonic() > give_up:
                return stuck if stuck is not None else read(fd, os.fstat(fd).st_size, None)
            time.sleep(0.001)
    finally:
        os.close(fd)


def _state(fd: int, head):
    size = os.fstat(fd).st_size
    if head is None or size < head + MARKER_SIZE:
        return size, None
    return size, parse_marker(os.pread(fd, MARKER_SIZE, head))


def written(path, head) -> int:
    """Bytes of output the job has written so far, dropped ones included (0 if it has no log)."""
    return look(path, head, lambda fd, size, dropped: size if dropped is None else size - MARKER_SIZE + dropped, 0)


def read_all(path, head) -> bytes:
    return look(path, head, lambda fd, size, dropped: os.pread(fd, size, 0), b"")


def read_ends(path, head, first: int, last: int) -> bytes:
    """The log when it holds at most ``first + last`` bytes, else its first and last bytes joined by a newline."""
    def read(fd, size, dropped):
        if size <= first + last:
            return os.pread(fd, size, 0)
        return os.pread(fd, first, 0) + b"\n" + os.pread(fd, last, size - last)
    return look(path, head, read, b"")


def read_lines(path, head, lines: int, chunk: int = 65536) -> bytes:
    """The log's last ``lines`` lines, read from the end."""
    def read(fd, size, dropped):
        pos, data = size, b""
        while pos > 0 and data.count(b"\n") <= lines:
            step = min(chunk, pos)
            pos -= step
            data = os.pread(fd, step, pos) + data
        return b"".join(data.splitlines(keepends=True)[-lines:]) if lines else b""
    return look(path, head, read, b"")


def read_span(path, head, offset: int, limit: int = 1 << 20):
    """``(data, next offset, dropped)``: up to ``limit`` bytes of output from ``offset`` on.

    Offsets count every byte the job wrote, dropped ones too; ``dropped`` is how
    many bytes from ``offset`` on the cap removed (they precede ``data``). A read
    stops at the end of the head, so that a drop is always reported at the start
    of one. An unfinished UTF-8 character at the end of the output waits for its
    last bytes.
    """
    def read(fd, size, dropped):
        if dropped is None:  # the log is the output
            first, pos, end, live = 0, 0, size, True
        elif offset < head:
            first, pos, end, live = 0, 0, head, False
        else:
            first, pos, end, live = head + dropped, head + MARKER_SIZE, head + dropped + size - head - MARKER_SIZE, True
        start = max(offset, first)
        if start >= end:
            return b"", offset, 0
        data = os.pread(fd, min(limit, end - start), pos + start - first)
        if live or start + len(data) < end:
            data = data[:_whole_characters(data)]
        return data, start + len(data), start - offset
    return look(path, head, read, (b"", offset, 0), stuck=(b"", offset, 0))


def _whole_characters(data: bytes) -> int:
    """Length of ``data`` without an unfinished UTF-8 character at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # the last character's first byte
            need = 2 if 0xC0 <= byte < 0xE0 else 3 if 0xE0 <= byte < 0xF0 else 4 if 0xF0 <= byte < 0xF8 else 1
            return len(data) - back if need > back else len(data)
    return len(data)
