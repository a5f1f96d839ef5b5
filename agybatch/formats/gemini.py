"""Gemini CLI's headless mode: ``gemini -p PROMPT --output-format json|stream-json`` (or ``-o``).

``json`` prints one pretty-printed object: ``{"session_id", "response", "stats"}`` on
success; a failure prints ``{"session_id"?, "error": {"type", "message", "code"?}}`` on
stderr and exits with the error's exit code (41 auth, 42 input, 44 sandbox,
52 config, 53 turn limit, 54 tool error, 130 cancelled, else 1).
``stats.models.<model>.tokens`` holds ``prompt`` (cached tokens included),
``candidates``, ``thoughts``, ``cached``, ``tool`` and ``total``.

``stream-json`` prints ``{"type": "init", "session_id", "model"}``, ``message``,
``tool_use``, ``tool_result`` and ``error`` events, and ends with
``{"type": "result", "status": "success"|"error", "error"?: {...}, "stats": {...}}``,
whose stats hold ``input_tokens`` (cached included), ``cached``, ``input``
(uncached), ``output_tokens`` and ``total_tokens``, in total or per model.

A quota refusal is an error of type ``TerminalQuotaError`` or
``RetryableQuotaError`` (or code 429), saying ``... Your quota will reset after
8h44m7s.`` or ``Please retry in 34.07s.``
"""
from __future__ import annotations

from typing import Optional

from . import Judgement, ModelUsage, ResultFormat, wants_json_output
from ._json import count, has_cut_json, json_lines, last_json_object
from ._verdict import cut_short, no_result, not_json, refused, succeeded

#: gemini's own exit codes (FatalError subclasses).
EXIT_CODES = {41: "authentication failed", 42: "input error", 44: "sandbox error", 52: "configuration error",
              53: "turn limit exceeded", 54: "tool execution error", 130: "cancelled"}
_EVENTS = {"init", "message", "tool_use", "tool_result", "error", "result"}
_QUOTA_ERRORS = {"TerminalQuotaError", "RetryableQuotaError"}
_ENVELOPE_KEYS = ("response", "stats", "error", "session_id")


class GeminiFormat(ResultFormat):
    """Judges ``gemini -p`` in ``--output-format``/``-o`` ``json`` or ``stream-json``."""

    name = "gemini"

    def wants(self, argv) -> bool:
        return wants_json_output(argv, "gemini", "--output-format", "-o")

    def judge(self, output: str, exit_code: Optional[int], now: Optional[float] = None) -> Judgement:
        if not output.strip():
            return no_result("empty output", exit_code, EXIT_CODES)
        run = _Run(output)
        found = dict(session_id=run.session_id, response=run.response, usage=run.usage, raw_usage=run.raw_usage)
        result = run.result
        if result is None:
            if run.fatal is not None:
                return _error(run.fatal, now, found)
            if has_cut_json(output, '"result"' if run.stream else '"response"'):
                return cut_short("the result envelope is incomplete", **found)
            if run.stream:
                return no_result("no final result event", exit_code, EXIT_CODES, **found)
            if any(True for _ in json_lines(output)):
                return no_result("no result envelope", exit_code, EXIT_CODES, **found)
            return not_json(output, exit_code, EXIT_CODES, **found)
        error = result.get("error")
        if error or result.get("status") == "error":
            return _error(error if error else {"message": "result status error"}, now, found)
        if not run.stream and not isinstance(result.get("response"), str):
            return no_result("no response in the result envelope", exit_code, EXIT_CODES, **found)
        return succeeded(exit_code, **found)


def _error(error, now, found) -> Judgement:
    if not isinstance(error, dict):
        return refused(str(error), now, **found)
    kind, message = str(error.get("type") or ""), str(error.get("message") or "")
    limited = kind in _QUOTA_ERRORS or count(error.get("code")) == 429
    return refused(message or kind, now, limited=limited, label="" if kind in ("", "Error") else kind, **found)


class _Run:
    """What gemini's output says about one run: the result, session, text and usage."""

    def __init__(self, output: str) -> None:
        events = [obj for obj in json_lines(output) if obj.get("type") in _EVENTS]
        self.stream = bool(events)
        self.session_id = self.model = self.fatal = self.result = None
        text = []
        for event in events:
            kind = event["type"]
            if kind == "init":
                self.session_id = event.get("session_id") or self.session_id
                self.model = event.get("model") if isinstance(event.get("model"), str) else self.model
            elif kind == "message" and event.get("role") == "assistant" and isinstance(event.get("content"), str):
                if not event.get("delta"):
                    text.clear()
                text.append(event["content"])
            elif kind == "error" and event.get("severity") == "error":
                self.fatal = {"message": event.get("message")}
            elif kind == "result":
                self.result = event
        if not self.stream:
            self.result = last_json_object(output, _is_envelope)
        result = self.result or {}
        if isinstance(result.get("session_id"), str) and result["session_id"]:
            self.session_id = result["session_id"]
        self.response = result["response"] if isinstance(result.get("response"), str) else ("".join(text) or None)
        stats = result.get("stats")
        self.raw_usage = stats if isinstance(stats, dict) else None
        self.usage = _usage(self.raw_usage or {}, self.model)


def _is_envelope(obj: dict) -> bool:
    return "type" not in obj and any(key in obj for key in _ENVELOPE_KEYS)


def _usage(stats: dict, model: Optional[str]) -> tuple:
    models = stats.get("models")
    if isinstance(models, dict) and models:
        return tuple(_model_usage(name, value) for name, value in models.items() if isinstance(value, dict))
    if any(key in stats for key in ("input_tokens", "output_tokens", "total_tokens")):
        return (_model_usage(model, stats),)
    return ()


def _model_usage(model: Optional[str], value: dict) -> ModelUsage:
    """JSON mode: ``tokens.prompt`` includes ``cached``, so input = prompt - cached, plus ``tool``
    (tool-use prompt tokens, reported apart from the prompt); ``candidates`` and ``thoughts`` are
    apart already. stream-json: ``input`` is the uncached part of ``input_tokens``; no thoughts."""
    tokens = value.get("tokens")
    if isinstance(tokens, dict):
        prompt, cached, tool = count(tokens.get("prompt")), count(tokens.get("cached")), count(tokens.get("tool"))
        fresh = max(prompt - (cached or 0), 0) if prompt is not None else count(tokens.get("input"))
        if fresh is not None and tool:
            fresh += tool
        return ModelUsage(model=model, input_tokens=fresh, cached_input_tokens=cached,
                          output_tokens=count(tokens.get("candidates")), thinking_tokens=count(tokens.get("thoughts")),
                          total_tokens=count(tokens.get("total")))
    prompt, cached = count(value.get("input_tokens")), count(value.get("cached"))
    fresh = count(value.get("input"))
    if fresh is None and prompt is not None:
        fresh = max(prompt - (cached or 0), 0)
    return ModelUsage(model=model, input_tokens=fresh, cached_input_tokens=cached,
                      output_tokens=count(value.get("output_tokens")), total_tokens=count(value.get("total_tokens")))
