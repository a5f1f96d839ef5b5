"""Claude Code's print mode: ``claude -p PROMPT --output-format json|stream-json``.

Both modes end with a result message (``stream-json`` needs ``--verbose``)::

    {"type": "result", "subtype": "success", "is_error": false, "duration_ms": 11419,
     "num_turns": 3, "result": "...", "session_id": "...", "total_cost_usd": 0.19,
     "usage": {"input_tokens": 34, "cache_creation_input_tokens": 7606,
               "cache_read_input_tokens": 6498, "output_tokens": 776},
     "modelUsage": {"claude-sonnet-4-5": {"inputTokens": 34, "outputTokens": 776,
                    "cacheReadInputTokens": 6498, "cacheCreationInputTokens": 7606,
                    "costUSD": 0.19}},
     "permission_denials": []}

``subtype`` is ``success`` or ``error_max_turns``, ``error_during_execution``,
``error_max_budget_usd``, ... (with an ``errors`` list). An API error, a rate
limit included, is ``"subtype": "success", "is_error": true`` with the message
in ``result`` (``You've hit your limit · resets 4pm (Europe/Berlin)``, ``API
Error: Rate limit reached``) and exit code 0. In ``stream-json`` a refused
request is also announced by ``{"type": "rate_limit_event", "rate_limit_info":
{"status": "rejected", "resetsAt": <epoch seconds>, ...}}``.
"""
from __future__ import annotations

from typing import Optional

from . import Judgement, ModelUsage, ResultFormat, wants_json_output
from ._json import amount, count, cut_object_end, has_cut_json, json_lines, last_json_object
from ._verdict import TOO_LONG, cut_short, no_result, not_json, refused, succeeded

#: ``type`` values of stream-json messages other than the result.
_STREAM_TYPES = {"system", "assistant", "user", "stream_event", "rate_limit_event"}


class ClaudeFormat(ResultFormat):
    """Judges ``claude -p`` in ``--output-format json`` or ``stream-json``."""

    name = "claude"
    budget_flag = "--max-budget-usd"

    def wants(self, argv) -> bool:
        return wants_json_output(argv, "claude")

    def judge(self, output: str, exit_code: Optional[int], now: Optional[float] = None) -> Judgement:
        if not output.strip():
            return no_result("empty output", exit_code)
        run = _Run(output)
        found = dict(session_id=run.session_id, response=run.response, usage=run.usage, raw_usage=run.raw_usage)
        result = run.result
        if result is None:
            if run.rejected is not None:
                return refused("rate limit reached (no result message)", now, limited=True,
                               retry_at=run.reset_at, **found)
            if has_cut_json(output, '"result"'):
                return cut_short("the result message is incomplete", **found)
            end = cut_object_end(output, '"modelUsage"') if run.stream else None
            if end is not None:
                return _too_long(end, run, found)
            if run.stream:
                return no_result("no final result event", exit_code, **found)
            if any(True for _ in json_lines(output)):
                return no_result("no result message", exit_code, **found)
            return not_json(output, exit_code, **found)
        subtype = str(result.get("subtype") or "")
        if subtype == "success" and result.get("is_error") is not True:
            return succeeded(exit_code, **found)
        errors = [str(e) for e in result.get("errors") or () if e]
        message = errors[0] if errors else (result.get("result") if isinstance(result.get("result"), str) else "")
        limited = result.get("api_error_status") == 429 or (run.rejected is not None and subtype == "success")
        if subtype and subtype != "success":
            if not message:
                turns = count(result.get("num_turns"))
                return refused(subtype + (f" after {turns} turns" if turns is not None else ""), now, **found)
            return refused(message, now, label=subtype, **found)
        return refused(message or "is_error without a message", now, limited=limited, retry_at=run.reset_at, **found)


def _too_long(end: dict, run, found: dict) -> Judgement:
    """The result message lost its start to the head + tail cut of a long log: its outcome is
    unknown, its session and usage are in what is left."""
    usage, raw = _usage(end, run.model, {})
    if usage:
        found.update(usage=usage, raw_usage=raw)
    if isinstance(end.get("session_id"), str):
        found["session_id"] = end["session_id"]
    return cut_short(TOO_LONG, **found)


