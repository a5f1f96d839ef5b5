"""Verdict routing end to end: the real CLI, a real webhook receiver, a real digest file."""
from __future__ import annotations

import json
import signal

import pytest

from agybatch.sinks.testing import HttpReceiver
from tests.helpers.state import submitted

ROUTING = """
    [notify]
    wipeout = ["phone"]
    partial = ["digest"]
    ok = []
    [notify.sinks.phone]
    type = "webhook"
    url = "${NTFY_URL}"
    [notify.sinks.digest]
    type = "digest"
    path = "night/digest.md"
"""

OK = """
    [[task]]
    label = "generate:article-a"
    command = ["true"]
"""
BAD = """
    [[task]]
    label = "audit:internal-links"
    command = ["sh", "-c", "echo checking links; echo 3 broken links >&2; exit 3"]
"""
SLOW_TIMEOUT = """
    [[task]]
    label = "translate:stuck-call"
    command = ["sleep", "30"]
    timeout = "1s"
"""


@pytest.fixture
def receiver():
    with HttpReceiver() as server:
        yield server


def run(project, receiver, *args):
    return project.run("run", "nightly", *args, env={"NTFY_URL": receiver.url("/agy-night")})


def test_partial_goes_to_the_digest_with_failures_durations_and_logs(project, receiver):
    project.batch("nightly", ROUTING + OK + BAD + SLOW_TIMEOUT)
    result = run(project, receiver, "--json")
    assert result.code == 2, result
    digest = (project.root / "night" / "digest.md").read_text()
    assert "nightly: partial, 1 of 3 succeeded; 1 failed, 1 timed out" in digest
    assert "- `audit:internal-links (" in digest and ", failed)`: exit 3" in digest
    assert "- `translate:stuck-call (1." in digest and ", timed out)`" in digest
    tasks = {t["label"]: t for t in result.json()["tasks"]}
    for label in ("audit:internal-links", "translate:stuck-call"):
        assert f"log: `{tasks[label]['log_path']}`" in digest
        assert f"`{tasks[label]['duration_label']}`" in digest
    assert "generate:article-a" not in digest
    assert receiver.requests == []
    assert "notified: digest" in result.err  # --json: the terminal talks on stderr


def test_wipeout_pushes_to_the_webhook(project, receiver):
    project.batch("nightly", ROUTING + BAD)
    result = run(project, receiver)
    assert result.code == 1, result
    [request] = receiver.wait(1)
    data = request.json()
    assert data["event"] == "wipeout" and data["severity"] == "critical"
    assert data["failures"][0]["label"] == "audit:internal-links"
    assert data["failures"][0]["log_path"].endswith(".log")
    assert data["summary"]["exit_code"] == 1
    assert not (project.root / "night").exists()
    assert "notified: phone" in result.out


def test_all_ok_sends_nothing(project, receiver):
    project.batch("nightly", ROUTING + OK)
    result = run(project, receiver)
    assert result.code == 0, result
    assert receiver.requests == []
    assert not (project.root / "night").exists()
    assert "notified" not in result.out


def test_no_notify_table_means_no_notification(project):
    project.batch("nightly", BAD)
    result = project.run("run", "nightly")
    assert result.code == 1, result
    assert "notified" not in result.out and "warning" not in result.err


def test_a_failing_sink_is_reported_and_the_others_still_deliver(project, receiver):
    project.batch("nightly", ROUTING.replace('partial = ["digest"]', 'partial = ["phone", "digest"]')
                  + OK + BAD)
    result = project.run("run", "nightly", "--json", env={"NTFY_URL": "http://127.0.0.1:9/nobody-listens"})
    assert result.code == 2, result
    assert "notify: webhook sink 'phone' failed: POST to ${NTFY_URL} failed after 2 attempts" in result.err
    assert (project.root / "night" / "digest.md").is_file()
    errors = result.json()["plugin_errors"]
    assert len(errors) == 1 and "sink 'phone'" in errors[0]
    assert "nobody-listens" not in result.err + result.out


def test_secrets_are_never_printed_or_journalled(project):
    with HttpReceiver(responses=[500]) as server:
        secret_url = server.url("/topic-Zq8sEcReT")
        project.batch("nightly", ROUTING + BAD)
        result = project.run("run", "nightly", "-vv", "--json", env={"NTFY_URL": secret_url})
    assert result.code == 1
    assert len(server.requests) == 2
    assert "Zq8sEcReT" not in result.out + result.err
    assert "HTTP 500" in result.err
    settings = project.journal().runs()[0]["settings"]
    assert "${NTFY_URL}" in settings and "Zq8sEcReT" not in settings


def test_unset_variable_is_warned_about_at_start(project):
    project.batch("nightly", ROUTING + OK)
    result = project.run("run", "nightly")
    assert result.code == 0
    assert "notify sink 'phone': ${NTFY_URL} is not set in the environment" in result.err


def test_no_notify_flag_silences_one_run(project, receiver):
    project.batch("nightly", ROUTING + BAD)
    result = run(project, receiver, "--no-notify")
    assert result.code == 1
    assert receiver.requests == []


def test_notify_flag_sends_even_when_all_is_ok(project, receiver):
    project.batch("nightly", ROUTING + OK)
    result = run(project, receiver, "--notify")
    assert result.code == 0, result
    assert receiver.wait(1)[0].json()["event"] == "ok"
    assert "generate:article-a" not in (project.root / "night" / "digest.md").read_text()


