"""Choosing which tasks run: ``-k EXPR``, ``--tag NAME`` and ``--lf``, pytest-style.

``-k`` matches label substrings (case-insensitive) combined with ``and``,
``or``, ``not`` and parentheses. A task selected this way brings along the
tasks it ``needs``; with ``--lf`` only the needs that did not succeed last
time come along, the others count as already satisfied.
"""
from __future__ import annotations

import re

from .errors import UsageError

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class Expression:
    """A compiled ``-k`` expression; ``expr.matches(label)``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = [m.group(1) for m in _TOKEN.finditer(text)]
        if not self.tokens:
            raise UsageError(f"-k {text!r}: empty expression")
        self.pos = 0
        self.tree = self._or()
        if self.pos != len(self.tokens):
            raise UsageError(f"-k {text!r}: unexpected {self.tokens[self.pos]!r}")

    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self):
        token = self._peek()
        if token is None:
            raise UsageError(f"-k {self.text!r}: unexpected end of expression")
        self.pos += 1
        return token

    def _or(self):
        node = self._and()
        while self._peek() == "or":
            self.pos += 1
            node = ("or", node, self._and())
        return node

    def _and(self):
        node = self._not()
        while self._peek() == "and":
            self.pos += 1
            node = ("and", node, self._not())
        return node

    def _not(self):
        token = self._take()
        if token == "not":
            return ("not", self._not())
        if token == "(":
            node = self._or()
            if self._take() != ")":
                raise UsageError(f"-k {self.text!r}: missing ')'")
            return node
        if token in ("and", "or", ")"):
            raise UsageError(f"-k {self.text!r}: unexpected {token!r}")
        return ("word", token.lower())

    def matches(self, label: str) -> bool:
        return self._eval(self.tree, label.lower())

    def _eval(self, node, label: str) -> bool:
        kind = node[0]
        if kind == "word":
            return node[1] in label
        if kind == "not":
            return not self._eval(node[1], label)
        if kind == "and":
            return self._eval(node[1], label) and self._eval(node[2], label)
        return self._eval(node[1], label) or self._eval(node[2], label)


def select(tasks, keyword: str | None = None, tags=(), last_failed: set | None = None):
    """Return ``(selected_tasks, satisfied_labels)`` in batch order.

    ``last_failed`` is the set of labels that did not succeed in the batch's
    last run (for ``--lf``); ``satisfied_labels`` are needs left out of the run
    because they already succeeded.
    """
    by_label = {t.label: t for t in tasks}
    expression = Expression(keyword) if keyword else None
    chosen = set()
    for task in tasks:
        if expression and not expression.matches(task.label):
            continue
        if tags and not set(tags) & set(task.tags):
            continue
        if last_failed is not None and task.label not in last_failed:
            continue
        chosen.add(task.label)
    satisfied = set()
    stack = list(chosen)
    while stack:
        for need in by_label[stack.pop()].needs:
            if need in chosen or need in satisfied:
                continue
            if last_failed is not None and need not in last_failed:
                satisfied.add(need)
                continue
            chosen.add(need)
            stack.append(need)
    return [t for t in tasks if t.label in chosen], satisfied
