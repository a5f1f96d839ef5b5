"""agybatch: fan out long-running, independent jobs, watch them cheaply, join them honestly.

The public API is ``hookimpl`` (the marker of hook implementations) and the
model classes; they are imported on first use, so that a command that needs
neither (``agybatch --version``, ``status``) starts fast.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "__version__", "hookimpl", "ExitCode", "JobState", "JobStatus", "Outcome",
    "RunSummary", "Task", "TaskResult",
]

_MODEL = ("ExitCode", "JobState", "JobStatus", "Outcome", "RunSummary", "Task", "TaskResult")


def __getattr__(name: str):
    if name == "hookimpl":
        import pluggy

        #: Marker for hook implementations: ``@agybatch.hookimpl``.
        globals()["hookimpl"] = pluggy.HookimplMarker("agybatch")
        return globals()["hookimpl"]
    if name in _MODEL:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'agybatch' has no attribute {name!r}")
