"""``webhook``: POST the notification as JSON, with a timeout and one retry.

Options:

- ``url`` (required): ``http://`` or ``https://``; usually ``"${NTFY_URL}"``.
- ``format``: ``json`` (default; the whole :meth:`Notification.to_json`),
  ``slack`` (``{"text": ...}`` for Slack-style incoming webhooks, also
  Mattermost, Rocket.Chat, Discord's ``/slack`` endpoint) or ``ntfy`` (ntfy's
  JSON publishing: ``url`` is the topic URL, e.g. ``https://ntfy.sh/mytopic``;
  critical maps to priority 5).
- ``headers``: a table of extra headers (``Authorization = "Bearer ${TOKEN}"``).
- ``timeout``: per attempt, default ``"10s"``. ``retries``: default 1.

A connection error, a timeout, HTTP 429 or a 5xx is retried once after a
second; other 4xx answers are not. Errors never show the URL's value.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from ..units import parse_duration
from .base import Sink, SinkError

FORMATS = ("json", "slack", "ntfy")
NTFY_PRIORITY = {"critical": 5, "warning": 4, "info": 3}
RETRY_DELAY = 1.0


class WebhookSink(Sink):
    type_name = "webhook"
    options = {"url": str, "format": str, "headers": dict, "timeout": (str, int, float), "retries": int}
    required = ("url",)

    @classmethod
    def validate(cls, options: dict) -> None:
        super().validate(options)
        if options.get("format", "json") not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {options['format']!r}")
        if "timeout" in options:
            if parse_duration(options["timeout"]) <= 0:
                raise ValueError("timeout must be greater than zero")
        if not 0 <= options.get("retries", 1) <= 5:
            raise ValueError("retries must be between 0 and 5")
        for key, value in options.get("headers", {}).items():
            if not isinstance(value, str) or "\n" in value or "\r" in value:
                raise ValueError(f"headers.{key} must be a one-line string")
        url = options["url"]
        if "$" not in url:
            _check_url(url)

    def send(self, notification) -> None:
        url = self.option("url")
        try:
            _check_url(url)
        except ValueError as exc:
            raise SinkError(f"url {_public(self.raw['url'])}: {self.redact(exc)}") from None
        url, body = self.payload(url, notification)
        headers = {"Content-Type": "application/json", "User-Agent": "agybatch"}
        headers.update(self.option("headers", {}))
        timeout = parse_duration(self.raw.get("timeout", 10))
        attempts = 1 + self.raw.get("retries", 1)
        for attempt in range(1, attempts + 1):
            error, retry = self._post(url, body, headers, timeout)
            if error is None:
                return
            if not retry or attempt == attempts:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise SinkError(f"POST to {_public(self.raw['url'])} failed{tries}: {self.redact(error)}")
            time.sleep(RETRY_DELAY)

    def payload(self, url: str, notification):
        """The URL to POST to and the JSON body, for the configured ``format``."""
        fmt = self.raw.get("format", "json")
        if fmt == "slack":
            data = {"text": f"*{notification.title}*\n{notification.markdown}"}
        elif fmt == "ntfy":
            parts = urllib.parse.urlsplit(url)
            base, _, topic = parts.path.rstrip("/").rpartition("/")
            if not topic:
                raise SinkError(f"url {_public(self.raw['url'])}: ntfy needs the topic URL, e.g. https://ntfy.sh/TOPIC")
            url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, base + "/", parts.query, ""))
            data = {"topic": topic, "title": notification.title, "message": notification.text,
                    "priority": NTFY_PRIORITY.get(notification.severity, 3),
                    "tags": [notification.event], "markdown": False}
        else:
            data = notification.to_json()
        return url, json.dumps(data).encode("utf-8")

    def _post(self, url, body, headers, timeout):
        """One attempt: ``(None, _)`` on success, else ``(error text, retry?)``."""
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read(65536)
            return None, False
        except urllib.error.HTTPError as exc:
            retry = exc.code == 429 or exc.code >= 500
            return f"HTTP {exc.code} {exc.reason}", retry
        except urllib.error.URLError as exc:
            reason = exc.reason
            return f"{getattr(reason, 'strerror', None) or reason}", True
        except (TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else f"timed out after {timeout:g}s", True
        except Exception as exc:  # http.client errors: bad status line, remote closed...
            return f"{type(exc).__name__}: {exc}", True


def _check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("url must start with http:// or https:// and name a host")


def _public(template: str) -> str:
    """A URL safe to print: the template when it uses ``${VAR}``, else scheme and host only."""
    if "$" in template:
        return template
    try:
        parts = urllib.parse.urlsplit(template)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a malformed URL)"
    return f"{parts.scheme}://{host}{port}/…" if parts.path.strip("/") or parts.query else f"{parts.scheme}://{host}{port}"
