"""The formats read what the real CLIs print: hand-written samples, noisy and long logs, ``wants()``."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agybatch.backends import OUTPUT_HEAD, OUTPUT_TAIL, Backend
from agybatch.builtin.agents import register_result_formats
from agybatch.formats import ModelUsage, last_json_object
from agybatch.formats._json import decode_at
from agybatch.formats._limits import reset_time
from agybatch.model import Outcome
from tests.agent_standins.standins import run_standin, standin_argv

FORMATS: dict = {}
register_result_formats(FORMATS.__setitem__)
FIXTURES = Path(__file__).parent / "fixtures" / "agents"
NOW = datetime(2026, 9, 1, 10, 0, tzinfo=timezone.utc).timestamp()

# -- hand-written samples of real output -----------------------------------------------------

SAMPLES = [
    ("agy/json-success-raw-newline.json", Outcome.SUCCEEDED, None, "5b0d3c8e-7f65-4c1c-9f43-1f7a9d1b2e60",
     "JSONTEST\n", [ModelUsage(None, 22565, 0, 7, 28, 22600)]),
    ("agy/stream-json-success.jsonl", Outcome.SUCCEEDED, None, "3f0c2a77-1b9e-4d51-a0f4-6a2d7c9e8b10", "hello",
     [ModelUsage("gemini-3.8-flash-high", 2305, 8113, 38, 551, 11007)]),
    ("agy/json-error.log", Outcome.FAILED, 'Error: empty prompt. Usage: agy --print "your prompt here"', None, "",
     [ModelUsage(None, 0, 0, 0, 0, 0)]),
    ("agy/json-print-timeout.log", Outcome.FAILED, "result cut short: print timeout after 8s with turn in progress",
     "e9f26852-0c4d-4b8e-9d1a-3c5f7e2b6a41", "Here is the first part of the review: the parser",
     [ModelUsage(None, 0, 0, 0, 0, 0)]),
    ("agy/stream-json-quota.jsonl", Outcome.RATE_LIMITED,
     "rate limited: API call failed after 3 retries: HTTP 429: RESOURCE_EXHAUSTED: You have exhausted your capacity "
     "on this model. Your quota will reset after 8h44m7s.", "22222222-2222-2222-2222-222222222222", "",
     [ModelUsage(None, 0, 0, 0, 0, 0)]),
    ("claude/json-success.log", Outcome.SUCCEEDED, None, "0b6f3e1c-5a2d-4c8e-9f71-2d4e6a8b0c13",
     '{"symbols":["src/router.ts::Router","src/hono-base.ts::Hono"]}',
     [ModelUsage("claude-sonnet-4-5-20250929", 34 + 7606, 6498, 776, None, None, 0.1928845)]),
    ("claude/stream-json-success.jsonl", Outcome.SUCCEEDED, None, "c716258a-1f2e-4d3c-8b4a-5e6f7a8b9c0d", "Hi!",
     [ModelUsage("claude-opus-4-1-20250805", 2 + 13628, 15410, 13, None, None, 0.1443)]),
    ("claude/json-rate-limit.json", Outcome.RATE_LIMITED, "rate limited: API Error: Rate limit reached",
     "4f5e6d7c-8b9a-4c0d-9e1f-2a3b4c5d6e7f", "API Error: Rate limit reached",
     [ModelUsage(None, 0, 0, 0, None, None, 0.0)]),
    ("claude/stream-json-rate-limit.jsonl", Outcome.RATE_LIMITED,
     "rate limited: You've hit your limit · resets 2pm (Asia/Shanghai)", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
     "You've hit your limit · resets 2pm (Asia/Shanghai)",
     [ModelUsage("claude-sonnet-4-5-20250929", 0, 0, 0, None, None, 0.0)]),
    ("claude/json-max-budget.json", Outcome.FAILED, "error_max_budget_usd: Reached maximum budget ($0.02)",
     "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6", None,
     [ModelUsage("claude-opus-4-1[1m]", 2 + 4380, 18774, 964, None, None, 0.0779)]),
    ("gemini/json-success.log", Outcome.SUCCEEDED, None, "6c1d9a2b-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
     "The main AI-generated content", [ModelUsage("gemini-2.5-pro", 24939 - 21263, 21263, 20, 154, 25113),
                                       ModelUsage("gemini-2.5-flash", 8965, 0, 10, 124, 9099)]),
    ("gemini/stream-json-success.jsonl", Outcome.SUCCEEDED, None, "6c1d0f3e-2b4a-4c5d-9e6f-7a8b9c0d1e2f",
     "Sure, there is one file: README.md.", [ModelUsage("gemini-2.5-pro", 300, 800, 134, None, 1234)]),
    ("gemini/json-quota-error.log", Outcome.RATE_LIMITED,
     "rate limited: You have exhausted your capacity on this model. Your quota will reset after 8h44m7s.",
     "d8aa9637-5046-4b24-8d84-c867cd493e11", None, []),
    ("codex/jsonl-success.jsonl", Outcome.SUCCEEDED, None, "01a0d699-1efd-7d72-b9f4-2616f4bf739a",
     "Done. I added the tests.", [ModelUsage(None, 24763 - 24448, 24448, 122 - 64, 64, None)]),
    ("codex/jsonl-usage-limit.log", Outcome.RATE_LIMITED,
     "rate limited: You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
     "https://chatgpt.com/codex/settings/usage to purchase more credits or try again in 3 days 6 hours 57…",
     "019a3c1e-77b2-7e10-9c3d-5a6b7c8d9e0f", None, []),
]
RETRY_AT = {
    "agy/stream-json-quota.jsonl": NOW + 8 * 3600 + 44 * 60 + 7,
    "claude/stream-json-rate-limit.jsonl": 1778565600,  # the rate_limit_event's resetsAt
    "gemini/json-quota-error.log": NOW + 8 * 3600 + 44 * 60 + 7,
    "codex/jsonl-usage-limit.log": NOW + 3 * 86400 + 6 * 3600 + 57 * 60,
}


@pytest.mark.parametrize("name,outcome,reason,session,response,usage", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_sample_of_real_output_is_judged(name, outcome, reason, session, response, usage):
    verdict = FORMATS[name.split("/")[0]].judge((FIXTURES / name).read_text(), 0, now=NOW)
    assert (verdict.outcome, verdict.reason, verdict.session_id) == (outcome, reason, session)
    assert verdict.response == response
    assert list(verdict.usage) == usage
    assert verdict.retry_at == RETRY_AT.get(name)
    assert "\n" not in (verdict.reason or "") and len(verdict.reason or "") <= 200


def test_every_sample_file_is_in_the_table():
    assert sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.*")) == sorted(s[0] for s in SAMPLES)


# -- noise, pretty-printing, long output -------------------------------------------------------

CLAUDE_RESULT = {"type": "result", "subtype": "success", "is_error": False, "result": "done", "session_id": "s-1",
                 "total_cost_usd": 0.5, "usage": {"input_tokens": 5, "output_tokens": 6}}


def test_a_pretty_printed_envelope_followed_by_json_noise_is_found():
    output = ("[debug] starting\n" + json.dumps(CLAUDE_RESULT, indent=2) + "\n"
              + '{"level": "info", "msg": "telemetry flushed"}\n[debug] bye\n')
    verdict = FORMATS["claude"].judge(output, 0)
    assert (verdict.outcome, verdict.session_id, verdict.response) == (Outcome.SUCCEEDED, "s-1", "done")
    assert verdict.usage == (ModelUsage(None, 5, None, 6, None, None, 0.5),)


def test_json_lines_inside_a_raw_newline_response_do_not_hide_the_envelope():
    # agy 1.1.8 left raw newlines in "response"; lines of it may start like JSON
    quoted = json.dumps('{"status": "SUCCESS"}')[1:-1]
    outer = ('{"conversation_id": "c-9", "status": "ERROR", "error": "boom", "response": "see\n{}\n[1, 2]\n'
             + quoted + '\nend"}')
    assert last_json_object(outer, lambda obj: "status" in obj)["conversation_id"] == "c-9"
    assert FORMATS["agy"].judge(outer + "\n", 0).reason == "boom"


def test_a_response_that_quotes_agys_timeout_line_is_still_a_success():
    envelope = {"conversation_id": "c-1", "status": "SUCCESS", "num_turns": 1,
                "response": "agy printed:\n[agy] print timeout after 8s with turn in progress; returning partial output"}
    assert FORMATS["agy"].judge(json.dumps(envelope) + "\n", 0).outcome is Outcome.SUCCEEDED


def test_a_long_reason_stays_one_line_of_at_most_200_characters():
    verdict = FORMATS["codex"].judge("x" * 500 + "\n" + "y" * 10, 143)
    assert verdict.reason.startswith("no result: output is not JSON: xxx") and verdict.reason.endswith(" (exit 143)")
    assert len(verdict.reason) <= 200 and "\n" not in verdict.reason


def test_claude_verbose_json_mode_prints_an_array_of_messages():
    messages = [{"type": "system", "subtype": "init", "session_id": "s-1"}, CLAUDE_RESULT]
    assert FORMATS["claude"].judge(json.dumps(messages), 0).outcome is Outcome.SUCCEEDED


class _FileBackend(Backend):
    """Backend.read_output's head + tail cut, over a file."""

    def __init__(self, path) -> None:
        self.path = path

    def logs(self, job_id, tail=None) -> str:
        return self.path.read_text()


