"""Agent jobs judged by their own results: every stand-in behaviour, through ``agybatch run``, to its
exact outcome and reason, whatever the exit code; checks; silence; quota parking; sessions."""
from __future__ import annotations

import json
import os
import signal

import pytest

from tests.agent_standins.standins import JSON_MODES, calls, standin, standin_argv, standin_env
from tests.helpers.state import journal_rows


def task(label: str, argv: list, **keys) -> str:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
    return f"[[task]]\nlabel = {json.dumps(label)}\ncommand = {json.dumps(argv)}\n{extra}"


def run_json(project, *args, state=None, **kwargs):
    result = project.run("run", *args, "--json", env=standin_env(state), **kwargs)
    return result, {t["label"]: t for t in result.json()["tasks"]} if result.out else {}


#: What each stand-in behaviour comes to, whatever the exit code: (outcome, reason or reason prefix).
JUDGED = {
    "ok": ("succeeded", None),
    "[[exit 3]]": ("failed", "exit 3 despite a success result"),
    "[[empty]]": ("failed", "no result: output is not JSON: "),
    "[[rate-limit noreset]]": ("rate_limited", "rate limited: "),
}
#: The error envelope each CLI prints for ``[[error]]``, reported as the reason.
ERRORS = {
    "agy": 'invalid model selection (--model "x"): model x is not recognized as a known model',
    "claude": 'API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
    "gemini": "FatalTurnLimitedError: Reached max session turns for this session.",
    "codex": "stream disconnected before completion: error sending request for url "
             "(https://chatgpt.com/backend-api/codex/responses)",
}
CUT = {"json": "result cut short: the result ", "stream-json": "no result: no final result event",
       "jsonl": "no result: no final result event"}


@pytest.mark.parametrize("cli", ["agy", "claude", "gemini", "codex"])
def test_each_cli_is_judged_by_its_result_not_its_exit_code(project, cli):
    modes = [mode for c, mode in JSON_MODES if c == cli]
    tasks = []
    for mode in modes:
        for token in (*JUDGED, "[[error]]", "[[cut]]"):
            tasks.append(task(f"{mode} {token}", standin_argv(cli, mode, f"work {'' if token == 'ok' else token}")))
    project.batch("agents", "[batch]\nquota_retries = 0\nmax_parallel = 6\n" + "".join(tasks))
    result, tasks = run_json(project, "agents")
    assert result.code == 2, result
    for mode in modes:
        for token, (outcome, reason) in {**JUDGED, "[[error]]": ("failed", ERRORS[cli]),
                                         "[[cut]]": ("failed", CUT[mode])}.items():
            got = tasks[f"{mode} {token}"]
            assert got["outcome"] == outcome, got
            if reason is None:
                assert got["reason"] is None and got["result_reason"] is None, got
            else:
                assert got["reason"].startswith(reason), got
                assert got["result_reason"] == got["reason"], got
            assert got["exit_code"] == (3 if token == "[[exit 3]]" else 0), got
    ok = tasks[f"{modes[0]} ok"]
    assert ok["session_id"] and ok["response_excerpt"] == f"OK from the {cli} stand-in."


def test_plain_runs_and_result_exit_code_are_judged_by_the_exit_code(project):
    error = "work [[error]]"
    project.batch("plain", "".join([
        # the CLI in text mode: nothing to parse, so never a guess
        task("text mode", [standin("claude"), "-p", error]),
        # a recognised agent in JSON mode, told to go by its exit code
        task("exit-code", standin_argv("claude", "json", error), result="exit-code"),
        # a command auto does not recognise, told which format to read
        task("forced", ["sh", "-c", f'exec "$0" -p --output-format json "{error}"', standin("claude")],
             result="claude"),
        task("shell", "echo done"),
    ]))
    result, tasks = run_json(project, "plain")
    assert {label: t["outcome"] for label, t in tasks.items()} == {
        "text mode": "succeeded", "exit-code": "succeeded", "forced": "failed", "shell": "succeeded"}, result
    assert tasks["forced"]["reason"] == ERRORS["claude"]
    assert tasks["text mode"]["session_id"] is None and tasks["exit-code"]["result_reason"] is None


def test_a_long_response_is_excerpted(project):
    project.batch("long", task("big", standin_argv("agy", "json", "write [[big 5000]]")))
    result, tasks = run_json(project, "long")
    assert result.code == 0, result
    excerpt = tasks["big"]["response_excerpt"]
    assert len(excerpt) == 500 and excerpt == excerpt.lstrip()


