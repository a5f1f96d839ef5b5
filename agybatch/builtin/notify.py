"""Route the verdict to notification sinks (block with ``-p no:notify``).

The three tiers of the design: a wipeout (exit 1) pushes now, a partial
failure (exit 2) goes to a digest read in the morning, all ok (exit 0) sends
nothing unless ``[notify] ok`` says otherwise. ``interrupted``, ``stalled``,
``lock_held`` and ``internal_error`` are routable too (see :mod:`agybatch.sinks.routing`).

Built only on public hooks:

- ``register_tables`` claims ``[notify]``; ``register_sinks`` registers the
  built-in sink types (any plugin can register more, e.g. ``agybatch-apprise``).
- ``on_join`` is a wrapper: the notification is built *after* every other
  ``on_join`` implementation ran, so it carries the log paths and duration
  labels that ``failedlogs``, ``durations`` or any third-party plugin filled in.
  It is sent even when another ``on_join`` implementation raised.
- ``on_session_start`` is a wrapper too: a run refused by the lock (exit 6)
  is routed as ``lock_held``; ``on_session_end`` routes a run or join that
  stopped on an internal error (exit 3: the state folder or journal failed)
  as ``internal_error``.
- The notification goes out through ``on_notify``; this plugin's own
  implementation (``tryfirst``) delivers it to the configured sinks it was
  routed to, one at a time: a sink that fails is reported by name and the
  others still deliver. The exit code never changes.

``--no-notify`` sends nothing for one run; ``--notify`` sends even when the
route is empty (to every configured sink); ``--notify-to NAME[,NAME]`` sends
to exactly those sinks.
"""
from __future__ import annotations

import dataclasses
import sys

from agybatch import hookimpl
from agybatch.errors import LockHeldError, UsageError
from agybatch.manager import call_hook, registered
from agybatch.states import ExitCode


@hookimpl
def addoption(parser):
    group = parser.add_argument_group("notify") if hasattr(parser, "add_argument_group") else parser
    group.add_argument("--notify", dest="notify", action="store_const", const=True, default=None,
                       help="notify even if the verdict's route is empty (to every configured sink)")
    group.add_argument("--no-notify", dest="notify", action="store_const", const=False,
                       help="send no notification for this run")
    group.add_argument("--notify-to", dest="notify_to", metavar="SINK[,SINK]", default=None,
                       help="send the notification to these configured sinks, whatever the verdict")


@hookimpl
def register_sinks(register):
    from agybatch.sinks import BUILTIN_SINKS, LazySink

    for name in BUILTIN_SINKS:
        register(name, LazySink(name))


@hookimpl
def configure(config):
    if getattr(config.option, "command", None) in ("run", "join"):
        config.pluginmanager.register(Notifier(config), "notify.router")


