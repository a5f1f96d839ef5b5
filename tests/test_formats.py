"""The result formats judge real runs of the agent CLI stand-ins: outcome, reason, session, usage.

Every run is a real process with stdout and stderr in one log file, as the
local backend keeps them; tests/agent_standins/README.md lists the tokens.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from agybatch.formats import ModelUsage
from agybatch.model import Outcome
from tests.agent_standins.standins import JSON_MODES, calls, formats, judge

FORMATS = formats()

RESPONSE = "OK from the {} stand-in."
#: One output mode per CLI, for what the formats handle alike in every mode.
ONE_MODE_EACH = (("agy", "json"), ("claude", "stream-json"), ("gemini", "json"), ("codex", "jsonl"))


@pytest.fixture
def state(tmp_path):
    path = tmp_path / "state"
    path.mkdir()
    return path




def test_the_agents_plugin_registers_the_four_formats():
    assert sorted(FORMATS) == ["agy", "claude", "codex", "gemini"]
    assert all(FORMATS[name].name == name for name in FORMATS)


def test_registering_imports_no_format_module():
    code = ("import sys; from agybatch.builtin.agents import register_result_formats as r; r(lambda n, f: None); "
            "print(sorted(m for m in sys.modules if m.startswith('agybatch.formats')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # a run without agent tasks never imports a format, nor their package


# -- success and usage ------------------------------------------------------------------


def default_usage(cli, mode):
    """The stand-ins' default usage (in=100 cached=0 out=20 think=0) as each format reports it."""
    if cli == "agy":
        return ModelUsage("gemini-3-flash-high" if mode == "stream-json" else None, 100, 0, 20, 0, 120)
    if cli == "claude":
        return ModelUsage("claude-sonnet-4-5", 100, 0, 20, None, None, 0.0123)
    if cli == "gemini":
        return ModelUsage("gemini-2.5-pro", 100, 0, 20, 0 if mode == "json" else None, 120)
    return ModelUsage(None, 100, 0, 20, 0, None)


@pytest.mark.parametrize("cli,mode", JSON_MODES)
def test_a_success_is_succeeded_with_session_response_and_usage(cli, mode, tmp_path, state):
    verdict, output, code = judge(cli, mode, "summarise the repo", tmp_path, state=state)
    assert code == 0
    assert (verdict.outcome, verdict.reason) == (Outcome.SUCCEEDED, None)
    assert verdict.response == RESPONSE.format(cli)
    assert verdict.session_id == calls(state)[0]["session_id"]
    assert verdict.usage == (default_usage(cli, mode),)
    assert verdict.raw_usage and verdict.retry_at is None


def usage_token(cli, mode):
    """[[usage in=1200 cached=300 out=450 think=80]] as each format reports it."""
    return {
        ("agy", "json"): ModelUsage(None, 1200, 300, 450, 80, 2030),
        ("agy", "stream-json"): ModelUsage("gemini-3-flash-high", 1200, 300, 450, 80, 2030),
        # claude counts no thinking apart: it is billed as output
        ("claude", "json"): ModelUsage("claude-sonnet-4-5", 1200, 300, 530, None, None, 0.0123),
        ("claude", "stream-json"): ModelUsage("claude-sonnet-4-5", 1200, 300, 530, None, None, 0.0123),
        ("gemini", "json"): ModelUsage("gemini-2.5-pro", 1200, 300, 450, 80, 2030),
        # gemini's stream-json stats have no thoughts count
        ("gemini", "stream-json"): ModelUsage("gemini-2.5-pro", 1200, 300, 450, None, 2030),
        ("codex", "jsonl"): ModelUsage(None, 1200, 300, 450, 80, None),
    }[cli, mode]


@pytest.mark.parametrize("cli,mode", JSON_MODES)
def test_usage_is_normalised_to_uncached_input_and_visible_output(cli, mode, tmp_path):
    verdict, _, _ = judge(cli, mode, "go [[usage in=1200 cached=300 out=450 think=80]]", tmp_path)
    assert verdict.usage == (usage_token(cli, mode),)


@pytest.mark.parametrize("cli,mode", JSON_MODES)
def test_a_count_the_cli_does_not_print_is_none_not_zero(cli, mode, tmp_path):
    verdict, _, _ = judge(cli, mode, "go [[usage in=10 out=5]]", tmp_path)
    (usage,) = verdict.usage
    assert (usage.input_tokens, usage.output_tokens) == (10, 5)
    assert (usage.cached_input_tokens, usage.thinking_tokens) == (None, None)


@pytest.mark.parametrize("cli,mode", JSON_MODES)
def test_a_run_without_usage_reports_none(cli, mode, tmp_path):
    verdict, _, _ = judge(cli, mode, "go [[usage none]]", tmp_path)
    assert verdict.outcome is Outcome.SUCCEEDED
    assert (verdict.usage, verdict.raw_usage) == ((), None)


def test_claude_cache_writes_count_as_uncached_input(tmp_path):
    verdict, output, _ = judge("claude", "json", "go [[usage in=1000 cached=500 out=10 create=400]]", tmp_path)
    assert '"input_tokens": 600' in output and '"cache_creation_input_tokens": 400' in output
    assert verdict.usage[0].input_tokens == 1000


