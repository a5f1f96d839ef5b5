"""Command templates: fill ``{name}`` placeholders of a list ``command`` from the task's fields.

For CLIs without detached jobs (an agy with only ``agy -p TEXT``, or any
other tool)::

    [batch]
    vars = { model = "gemini-3.5-flash" }

    [[task]]
    label = "article-a"
    command = ["agy", "-p", "{prompt}", "--model", "{model}"]
    prompt = "generate article: antigravity cli async jobs"

A task uses templating when it has template fields: backend string fields
such as ``prompt`` and ``model``, a ``vars`` table, or ``[batch] vars``.
Names resolve in this order (later wins): ``label``, ``[batch] vars``, the
task's ``vars``, the task's own fields. Each value replaces its placeholder
*inside one argv item*: it is never split, never re-expanded, never seen by a
shell. ``{{name}}`` writes a literal ``{name}``; braces around anything that
is not a name (``{'a': 1}``) stay as they are. Tasks without template fields
are left untouched. A string command (run by ``/bin/sh -c``) cannot use
placeholders, since the values would pass through a shell.

``{previous_session}`` is filled when each attempt is submitted, not when
the batch loads: on a retry (or a resubmission after a rate limit) it is the
agent session ID the previous attempt reported, and on a first attempt it is
empty::

    command = ["claude", "-p", "{prompt}", "--output-format", "json", "--resume", "{previous_session}"]

**The empty-item rule.** An argv item that is exactly ``{previous_session}``
and expands to the empty string (a first attempt) is dropped, together with
the item before it when that one is a flag (starts with ``-``). So the first
attempt above runs ``claude -p PROMPT --output-format json`` and a retry adds
``--resume ID``. An item with other text around it (``--resume={previous_session}``)
is kept, empty value and all; other placeholders are filled as they are,
empty or not, as they always were.
"""
from __future__ import annotations

import dataclasses
import re

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(r"\{\{(" + _NAME + r")\}\}|\{(" + _NAME + r")\}")
#: Placeholders filled at submission; until then each stands in the argv as its marker.
DEFERRED = ("previous_session",)
_MARK = "\ue000{}\ue000"


def check_vars(value, where: str) -> dict:
    """Validate a ``vars`` table; raise ValueError naming ``where``."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} vars must be a table of strings, e.g. vars = {{ model = \"x\" }}")
    for key, item in value.items():
        if not re.fullmatch(_NAME, key):
            raise ValueError(f"{where} vars: {key!r} is not a name (letters, digits, '_')")
        if not isinstance(item, str):
            raise ValueError(f"{where} vars: {key} must be a string, got {type(item).__name__}")
    return dict(value)


def fill(item: str, fields: dict) -> str:
    """``item`` with every ``{name}`` replaced; KeyError names the first unknown placeholder."""

    def replace(match):
        if match.group(1) is not None:
            return "{" + match.group(1) + "}"
        return fields[match.group(2)]

    return _PLACEHOLDER.sub(replace, item)


def submit_argv(command, previous_session: str | None) -> tuple:
    """The argv of one attempt: each ``{previous_session}`` filled (empty on a first attempt)."""
    if not isinstance(command, tuple):
        return command
    marks = {_MARK.format(name): name for name in DEFERRED}
    if not any(mark in item for item in command for mark in marks):
        return command
    values = {"previous_session": previous_session or ""}
    argv: list = []
    for item in command:
        value = item
        for mark, name in marks.items():
            value = value.replace(mark, values[name])
        if value == "" and item in marks:
            if argv and argv[-1].startswith("-"):
                argv.pop()
            continue
        argv.append(value)
    return tuple(argv)


def apply_templates(check, tasks: tuple, raw_tasks: list, batch_vars) -> tuple:
    """Return ``tasks`` with list commands filled from their fields (see the module docstring).

    ``check`` is the batch file's checker: every problem is reported with the
    file, the task and the key, before anything runs.
    """
    try:
        defaults = check_vars(batch_vars, "[batch]")
    except ValueError as exc:
        check.fail("[batch]", str(exc).replace("[batch] ", ""), "vars")
    filled = []
    for index, (task, raw) in enumerate(zip(tasks, raw_tasks)):
        where = f"task {task.label!r}"
        try:
            own = check_vars(raw.get("vars", {}), "")
        except ValueError as exc:
            check.fail(where, str(exc).strip(), "vars", index)
        own_fields = {k: v for k, v in task.options.items() if isinstance(v, str)}
        deferred = any(f"{{{n}}}" in item for n in DEFERRED
                       for item in (task.command if isinstance(task.command, tuple) else (task.command or "",)))
        if not (defaults or own or own_fields or deferred) or task.command is None:
            filled.append(task)
            continue
        fields = {"label": task.label, **defaults, **own, **own_fields,
                  **{name: _MARK.format(name) for name in DEFERRED}}
        if isinstance(task.command, str):
            used = [m.group(2) for m in _PLACEHOLDER.finditer(task.command)
                    if m.group(2) in fields or m.group(2) in DEFERRED]
            if used:
                check.fail(where, f"placeholder {{{used[0]}}} needs a list command: a string command runs "
                                  "through /bin/sh, where values could be read as shell syntax", "command", index)
            filled.append(task)
            continue
        try:
            command = tuple(fill(item, fields) for item in task.command)
        except KeyError as exc:
            known = ", ".join(sorted(fields))  # includes the ones filled at submission
            check.fail(where, f"command has unknown placeholder {{{exc.args[0]}}} (known: {known}; "
                              f"write {{{{{exc.args[0]}}}}} for a literal {{{exc.args[0]}}})", "command", index)
        filled.append(dataclasses.replace(task, command=command))
    return tuple(filled)
