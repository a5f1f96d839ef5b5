"""Files in the state folder: owner-only folders, and reading the end of a log (what ``agybatch logs
--tail``, failed-log capture and the backends share)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .errors import JournalError


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


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents owner-only (0700); existing folders are left as they are."""
    missing, folder = [], path
    while not folder.is_dir() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    try:
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise JournalError(f"{path}: cannot create state folder: {exc.strerror}") from None
    return path