def test_notify_to_picks_the_sinks(project, receiver):
    project.batch("nightly", ROUTING + OK + BAD)
    result = run(project, receiver, "--notify-to", "phone")
    assert result.code == 2, result
    assert receiver.wait(1)[0].json()["event"] == "partial"
    assert not (project.root / "night").exists()


def test_notify_to_an_unknown_sink_is_a_usage_error(project, receiver):
    project.batch("nightly", ROUTING + OK)
    result = run(project, receiver, "--notify-to", "pager")
    assert result.code == 4
    assert "--notify-to: no sink named 'pager'" in result.err
    assert project.journal().runs() == []


@pytest.mark.parametrize("table, message", [
    ('[notify]\npartial = ["digest"]\n', "partial: no sink named 'digest'"),
    ('[notify]\n[notify.sinks.x]\ntype = "pager"\n', "sinks.x: unknown sink type 'pager' (available: "),
    ('[notify]\n[notify.sinks.x]\ntype = "webhook"\nurl = "gopher://x"\n', "sinks.x (webhook): url must start with http://"),
    ('[notify]\npartiel = []\n', "unknown key 'partiel' (did you mean 'partial'?)"),
    ('[notify]\n[notify.sinks.x]\ntype = "digest"\n', "sinks.x (digest): missing required key 'path'"),
    ('[failedlogs]\ntail = -1\n', "[failedlogs]: tail must be a whole number >= 0"),
    ('[durations]\nfactor = 1\n', "[durations]: factor must be greater than 1"),
])
def test_bad_tables_are_usage_errors_naming_the_file(project, table, message):
    folder = project.batch("nightly", OK)
    (folder / "batch.toml").write_text(table + (folder / "batch.toml").read_text())
    result = project.run("run", "nightly")
    assert result.code == 4, result
    assert str(folder / "batch.toml") in result.err and message in result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_routing_from_tool_agybatch_defaults(project):
    (project.root / "pyproject.toml").write_text(
        '[project]\nname = "nightly"\nversion = "0"\n\n'
        '[tool.agybatch.notify]\npartial = ["digest"]\n'
        '[tool.agybatch.notify.sinks.digest]\ntype = "digest"\npath = "from-pyproject.md"\n')
    project.batch("nightly", OK + BAD)
    result = project.run("run", "nightly")
    assert result.code == 2, result
    assert "audit:internal-links" in (project.root / "from-pyproject.md").read_text()


def test_a_plugin_sink_type_is_configured_like_a_builtin(project):
    project.batch("nightly", """
        [notify]
        wipeout = ["mine"]
        [notify.sinks.mine]
        type = "jsonfile"
        file = "out.json"
    """ + BAD, **{"batchconf.py": """
        import json
        from agybatch import hookimpl
        from agybatch.sinks.base import Sink

        class JsonFileSink(Sink):
            type_name = "jsonfile"
            options = {"file": str}
            required = ("file",)

            def send(self, notification):
                self.path_option("file").write_text(json.dumps(notification.to_json()))

        @hookimpl
        def register_sinks(register):
            register("jsonfile", JsonFileSink)
    """})
    result = project.run("run", "nightly")
    assert result.code == 1, result
    data = json.loads((project.root / "out.json").read_text())
    assert data["event"] == "wipeout" and data["sinks"] == ["mine"]


def test_a_plugin_on_notify_that_raises_is_named_and_the_sinks_still_deliver(project, receiver):
    project.batch("nightly", ROUTING + BAD, **{"batchconf.py": """
        from agybatch import hookimpl

        @hookimpl
        def on_notify(notification):
            raise RuntimeError("pager down")
    """})
    result = run(project, receiver)
    assert result.code == 1, result
    assert receiver.wait(1)[0].json()["event"] == "wipeout"
    assert "plugin 'batchconf' failed in on_notify: RuntimeError: pager down" in result.err


def test_lock_held_is_routable(project, receiver, wait):
    project.batch("nightly", ROUTING.replace('ok = []', 'lock_held = ["phone"]') + """
        [[task]]
        label = "long"
        command = ["sleep", "4"]
    """)
    env = {"NTFY_URL": receiver.url("/agy-night")}
    first = project.spawn("run", "nightly", "--no-notify", env=env)
    try:
        wait(lambda: submitted(project.state) == 1, what="the first run holding the lock, its job running")
        second = project.run("run", "nightly", env=env)
        assert first.poll() is None, "the first run still held the lock"
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert second.code == 6, second
    data = receiver.wait(1)[0].json()
    assert data["event"] == "lock_held" and data["exit_code"] == 6
    assert "already running" in data["text"]


def test_interrupted_is_routable(project, receiver, wait):
    project.batch("nightly", ROUTING.replace('ok = []', 'interrupted = ["digest"]') + """
        [[task]]
        label = "long"
        command = ["sleep", "20"]
    """)
    proc = project.spawn("run", "nightly", env={"NTFY_URL": receiver.url("/x")})
    wait(lambda: submitted(project.state) == 1, what="the job running")
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out
    digest = (project.root / "night" / "digest.md").read_text()
    assert "nightly: interrupted" in digest
    assert "agybatch join" in digest
    assert receiver.requests == []
    project.run("cancel")
