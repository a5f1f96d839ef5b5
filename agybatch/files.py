"""Reading the end of a log file: what ``agybatch logs --tail``, failed-log capture and backends share."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


def tail_file(path: Path, lines: Optional[int] = None, chunk: int = 65536) -> str:
    """The last ``lines`` lines of ``path`` (all of it when None), read from the end; '' if it is missing."""
    try:
        with open(path, "rb") as fh:
            if lines is None:
                return fh.read().decode("utf-8", "replace")
            fh.seek(0, os.SEEK_END)
            end = pos = fh.tell()
            data = b""
            while pos > 0 and data.count(b"\n") <= lines:
                pos = max(0, pos - chunk)
                fh.seek(pos)
                data = fh.read(end - pos)
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", "replace")
    parts = text.splitlines(keepends=True)
    return "".join(parts[-lines:]) if lines else ""