@pytest.mark.parametrize("mode", ["json", "stream-json"])
def test_gemini_reports_each_model_of_a_run(mode, tmp_path):
    verdict, _, _ = judge("gemini", mode, "go [[models gemini-2.5-pro,gemini-2.5-flash]] [[usage in=7 cached=3 out=2]]",
                          tmp_path)
    assert [(u.model, u.input_tokens, u.cached_input_tokens, u.output_tokens) for u in verdict.usage] == [
        ("gemini-2.5-pro", 7, 3, 2), ("gemini-2.5-flash", 7, 3, 2)]


@pytest.mark.parametrize("mode", ["json", "stream-json"])
def test_claude_puts_each_models_own_cost_on_it(mode, tmp_path):
    verdict, output, _ = judge("claude", mode, "go [[models claude-opus-4-1,claude-haiku-4-5]] [[cost 0.25]]", tmp_path)
    assert '"total_cost_usd": 0.5' in output
    assert [(u.model, u.cost_usd) for u in verdict.usage] == [("claude-opus-4-1", 0.25), ("claude-haiku-4-5", 0.25)]


@pytest.mark.parametrize("cli,mode", [("agy", "stream-json"), ("claude", "json"), ("gemini", "json")])
def test_the_model_comes_from_the_model_flag(cli, mode, tmp_path):
    flag = "-m" if cli == "gemini" else "--model"
    verdict, _, _ = judge(cli, mode, "go", tmp_path, flag, "some-model-7")
    assert verdict.usage[0].model == "some-model-7"


# -- failures ------------------------------------------------------------------------------

ERRORS = {
    "agy": 'invalid model selection (--model "x"): model x is not recognized as a known model',
    "claude": 'API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
    "gemini": "FatalTurnLimitedError: Reached max session turns for this session. Increase the number of turns by "
              "specifying maxSessionTurns in settings.json.",
    "codex": "stream disconnected before completion: error sending request for url "
             "(https://chatgpt.com/backend-api/codex/responses)",
}


@pytest.mark.parametrize("cli,mode", JSON_MODES)
def test_an_error_result_with_exit_0_fails_with_the_clis_message(cli, mode, tmp_path, state):
    verdict, _, code = judge(cli, mode, "go [[error]]", tmp_path, state=state)
    assert code == 0
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILED, ERRORS[cli])
    assert verdict.session_id == calls(state)[0]["session_id"]


@pytest.mark.parametrize("cli,mode", ONE_MODE_EACH)
def test_empty_output_with_exit_0_is_no_result(cli, mode, tmp_path):
    verdict, output, code = judge(cli, mode, "go [[empty]]", tmp_path)
    assert code == 0 and output.strip()  # stderr noise only
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILED, "no result: output is not JSON: " +
                                                 output.splitlines()[0].strip()[:120])


@pytest.mark.parametrize("cli", ["agy", "claude", "gemini", "codex"])
def test_nothing_at_all_is_no_result_empty_output(cli):
    assert FORMATS[cli].judge("", 0).reason == "no result: empty output"
    assert FORMATS[cli].judge(" \n", 143).reason == "no result: empty output (exit 143)"


@pytest.mark.parametrize("cli,mode,reason", [
    ("agy", "json", "result cut short: the result envelope is incomplete"),
    ("claude", "json", "result cut short: the result message is incomplete"),
    ("gemini", "json", "result cut short: the result envelope is incomplete"),
    ("agy", "stream-json", "no result: no final result event"),
    ("claude", "stream-json", "no result: no final result event"),
    ("gemini", "stream-json", "no result: no final result event"),
    ("codex", "jsonl", "no result: no final result event"),
])
def test_output_cut_in_the_middle_fails(cli, mode, reason, tmp_path, state):
    verdict, _, code = judge(cli, mode, "go [[cut]]", tmp_path, state=state)
    assert code == 0
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILED, reason)
    if mode != "json":  # a stream told its session before it was cut
        assert verdict.session_id == calls(state)[0]["session_id"]


@pytest.mark.parametrize("cli,mode", ONE_MODE_EACH)
def test_a_success_result_with_a_nonzero_exit_fails(cli, mode, tmp_path):
    verdict, _, code = judge(cli, mode, "go [[exit 3]]", tmp_path)
    assert code == 3
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILED, "exit 3 despite a success result")
    assert verdict.response == RESPONSE.format(cli) and verdict.usage == (default_usage(cli, mode),)


def test_agy_print_timeout_is_a_result_cut_short(tmp_path):
    verdict, _, code = judge("agy", "json", "go [[print-timeout]]", tmp_path, "--print-timeout", "30s")
    assert code == 0
    assert (verdict.outcome, verdict.reason) == (
        Outcome.FAILED, "result cut short: print timeout after 30s with turn in progress")
    assert verdict.response == "OK from the "
    assert verdict.usage == (ModelUsage(None, 0, 0, 0, 0, 0),)


def test_agy_denied_tool_with_an_empty_response_is_no_result(tmp_path):
    verdict, _, _ = judge("agy", "stream-json", "go [[denied]]", tmp_path)
    assert verdict.outcome is Outcome.FAILED
    assert verdict.reason.startswith('no result: a tool required the "write_file" permission that headless mode')


def test_claude_max_turns_fails_naming_the_subtype(tmp_path):
    verdict, _, _ = judge("claude", "json", "go [[max-turns]]", tmp_path)
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILED, "error_max_turns after 3 turns")