def test_a_check_passes_with_the_response_or_fails_the_task_with_its_output_kept(project, tmp_path):
    seen = tmp_path / "seen.txt"
    say = standin_argv("claude", "json", "fix [[say all_links_fixed]]")
    project.batch("checked", "".join([
        task("passes", say, check=["sh", "-c", f'cp "$AGYBATCH_OUTPUT" {seen} && grep -q "links fixed" "$0"'
                                   ' "$AGYBATCH_OUTPUT"']),
        task("fails", say, check='echo "2 links still broken"; exit 1'),
        task("slow", say, check=["sleep", "30"], check_timeout="1s"),
        task("never run", standin_argv("claude", "json", "fix [[error]]"), check=["touch", str(tmp_path / "ran")]),
    ]))
    result, tasks = run_json(project, "checked")
    assert {label: (t["outcome"], t["reason"]) for label, t in tasks.items()} == {
        "passes": ("succeeded", None),
        "fails": ("failed", "check failed: exit 1"),
        "slow": ("failed", "check timed out after 1.0s"),
        "never run": ("failed", ERRORS["claude"]),
    }, result
    assert seen.read_text() == "all links fixed"  # AGYBATCH_OUTPUT holds the agent's response text
    assert not (tmp_path / "ran").exists()  # a failed job is never checked
    failed_log = open(tasks["fails"]["log_path"]).read()
    assert "2 links still broken" in failed_log


def test_a_check_that_passes_keeps_the_success_and_a_failed_check_is_retried(project, tmp_path):
    flag = tmp_path / "second"
    project.batch("retry", task("fix", standin_argv("claude", "json", "fix"), retries=1, retry_backoff="0s",
                                check=["sh", "-c", f'test -e {flag} || {{ touch {flag}; exit 1; }}']))
    result, tasks = run_json(project, "retry")
    assert result.code == 0, result
    assert tasks["fix"]["attempts"] == 2 and tasks["fix"]["outcome"] == "succeeded"


def test_silence_ends_a_hung_agent_while_a_talkative_one_runs_on(project):
    project.batch("quiet", '[batch]\nidle_timeout = "2s"\n' + "".join([
        task("hung", standin_argv("gemini", "stream-json", "go [[hang]]")),
        task("talkative", standin_argv("gemini", "stream-json", "go [[tick 0.5 x8]]")),
        task("slow but bounded", ["sleep", "30"], timeout="2s", idle_timeout="1m"),
    ]))
    result, tasks = run_json(project, "quiet")
    assert {label: (t["outcome"], t["reason"]) for label, t in tasks.items()} == {
        "hung": ("timed_out", "no output for 2.0s"),
        "talkative": ("succeeded", None),
        "slow but bounded": ("timed_out", "timed out after 2s"),
    }, result


def test_a_rate_limited_task_is_parked_until_the_reset_then_continues_its_session(project, tmp_path):
    argv = standin_argv("agy", "json", "report [[rate-limit-then-ok 1 in=2]]", "--conversation",
                        "{previous_session}")
    project.batch("quota", task("report", argv, retries=0))
    result, tasks = run_json(project, "quota", state=tmp_path)
    assert result.code == 0, result
    report = tasks["report"]
    assert report["outcome"] == "succeeded" and report["attempts"] == 2
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == 2
    assert "--conversation" not in calls[0]["argv"]  # the first attempt had no session to continue
    first_session = calls[0]["session_id"]
    assert calls[1]["argv"][-2:] == ["--conversation", first_session]
    assert report["session_id"] == first_session  # the resumed session reports the same ID
    assert calls[1]["time"] - calls[0]["time"] >= 2.0  # resubmitted at the reset the CLI reported
    parks = journal_rows(project.state, "SELECT detail FROM events WHERE kind='park'")
    assert len(parks) == 1 and parks[0][0].startswith("attempt 1 rate limited; resubmitting in 2.0s (wait 1 of 3)")


