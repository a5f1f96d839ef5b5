"""agybatch: fan out long-running, independent jobs, watch them cheaply, join them honestly."""
from __future__ import annotations

import pluggy

from .model import ExitCode, JobState, JobStatus, Outcome, RunSummary, Task, TaskResult

__version__ = "0.1.0"

#: Marker for hook implementations: ``@agybatch.hookimpl``.
hookimpl = pluggy.HookimplMarker("agybatch")

__all__ = [
    "__version__", "hookimpl", "ExitCode", "JobState", "JobStatus", "Outcome",
    "RunSummary", "Task", "TaskResult",
]