@pytest.mark.parametrize("cli", ["agy", "claude", "gemini"])
def test_a_3_mb_response_cut_to_head_and_tail_still_reads_as_a_success(cli, tmp_path):
    output, code = run_standin(standin_argv(cli, "json", "go [[big 3000000]]"), tmp_path / "job.log")
    assert len(output) > OUTPUT_HEAD + OUTPUT_TAIL
    verdict = FORMATS[cli].judge(_FileBackend(tmp_path / "job.log").read_output("job"), code)
    assert verdict.outcome is Outcome.SUCCEEDED
    assert verdict.session_id and verdict.usage
    line = "0123456789 lorem ipsum dolor sit amet, a long response line\n"
    assert verdict.response.startswith(line * 100) and verdict.response.endswith(line[:3000000 % len(line)])
    assert len(verdict.response) < 3000000


@pytest.mark.parametrize("cli,mode", [("gemini", "stream-json"), ("codex", "jsonl")])
def test_a_3_mb_response_streamed_in_pieces_reads_as_a_success(cli, mode, tmp_path):
    output, code = run_standin(standin_argv(cli, mode, "go [[big 3000000]]"), tmp_path / "job.log")
    verdict = FORMATS[cli].judge(_FileBackend(tmp_path / "job.log").read_output("job"), code)
    assert (verdict.outcome, verdict.reason) == (Outcome.SUCCEEDED, None)


