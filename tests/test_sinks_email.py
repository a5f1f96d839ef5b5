"""The email sink against a real SMTP server (aiosmtpd) on 127.0.0.1: plain, STARTTLS, SSL, login."""
from __future__ import annotations

import email
import email.policy
import ssl
import subprocess

import pytest

from tests.helpers.need import need_command, need_module
from tests.helpers.net import free_port

need_module("aiosmtpd", "pip install -e '.[test]'")

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

from agybatch.sinks.base import SinkError  # noqa: E402
from agybatch.sinks.email import EmailSink  # noqa: E402
from agybatch.sinks.testing import make_sink, sample_notification  # noqa: E402


class Inbox:
    """An aiosmtpd handler that keeps every message that arrived."""

    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd naming)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() \
                and auth_data.password == password.encode():
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
    return check


@pytest.fixture
def smtp():
    """Start an SMTP server: ``smtp(**smtp_kwargs) -> (inbox, port)``; stopped after the test."""
    started = []

    def start(ssl_context=None, **kwargs):
        inbox = Inbox()
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=ssl_context,
                                server_hostname="127.0.0.1", **kwargs)
        controller.start()
        started.append(controller)
        return inbox, port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""
    need_command("openssl", "openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def server_context(certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


def test_plain_smtp_delivers_the_notification(smtp, tmp_path):
    inbox, port = smtp()
    sink = make_sink(EmailSink, {"host": "127.0.0.1", "port": port, "security": "none",
                                 "from": "agybatch@example.test", "to": ["me@example.test", "ops@example.test"]},
                     tmp_path)
    sink.send(sample_notification())
    assert len(inbox.messages) == 1
    sender, recipients, msg = inbox.messages[0]
    assert sender == "agybatch@example.test"
    assert recipients == ["me@example.test", "ops@example.test"]
    assert msg["Subject"] == "[agybatch] nightly: partial, 1 of 3 succeeded; 1 failed, 1 timed out"
    assert msg["X-Agybatch-Event"] == "partial"
    body = msg.get_body(("plain",)).get_content()
    assert "audit:internal-links (12m, failed, 3.1× usual): exit 3" in body
    assert "log: /state/runs/r/failed-audit_internal-links-job-2.log" in body
    assert "report:x (1h02m, timed out): task timeout reached" in body
    attachments = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    assert "notification.md" in attachments and "notification.json" in attachments


def test_starttls_with_login_from_the_environment(smtp, tmp_path, certificate):
    inbox, port = smtp(tls_context=server_context(certificate), require_starttls=True,
                       authenticator=authenticator("night", "s3cret-pass"), auth_required=True)
    options = {"host": "127.0.0.1", "port": port, "security": "starttls", "ca_file": str(certificate[0]),
               "username": "${SMTP_USER}", "password": "${SMTP_PASSWORD}",
               "from": "agybatch@example.test", "to": ["me@example.test"]}
    env = {"SMTP_USER": "night", "SMTP_PASSWORD": "s3cret-pass"}
    make_sink(EmailSink, options, tmp_path, env=env).send(sample_notification("wipeout"))
    assert len(inbox.messages) == 1
    msg = inbox.messages[0][2]
    assert msg["X-Agybatch-Severity"] == "critical"
    assert "nightly: wipeout" in msg["Subject"]


def test_wrong_password_fails_without_showing_it(smtp, tmp_path, certificate):
    inbox, port = smtp(tls_context=server_context(certificate), require_starttls=True,
                       authenticator=authenticator("night", "right"), auth_required=True)
    options = {"host": "127.0.0.1", "port": port, "ca_file": str(certificate[0]),
               "username": "night", "password": "${SMTP_PASSWORD}",
               "from": "a@example.test", "to": ["me@example.test"]}
    sink = make_sink(EmailSink, options, tmp_path, env={"SMTP_PASSWORD": "wrong-Pa55"})
    with pytest.raises(SinkError) as info:
        sink.send(sample_notification())
    assert "login" in str(info.value) and "refused" in str(info.value)
    assert "wrong-Pa55" not in str(info.value)
    assert inbox.messages == []


def test_implicit_ssl(smtp, tmp_path, certificate):
    inbox, port = smtp(ssl_context=server_context(certificate))
    options = {"host": "127.0.0.1", "port": port, "security": "ssl", "ca_file": str(certificate[0]),
               "from": "a@example.test", "to": ["me@example.test"]}
    make_sink(EmailSink, options, tmp_path).send(sample_notification())
    assert len(inbox.messages) == 1


def test_untrusted_certificate_is_refused(smtp, tmp_path, certificate):
    inbox, port = smtp(tls_context=server_context(certificate), require_starttls=True)
    options = {"host": "127.0.0.1", "port": port, "from": "a@example.test", "to": ["me@example.test"]}
    with pytest.raises(SinkError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
        make_sink(EmailSink, options, tmp_path).send(sample_notification())
    assert inbox.messages == []


def test_nobody_listening_is_a_clear_error(tmp_path):
    options = {"host": "127.0.0.1", "port": free_port(), "security": "none", "timeout": "5s",
               "from": "a@example.test", "to": ["me@example.test"]}
    with pytest.raises(SinkError, match=r"cannot send through 127\.0\.0\.1:\d+ \(none\): .*refused"):
        make_sink(EmailSink, options, tmp_path).send(sample_notification())


@pytest.mark.parametrize("options, message", [
    ({"host": "h", "from": "a@x", "to": []}, "to must be a non-empty list"),
    ({"host": "h", "from": "a@x", "to": ["b@x"], "security": "tls"}, "security must be one of"),
    ({"host": "h", "from": "a@x", "to": ["b@x"], "username": "u"}, "both username and password"),
    ({"host": "h", "to": ["b@x"]}, "missing required key 'from'"),
    ({"host": "h", "from": "a@x", "to": ["b@x"], "pasword": "x"}, "did you mean 'password'"),
])
def test_bad_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        EmailSink.validate(options)
