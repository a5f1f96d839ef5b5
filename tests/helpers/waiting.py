"""Wait for an observable event (a file, a journal row, a log line, a process state), never a fixed sleep."""
from __future__ import annotations

import time

import pytest


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.02, what: str | None = None):
    """Poll ``predicate`` until it returns something truthy, and return that; fail the test after ``timeout``.

    ``what`` names the event in the failure message (default: the predicate's repr).
    """
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            pytest.fail(f"not within {timeout}s: {what or predicate}", pytrace=False)
        time.sleep(interval)

