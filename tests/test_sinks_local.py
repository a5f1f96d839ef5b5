"""The digest, console and command sinks, and the ${VAR} templates every sink shares."""
from __future__ import annotations

import json
import os
import stat
import sys
import threading

import pytest

from agybatch.sinks.base import SinkError, expand, redact, template_vars
from agybatch.sinks.command import CommandSink
from agybatch.sinks.console import ConsoleSink
from agybatch.sinks.digest import DigestSink
from agybatch.sinks.notification import code, printable
from agybatch.sinks.testing import make_sink, sample_notification

# -- templates --------------------------------------------------------------------


def test_expand_reads_the_environment_and_remembers_secrets():
    secrets = set()
    assert expand("Bearer ${TOKEN} for $$5 and $HOME", {"TOKEN": "abc"}, secrets) == "Bearer abc for $5 and $HOME"
    assert secrets == {"abc"}
    assert template_vars("${A}-${B_2}-$${C}") == ["A", "B_2"]
    assert redact("url https://x/abc?abc", secrets) == "url https://x/***?***"


@pytest.mark.parametrize("text", ["${", "${1X}", "${A B}", "${}"])
def test_malformed_references_are_refused(text):
    with pytest.raises(ValueError, match="bad variable reference"):
        template_vars(text)


def test_unset_variable_raises_with_its_name_only():
    with pytest.raises(SinkError, match=r"^\$\{MISSING\} is not set in the environment$"):
        expand("${MISSING}", {})


# -- digest -----------------------------------------------------------------------


def test_digest_appends_dated_sections_to_one_private_file(tmp_path):
    sink = make_sink(DigestSink, {"path": "night/digest.md"}, tmp_path)
    sink.send(sample_notification())
    sink.send(sample_notification("wipeout"))
    path = tmp_path / "night" / "digest.md"
    text = path.read_text()
    assert text.startswith("# agybatch digest\n\n## ")
    assert text.count("\n## ") == 2
    assert "nightly: partial, 1 of 3 succeeded" in text and "nightly: wipeout" in text
    assert "- `audit:internal-links (12m, failed, 3.1× usual)`: exit 3" in text
    assert "log: `/state/runs/r/failed-audit_internal-links-job-2.log`" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_digest_path_expands_variables_and_home(tmp_path):
    env = {"DIGEST_DIR": str(tmp_path / "from-env")}
    make_sink(DigestSink, {"path": "${DIGEST_DIR}/d.md"}, tmp_path, env=env).send(sample_notification())
    assert (tmp_path / "from-env" / "d.md").is_file()


def test_concurrent_appends_never_interleave(tmp_path):
    sink = make_sink(DigestSink, {"path": "d.md"}, tmp_path)
    threads = [threading.Thread(target=sink.send, args=(sample_notification(),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = (tmp_path / "d.md").read_text()
    sections = text.split("\n## ")[1:]
    assert len(sections) == 8
    assert all(s.rstrip().endswith("task timeout reached") for s in sections)


def test_digest_refuses_a_symlink_planted_at_its_path(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me\n")
    (tmp_path / "d.md").symlink_to(target)
    with pytest.raises(SinkError, match="cannot open d.md"):
        make_sink(DigestSink, {"path": "d.md"}, tmp_path).send(sample_notification())
    assert target.read_text() == "keep me\n"


# -- console ----------------------------------------------------------------------


def test_console_prints_title_and_text(tmp_path, capsys):
    make_sink(ConsoleSink, {}, tmp_path).send(sample_notification())
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "nightly: partial, 1 of 3 succeeded; 1 failed, 1 timed out"
    assert "- report:x (1h02m, timed out): task timeout reached" in out


def test_console_json_on_stderr(tmp_path, capsys):
    make_sink(ConsoleSink, {"format": "json", "stream": "stderr"}, tmp_path).send(sample_notification())
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err)["verdict"] == "partial"


# -- command ----------------------------------------------------------------------


def test_command_gets_the_notification_as_json_on_stdin(tmp_path):
    out = tmp_path / "got.json"
    argv = [sys.executable, "-c",
            "import sys, os; open(sys.argv[1], 'w').write(os.environ['AGYBATCH_EVENT'] + '\\n' + sys.stdin.read())",
            str(out)]
    make_sink(CommandSink, {"argv": argv}, tmp_path).send(sample_notification("wipeout"))
    event, payload = out.read_text().split("\n", 1)
    assert event == "wipeout"
    assert json.loads(payload)["failures"][1]["label"] == "report:x"


def test_command_is_not_run_through_a_shell(tmp_path):
    argv = ["touch", "$(touch pwned)", "a; touch pwned2"]
    make_sink(CommandSink, {"argv": argv}, tmp_path).send(sample_notification())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["$(touch pwned)", "a; touch pwned2"]


def test_command_failure_reports_status_and_last_stderr_line(tmp_path):
    argv = ["sh", "-c", "echo first >&2; echo \"token $T rejected\" >&2; exit 7"]
    sink = make_sink(CommandSink, {"argv": argv, "env": {"T": "${TOKEN}"}}, tmp_path, env={"TOKEN": "zz-secret"})
    with pytest.raises(SinkError) as info:
        sink.send(sample_notification())
    assert str(info.value) == "sh failed (exit 7): token *** rejected"


def test_command_timeout_kills_it(tmp_path):
    sink = make_sink(CommandSink, {"argv": ["sleep", "30"], "timeout": "200ms"}, tmp_path)
    with pytest.raises(SinkError, match="did not finish within 0.2s and was killed"):
        sink.send(sample_notification())


def test_missing_program(tmp_path):
    sink = make_sink(CommandSink, {"argv": ["/nonexistent/notifier"]}, tmp_path)
    with pytest.raises(SinkError, match="cannot run /nonexistent/notifier"):
        sink.send(sample_notification())


# -- rendering of hostile text ------------------------------------------------------


def test_control_characters_are_shown_not_interpreted():
    assert printable("a\x1b[2Jb\rc") == "a\\x1b[2Jb\\x0dc"
    assert code("x`y") == "``x`y``"
    assert code("`") == "`` ` ``"
    assert os.sep not in printable("ok")