def test_quota_wait_doubles_does_not_spend_retries_and_gives_up_as_rate_limited(project, tmp_path):
    noreset = "[[rate-limit-then-ok 9 noreset]]"
    project.batch("quota", "[batch]\nquota_wait = \"1s\"\nquota_retries = 2\nretries = 5\n"
                  + task("never", standin_argv("claude", "json", f"go {noreset}"))
                  + task("fine", ["true"]))
    result, tasks = run_json(project, "quota", state=tmp_path)
    assert result.code == 2, result
    never = tasks["never"]
    assert never["outcome"] == "rate_limited" and never["attempts"] == 3  # 1 + 2 parks, retries untouched
    assert never["reason"] == "rate limited: API Error: Rate limit reached"
    times = [json.loads(line)["time"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 2.0
    assert "1 rate limited" in project.run("report").out
    rerun = project.run("run", "quota", "--lf", "--co", "--json").json()
    assert [t["label"] for t in rerun["tasks"]] == ["never"]


def test_a_park_past_the_deadline_ends_the_task_rate_limited(project, tmp_path):
    project.batch("late", "[batch]\ndeadline = \"3s\"\n"
                  + task("late", standin_argv("gemini", "json", "go [[rate-limit in=60]]")))
    result, tasks = run_json(project, "late", state=tmp_path)
    assert result.code == 1, result
    assert tasks["late"]["outcome"] == "rate_limited" and tasks["late"]["attempts"] == 1


@pytest.mark.parametrize("batch, line, message", [
    ('[[task]]\nlabel = "a"\ncommand = ["true"]\nresult = "claud"\n', 4,
     "task 'a': result 'claud' is not a result format (known: auto, exit-code, agy, claude, codex, gemini)"),
    ('[[task]]\nlabel = "a"\ncommand = ["true"]\ncheck = ["pytest", 3]\n', 4,
     "task 'a': check must be a non-empty list of strings; item 2 is int 3"),
    ('[batch]\nquota_retries = -1\n[[task]]\nlabel = "a"\ncommand = ["true"]\n', 2,
     "[batch]: quota_retries must be a whole number >= 0, got -1"),
    ('[batch]\nbackend = "deaf"\n[[task]]\nlabel = "a"\ncommand = ["true"]\nidle_timeout = "1m"\n', 6,
     "task 'a': idle_timeout needs a backend that can read job output; the deaf backend cannot"),
])
def test_bad_agent_keys_exit_4_naming_file_line_and_key(project, batch, line, message):
    folder = project.batch("bad", batch, **{"batchconf.py": DEAF_BACKEND})
    result = project.run("run", "bad")
    assert result.code == 4, result
    assert result.err == f"agybatch: error: {folder / 'batch.toml'}:{line}: {message}\n"
    assert not project.state.joinpath("jobs").exists()  # nothing was submitted


DEAF_BACKEND = '''
from agybatch import hookimpl
from agybatch.backends.local import LocalBackend


class Deaf(LocalBackend):
    name = "deaf"
    watches_output = False


@hookimpl
def register_backends(register):
    register("deaf", Deaf)
'''


def events(project, kind: str) -> list:
    return journal_rows(project.state, "SELECT label, detail FROM events WHERE kind=?", (kind,))


def test_sigkill_during_a_check_then_join_runs_only_the_check_again(project, wait, tmp_path):
    gate, ledger = tmp_path / "gate", tmp_path / "checks.txt"
    check = f'echo checked >> {ledger}; while [ ! -e {gate} ]; do sleep 0.05; done'
    project.batch("b", task("fix", standin_argv("claude", "json", "fix"), check=check))
    runner = project.spawn("run", "b", "-q", env=standin_env(tmp_path))
    wait(lambda: ledger.exists(), what="the check running")
    assert journal_rows(project.state, "SELECT phase FROM tasks") == [("checking",)]
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    joiner = project.spawn("join", "--json", env=standin_env(tmp_path))
    wait(lambda: ledger.read_text().count("checked") == 2, what="join running the check again")
    gate.touch()
    out, _ = joiner.communicate(timeout=60)
    assert joiner.returncode == 0, out
    assert json.loads(out)["tasks"][0]["outcome"] == "succeeded"
    assert len(calls(tmp_path)) == 1  # the agent ran once; only its check ran twice
    assert [label for label, _ in events(project, "check")] == ["fix", "fix"]


def test_sigkill_during_a_quota_park_then_join_resubmits_once_after_the_reset(project, wait, tmp_path):
    prompt = "go [[rate-limit-then-ok 1 in=3]]"
    project.batch("b", task("report", standin_argv("agy", "json", prompt), retries=0))
    runner = project.spawn("run", "b", "-q", env=standin_env(tmp_path))
    wait(lambda: events(project, "park"), what="the task parked for quota")
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    assert len(calls(tmp_path)) == 1
    result = project.run("join", "--json", env=standin_env(tmp_path))
    assert result.code == 0, result
    report = result.json()["tasks"][0]
    assert report["outcome"] == "succeeded" and report["attempts"] == 2
    first, second = calls(tmp_path)
    assert second["time"] - first["time"] >= 3.0  # the park's time survived the crash


def test_sigkill_during_a_silent_hang_then_join_still_ends_it(project, wait, tmp_path):
    project.batch("b", '[batch]\nidle_timeout = "2s"\n'
                  + task("stuck", standin_argv("codex", "jsonl", "go [[hang]]")))
    runner = project.spawn("run", "b", "-q", env=standin_env(tmp_path))
    wait(lambda: calls(tmp_path), what="the agent started")
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    result = project.run("join", "--json", env=standin_env(tmp_path))
    assert result.code == 1, result
    stuck = result.json()["tasks"][0]
    assert (stuck["outcome"], stuck["reason"]) == ("timed_out", "no output for 2.0s")
    assert stuck["session_id"]  # the thread it started is known, for a retry to continue


def test_the_agy_backend_judges_the_envelopes_its_jobs_print(project, agy):
    project.batch("b", '[batch]\nbackend = "agy"\nquota_retries = 0\n\n'
                  + "".join(f'[[task]]\nlabel = "{name}"\nprompt = "{prompt}"\n' for name, prompt in (
                      ("plain", "say=done"),
                      ("plain failure", "exit=3"),
                      ("ok", "say=done envelope=ok"),
                      ("error", "envelope=error"),
                      ("quota", "envelope=quota"))))
    result = project.run("run", "b", "--json")
    assert result.code == 2, result
    got = {t["label"]: (t["outcome"], t["reason"]) for t in result.json()["tasks"]}
    assert got == {
        "plain": ("succeeded", None),               # no envelope: judged by the exit code
        "plain failure": ("failed", None),
        "ok": ("succeeded", None),
        "error": ("failed", "Error: invalid model selection"),
        "quota": ("rate_limited", "rate limited: API call failed after 3 retries: HTTP 429: RESOURCE_EXHAUSTED: "
                                  "You have exhausted your capacity on this model. Your quota will reset after 1m30s."),
    }


def test_the_html_report_names_rate_limited_tasks(project, tmp_path):
    project.batch("q", '[batch]\nquota_retries = 0\n'
                  + task("refused", standin_argv("claude", "json", "go [[rate-limit noreset]]")))
    html = tmp_path / "r.html"
    result = project.run("run", "q", "--html", html)
    assert result.code == 1, result
    row = next(line for line in html.read_text().splitlines() if "refused" in line and "<tr" in line)
    assert 'data-outcome="rate_limited"' in row and "rate limited" in row and "unsettled" not in row


def test_sigkill_after_a_silence_stop_then_join_keeps_the_silence_as_the_reason(project, wait, tmp_path):
    gate = tmp_path / "gate"
    slow_to_stop = f"trap 'while [ ! -e {gate} ]; do sleep 0.05; done; exit 143' TERM; echo started; sleep 60 & wait"
    project.batch("b", '[batch]\nidle_timeout = "1s"\n' + task("stuck", ["sh", "-c", slow_to_stop]))
    runner = project.spawn("run", "b", "-q")
    wait(lambda: events(project, "stop"), what="the silence stop journalled")
    os.kill(runner.pid, signal.SIGKILL)  # the job is still stopping: its end is not journalled
    assert runner.wait() == -signal.SIGKILL
    gate.touch()
    result = project.run("join", "--json")
    stuck = result.json()["tasks"][0]
    assert (stuck["outcome"], stuck["reason"]) == ("timed_out", "no output for 1.0s"), result


def test_a_retry_reports_its_own_session_and_response(project, tmp_path):
    flaky = tmp_path / "flaky"
    flaky.write_text('#!/bin/sh\nif [ -e "$0.ran" ]; then exit 0; fi\ntouch "$0.ran"\n'
                     'echo \'{"type":"result","subtype":"success","is_error":false,"result":"I did it",'
                     '"session_id":"sess-1"}\'\nexit 3\n')
    flaky.chmod(0o755)
    project.batch("b", task("flaky", [str(flaky), "-p", "--output-format", "json", "x"], result="claude", retries=1,
                            retry_backoff="0s"))
    result, tasks = run_json(project, "b")
    got = tasks["flaky"]
    assert got["attempts"] == 2 and got["outcome"] == "failed", result
    assert (got["session_id"], got["response_excerpt"], got["reason"]) == (None, None, "no result: empty output")
