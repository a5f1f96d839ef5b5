"""The webhook sink against a real HTTP server on 127.0.0.1: formats, retry, timeout, secrets."""
from __future__ import annotations

import pytest

from agybatch.sinks.base import SinkError
from agybatch.sinks.testing import HttpReceiver, make_sink, sample_notification
from agybatch.sinks.webhook import WebhookSink


def test_json_post_carries_the_whole_notification(tmp_path):
    with HttpReceiver() as receiver:
        make_sink(WebhookSink, {"url": receiver.url("/hook")}, tmp_path).send(sample_notification("wipeout"))
    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    data = request.json()
    assert data["event"] == "wipeout" and data["severity"] == "critical" and data["exit_code"] == 1
    assert [f["duration_label"] for f in data["failures"]] == [
        "audit:internal-links (12m, failed, 3.1× usual)", "report:x (1h02m, timed out)"]
    assert data["failures"][0]["log_path"].endswith("failed-audit_internal-links-job-2.log")
    assert data["summary"]["verdict"] == "wipeout"


def test_slack_format(tmp_path):
    with HttpReceiver() as receiver:
        sink = make_sink(WebhookSink, {"url": receiver.url("/services/T/B/X"), "format": "slack"}, tmp_path)
        sink.send(sample_notification())
    data = receiver.requests[0].json()
    assert list(data) == ["text"]
    assert data["text"].startswith("*nightly: partial")
    assert "`audit:internal-links (12m, failed, 3.1× usual)`" in data["text"]


def test_ntfy_format_posts_json_to_the_server_root_with_the_topic(tmp_path):
    with HttpReceiver() as receiver:
        sink = make_sink(WebhookSink, {"url": receiver.url("/agy-night"), "format": "ntfy"}, tmp_path)
        sink.send(sample_notification("wipeout"))
    request = receiver.requests[0]
    assert request.path == "/"
    data = request.json()
    assert data["topic"] == "agy-night"
    assert data["priority"] == 5
    assert data["title"].startswith("nightly: wipeout")
    assert "report:x (1h02m, timed out)" in data["message"]


def test_url_and_headers_come_from_the_environment(tmp_path):
    with HttpReceiver() as receiver:
        env = {"HOOK_URL": receiver.url("/secret-path"), "HOOK_TOKEN": "tok-123"}
        options = {"url": "${HOOK_URL}", "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"}}
        make_sink(WebhookSink, options, tmp_path, env=env).send(sample_notification())
    assert receiver.requests[0].path == "/secret-path"
    assert receiver.requests[0].headers["Authorization"] == "Bearer tok-123"


def test_one_retry_after_a_server_error(tmp_path):
    with HttpReceiver(responses=[503, 200]) as receiver:
        make_sink(WebhookSink, {"url": receiver.url("/hook")}, tmp_path).send(sample_notification())
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body


def test_gives_up_after_the_retry_and_never_shows_the_secret_url(tmp_path):
    with HttpReceiver(responses=[500]) as receiver:
        env = {"NTFY_URL": receiver.url("/topic-s3cret")}
        sink = make_sink(WebhookSink, {"url": "${NTFY_URL}"}, tmp_path, env=env)
        with pytest.raises(SinkError) as info:
            sink.send(sample_notification())
    assert len(receiver.requests) == 2
    message = str(info.value)
    assert message == "POST to ${NTFY_URL} failed after 2 attempts: HTTP 500 Internal Server Error"
    assert "s3cret" not in message


def test_a_client_error_is_not_retried(tmp_path):
    with HttpReceiver(responses=[404]) as receiver:
        sink = make_sink(WebhookSink, {"url": receiver.url("/gone")}, tmp_path)
        with pytest.raises(SinkError, match="HTTP 404"):
            sink.send(sample_notification())
    assert len(receiver.requests) == 1


def test_a_literal_url_is_shown_without_its_path(tmp_path):
    with HttpReceiver(responses=[403]) as receiver:
        sink = make_sink(WebhookSink, {"url": receiver.url("/services/T0/B0/XXXXSECRET")}, tmp_path)
        with pytest.raises(SinkError) as info:
            sink.send(sample_notification())
    assert "XXXXSECRET" not in str(info.value)
    assert f"http://127.0.0.1:{receiver.port}/…" in str(info.value)


def test_timeout_then_retry(tmp_path):
    with HttpReceiver(delay=3) as receiver:
        sink = make_sink(WebhookSink, {"url": receiver.url("/slow"), "timeout": "300ms"}, tmp_path)
        with pytest.raises(SinkError, match="failed after 2 attempts: .*timed out"):
            sink.send(sample_notification())
    assert len(receiver.requests) == 2


def test_missing_variable_names_the_variable(tmp_path):
    sink = make_sink(WebhookSink, {"url": "${NOT_SET_ANYWHERE}"}, tmp_path, env={})
    with pytest.raises(SinkError, match=r"\$\{NOT_SET_ANYWHERE\} is not set"):
        sink.send(sample_notification())


@pytest.mark.parametrize("options, message", [
    ({"url": "ftp://example.test/x"}, "http:// or https://"),
    ({"url": "file:///etc/passwd"}, "http:// or https://"),
    ({"url": "https://x.test", "format": "teams"}, "format must be one of"),
    ({"url": "https://x.test", "timeout": "0s"}, "greater than zero"),
    ({"url": "https://x.test", "headers": {"X": "a\nb"}}, "one-line"),
    ({"url": "${UNCLOSED"}, "bad variable reference"),
    ({"uri": "https://x.test"}, "missing required key 'url'"),
])
def test_bad_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        WebhookSink.validate(options)
