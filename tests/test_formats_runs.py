"""Rate limits, resumed sessions, hangs, progress and bad flags, on real runs of the stand-ins."""
from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime, timezone

import pytest

from agybatch.model import Outcome
from tests.agent_standins.standins import NOW, calls, formats, judge, run_standin, standin, standin_argv, standin_env

FORMATS = formats()


@pytest.fixture
def state(tmp_path):
    path = tmp_path / "state"
    path.mkdir()
    return path




def whole_hour_ahead() -> int:
    return (int(time.time()) // 3600 + 2) * 3600


# -- rate limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("cli,mode", [("agy", "json"), ("agy", "stream-json"), ("gemini", "json"),
                                      ("gemini", "stream-json")])
def test_a_quota_refusal_with_a_delay_is_rate_limited_until_now_plus_the_delay(cli, mode, tmp_path):
    verdict, _, code = judge(cli, mode, "go [[rate-limit in=90]]", tmp_path)
    assert code == 0
    assert verdict.outcome is Outcome.RATE_LIMITED
    assert verdict.reason == "rate limited: " + (
        "API call failed after 3 retries: HTTP 429: RESOURCE_EXHAUSTED: " if cli == "agy" else "") + (
        "You have exhausted your capacity on this model. Your quota will reset after 1m30s.")
    assert verdict.retry_at == NOW + 90


@pytest.mark.parametrize("cli,mode", [("claude", "json"), ("claude", "stream-json"), ("codex", "jsonl")])
def test_a_rate_limit_with_a_reset_time_is_rate_limited_until_then(cli, mode, tmp_path):
    reset = whole_hour_ahead()
    verdict, _, code = judge(cli, mode, f"go [[rate-limit at={reset}]]", tmp_path, now=time.time())
    assert code == 0
    assert verdict.outcome is Outcome.RATE_LIMITED
    assert verdict.retry_at == reset
    if cli == "claude":
        when = datetime.fromtimestamp(reset, timezone.utc)
        clock = f"{when.hour % 12 or 12}{'am' if when.hour < 12 else 'pm'}"
        assert verdict.reason.startswith("rate limited: You've hit your limit · resets ")
        assert verdict.reason.endswith(f"{clock} (UTC)")
    else:
        assert verdict.reason.startswith("rate limited: You've hit your usage limit. Visit https://chatgpt.com/")


def test_codex_older_wording_try_again_in_days_hours_minutes(tmp_path):
    verdict, _, _ = judge("codex", "jsonl", "go [[rate-limit in=199980]]", tmp_path)
    assert verdict.reason.endswith("or try again in 2 days 7 hours 33 minutes.")
    assert verdict.retry_at == NOW + 199980


@pytest.mark.parametrize("cli,mode,reason", [
    ("agy", "json", "rate limited: API call failed after 3 retries: HTTP 429: RESOURCE_EXHAUSTED: Resource has been "
                    "exhausted (e.g. check quota)."),
    ("claude", "json", "rate limited: API Error: Rate limit reached"),
    ("claude", "stream-json", "rate limited: API Error: Rate limit reached"),
    ("gemini", "stream-json", "rate limited: You have exhausted your daily quota on this model."),
    ("codex", "jsonl", "rate limited: You've hit your usage limit. Visit https://chatgpt.com/codex/settings/usage to "
                       "purchase more credits or try again later."),
])
def test_a_rate_limit_without_a_reset_time_has_no_retry_at(cli, mode, reason, tmp_path):
    verdict, _, _ = judge(cli, mode, "go [[rate-limit noreset]]", tmp_path)
    assert (verdict.outcome, verdict.reason, verdict.retry_at) == (Outcome.RATE_LIMITED, reason, None)


@pytest.mark.parametrize("cli,mode", [("agy", "stream-json"), ("claude", "json"), ("gemini", "stream-json"),
                                      ("codex", "jsonl")])
def test_rate_limited_the_first_time_then_ok(cli, mode, tmp_path, state):
    prompt = "fix the bug [[rate-limit-then-ok 1]]"
    first, _, _ = judge(cli, mode, prompt, tmp_path, state=state)
    second, _, _ = judge(cli, mode, prompt, tmp_path, state=state)
    other, _, _ = judge(cli, mode, "another task [[rate-limit-then-ok 1]]", tmp_path, state=state)
    assert [first.outcome, second.outcome, other.outcome] == [
        Outcome.RATE_LIMITED, Outcome.SUCCEEDED, Outcome.RATE_LIMITED]


def test_rate_limit_then_ok_needs_the_state_folder(tmp_path):
    output, code = run_standin(standin_argv("claude", "json", "x [[rate-limit-then-ok 2]]"), tmp_path / "log")
    assert code == 2 and "AGENT_STANDIN_STATE" in output


# -- sessions and recorded calls ----------------------------------------------------------------

SESSION = "0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b"


