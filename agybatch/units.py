"""Parsing and formatting of durations (``500ms``, ``30s``, ``1h30m``) and timestamps."""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value) -> float:
    """Return seconds for ``value``: a non-negative number, or a string like ``1h30m``.

    Raise :class:`ValueError` with a readable reason for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '30s', got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '30s', got {value!r}")
    text = value.strip().replace(" ", "")
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise ValueError(f"duration must not be negative, got {value!r}")
        return seconds
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _FACTORS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(
            f"bad duration {value!r}: use e.g. '500ms', '30s', '15m', '2h', '1h30m' or seconds"
        )
    return total


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?", re.IGNORECASE)
_SIZE_FACTORS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(value) -> int:
    """Return bytes for ``value``: a whole number of bytes, or a string like ``100MB`` or ``1.5GiB``.

    Raise :class:`ValueError` with a readable reason for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size like '100MB', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size must not be negative, got {value!r}")
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"bad size {value!r}: use e.g. '100MB', '512KiB', '1GB' or a number of bytes")
    return int(float(match.group(1)) * _SIZE_FACTORS[(match.group(2) or "b").lower()])


def format_size(size: int | None) -> str:
    """Format a byte count compactly: ``512 B``, ``1.5 kB``, ``100 MB``."""
    if size is None:
        return "?"
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} B"


def format_tokens(count: int | None) -> str:
    """A token count compactly: ``950``, ``12.3k``, ``1.9M``."""
    if count is None:
        return "?"
    for unit, factor in (("M", 10**6), ("k", 10**3)):
        if count >= factor:
            return f"{count / factor:.3g}{unit}" if count < 1000 * factor else f"{count / factor:.0f}{unit}"
    return str(count)


def format_usd(amount: float | None) -> str:
    """``$4.12``; ``$0.0031`` below a cent."""
    if amount is None:
        return "unknown"
    return f"${amount:.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.4f}"


def format_duration(seconds: float | None) -> str:
    """Format ``seconds`` compactly: ``850ms``, ``12s``, ``12m``, ``7m12s``, ``1h02m``."""
    if seconds is None:
        return "?"
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{int(seconds)}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def now() -> float:
    """Wall-clock seconds since the epoch (the one clock the journal uses)."""
    import time

    return time.time()


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC for an epoch timestamp, to the millisecond (``2026-12-04T01:02:03.456Z``), or None."""
    if ts is None:
        return None
    seconds = int(ts // 1)
    micros = round((ts - seconds) * 1_000_000)  # as datetime.fromtimestamp rounds, then isoformat cuts
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros // 1000:03d}Z"


def parse_iso(text: str | None) -> float | None:
    """Epoch seconds from ISO 8601, with or without fractions and zone (naive means UTC)."""
    if not text:
        return None
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match and match.group(2) and len(match.group(2)) > 7:
        text = match.group(1) + match.group(2)[:7] + match.group(3)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def printable(text) -> str:
    """``text`` with control characters (newlines, escapes) shown as ``\\xNN``, never interpreted."""
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 256
                        else "\\u%04x" % ord(m.group()), str(text))


def non_negative(text: str) -> int:
    """An argparse ``type`` for whole numbers >= 0 (plugins adding such options use it too)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive(text: str) -> int:
    """An argparse ``type`` for whole numbers >= 1."""
    import argparse

    value = non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def safe_name(text: str, limit: int = 80) -> str:
    """A file-name fragment for ``text``: ``[A-Za-z0-9._-]`` only, no leading dot, at most ``limit``.

    When anything had to change, a short hash of ``text`` is appended so that
    different texts keep different names.
    """
    safe = _UNSAFE.sub("_", text).strip("._-")
    safe = re.sub(r"\.{2,}", ".", safe)
    if safe and safe == text and len(safe) <= limit:
        return safe
    import hashlib

    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    safe = safe[: limit - 9].rstrip("._-")
    return f"{safe}-{digest}" if safe else digest
