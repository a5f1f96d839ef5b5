"""Every hook agybatch calls. The docstrings here are the hook reference.

Implement a hook in a plugin with :data:`agybatch.hookimpl`; as pluggy allows,
an implementation may accept any subset of the documented arguments.

Order of one run::

    addoption -> configure
    -> register_backends / register_tables / register_sinks / register_result_formats
    -> on_session_start
    -> (on_submit | on_state_change | on_tick)*      on_tick about once a second while waiting
    -> on_join
    -> on_notify (called by the notify plugin)
    -> on_session_end

Everything a hook is told (a submission, a job ID, a state change, a verdict)
has been committed to the journal before the hook is called.

**When an implementation raises.** A plugin's exception never ends a run:
it is reported as one line naming the plugin (in ``plugin_errors`` of the
summary, and on stderr), and the run goes on, because the journal already
holds the state. As in pytest, the implementations of that one hook call that
come after the raising one do not run; a wrapper (``wrapper=True``) still
resumes after its ``yield``. That is deliberate for ``on_join``, whose
implementations are a pipeline (log tails and duration labels first,
reporters last): an implementation that must run whatever happened before it
reports after ``yield`` in a ``finally``, as the terminal, ``notify`` and
``reports`` plugins do. ``on_notify`` is called once per notification, after
every ``on_join`` implementation, with the same rule; the built-in delivery
delivers to each sink on its own, so one failing sink never stops another.
The exceptions: an :class:`~agybatch.errors.AgybatchError` raised from
``on_session_start`` refuses the run with its exit code, and a failure in
``addoption``, ``configure`` or a ``register_*`` hook stops the command
before anything runs (exit 3), since nothing is sound after it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import pluggy

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    import argparse

    from .model import JobState, JobStatus, Outcome, RunSummary, Task
    from .records import TaskRecord
    from .session import Config, Session
    from .sinks.notification import Notification

hookspec = pluggy.HookspecMarker("agybatch")


@hookspec(historic=True)
def addoption(parser: "argparse.ArgumentParser") -> None:
    """Add command-line options to ``run`` and ``join``.

    :param parser: an :class:`argparse.ArgumentParser` (or argument group);
        call ``parser.add_argument(...)`` as usual. Values end up on
        ``config.option``. Local ``batchconf.py`` plugins may add options too.
    """


@hookspec(historic=True)
def configure(config: "Config") -> None:
    """Called once the command line is parsed and plugins are loaded.

    :param agybatch.session.Config config: options, project and plugin manager.
        Plugins typically register helper objects here with
        ``config.pluginmanager.register(obj, name)``.
    """


@hookspec
def register_backends(register: Callable) -> None:
    """Register backends by name.

    :param register: call ``register(name, factory)``. ``factory`` is a
        :class:`agybatch.backends.Backend` subclass, or its dotted path
        ``"package.module:Class"``, imported only when a batch uses it (so a
        run pays nothing for the backends it does not use). A batch selects
        it with ``[batch] backend = "name"``.
    """


@hookspec
def register_tables(register: Callable) -> None:
    """Claim a top-level table of ``batch.toml`` (e.g. ``[notify]``).

    :param register: call ``register(name, validate)``; ``validate(data)``
        raises :class:`ValueError` with a readable message for bad content.
        The validated table is available as ``session.batch.tables[name]``.
    """


@hookspec
def register_sinks(register: Callable) -> None:
    """Register notification sink types by name (used by the notify plugin).

    :param register: call ``register(type_name, factory)``.
    """


@hookspec
def register_result_formats(register: Callable) -> None:
    """Register result formats: how the output of an agent CLI is judged.

    :param register: call ``register(name, format)``. ``format`` is an
        :class:`agybatch.formats.ResultFormat`: its ``wants(argv)`` says whether
        ``result = "auto"`` picks it for a command, and its ``judge(output,
        exit_code, now)`` (``now``: when the job ended, for a reported "retry in
        30s") turns a job's output into an
        :class:`agybatch.formats.Judgement`. A task selects a format by name
        with ``result = "name"``. The built-in ``agy``, ``claude``, ``gemini``
        and ``codex`` formats come from the ``agents`` plugin.
    """


@hookspec
def on_session_start(session: "Session") -> None:
    """A run or a join is about to begin; nothing is journalled yet.

    Raise an :class:`agybatch.errors.AgybatchError` (for example
    :class:`~agybatch.errors.LockHeldError`) to refuse the run; its exit code is
    used and nothing is submitted.

    :param agybatch.session.Session session: the run being started.
    """


@hookspec
def on_submit(session: "Session", task: "Task", job: "JobStatus") -> None:
    """A task was submitted and its job ID is journalled.

    :param agybatch.model.Task task: the task, with its ``label``.
    :param agybatch.model.JobStatus job: ``job.job_id`` and the first known state.
    """


@hookspec
def on_state_change(session: "Session", task: "Task", job: "Optional[JobStatus]",
                    previous: "Optional[JobState]", outcome: "Optional[Outcome]") -> None:
    """A job's state changed, or a task reached its outcome; both are journalled.

    :param agybatch.model.JobStatus job: the new state, as the backend reported it.
    :param previous: the previous :class:`~agybatch.model.JobState`, or None.
    :param outcome: the task's :class:`~agybatch.model.Outcome` once it is final,
        else None. It can differ from ``job.state``: a job cancelled at the
        deadline is ``timed_out``; an agent that exited 0 with an error in its
        result is ``failed``; a task never submitted has ``job`` None.
    """


@hookspec
def on_tick(session: "Session", records: "list[TaskRecord]") -> None:
    """Called about once a second while the runner waits (for live progress displays).

    :param records: the runner's :class:`~agybatch.records.TaskRecord` of every task (read-only).
    """


@hookspec
def on_join(session: "Session", summary: "RunSummary") -> None:
    """Every task has its outcome; the verdict is journalled.

    :param agybatch.model.RunSummary summary: plugins may fill ``log_path`` and
        ``duration_label`` of its tasks. A reporter that must see them, and must
        run even when another plugin's ``on_join`` raised, implements this hook
        with ``@hookimpl(wrapper=True)`` and reports after ``yield`` (in a
        ``finally``), as the terminal reporter does.
    """


@hookspec
def on_notify(session: "Session", notification: "Notification") -> None:
    """Deliver a notification built from the verdict (called by the notify plugin).

    :param notification: the :class:`~agybatch.sinks.notification.Notification`
        the notify plugin built; ``notification.sinks`` names the configured
        sinks its route chose.
    """


@hookspec
def on_session_end(session: "Session", exit_code: int, error: "Optional[str]") -> None:
    """The run or join ends with ``exit_code``; release what ``on_session_start`` took.

    ``error`` is the one-line reason when it stopped on an error (exit 3 or 4), else None.
    """
