"""OpenAI Codex CLI's non-interactive mode: ``codex exec --json PROMPT`` (JSON Lines on stdout).

    {"type": "thread.started", "thread_id": "01a0d699-..."}
    {"type": "turn.started"}
    {"type": "item.completed", "item": {"id": "item_6", "type": "agent_message", "text": "Done."}}
    {"type": "turn.completed", "usage": {"input_tokens": 24763, "cached_input_tokens": 24448,
                                         "output_tokens": 122, "reasoning_output_tokens": 64}}

A failed turn ends with ``{"type": "turn.failed", "error": {"message": ...}}``
(exit 1); ``{"type": "error", "message": ...}`` events report errors, some
transient (``Reconnecting... 2/5``). A used-up plan is ``You've hit your usage
limit. ... try again at 3:28 PM.`` (or ``Try again at Aug 8th, 2026 12:30 PM.``,
older ``try again in 3 days 6 hours 57 minutes``), in ``turn.failed`` or ``error``.
"""
from __future__ import annotations

from typing import Optional

from . import Judgement, ModelUsage, ResultFormat, program
from ._json import count, has_cut_json, json_lines
from ._verdict import cut_short, no_result, not_json, refused, succeeded

_TERMINAL = ("turn.completed", "turn.failed")


class CodexFormat(ResultFormat):
    """Judges ``codex exec --json`` (also ``codex exec resume ID --json``)."""

    name = "codex"

    def wants(self, argv) -> bool:
        if program(argv) != "codex":
            return False
        items = [str(item) for item in argv[1:]]
        return "exec" in items and any(flag in items[items.index("exec"):] for flag in ("--json", "--experimental-json"))

    def judge(self, output: str, exit_code: Optional[int], now: Optional[float] = None) -> Judgement:
        if not output.strip():
            return no_result("empty output", exit_code)
        events = [obj for obj in json_lines(output) if isinstance(obj.get("type"), str)]
        session_id = response = terminal = error = None
        for event in events:
            kind = event["type"]
            if kind == "thread.started" and isinstance(event.get("thread_id"), str):
                session_id = event["thread_id"]
            elif kind == "item.completed" and isinstance(event.get("item"), dict):
                item = event["item"]
                if item.get("type") == "agent_message" and isinstance(item.get("text"), str):
                    response = item["text"]
            elif kind in _TERMINAL:
                terminal = event
            elif kind == "error" and not str(event.get("message", "")).startswith("Reconnecting"):
                error = str(event.get("message") or "")
        raw_usage = terminal.get("usage") if terminal and isinstance(terminal.get("usage"), dict) else None
        found = dict(session_id=session_id, response=response, raw_usage=raw_usage,
                     usage=(_model_usage(raw_usage),) if raw_usage else ())
        if terminal is None:
            if error:
                return refused(error, now, **found)
            if has_cut_json(output, '"turn.'):
                return cut_short("the final turn event is incomplete", **found)
            if events:
                return no_result("no final result event", exit_code, **found)
            return not_json(output, exit_code, **found)
        if terminal["type"] == "turn.failed":
            failure = terminal.get("error")
            message = failure.get("message") if isinstance(failure, dict) else failure
            return refused(str(message or error or "turn failed"), now, **found)
        return succeeded(exit_code, **found)


def _model_usage(usage: dict) -> ModelUsage:
    """Codex's ``input_tokens`` includes ``cached_input_tokens`` and its ``output_tokens`` includes
    ``reasoning_output_tokens`` (OpenAI's accounting); both are subtracted. Codex prints no model
    name and no total."""
    prompt, cached = count(usage.get("input_tokens")), count(usage.get("cached_input_tokens"))
    output, reasoning = count(usage.get("output_tokens")), count(usage.get("reasoning_output_tokens"))
    if prompt is not None and cached is not None:
        prompt = max(prompt - cached, 0)
    if output is not None and reasoning is not None and reasoning <= output:
        output -= reasoning
    return ModelUsage(input_tokens=prompt, cached_input_tokens=cached, output_tokens=output,
                      thinking_tokens=reasoning)