class _Run:
    """What claude's output says about one run: the result message, session, text and usage."""

    def __init__(self, output: str) -> None:
        lines = list(json_lines(output))
        self.stream = any(obj.get("type") in _STREAM_TYPES for obj in lines)
        results = [obj for obj in lines if obj.get("type") == "result"]
        self.result = results[-1] if results else None
        if self.result is None and not self.stream:
            self.result = last_json_object(output, lambda obj: obj.get("type") == "result")
        model, text, messages = None, None, {}
        self.session_id = self.rejected = self.reset_at = None
        for obj in lines:
            if obj.get("type") == "system" and obj.get("subtype") == "init":
                model = obj.get("model") if isinstance(obj.get("model"), str) else model
            elif obj.get("type") == "assistant" and isinstance(obj.get("message"), dict):
                text = _text(obj["message"]) or text
                _note_usage(messages, obj["message"])
            elif obj.get("type") == "rate_limit_event" and isinstance(obj.get("rate_limit_info"), dict):
                info = obj["rate_limit_info"]
                if info.get("status") == "rejected":
                    self.rejected = info
                    self.reset_at = amount(info.get("resetsAt"))
            if isinstance(obj.get("session_id"), str) and obj["session_id"]:
                self.session_id = obj["session_id"]
        result = self.result or {}
        if isinstance(result.get("session_id"), str) and result["session_id"]:
            self.session_id = result["session_id"]
        self.model = model
        self.response = result["result"] if isinstance(result.get("result"), str) else text
        self.usage, self.raw_usage = _usage(result, model, messages)


def _text(message: dict) -> Optional[str]:
    parts = [block.get("text") for block in message.get("content") or ()
             if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)]
    return "".join(parts) or None


def _note_usage(messages: dict, message: dict) -> None:
    """Keep the last usage of each API message (its content blocks arrive as separate lines)."""
    if isinstance(message.get("usage"), dict) and message["usage"]:
        key = message.get("id") or len(messages)
        messages[key] = (message.get("model"), message["usage"])


def _usage(result: dict, model: Optional[str], messages: dict) -> tuple:
    """(ModelUsage tuple, raw usage): per model from ``modelUsage`` with its ``costUSD``; else the
    result's ``usage`` with ``total_cost_usd``; else (no result) the sum of the assistant messages'."""
    per_model = result.get("modelUsage")
    raw = {key: result[key] for key in ("usage", "modelUsage", "total_cost_usd") if key in result} or None
    if isinstance(per_model, dict) and any(isinstance(v, dict) for v in per_model.values()):
        return tuple(_model_usage(name, u, camel=True) for name, u in per_model.items() if isinstance(u, dict)), raw
    cost = amount(result.get("total_cost_usd"))
    if isinstance(result.get("usage"), dict) and result["usage"]:
        return (_model_usage(model, result["usage"], cost=cost),), raw
    if cost is not None:
        return (ModelUsage(model=model, cost_usd=cost),), raw
    if messages and not result:
        sums: dict = {}
        for name, usage in messages.values():
            into = sums.setdefault(name if isinstance(name, str) else model, {})
            for key, value in usage.items():
                if count(value) is not None:
                    into[key] = into.get(key, 0) + count(value)
        return tuple(_model_usage(name, u) for name, u in sums.items()), {"messages": list(messages.values())}
    return (), raw


def _model_usage(model, usage: dict, camel: bool = False, cost: Optional[float] = None) -> ModelUsage:
    """Claude reports uncached input, cache reads and cache writes apart. Cache writes are uncached
    input (billed above the input rate), so they are added to ``input_tokens``. Thinking is billed
    as output and not counted apart: ``thinking_tokens`` stays None."""
    keys = (("inputTokens", "cacheCreationInputTokens", "cacheReadInputTokens", "outputTokens") if camel else
            ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"))
    fresh, written, cached, output = (count(usage.get(key)) for key in keys)
    if fresh is not None and written is not None:
        fresh += written
    elif fresh is None:
        fresh = written
    return ModelUsage(model=model, input_tokens=fresh, cached_input_tokens=cached, output_tokens=output,
                      cost_usd=amount(usage.get("costUSD")) if camel else cost)
