"""Finding the ``agybatch`` entry points of installed distributions, without importing importlib.metadata.

:mod:`importlib.metadata` costs about 15 ms to import (it brings the
:mod:`email` package), more than the rest of a run's start-up before its first
job. Every ``run`` needs the entry points, so :func:`entry_points` reads them
the way importlib.metadata does for the common case: the ``*.dist-info`` and
``*.egg-info`` folders of each ``sys.path`` folder, the first distribution of a
name winning. Anything else on the path (a zip file, an unreadable folder)
makes it ask importlib.metadata instead, so nothing is missed.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Optional

_SECTION = re.compile(r"\s*\[([^\]]+)\]\s*$")


class EntryPoint:
    """One entry point: ``name = value`` (``package.module`` or ``package.module:attribute``)."""

    __slots__ = ("name", "value", "dist")

    def __init__(self, name: str, value: str, dist: Optional["Distribution"]) -> None:
        self.name, self.value, self.dist = name, value, dist

    def load(self):
        module, _, attribute = self.value.partition(":")
        found = importlib.import_module(module.strip())
        for part in filter(None, attribute.strip().split(".")):
            found = getattr(found, part)
        return found


class Distribution:
    """What an entry point's ``dist`` tells: the distribution's name and version, from its metadata."""

    __slots__ = ("folder", "_fields")

    def __init__(self, folder: str) -> None:
        self.folder, self._fields = folder, None

    @property
    def name(self) -> str:
        return self._metadata().get("Name", "")

    @property
    def version(self) -> str:
        return self._metadata().get("Version", "")

    def _metadata(self) -> dict:
        if self._fields is None:
            self._fields = {}
            for file in ("METADATA", "PKG-INFO"):
                try:
                    with open(os.path.join(self.folder, file), encoding="utf-8") as fh:
                        for line in fh:
                            if not line.strip():
                                break
                            key, _, value = line.partition(":")
                            self._fields.setdefault(key.strip(), value.strip())
                    break
                except OSError:
                    continue
        return self._fields


def entry_points(group: str) -> list:
    """The entry points of ``group`` of every installed distribution, as importlib.metadata finds them."""
    try:
        return _scan(group)
    except _Unusual:
        from importlib.metadata import entry_points as standard

        try:
            return list(standard(group=group))
        except TypeError:  # Python < 3.10
            return list(standard().get(group, []))


class _Unusual(Exception):
    """Something on the path only importlib.metadata knows how to read."""


def _scan(group: str) -> list:
    found, seen = [], set()
    for entry in sys.path:
        folder = entry or "."
        if not os.path.isdir(folder):
            if os.path.exists(folder):
                raise _Unusual(folder)  # a zip file or an egg
            continue
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            raise _Unusual(folder) from None
        for name in names:
            stem, dot, kind = name.rpartition(".")
            if kind not in ("dist-info", "egg-info") or not dot:
                continue
            key = re.sub(r"[-_.]+", "_", stem.partition("-")[0]).lower()
            if key in seen:
                continue
            seen.add(key)
            path = os.path.join(folder, name, "entry_points.txt")
            if os.path.isfile(path):
                found += _parse(path, group, Distribution(os.path.join(folder, name)))
    return found


def _parse(path: str, group: str, dist: Distribution) -> list:
    found, section = [], None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip() or line.lstrip().startswith(("#", ";")):
                continue
            header = _SECTION.match(line)
            if header:
                section = header.group(1).strip()
            elif section == group and "=" in line:
                name, value = line.split("=", 1)
                found.append(EntryPoint(name.strip(), value.strip(), dist))
    return found
