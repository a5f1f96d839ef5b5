"""Every hook agybatch calls. The docstrings here are the hook reference.

Implement a hook in a plugin with :data:`agybatch.hookimpl`; as pluggy allows,
an implementation may accept any subset of the documented arguments.

Order of one run::

    addoption -> configure -> register_backends / register_tables / register_sinks
    -> on_session_start -> (on_submit | on_state_change)* -> on_join
    -> on_notify (called by the notify plugin) -> on_session_end

Everything a hook is told (a submission, a job ID, a state change, a verdict)
has been committed to the journal before the hook is called.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("agybatch")


@hookspec(historic=True)
def addoption(parser) -> None:
    """Add command-line options to ``run`` and ``join``.

    :param parser: an :class:`argparse.ArgumentParser` (or argument group);
        call ``parser.add_argument(...)`` as usual. Values end up on
        ``config.option``. Local ``batchconf.py`` plugins may add options too.
    """


@hookspec(historic=True)
def configure(config) -> None:
    """Called once the command line is parsed and plugins are loaded.

    :param agybatch.session.Config config: options, project and plugin manager.
        Plugins typically register helper objects here with
        ``config.pluginmanager.register(obj, name)``.
    """


@hookspec
def register_backends(register) -> None:
    """Register backends by name.

    :param register: call ``register(name, factory)``. ``factory`` is a
        :class:`agybatch.backends.Backend` subclass. A batch selects it with
        ``[batch] backend = "name"``.
    """


@hookspec
def register_tables(register) -> None:
    """Claim a top-level table of ``batch.toml`` (e.g. ``[notify]``).

    :param register: call ``register(name, validate)``; ``validate(data)``
        raises :class:`ValueError` with a readable message for bad content.
        The validated table is available as ``session.batch.tables[name]``.
    """


@hookspec
def register_sinks(register) -> None:
    """Register notification sink types by name (used by the notify plugin).

    :param register: call ``register(type_name, factory)``.
    """


@hookspec
def on_session_start(session) -> None:
    """A run or a join is about to begin; nothing is journalled yet.

    Raise an :class:`agybatch.errors.AgybatchError` (for example
    :class:`~agybatch.errors.LockHeldError`) to refuse the run; its exit code is
    used and nothing is submitted.

    :param agybatch.session.Session session: the run being started.
    """


@hookspec
def on_submit(session, task, job) -> None:
    """A task was submitted and its job ID is journalled.

    :param agybatch.model.Task task: the task, with its ``label``.
    :param agybatch.model.JobStatus job: ``job.job_id`` and the first known state.
    """


@hookspec
def on_state_change(session, task, job, previous, outcome) -> None:
    """A job's state changed, or a task reached its outcome; both are journalled.

    :param agybatch.model.JobStatus job: the new state, as the backend reported it.
    :param previous: the previous :class:`~agybatch.model.JobState`, or None.
    :param outcome: the task's :class:`~agybatch.model.Outcome` once it is final,
        else None. It can differ from ``job.state``: a job cancelled at the
        deadline is ``timed_out``; a task never submitted has ``job`` None.
    """


@hookspec
def on_tick(session, records) -> None:
    """Called about once a second while the runner waits (for live progress displays).

    :param records: the runner's per-task records (read-only).
    """


@hookspec
def on_join(session, summary) -> None:
    """Every task has its outcome; the verdict is journalled.

    :param agybatch.model.RunSummary summary: plugins may fill ``log_path`` and
        ``duration_label`` of its tasks. A reporter that must see them, and must
        run even when another plugin's ``on_join`` raised, implements this hook
        with ``@hookimpl(wrapper=True)`` and reports after ``yield`` (in a
        ``finally``), as the terminal reporter does.
    """


@hookspec
def on_notify(session, notification) -> None:
    """Deliver a notification built from the verdict (called by the notify plugin).

    :param notification: the notification object the notify plugin built.
    """


@hookspec
def on_session_end(session, exit_code, error) -> None:
    """The run or join ends with ``exit_code``; release what ``on_session_start`` took.

    ``error`` is the one-line reason when it stopped on an error (exit 3 or 4), else None.
    """
