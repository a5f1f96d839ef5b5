"""Task labels made into names that are safe as a folder and as the last part of a branch."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter

from ._git import WorktreeError, git

#: Every branch agybatch makes starts with this.
BRANCH_PREFIX = "agybatch/"

#: The longest name :func:`safe_labels` makes.
NAME_MAX = 64

_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_SUFFIX_WIDTHS = (8, 16, 32)


def safe_name(text: str) -> str:
    """``text`` made safe as one path component and one branch component.

    Letters lose their accents and are lower-cased (two labels differing only
    in case would share a folder on a case-insensitive disk); every run of other
    characters becomes one ``-``; ``..`` becomes ``.``; leading and trailing dots
    and dashes and a ``.lock`` suffix go; the result is cut to
    :data:`NAME_MAX` characters, and is ``task`` if nothing is left. The result
    passes ``git check-ref-format`` as a component and can never be ``.``,
    ``..``, an option (``-rf``) or a hidden file. It is its own safe name.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    name = _UNSAFE.sub("-", ascii_text.lower())
    name = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", ".", name))
    return _trim(name[:NAME_MAX]) or "task"


def safe_labels(labels) -> dict:
    """``{label: name}``: each label's :func:`safe_name`, unique among ``labels``.

    Labels whose safe names meet (``Fix login`` and ``fix-login``, two long
    labels that share their first 64 characters) each get a suffix made of the
    start of their label's SHA-256, so every name depends only on its label and
    on which labels it met: the same labels give the same names in any order.
    """
    labels = list(dict.fromkeys(labels))
    plain = {label: safe_name(label) for label in labels}
    uses = Counter(plain.values())
    names = {label: plain[label] if uses[plain[label]] == 1 else _suffixed(plain[label], label, _SUFFIX_WIDTHS[0])
             for label in labels}
    for width in _SUFFIX_WIDTHS[1:]:  # a suffixed name can still meet another label's plain name
        uses = Counter(names.values())
        clashing = [label for label in labels if uses[names[label]] > 1]
        if not clashing:
            break
        for label in clashing:
            names[label] = _suffixed(plain[label], label, width)
    if len(set(names.values())) != len(names):  # pragma: no cover - a SHA-256 prefix collision
        raise ValueError("labels whose names cannot be told apart")
    return names


def branch_name(batch: str, run_id: str, name: str) -> str:
    """``agybatch/<batch>/<run_id>/<name>``, the branch that keeps a task's work.

    ``batch`` and ``run_id`` are made safe with :func:`safe_name`; ``name`` must
    already be a safe name (from :func:`safe_labels`), else ``ValueError``. The
    whole name is checked with ``git check-ref-format --branch``.
    """
    if safe_name(name) != name:
        raise ValueError(f"not a safe task name: {name!r} (make names with safe_labels)")
    branch = f"{BRANCH_PREFIX}{safe_name(batch)}/{safe_name(run_id)}/{name}"
    check_branch(branch)
    return branch


def check_branch(branch: str) -> None:
    """Raise :class:`WorktreeError` unless ``git check-ref-format --branch`` accepts ``branch`` as it is."""
    proc = git("/", "check-ref-format", "--branch", branch, ok=(0, 1, 128), retry=False)
    if proc.returncode != 0 or proc.stdout.rstrip("\n") != branch:
        raise WorktreeError(f"not a valid branch name: {branch!r}", proc.stderr)


def _suffixed(name: str, label: str, width: int) -> str:
    digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:width]
    return f"{_trim(name[:NAME_MAX - width - 1])}-{digest}".lstrip("-")


def _trim(name: str) -> str:
    while True:
        trimmed = name.strip(".-")
        if trimmed.endswith(".lock"):
            trimmed = trimmed[:-len(".lock")]
        if trimmed == name:
            return name
        name = trimmed
