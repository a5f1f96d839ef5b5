"""The sink protocol, ``${VAR}`` templates and secret redaction.

A sink type is a :class:`Sink` subclass registered by name through the
``register_sinks`` hook. Users configure instances of it in ``[notify.sinks.NAME]``::

    [notify.sinks.phone]
    type = "webhook"
    url = "${NTFY_URL}"

Option values may contain ``${VAR}`` (taken from the environment when the
notification is sent; ``$$`` is a literal ``$``). The expanded values are
secrets: :meth:`Sink.redact` replaces them in any text before it is shown,
and error messages name the template (``${NTFY_URL}``), never the value.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

_TEMPLATE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|(\{[^}]*\}?))")


class SinkError(Exception):
    """A delivery failed; ``str(err)`` is one line, free of secrets."""


def template_vars(text: str) -> list:
    """The variable names ``text`` refers to; ValueError for a malformed ``${...}``."""
    names = []
    for match in _TEMPLATE.finditer(text):
        if match.group(2) is not None:
            raise ValueError(f"bad variable reference '${match.group(2)}' in {text!r}: use ${{NAME}}")
        if match.group(1):
            names.append(match.group(1))
    return names


def expand(text: str, env=None, secrets: Optional[set] = None) -> str:
    """Replace ``${VAR}`` in ``text`` from ``env`` (default ``os.environ``); ``$$`` gives ``$``.

    Every substituted value is added to ``secrets`` (when given). An unset
    variable raises :class:`SinkError` naming the variable, not a value.
    """
    env = os.environ if env is None else env

    def replace(match):
        if match.group(2) is not None:
            raise SinkError(f"bad variable reference '${match.group(2)}'")
        name = match.group(1)
        if name is None:
            return "$"
        value = env.get(name)
        if value is None:
            raise SinkError(f"${{{name}}} is not set in the environment")
        if secrets is not None and value:
            secrets.add(value)
        return value

    return _TEMPLATE.sub(replace, text)


def expand_all(value: Any, env=None, secrets: Optional[set] = None) -> Any:
    """:func:`expand` every string inside ``value`` (lists and tables included)."""
    if isinstance(value, str):
        return expand(value, env, secrets)
    if isinstance(value, list):
        return [expand_all(v, env, secrets) for v in value]
    if isinstance(value, dict):
        return {k: expand_all(v, env, secrets) for k, v in value.items()}
    return value


def check_templates(value: Any, where: str) -> None:
    """Raise ValueError for a malformed ``${...}`` anywhere in ``value``."""
    if isinstance(value, str):
        try:
            template_vars(value)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    elif isinstance(value, list):
        for item in value:
            check_templates(item, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_templates(item, f"{where}.{key}")


def missing_vars(value: Any, env=None) -> list:
    """Variables referred to in ``value`` that are not set in ``env``."""
    env = os.environ if env is None else env
    found = []
    if isinstance(value, str):
        found = [n for n in template_vars(value) if n not in env]
    elif isinstance(value, list):
        for item in value:
            found += missing_vars(item, env)
    elif isinstance(value, dict):
        for item in value.values():
            found += missing_vars(item, env)
    return found


def redact(text: str, secrets) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class SinkContext:
    """Where a sink runs: the project root, the batch folder and the state folder.

    Relative paths in sink options are taken from :attr:`project_root`.
    """

    project_root: Path
    batch_folder: Path
    state_dir: Path
    stream: Any = None


class Sink:
    """Base class and reference of a sink type.

    :cvar options: the option keys a user may set, ``name -> type`` (a type or
        a tuple of types, as for :func:`isinstance`); ``type`` itself is implied.
    :cvar required: the keys that must be given.

    Subclasses implement :meth:`send`, and may extend :meth:`validate` (run when
    the batch file is loaded, so a mistake is reported with the file name
    before anything runs, exit 4). :meth:`send` raises :class:`SinkError` (or
    any exception) when delivery fails; the notify plugin reports it by sink
    name and goes on with the next sink.
    """

    type_name = "?"
    options: dict = {}
    required: tuple = ()

    def __init__(self, name: str, options: dict, context: SinkContext, env=None) -> None:
        self.name = name
        self.raw = dict(options)
        self.context = context
        self.env = os.environ if env is None else env
        self.secrets: set = set()

    @classmethod
    def validate(cls, options: dict) -> None:
        """Check ``options`` (without ``type``); raise ValueError with a readable message."""
        import difflib

        for key in cls.required:
            if key not in options:
                raise ValueError(f"missing required key {key!r}")
        for key, value in options.items():
            if key not in cls.options:
                hint = difflib.get_close_matches(key, sorted(cls.options), n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                known = ", ".join(sorted(cls.options)) or "none"
                raise ValueError(f"unknown key {key!r}{suggestion}; {cls.type_name} sinks take: {known}")
            kind = cls.options[key]
            if isinstance(value, bool) and kind in (int, float, (int, float)):
                raise ValueError(f"{key} must be a number, got {value!r}")
            if not isinstance(value, kind):
                names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
                raise ValueError(f"{key} must be {_article(names)}, got {value!r}")
        check_templates(options, "")

    def option(self, key: str, default=None):
        """Option ``key`` with ``${VAR}`` expanded (the values are remembered as secrets)."""
        if key not in self.raw:
            return default
        return expand_all(self.raw[key], self.env, self.secrets)

    def path_option(self, key: str, default=None) -> Optional[Path]:
        """A path option: ``${VAR}`` and ``~`` expanded, relative to the project root."""
        value = self.option(key, default)
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.context.project_root / path

    def redact(self, text: str) -> str:
        """``text`` with the secrets this sink expanded replaced by ``***``."""
        return redact(str(text), self.secrets)

    def send(self, notification) -> None:
        """Deliver ``notification`` (a :class:`~agybatch.sinks.notification.Notification`)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short, secret-free description for messages, e.g. ``webhook 'phone'``."""
        return f"{self.type_name} sink {self.name!r}"


def _article(names: str) -> str:
    return ("an " if names[:1] in "aeiou" else "a ") + names
