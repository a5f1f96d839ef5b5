"""Telling a rate limit or quota refusal from other errors, and reading when it resets.

Agent CLIs word a refusal in prose, and say when it lifts in one of three
ways; :func:`reset_time` reads each and returns epoch seconds:

* an instant: ``Claude AI usage limit reached|1760000400``, a
  ``quotaResetTimeStamp`` of ``2025-12-18T20:18:34Z``;
* a delay from now: ``Your quota will reset after 8h44m7s``,
  ``Please retry in 34.07s``, ``"retryDelay": "34s"``,
  ``try again in 3 days 6 hours 57 minutes``;
* a wall-clock time: ``resets 4pm (Asia/Kuala_Lumpur)``,
  ``resets Apr 23 at 4pm (America/Recife)``, ``try again at 3:28 PM``,
  ``Try again at Aug 8th, 2026 12:30 PM``, ``Try again Aug 18.`` A time without
  a zone is local (the CLI ran on this machine). A time without a date is its
  next occurrence, counting from an hour before ``now`` (the refusal was
  printed shortly before the judgement, and a reset already past is fine: the
  retry may go at once).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

#: Words agent CLIs use when they refuse for a rate limit or a used-up quota.
RATE_LIMIT = re.compile(
    r"\b429\b|RESOURCE_EXHAUSTED|rate[ _-]?limit|too many requests|quota(?! project)|usage[ _]limit"
    r"|hit your (?:\w+ )?limit|\blimit reached|exhausted your|out of credits",
    re.IGNORECASE,
)

_EPOCH = re.compile(r"limit reached\|(\d{10})\b", re.IGNORECASE)
_ISO = re.compile(r"quotaResetTime(?:Stamp)?\W{0,4}(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)")
_GO_DURATION = re.compile(r"reset after\s+((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)", re.IGNORECASE)
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_SECONDS = re.compile(r"(?:retry|try again) in\s+(\d+(?:\.\d+)?)\s*(ms|s|secs?|seconds?)\b", re.IGNORECASE)
_RETRY_DELAY = re.compile(r"retryDelay\W{0,4}(\d+(?:\.\d+)?)(ms|s)\b")
_WORDS = re.compile(
    r"(?:try again|retry|resets?) in\s+((?:\d+\s*(?:days?|hours?|hrs?|minutes?|mins?|seconds?|secs?)[\s,]*(?:and\s+)?)+)",
    re.IGNORECASE,
)
_WORD_PART = re.compile(r"(\d+)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CLOCK = re.compile(
    r"(?:resets?|try again)\s+(?:at\s+|on\s+)?"
    r"(?:(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?"
    r"(?:,?\s+(?P<year>\d{4}))?(?:,?\s+at)?\s*)?"
    r"(?:(?P<hour>\d{1,2})(?::(?P<minute>\d\d))?\s*(?P<ampm>[ap])\.?m\.?(?![a-z]))?"
    r"(?:\s*\((?P<tz>[A-Za-z][\w+-]*(?:/[\w+-]+)*)\))?",
    re.IGNORECASE,
)
#: How far back a time without a date may lie and still be today's.
_SLACK = timedelta(hours=1)


def is_rate_limit(text: str) -> bool:
    """True if ``text`` (an error message) reads as a rate limit or quota refusal."""
    return bool(text) and bool(RATE_LIMIT.search(text))


def reset_time(text: str, now: float) -> Optional[float]:
    """When the refusal in ``text`` says the limit lifts, in epoch seconds; None if it does not say.

    ``now`` (epoch seconds) anchors delays and times without a date.
    """
    if not text:
        return None
    match = _EPOCH.search(text)
    if match:
        return float(match.group(1))
    match = _ISO.search(text)
    if match:
        return _iso(match.group(1))
    delay = _delay(text)
    if delay is not None:
        return now + delay
    for match in _CLOCK.finditer(text):
        if match.group("hour") or match.group("mon"):
            return _clock(match, now)
    return None


def _delay(text: str) -> Optional[float]:
    match = _GO_DURATION.search(text)
    if match:
        return sum(float(n) * _UNIT[unit] for n, unit in _GO_PART.findall(match.group(1)))
    match = _SECONDS.search(text) or _RETRY_DELAY.search(text)
    if match:
        return float(match.group(1)) * (0.001 if match.group(2) == "ms" else 1)
    match = _WORDS.search(text)
    if match:
        return float(sum(int(n) * _UNIT[unit.lower()] for n, unit in _WORD_PART.findall(match.group(1))))
    return None


def _iso(value: str) -> Optional[float]:
    value = value.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _clock(match, now: float) -> Optional[float]:
    zone = _zone(match.group("tz"))
    base = datetime.fromtimestamp(now, zone) if zone else datetime.fromtimestamp(now)
    hour, minute = 0, int(match.group("minute") or 0)
    if match.group("hour"):
        hour = int(match.group("hour")) % 12 + (12 if match.group("ampm").lower() == "p" else 0)
    if minute > 59:
        return None
    try:
        if match.group("mon"):
            month, day = _MONTHS.index(match.group("mon").lower()[:3]) + 1, int(match.group("day"))
            year = int(match.group("year") or base.year)
            when = base.replace(year=year, month=month, day=day, hour=hour, minute=minute, second=0, microsecond=0)
            if not match.group("year") and when < base - _SLACK:
                when = when.replace(year=year + 1)
        else:
            when = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if when < base - _SLACK:
                when += timedelta(days=1)
    except ValueError:
        return None
    return when.timestamp()


def _zone(name: Optional[str]):
    """The named IANA zone, or None (local time) for no name or one this machine does not know."""
    if not name:
        return None
    if name.upper() in ("UTC", "GMT", "Z"):
        return timezone.utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except (ImportError, ValueError, KeyError, OSError):
        return None
