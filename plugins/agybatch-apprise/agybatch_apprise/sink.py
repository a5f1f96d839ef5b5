"""``apprise``: deliver the notification through Apprise to any of its 100+ services.

::

    [notify.sinks.phone]
    type = "apprise"
    urls = ["ntfys://${NTFY_TOPIC}", "mailto://${MAIL_USER}:${MAIL_PASS}@example.com"]
    format = "markdown"      # or "text"

Every URL is tried; the delivery fails (and is reported by the notify plugin)
if any of them fails. URLs hold secrets: they are taken from ``${VAR}``,
Apprise's own log lines are captured instead of printed, and anything shown
has the expanded values replaced by ``***``.
"""
from __future__ import annotations

import logging

from agybatch.sinks.base import Sink, SinkError

FORMATS = ("markdown", "text")


class AppriseSink(Sink):
    type_name = "apprise"
    options = {"urls": list, "format": str}
    required = ("urls",)

    @classmethod
    def validate(cls, options: dict) -> None:
        super().validate(options)
        urls = options["urls"]
        if not urls or not all(isinstance(u, str) and u.strip() for u in urls):
            raise ValueError('urls must be a non-empty list of Apprise URLs, e.g. ["ntfys://${NTFY_TOPIC}"]')
        if options.get("format", "markdown") not in FORMATS:
            raise ValueError(f"format must be markdown or text, got {options['format']!r}")
        import apprise

        for i, url in enumerate(urls):
            if "$" not in url and apprise.Apprise.instantiate(url) is None:
                raise ValueError(f"urls[{i}] is not a URL Apprise supports (see its wiki for the schemes)")

    def notify_type(self, notification):
        import apprise

        if notification.event == "ok":
            return apprise.NotifyType.SUCCESS
        return {"critical": apprise.NotifyType.FAILURE, "warning": apprise.NotifyType.WARNING}.get(
            notification.severity, apprise.NotifyType.INFO)

    def send(self, notification) -> None:
        import apprise

        markdown = self.raw.get("format", "markdown") == "markdown"
        body = notification.markdown if markdown else notification.text
        body_format = apprise.NotifyFormat.MARKDOWN if markdown else apprise.NotifyFormat.TEXT
        client = apprise.Apprise()
        with apprise.LogCapture(level=logging.WARNING) as captured:
            for i, template in enumerate(self.raw["urls"]):
                url = self.option("urls")[i]
                if not client.add(url):
                    raise SinkError(f"urls[{i}] ({_shown(template)}) is not a URL Apprise supports")
            delivered = client.notify(body=body, title=notification.title,
                                      notify_type=self.notify_type(notification), body_format=body_format)
            log = captured.getvalue()
        if not delivered:
            lines = [line.split(" - ", 2)[-1] for line in log.strip().splitlines() if line.strip()]
            detail = f": {self.redact(lines[-1])}" if lines else ""
            raise SinkError(f"delivery through Apprise failed for {len(self.raw['urls'])} URL(s){detail}")


def _shown(template: str) -> str:
    """The URL template if it uses ``${VAR}``, else only its scheme (URLs carry credentials)."""
    return template if "$" in template else template.split("://", 1)[0] + "://…"
