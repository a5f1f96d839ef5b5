"""The project-wide ``[state]`` table: how much of the state folder is kept.

``[state]`` lives in ``agybatch.toml`` or ``[tool.agybatch.state]`` of
``pyproject.toml``; it is not a batch default, so a batch file cannot set
it, and its errors name the project's settings file::

    [state]
    keep_runs = 30          # per batch: the job logs and run folders of the last 30 runs
    keep_days = 0           # also keep anything newer than this many days
    max_log_size = "100MB"  # default cap of each job's log ([batch] and tasks may set their own)
"""
from __future__ import annotations

from typing import Optional

import attrs

from .taskspec import DEFAULT_MAX_LOG_SIZE
from .validate import Checker


@attrs.frozen
class StateSettings:
    """The validated ``[state]`` table."""

    keep_runs: int = 30
    keep_days: float = 0.0
    max_log_size: int = DEFAULT_MAX_LOG_SIZE


def state_settings(project) -> StateSettings:
    """The project's ``[state]``; a bad value is a ConfigError naming the settings file and key."""
    table: Optional[dict] = project.settings.get("state")
    if table is None:
        return StateSettings()
    check = Checker(project.settings_path)
    where = "[tool.agybatch.state]" if project.settings_path.name == "pyproject.toml" else "[state]"
    if not isinstance(table, dict):
        check.fail("", f"{where} must be a table", "state")
    found = {}
    for key, value in table.items():
        if key == "keep_runs":
            found[key] = check.whole(where, key, value, minimum=1)
        elif key == "keep_days":
            found[key] = check.number(where, key, value)
        elif key == "max_log_size":
            found[key] = check.size(where, key, value)
        else:
            check.unknown(where, key, {"keep_runs", "keep_days", "max_log_size"})
    return StateSettings(**found)