@pytest.mark.parametrize("cli", ["agy", "claude"])
def test_a_result_event_longer_than_the_kept_tail_is_cut_short_with_its_usage(cli, tmp_path):
    # agy and claude repeat the whole response in their final stream event
    argv = standin_argv(cli, "stream-json", "go [[big 3000000]] [[usage in=5 cached=1 out=2]]")
    output, code = run_standin(argv, tmp_path / "job.log")
    verdict = FORMATS[cli].judge(_FileBackend(tmp_path / "job.log").read_output("job"), code)
    assert (verdict.outcome, verdict.reason) == (
        Outcome.FAILED, "result cut short: the result event is longer than the part of the log that is read")
    assert verdict.session_id == FORMATS[cli].judge(output, code).session_id
    (usage,) = verdict.usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (5, 1, 2)


@pytest.mark.parametrize("cut_after", ["ab", "ab\\"])  # between characters, or inside an escape
def test_a_log_capped_by_max_log_size_still_reads(cut_after):
    # the local backend keeps head, a marker line and tail of a log past max_log_size
    marker = "\n[agybatch: 123456 bytes of output dropped here (max_log_size)]" + " " * 16 + "\n"
    envelope = json.dumps(dict(CLAUDE_RESULT, result="ab\ncd"))
    at = envelope.index(json.dumps("ab\ncd")) + 1 + len(cut_after)
    verdict = FORMATS["claude"].judge(envelope[:at] + marker + envelope[at:], 0)
    assert (verdict.outcome, verdict.session_id) == (Outcome.SUCCEEDED, "s-1")
    assert "bytes of output dropped here" in verdict.response


