"""``email``: send the notification over SMTP (STARTTLS, SSL or plain) with an optional login.

Options:

- ``host`` (required), ``port`` (default 587 for ``starttls``, 465 for ``ssl``, 25 for ``none``).
- ``security``: ``starttls`` (default), ``ssl`` or ``none`` (only sensible on localhost).
- ``username`` / ``password``: the login, normally ``"${SMTP_USER}"`` / ``"${SMTP_PASSWORD}"``.
- ``from`` (required) and ``to`` (required; a list of addresses).
- ``subject_prefix``: default ``"[agybatch] "``. ``timeout``: default ``"30s"``.
- ``ca_file``: a CA bundle to trust instead of the system's (a private mail relay).

The message is plain text (the notification's text body) with the Markdown
body and the JSON attached, so a mail filter can route on ``X-Agybatch-Event``.
"""
from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ..units import parse_duration
from .base import Sink, SinkError

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORT = {"starttls": 587, "ssl": 465, "none": 25}


class EmailSink(Sink):
    type_name = "email"
    options = {
        "host": str, "port": int, "security": str, "username": str, "password": str, "from": str,
        "to": list, "subject_prefix": str, "timeout": (str, int, float), "ca_file": str,
    }
    required = ("host", "from", "to")

    @classmethod
    def validate(cls, options: dict) -> None:
        super().validate(options)
        if options.get("security", "starttls") not in SECURITY:
            raise ValueError(f"security must be one of {', '.join(SECURITY)}, got {options['security']!r}")
        if not options["to"] or not all(isinstance(a, str) and a.strip() for a in options["to"]):
            raise ValueError("to must be a non-empty list of addresses")
        if ("username" in options) != ("password" in options):
            raise ValueError("give both username and password, or neither")
        if "port" in options and not 0 < options["port"] < 65536:
            raise ValueError(f"port must be 1-65535, got {options['port']}")
        if "timeout" in options and parse_duration(options["timeout"]) <= 0:
            raise ValueError("timeout must be greater than zero")

    def describe(self) -> str:
        return f"email sink {self.name!r} ({self.raw['host']})"

    def message(self, notification) -> EmailMessage:
        """The message that :meth:`send` delivers."""
        msg = EmailMessage()
        msg["Subject"] = self.option("subject_prefix", "[agybatch] ") + notification.title
        msg["From"] = self.option("from")
        msg["To"] = ", ".join(self.option("to"))
        msg["Date"] = formatdate(notification.created_at, localtime=True)
        msg["Message-ID"] = make_msgid("agybatch")
        msg["X-Agybatch-Event"] = notification.event
        msg["X-Agybatch-Severity"] = notification.severity
        msg["X-Agybatch-Run"] = notification.run_id
        if notification.severity == "critical":
            msg["X-Priority"] = "1"
        msg.set_content(notification.text)
        msg.add_attachment(notification.markdown, subtype="markdown", filename="notification.md")
        msg.add_attachment(json.dumps(notification.to_json(), indent=2), subtype="json",
                           filename="notification.json")
        return msg

    def send(self, notification) -> None:
        security = self.raw.get("security", "starttls")
        host = self.option("host")
        port = self.raw.get("port", DEFAULT_PORT[security])
        timeout = parse_duration(self.raw.get("timeout", 30))
        try:
            msg = self.message(notification)
        except ValueError as exc:  # a header the email package refuses
            raise SinkError(f"cannot build the message: {self.redact(exc)}") from None
        context = None
        if security != "none":
            context = ssl.create_default_context(cafile=self.option("ca_file"))
        try:
            if security == "ssl":
                client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                client = smtplib.SMTP(host, port, timeout=timeout)
            with client:
                if security == "starttls":
                    client.starttls(context=context)
                if "username" in self.raw:
                    client.login(self.option("username"), self.option("password"))
                refused = client.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise SinkError(f"login to {self.raw['host']}:{port} refused: {exc.smtp_code} "
                            f"{self.redact(_text(exc.smtp_error))}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise SinkError(f"{self.raw['host']}:{port}: {self.redact(exc)}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise SinkError(f"{self.raw['host']}:{port} refused every recipient "
                            f"({len(exc.recipients)})") from None
        except smtplib.SMTPResponseException as exc:
            raise SinkError(f"{self.raw['host']}:{port} answered {exc.smtp_code} "
                            f"{self.redact(_text(exc.smtp_error))}") from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise SinkError(f"cannot send through {self.raw['host']}:{port} ({security}): "
                            f"{self.redact(detail)}") from None
        if refused:
            raise SinkError(f"{self.raw['host']}:{port} refused {len(refused)} of "
                            f"{len(self.raw['to'])} recipients")


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