@pytest.mark.parametrize("cli,mode,resume", [
    ("claude", "json", ["--resume", SESSION]), ("claude", "stream-json", ["-r", SESSION]),
    ("claude", "json", ["--session-id", SESSION]),
    ("gemini", "json", ["--resume", SESSION]), ("gemini", "stream-json", ["-r", SESSION]),
    ("agy", "json", ["--conversation", SESSION]), ("agy", "stream-json", ["--conversation", SESSION]),
])
def test_a_resumed_session_keeps_its_id(cli, mode, resume, tmp_path, state):
    verdict, _, _ = judge(cli, mode, "continue the work", tmp_path, *resume, state=state)
    assert verdict.session_id == SESSION
    (call,) = calls(state)
    assert call["argv"] == standin_argv(cli, mode, "continue the work", *resume)[1:]


def test_codex_exec_resume_keeps_the_thread_id(tmp_path, state):
    argv = [standin("codex"), "exec", "resume", SESSION, "--json", "continue the work"]
    output, code = run_standin(argv, tmp_path / "log", state)
    verdict = FORMATS["codex"].judge(output, code)
    assert (verdict.outcome, verdict.session_id) == (Outcome.SUCCEEDED, SESSION)
    assert calls(state)[0]["argv"] == argv[1:]


@pytest.mark.parametrize("cli,mode,again", [("claude", "json", ["--continue"]), ("agy", "json", ["-c"]),
                                            ("gemini", "json", ["--resume", "latest"])])
def test_continue_resumes_the_last_session(cli, mode, again, tmp_path, state):
    first, _, _ = judge(cli, mode, "start", tmp_path, state=state)
    second, _, _ = judge(cli, mode, "go on", tmp_path, *again, state=state)
    assert second.session_id == first.session_id
    assert [call["session_id"] for call in calls(state)] == [first.session_id] * 2


# -- processes: hang, progress, flags -----------------------------------------------------------


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("cli,mode,reason", [
    ("agy", "stream-json", "no result: no final result event (exit -15)"),
    ("claude", "json", "no result: output is not JSON: [claude] loading settings from ~/.claude/settings.json "
                       "(exit -15)"),
    ("gemini", "stream-json", "no result: no final result event (exit -15)"),
    ("codex", "jsonl", "no result: no final result event (exit -15)"),
])
def test_a_hang_dies_on_sigterm_and_is_no_result(cli, mode, reason, tmp_path, state):
    log = tmp_path / "job.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(standin_argv(cli, mode, "go [[hang]]"), stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, env=standin_env(state))
    try:
        wait_for(lambda: (state / "calls.jsonl").exists() and log.read_bytes().count(b"\n") >= (
            1 if mode == "json" else 2))
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
    finally:
        proc.kill()
    assert code == -signal.SIGTERM
    verdict = FORMATS[cli].judge(log.read_text(), code)
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILED, reason)


def test_ticks_are_progress_lines_before_the_result(tmp_path):
    verdict, output, _ = judge("claude", "json", "go [[tick 0.05 x3]]", tmp_path)
    progress = [line for line in output.splitlines() if "working..." in line]
    assert progress == [f"[claude] working... step {n}/3" for n in (1, 2, 3)]
    assert output.index("step 3/3") < output.index('"type": "result"')
    assert verdict.outcome is Outcome.SUCCEEDED


def test_sleep_delays_the_result(tmp_path):
    started = time.monotonic()
    verdict, _, _ = judge("gemini", "json", "go [[sleep 0.3]]", tmp_path)
    assert time.monotonic() - started >= 0.3
    assert verdict.outcome is Outcome.SUCCEEDED


@pytest.mark.parametrize("cli,argv,code,message", [
    ("agy", ["-p", "x", "--output-format", "json", "--bogus"], 2, "flags provided but not defined: -bogus"),
    ("claude", ["-p", "--output-format", "json", "--bogus", "x"], 1, "error: unknown option '--bogus'"),
    ("claude", ["-p", "--output-format", "stream-json", "x"], 1,
     "Error: When using --print, --output-format=stream-json requires --verbose"),
    ("gemini", ["-p", "x", "-o", "json", "--bogus"], 1, "Unknown argument: bogus"),
    ("codex", ["exec", "--json", "--bogus", "x"], 2, "error: unexpected argument '--bogus' found"),
])
def test_unknown_flags_are_refused_like_the_real_cli(cli, argv, code, message, tmp_path):
    output, exit_code = run_standin([standin(cli), *argv], tmp_path / "log")
    assert exit_code == code
    assert message in output.splitlines()
    verdict = FORMATS[cli].judge(output, exit_code)
    assert verdict.outcome is Outcome.FAILED
    assert verdict.reason.startswith("no result: output is not JSON: ")
    assert verdict.reason.endswith(f" (exit {code})")


@pytest.mark.parametrize("cli,argv", [("agy", ["-p", "hi"]), ("claude", ["-p", "hi"]), ("gemini", ["-p", "hi"]),
                                      ("codex", ["exec", "hi"])])
def test_a_plain_text_run_is_not_json(cli, argv, tmp_path):
    output, code = run_standin([standin(cli), *argv], tmp_path / "log")
    assert code == 0 and f"OK from the {cli} stand-in." in output
    assert FORMATS[cli].judge(output, code).reason.startswith("no result: output is not JSON: ")


def test_codex_writes_the_last_message_file(tmp_path):
    run_standin([standin("codex"), "exec", "--json", "-o", str(tmp_path / "last.txt"), "hi"], tmp_path / "log")
    assert (tmp_path / "last.txt").read_text() == "OK from the codex stand-in."