def test_a_head_and_tail_join_that_splits_an_escape_still_decodes():
    text = '{"type": "result", "result": "ab\\ncd\\nef", "session_id": "s"}'
    cut = text.index("\\n") + 1  # just after the backslash
    joined = text[:cut] + "\n" + text[cut + 1:]
    value, end = decode_at(joined, 0)
    assert value["session_id"] == "s" and end == len(joined)
    assert value["result"] == "ab\ncd\nef"


# -- reset times ------------------------------------------------------------------------------

UTC = timezone.utc


@pytest.mark.parametrize("text,expected", [
    ("Claude AI usage limit reached|1760000400", 1760000400),
    ('"quotaResetTimeStamp": "2025-12-18T20:18:34Z"', datetime(2025, 12, 18, 20, 18, 34, tzinfo=UTC).timestamp()),
    ("Your quota will reset after 8h44m7s.", NOW + 31447),
    ("Please retry in 34.5s.", NOW + 34.5),
    ('"retryDelay": "900ms"', NOW + 0.9),
    ("or try again in 3 days 6 hours 57 minutes.", NOW + 3 * 86400 + 6 * 3600 + 57 * 60),
    ("You've hit your limit · resets 4pm (Asia/Kuala_Lumpur)", datetime(2026, 9, 2, 8, 0, tzinfo=UTC).timestamp()),
    ("You've hit your limit · resets 7pm (Asia/Kuala_Lumpur)", datetime(2026, 9, 1, 11, 0, tzinfo=UTC).timestamp()),
    ("resets 3:50pm (Asia/Tokyo)", datetime(2026, 9, 2, 6, 50, tzinfo=UTC).timestamp()),
    ("resets Apr 23 at 4pm (America/Recife)", datetime(2027, 4, 23, 19, 0, tzinfo=UTC).timestamp()),
    ("Your limit will reset at 5pm (Europe/Warsaw).", datetime(2026, 9, 1, 15, 0, tzinfo=UTC).timestamp()),
    ("resets 9:30am (UTC)", datetime(2026, 9, 1, 9, 30, tzinfo=UTC).timestamp()),  # just past: still today's
    ("try again at 3:28 PM.", datetime(2026, 9, 1, 15, 28).timestamp()),  # local time
    ("Try again at Aug 8th, 2027 12:30 PM.", datetime(2027, 8, 8, 12, 30).timestamp()),
    ("You've hit your usage limit. Try again later.", None),
    ("API Error: Rate limit reached", None),
])
def test_reset_times_in_the_wordings_the_clis_use(text, expected):
    assert reset_time(text, NOW) == expected


# -- wants() ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name,argv", [
    ("agy", ["agy", "-p", "{prompt}", "--output-format", "json"]),
    ("agy", ["/home/me/.local/bin/agy", "--output-format=stream-json", "-p", "x"]),
    ("claude", ["claude", "-p", "--output-format", "stream-json", "--verbose", "x"]),
    ("claude", ["claude", "-p", "x", "--output-format=json", "--resume", "{previous_session}"]),
    ("gemini", ["gemini", "-p", "x", "-o", "json"]),
    ("gemini", ["gemini", "-p", "x", "--output-format", "stream-json"]),
    ("codex", ["codex", "exec", "--json", "x"]),
    ("codex", ["codex", "exec", "resume", "abc", "--json", "x"]),
])
def test_wants_the_cli_in_a_json_output_mode(name, argv):
    assert [n for n, f in FORMATS.items() if f.wants(tuple(argv))] == [name]


@pytest.mark.parametrize("argv", [
    ["agy", "-p", "x"],                                           # plain text
    ["agy", "-p", "x", "--output-format", "text"],
    ["claude", "-p", "x", "--output-format"],                     # flag without a value
    ["claude", "-p", "explain --output-format json"],             # only inside the prompt
    ["gemini", "-p", "x", "-m", "json"],
    ["codex", "exec", "x"],
    ["codex", "--json", "x"],                                     # no exec
    ["python", "agy", "--output-format", "json"],                 # another program
    ["my-agy", "-p", "x", "--output-format", "json"],
    "agy -p x --output-format json",                              # a shell string is never detected
    (),
])
def test_wants_nothing_else(argv):
    assert [n for n, f in FORMATS.items() if f.wants(argv if isinstance(argv, str) else tuple(argv))] == []
