"""``need(condition, what)``: the one way a test says what its environment must have.

Where something is missing the test is skipped with a reason naming it and how to get it;
with ``AGYBATCH_REQUIRE_ALL=1`` in the environment (``.ci/run`` sets it) the test fails
instead, so CI cannot pass with a part of the suite silently skipped.
"""
from __future__ import annotations

import importlib
import os
import shutil

import pytest

REQUIRE_ALL = "AGYBATCH_REQUIRE_ALL"


def strict() -> bool:
    """True where a missing environment must fail the run (``AGYBATCH_REQUIRE_ALL`` set, not "0")."""
    return os.environ.get(REQUIRE_ALL, "") not in ("", "0")


def need(condition, what: str) -> None:
    """Go on if ``condition`` is truthy; else skip (or, when :func:`strict`, fail) saying ``missing {what}``.

    Usable in a test, a fixture, or at module level (before the imports that need it).
    """
    if condition:
        return
    if strict():
        pytest.fail(f"missing {what} ({REQUIRE_ALL}=1: every test's environment must be present)",
                    pytrace=False)
    pytest.skip(f"missing {what}", allow_module_level=True)


def need_command(name: str, package: str) -> str:
    """The path of the command ``name``, which the Debian ``package`` provides."""
    path = shutil.which(name)
    need(path, f"the {name} command (Debian: apt-get install {package}; .ci/apt-packages.txt lists it)")
    return path


def need_module(name: str, install: str):
    """The imported module ``name``; ``install`` says how to get it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        need(False, f"the Python module {name} ({exc}; {install})")


def need_root(why: str) -> None:
    """The test runs as root because ``why``."""
    need(os.geteuid() == 0, f"root: {why}")
