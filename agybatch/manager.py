"""Building the plugin manager: built-ins, entry points, ``-p``, project and batch plugins.

Nothing here runs at import time: :func:`build_manager` does the work when a
command needs it.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
from pathlib import Path

import pluggy

from . import hookspecs
from .errors import AgybatchError, UsageError

ENTRY_POINT_GROUP = "agybatch"
LOCAL_PLUGIN_FILE = "batchconf.py"

#: Built-in plugins, by the short name ``-p no:NAME`` blocks.
BUILTIN_PLUGINS = {
    "backends": "agybatch.builtin.backends",
    "agents": "agybatch.builtin.agents",
    "lock": "agybatch.builtin.lock",
    "terminal": "agybatch.builtin.terminal",
    "failedlogs": "agybatch.builtin.failedlogs",
    "durations": "agybatch.builtin.durations",
    "notify": "agybatch.builtin.notify",
    "reports": "agybatch.builtin.reports",
}


def build_manager(specs=(), project_plugins=(), batch_folder: Path | None = None):
    """Return ``(pluginmanager, origins)``; ``origins`` maps plugin names to where they came from.

    ``specs`` are ``-p`` values: a module, an entry-point name, or ``no:NAME``
    to block a plugin (built-ins included).
    """
    pm = pluggy.PluginManager("agybatch")
    pm.add_hookspecs(hookspecs)
    origins: dict[str, str] = {}
    wanted = []
    for spec in specs:
        if spec.startswith("no:"):
            pm.set_blocked(spec[3:])
        else:
            wanted.append(spec)
    for name, module in BUILTIN_PLUGINS.items():
        if not pm.is_blocked(name):
            pm.register(importlib.import_module(module), name)
            origins[name] = "builtin"
    entry_points = _entry_points()
    if not os.environ.get("AGYBATCH_DISABLE_PLUGIN_AUTOLOAD"):
        for ep in entry_points.values():
            _load_entry_point(pm, ep, origins)
    env_plugins = [p.strip() for p in os.environ.get("AGYBATCH_LOAD_PLUGINS", "").split(",") if p.strip()]
    for spec in (*env_plugins, *project_plugins, *wanted):
        if pm.is_blocked(spec) or pm.has_plugin(spec):
            continue
        if spec in entry_points:
            _load_entry_point(pm, entry_points[spec], origins)
        else:
            _register_module(pm, spec, origins)
    if batch_folder is not None:
        local = batch_folder / LOCAL_PLUGIN_FILE
        if local.is_file() and not pm.is_blocked("batchconf"):
            _register_file(pm, local, origins)
    return pm, origins


def _entry_points() -> dict:
    from .entrypoints import entry_points

    return {ep.name: ep for ep in entry_points(ENTRY_POINT_GROUP)}


def _load_entry_point(pm, ep, origins) -> None:
    if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
        return
    try:
        plugin = ep.load()
    except Exception as exc:
        raise UsageError(f"cannot load plugin {ep.name!r} (entry point {ep.value}): {_brief(exc)}") from None
    pm.register(plugin, ep.name)
    dist = getattr(ep, "dist", None)
    where = f"{dist.name} {dist.version}" if dist is not None else ep.value
    origins[ep.name] = f"entry point ({where})"


def _register_module(pm, name: str, origins) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise UsageError(f"unknown plugin {name!r}: no such module or entry point") from None
        raise UsageError(f"cannot load plugin {name!r}: {_brief(exc)}") from None
    except Exception as exc:
        raise UsageError(f"cannot load plugin {name!r}: {_brief(exc)}") from None
    pm.register(module, name)
    origins[name] = f"module ({getattr(module, '__file__', name)})"


class _NoBytecodeLoader(importlib.machinery.SourceFileLoader):
    """Loads ``batchconf.py`` without writing ``__pycache__`` into the batch folder (modules it imports
    are cached as usual)."""

    def set_data(self, path, data, *, _mode=0o666) -> None:
        pass


def _register_file(pm, path: Path, origins) -> None:
    module_name = f"agybatch_batchconf_{abs(hash(str(path)))}"
    loader = _NoBytecodeLoader(module_name, str(path))
    spec = importlib.util.spec_from_file_location(module_name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        line = _line_in(exc, path)
        raise UsageError(f"{path}{':' + str(line) if line else ''}: plugin failed to load: {_brief(exc)}") from None
    sys.modules[module_name] = module
    pm.register(module, "batchconf")
    origins["batchconf"] = f"local ({path})"


def _line_in(exc: BaseException, path: Path):
    if isinstance(exc, SyntaxError) and exc.filename == str(path):
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(path):
            line = frame.lineno
    return line


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def failure(hook, name: str, exc: BaseException) -> str:
    """The one line that reports a plugin's exception: ``plugin 'x' failed in on_join: KeyError: 'y'``."""
    return f"plugin {culprit(hook, exc)!r} failed in {name}: {_brief(exc)}"


def call_hook(pm, name: str, errors: list | None = None, **kwargs):
    """Call hook ``name``; a plugin that raises is reported by name instead of ending the run.

    :class:`~agybatch.errors.AgybatchError` propagates (a plugin's deliberate
    refusal). Any other exception becomes the one line of :func:`failure`,
    appended to ``errors`` when given and printed on stderr.
    """
    hook = getattr(pm.hook, name)
    try:
        return hook(**kwargs)
    except AgybatchError:
        raise
    except Exception as exc:
        message = failure(hook, name, exc)
        if errors is not None:
            errors.append(message)
        print(f"agybatch: warning: {message}", file=sys.stderr)
        return None


def call_strict(pm, name: str, historic: bool = False, **kwargs):
    """Call hook ``name`` where nothing is sound after a failure (``addoption``, ``configure``,
    ``on_session_start``, the ``register_*`` hooks): a plugin's exception becomes an
    :class:`~agybatch.errors.AgybatchError` (exit 3) with the one line of :func:`failure`."""
    hook = getattr(pm.hook, name)
    try:
        return hook.call_historic(kwargs=kwargs) if historic else hook(**kwargs)
    except AgybatchError:
        raise
    except Exception as exc:
        raise AgybatchError(failure(hook, name, exc)) from None


def registered(pm, hook_name: str) -> dict:
    """Call a ``register_*`` hook and return what was registered, by name.

    Precedence: pluggy calls the plugins registered last first, and the first
    registration of a name wins, so a plugin overrides a built-in of the same
    name, ``-p`` and ``AGYBATCH_LOAD_PLUGINS`` override entry points, and a
    batch folder's ``batchconf.py`` overrides everything.
    """
    found: dict = {}

    def register(name, value=None):
        found.setdefault(name, value)

    call_strict(pm, hook_name, register=register)
    return found


def load(factory):
    """A registered factory itself: a ``"package.module:Class"`` path is imported (UsageError if it
    cannot be), anything else is returned as it is."""
    if not isinstance(factory, str):
        return factory
    module, _, name = factory.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot load {factory!r}: {_brief(exc)}") from None


def culprit(hook, exc: BaseException) -> str:
    """The name of the plugin whose hook implementation raised ``exc``."""
    codes = {impl.function.__code__: impl.plugin_name for impl in hook.get_hookimpls()
             if hasattr(impl.function, "__code__")}
    found = "unknown"
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if frame.f_code in codes:
            found = codes[frame.f_code]
    return found
