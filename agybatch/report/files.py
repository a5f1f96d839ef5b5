"""Writing report files: whole or not at all, owner-only."""
from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path, text: str, mode: int = 0o600) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename; return the path.

    Missing folders are created. The file is ``mode`` (owner-only by default:
    reports carry log lines that the state folder keeps private). A symlink
    planted at the temporary name is refused, never followed.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
