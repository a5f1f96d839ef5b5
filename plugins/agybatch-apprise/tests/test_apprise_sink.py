"""The apprise sink: delivery through Apprise's json:// service to a real server on 127.0.0.1."""
from __future__ import annotations

import pytest

from tests.helpers.need import need_module

need_module("apprise", "pip install -e ./plugins/agybatch-apprise")

from agybatch.sinks.base import SinkError  # noqa: E402
from agybatch.sinks.testing import HttpReceiver, make_sink, sample_notification  # noqa: E402
from agybatch_apprise.sink import AppriseSink  # noqa: E402


def json_url(receiver, path="/agy"):
    return f"json://127.0.0.1:{receiver.port}{path}"


def test_delivers_title_body_and_type(tmp_path):
    with HttpReceiver() as receiver:
        make_sink(AppriseSink, {"urls": [json_url(receiver)]}, tmp_path).send(sample_notification("wipeout"))
    [request] = receiver.requests
    assert request.path == "/agy"
    data = request.json()
    assert data["title"].startswith("nightly: wipeout, 0 of 2 succeeded")
    assert data["type"] == "failure"
    assert "audit:internal-links (12m, failed, 3.1× usual)" in data["message"]
    assert "failed-audit_internal-links-job-2.log" in data["message"]


def test_text_format_and_every_url(tmp_path):
    with HttpReceiver() as first, HttpReceiver() as second:
        options = {"urls": [json_url(first), json_url(second, "/two")], "format": "text"}
        make_sink(AppriseSink, options, tmp_path).send(sample_notification())
    assert first.requests[0].json()["message"].startswith("batch nightly · run ")
    assert second.requests[0].path == "/two"
    assert second.requests[0].json()["type"] == "warning"


def test_urls_from_the_environment_and_failures_hide_them(tmp_path):
    with HttpReceiver(responses=[500]) as receiver:
        env = {"HOOK": f"127.0.0.1:{receiver.port}/tok-S3CRET"}
        sink = make_sink(AppriseSink, {"urls": ["json://${HOOK}"]}, tmp_path, env=env)
        with pytest.raises(SinkError) as info:
            sink.send(sample_notification())
    assert receiver.requests and receiver.requests[0].path == "/tok-S3CRET"
    assert "delivery through Apprise failed" in str(info.value)
    assert "S3CRET" not in str(info.value)


def test_bad_urls_are_refused_when_the_batch_is_loaded():
    with pytest.raises(ValueError, match=r"urls\[1\] is not a URL Apprise supports"):
        AppriseSink.validate({"urls": ["json://127.0.0.1:9/x", "nosuchservice://abc"]})
    with pytest.raises(ValueError, match="non-empty list"):
        AppriseSink.validate({"urls": []})
    AppriseSink.validate({"urls": ["${LATER}"]})  # checked when it is sent


def test_end_to_end_through_the_entry_point(project):
    """Installed with pip, the plugin is found by its entry point and configured like any sink."""
    with HttpReceiver() as receiver:
        project.batch("nightly", f"""
            [notify]
            partial = ["chat"]
            [notify.sinks.chat]
            type = "apprise"
            urls = ["json://127.0.0.1:{receiver.port}/night"]

            [[task]]
            label = "ok"
            command = ["true"]

            [[task]]
            label = "audit:internal-links"
            command = ["sh", "-c", "echo 3 broken links; exit 3"]
        """)
        plugins = project.run("plugins", "--json")
        result = project.run("run", "nightly")
        blocked = project.run("run", "-p", "no:apprise", "nightly")
    origins = {p["name"]: p["origin"] for p in plugins.json()["plugins"]}
    assert origins["apprise"].startswith("entry point (agybatch-apprise")
    assert result.code == 2, result
    assert "notified: chat" in result.out
    data = receiver.requests[0].json()
    assert "audit:internal-links (" in data["message"] and "failed)" in data["message"]
    assert blocked.code == 4
    assert "unknown sink type 'apprise'" in blocked.err
