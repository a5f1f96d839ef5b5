"""Reading JSON out of a job's log: stdout and stderr interleaved, possibly cut, possibly head + tail.

Agent CLIs print their machine-readable result on stdout while progress and
diagnostics go to stderr, and agybatch keeps both in one log. These helpers
find JSON in such text without trusting the text around it:

* :func:`json_lines` reads a JSON Lines stream, one object a line, skipping
  noise lines and a last line cut in the middle;
* :func:`last_json_object` finds the final envelope of a JSON mode run, also
  when it is pretty-printed over many lines, followed by noise, or when the
  head and tail of a long log were joined by a newline in the middle of a
  string (see :meth:`agybatch.backends.Backend.read_output`).

Strings may hold raw control characters (agy 1.1.8 printed raw newlines inside
``response``), so decoding is never strict.
"""
from __future__ import annotations

import json
import re
from typing import Callable, Iterator, Optional

_DECODER = json.JSONDecoder(strict=False)
#: A line that starts (after indentation) with ``{`` or ``[``: where a JSON value may begin.
_VALUE_START = re.compile(r"^[ \t]*[{\[]", re.MULTILINE)
#: Where one string value ends and the next key starts.
_BETWEEN_VALUES = re.compile(r'(?<!\\)",\s*"')
#: How many broken escapes (an escape cut by the head + tail join) one value may have repaired.
_MAX_REPAIRS = 3


def json_lines(text: str) -> Iterator[dict]:
    """The JSON objects of ``text`` that each fill one line, in order; other lines are skipped."""
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = _DECODER.decode(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def decode_at(text: str, pos: int) -> Optional[tuple]:
    """Decode the JSON value that starts at ``text[pos]``: ``(value, end)``, or None.

    ``end`` is the offset in ``text`` just past the value. An escape sequence
    broken by a newline (what joining the head and tail of a log does to a
    string cut between ``\\`` and ``n``) is dropped, so the rest still decodes.
    """
    removed = 0
    for _ in range(_MAX_REPAIRS + 1):
        try:
            value, end = _DECODER.raw_decode(text, pos)
            return value, end + removed
        except json.JSONDecodeError as err:
            newline = text.find("\n", err.pos, err.pos + 7)
            if not err.msg.startswith("Invalid \\") or newline < 0:
                return None
            text = text[: err.pos] + text[newline:]
            removed += newline - err.pos
    return None


def last_json_object(text: str, accept: Callable[[dict], bool] = lambda obj: True) -> Optional[dict]:
    """The last JSON object in ``text`` that ``accept`` likes, or None.

    Candidates start at the beginning of a line (indentation allowed). Of the
    accepted objects the one that ends last wins, and of those the one that
    starts first, so an envelope wins over an object quoted inside it. A JSON
    array is searched for its last accepted object (``claude --verbose`` prints
    one in JSON mode).
    """
    best = None
    for match in reversed(list(_VALUE_START.finditer(text))):
        start = match.end() - 1
        decoded = decode_at(text, start)
        if decoded is None:
            continue
        value, end = decoded
        found = _accepted(value, accept)
        if found is not None and (best is None or end >= best[1]):
            best = (found, end, start)
    return best[0] if best else None


def _accepted(value, accept) -> Optional[dict]:
    if isinstance(value, dict):
        return value if accept(value) else None
    if isinstance(value, list):
        for item in reversed(value):
            if isinstance(item, dict) and accept(item):
                return item
    return None


def has_cut_json(text: str, marker: str) -> bool:
    """True if a JSON value starts in ``text`` and does not decode, and ``marker`` (e.g. a key
    only the result has) appears before the next value starts: an envelope or event cut short."""
    starts = [match.end() - 1 for match in _VALUE_START.finditer(text)]
    for start, following in zip(starts, starts[1:] + [len(text)]):
        if marker in text[start:following] and decode_at(text, start) is None:
            return True
    return False


def cut_object_end(text: str, marker: str) -> Optional[dict]:
    """The end of a JSON object whose start was cut away (as joining the head and tail of a long log
    does to an event longer than the tail): the top-level keys after the cut, or None.

    The object is the first line holding ``marker`` that ends with ``}`` but does not start a JSON
    value. A quote, a comma and a quote (spaces allowed between) occur unescaped only between
    values, so the keys after the first such boundary that lets ``{"...`` decode are the ones the
    object ended with.
    """
    for line in text.splitlines():
        line = line.strip()
        if marker not in line or not line.endswith("}") or line.startswith(("{", "[")):
            continue
        for boundary in _BETWEEN_VALUES.finditer(line):
            decoded = decode_at("{" + line[boundary.end() - 1:], 0)
            if decoded is not None and isinstance(decoded[0], dict):
                return decoded[0]
    return None


def first_text_line(text: str) -> str:
    """The first non-blank line of ``text`` (for a reason that quotes what a CLI printed)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def one_line(text, limit: int = 200) -> str:
    """``text`` on one line (whitespace runs become one space), at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def count(value) -> Optional[int]:
    """A token count as printed: an int (a whole float too), or None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def amount(value) -> Optional[float]:
    """A cost as printed: a float, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
