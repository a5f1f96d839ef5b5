"""Finding the project root, its batches, its settings and its state folder."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import ConfigError, UsageError

ROOT_MARKERS = ("pyproject.toml", "agybatch.toml", ".git")
BATCH_FILE = "batch.toml"


def load_toml(path: Path) -> dict:
    """Parse a TOML file; a syntax error becomes a :class:`ConfigError` naming file and line."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on old Pythons only
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, f"invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, f"not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}") from None


class Project:
    """A project: its root folder, its ``[tool.agybatch]`` settings and its state folder.

    A plain class rather than a dataclass: every command loads the project, and
    commands that only read the journal should not pay for building dataclasses.
    """

    __slots__ = ("root", "settings", "settings_path")

    def __init__(self, root: Path, settings: dict, settings_path: Path | None) -> None:
        self.root, self.settings, self.settings_path = root, settings, settings_path

    def __eq__(self, other) -> bool:
        return isinstance(other, Project) and (self.root, self.settings, self.settings_path) == \
            (other.root, other.settings, other.settings_path)

    def __repr__(self) -> str:
        return f"Project(root={self.root!r}, settings_path={self.settings_path!r})"

    @property
    def state_dir(self) -> Path:
        env = os.environ.get("AGYBATCH_STATE_DIR")
        if env:
            return Path(env).expanduser().resolve()
        return self.root / ".agybatch"

    @property
    def batches_dir(self) -> Path:
        return self.root / "batches"

    def batch_folders(self) -> list[Path]:
        """The project's batch folders, ``batches/*/batch.toml``, sorted by name."""
        if not self.batches_dir.is_dir():
            return []
        return sorted(p.parent for p in self.batches_dir.glob(f"*/{BATCH_FILE}"))


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a root marker, or None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return None


def load_project(start: Path) -> Project:
    """Load the project that ``start`` (a folder) belongs to."""
    root = find_root(start) or start.resolve()
    settings, settings_path = {}, None
    own = root / "agybatch.toml"
    pyproject = root / "pyproject.toml"
    if own.is_file():
        settings, settings_path = load_toml(own), own
    elif pyproject.is_file():
        data = load_toml(pyproject)
        tool = data.get("tool", {}).get("agybatch")
        if tool is not None:
            settings, settings_path = tool, pyproject
    if not isinstance(settings, dict):
        raise ConfigError(settings_path, "[tool.agybatch] must be a table")
    return Project(root=root, settings=settings, settings_path=settings_path)


def resolve_batch(spec: str, cwd: Path | None = None) -> Path:
    """Turn ``agybatch run SPEC`` into a ``batch.toml`` path.

    SPEC may be a batch folder, a batch file, or the NAME of ``batches/NAME/``
    under the project root found from ``cwd``.
    """
    cwd = cwd or Path.cwd()
    path = (cwd / spec).expanduser()
    if path.is_dir() and (path / BATCH_FILE).is_file():
        return (path / BATCH_FILE).resolve()
    if path.is_file():
        return path.resolve()
    if path.is_dir():
        raise UsageError(f"{path}: no {BATCH_FILE} in this folder")
    root = find_root(cwd) or cwd
    named = root / "batches" / spec / BATCH_FILE
    if os.sep not in spec and named.is_file():
        return named.resolve()
    known = ", ".join(p.name for p in load_project(root).batch_folders()) or "none"
    raise UsageError(f"no batch {spec!r}: not a path, and not in {root / 'batches'} (known: {known})")