class Notifier:
    """The per-command half of the plugin: it knows the plugin manager and the options."""

    def __init__(self, config) -> None:
        self.config = config
        self._types = None
        self.delivered: list = []
        self._errors: list = []

    def sink_types(self) -> dict:
        """Every registered sink type, by name (precedence as :func:`agybatch.manager.registered`)."""
        if self._types is None:
            self._types = registered(self.config.pluginmanager, "register_sinks")
        return self._types

    @hookimpl
    def register_tables(self, register):
        def validate(data):
            from agybatch.sinks.routing import parse

            parse(data, self.sink_types())

        register("notify", validate)

    # -- starting --------------------------------------------------------------

    def routing(self, session):
        from agybatch.sinks.routing import Routing, parse

        if "notify.routing" not in session.stash:
            data = session.batch.tables.get("notify")
            session.stash["notify.routing"] = Routing() if data is None else parse(data, self.sink_types())
        return session.stash["notify.routing"]

    @hookimpl(wrapper=True)
    def on_session_start(self, session):
        if session.batch.tables.get("notify") is None and getattr(self.config.option, "notify_to", None) is None:
            return (yield)  # nothing to route: no sink to check, none to tell if the lock refuses the run
        from agybatch.sinks.base import missing_vars

        try:
            routing = self.routing(session)
        except ValueError as exc:  # a join whose sink type is no longer installed
            raise UsageError(f"{session.batch.path}: [notify]: {exc}") from None
        self.forced_targets(routing)
        quiet = getattr(self.config.option, "notify", None) is False
        for name, (type_name, options) in ({} if quiet else routing.sinks).items():
            for var in dict.fromkeys(missing_vars(options)):
                self.warn(f"notify sink {name!r}: ${{{var}}} is not set in the environment; "
                          "delivery to it will fail")
        try:
            return (yield)
        except LockHeldError as exc:
            from agybatch.sinks.notification import lock_held

            self.send_alarm(session, lock_held(session.batch.name, session.run_id, str(exc)))
            raise

    def forced_targets(self, routing):
        """The sinks named by ``--notify-to``, or None; UsageError for a name not configured."""
        text = getattr(self.config.option, "notify_to", None)
        if text is None:
            return None
        names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
        unknown = [n for n in names if n not in routing.sinks]
        if unknown or not names:
            defined = ", ".join(sorted(routing.sinks)) or "none"
            raise UsageError(f"--notify-to: no sink named {(unknown or [text])[0]!r} in [notify.sinks] "
                             f"(defined: {defined})")
        return names

    def targets(self, routing, event: str, verdict: str) -> tuple:
        choice = getattr(self.config.option, "notify", None)
        forced = self.forced_targets(routing)
        if choice is False:
            return ()
        if forced is not None:
            return forced
        names = routing.targets(event, verdict)
        if not names and choice:
            names = tuple(routing.sinks)
        return names

    # -- sending -----------------------------------------------------------------

    @hookimpl(wrapper=True)
    def on_join(self, session, summary):
        try:
            return (yield)
        finally:
            try:
                self.send_join(session, summary)
            except Exception as exc:  # never let notification trouble change the verdict
                self.error(summary.plugin_errors, f"notify failed: {type(exc).__name__}: {exc}")

    def send_join(self, session, summary) -> None:
        from agybatch.sinks.notification import event_for, from_summary

        routing = self.routing(session)
        event = event_for(summary)
        names = self.targets(routing, event, summary.verdict)
        if not names:
            return
        usual = session.stash.get("durations.usual", {})
        notification = dataclasses.replace(from_summary(summary, event, usual), sinks=names)
        self.deliver(session, notification, summary.plugin_errors)

    @hookimpl
    def on_session_end(self, session, exit_code, error):
        if exit_code == ExitCode.INTERNAL_ERROR and error:
            from agybatch.sinks.notification import internal_error

            self.send_alarm(session, internal_error(session.batch.name, session.run_id, error))

    def send_alarm(self, session, notification) -> None:
        """Route a notification of a run that never got a verdict (``lock_held``, ``internal_error``)."""
        try:
            names = self.targets(self.routing(session), notification.event, notification.event)
        except (ValueError, UsageError):  # the [notify] table itself is what went wrong
            return
        if names:
            self.deliver(session, dataclasses.replace(notification, sinks=names), [])

    def deliver(self, session, notification, errors: list) -> None:
        """Call ``on_notify`` and report which of the routed sinks delivered."""
        self.delivered, self._errors = [], errors
        call_hook(self.config.pluginmanager, "on_notify", errors, session=session, notification=notification)
        if self.delivered and self.verbosity >= 0:
            self.say(f"notified: {', '.join(self.delivered)}")

    @hookimpl(tryfirst=True)
    def on_notify(self, session, notification):
        from agybatch.sinks.base import SinkContext

        routing = self.routing(session)
        context = SinkContext(project_root=session.batch.project.root, batch_folder=session.batch.folder,
                              state_dir=session.state_dir, stream=self.stream)
        errors = self._errors
        for name in notification.sinks:
            if name not in routing.sinks:
                continue
            type_name, options = routing.sinks[name]
            factory = self.sink_types().get(type_name)
            if factory is None:
                self.error(errors, f"notify sink {name!r}: sink type {type_name!r} is not registered")
                continue
            sink = None
            try:
                sink = factory(name, options, context)
                sink.send(notification)
            except Exception as exc:
                what = sink.describe() if sink is not None and hasattr(sink, "describe") else \
                    f"{type_name} sink {name!r}"
                detail = str(exc) if type(exc).__name__ == "SinkError" else f"{type(exc).__name__}: {exc}"
                if sink is not None and hasattr(sink, "redact"):
                    detail = sink.redact(detail)
                self.error(errors, f"notify: {what} failed: {detail}")
            else:
                self.delivered.append(name)

    # -- output ------------------------------------------------------------------

    @property
    def verbosity(self) -> int:
        return getattr(self.config.option, "verbose", 0)

    @property
    def stream(self):
        return sys.stderr if getattr(self.config.option, "json", False) else sys.stdout

    def say(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def warn(self, text: str) -> None:
        print(f"agybatch: warning: {text}", file=sys.stderr)

    def error(self, errors: list, text: str) -> None:
        errors.append(text)
        self.warn(text)
