"""The Antigravity CLI's print mode: ``agy -p PROMPT --output-format json|stream-json`` (agy 1.1.8+).

``json`` prints one envelope when the turn ends::

    {"conversation_id": "...", "status": "SUCCESS", "response": "...", "duration_seconds": 2.98,
     "num_turns": 1, "usage": {"input_tokens": 22565, "output_tokens": 6, "thinking_tokens": 0,
                               "cache_read_tokens": 0, "total_tokens": 22571}}

``stream-json`` prints ``{"event": "init", "conversation_id": ..., "init": {...}}``, then
``{"event": "step_update", "step_update": {...}}`` lines (``agent_response`` steps carry
``text_delta`` and per-step ``usage``) and ends with ``{"event": "result", "result": <envelope>}``.
``status`` is ``SUCCESS`` or another word (``ERROR`` with ``error``, ``CANCELED``, ...).

agy says a turn went wrong in ways its status does not show: from 1.1.28 an
expired ``--print-timeout`` ends with status ``SUCCESS``, the partial reply,
zero usage and a stderr line ``[agy] print timeout after 8s with turn in
progress; returning partial output``; a tool denied in headless mode ends with
``SUCCESS``, an empty response and a stderr notice. Both are failures here.
"""
from __future__ import annotations

import re
from typing import Optional

from . import Judgement, ModelUsage, ResultFormat, wants_json_output
from ._json import count, cut_object_end, has_cut_json, json_lines, last_json_object
from ._verdict import TOO_LONG, cut_short, no_result, not_json, refused, succeeded

#: agy's stderr lines (at the start of a line, so a response quoting them does not count).
_PRINT_TIMEOUT = re.compile(r"^\[agy\] (print timeout after \S+ with turn in progress)", re.MULTILINE)
_NO_OUTPUT = re.compile(r"^(?:\w+: )?no output produced\W+(.+)$", re.MULTILINE)


class AgyFormat(ResultFormat):
    """Judges ``agy -p`` in ``--output-format json`` or ``stream-json``."""

    name = "agy"

    def wants(self, argv) -> bool:
        return wants_json_output(argv, "agy")

    def judge(self, output: str, exit_code: Optional[int], now: Optional[float] = None) -> Judgement:
        if not output.strip():
            return no_result("empty output", exit_code)
        run = _Run(output)
        found = dict(session_id=run.session_id, response=run.response, usage=run.usage, raw_usage=run.raw_usage)
        envelope = run.envelope
        if envelope is None:
            if has_cut_json(output, '"result"' if run.stream else '"status"'):
                return cut_short("the result envelope is incomplete", **found)
            end = cut_object_end(output, '"num_turns"') if run.stream else None
            if end is not None:
                if isinstance(end.get("usage"), dict):
                    found.update(usage=(_model_usage(run.model, end["usage"]),), raw_usage=end["usage"])
                return cut_short(TOO_LONG, **found)
            if run.stream:
                return no_result("no final result event", exit_code, **found)
            if any(True for _ in json_lines(output)):
                return no_result("no result envelope", exit_code, **found)
            return not_json(output, exit_code, **found)
        status = str(envelope.get("status") or "")
        if status != "SUCCESS":
            return refused(str(envelope.get("error") or f"agy status {status or 'missing'}"), now, **found)
        timeout = _PRINT_TIMEOUT.search(output)
        if timeout:
            return cut_short(timeout.group(1), **found)
        if not run.response and "command" not in envelope:
            denied = _NO_OUTPUT.search(output)
            return no_result(denied.group(1) if denied else "empty response", exit_code, **found)
        return succeeded(exit_code, **found)


class _Run:
    """What agy's output says about one run: the envelope, session, text and usage."""

    def __init__(self, output: str) -> None:
        events = [obj for obj in json_lines(output) if isinstance(obj.get("event"), str)]
        self.stream = bool(events)
        self.session_id = None
        self.model = None
        text, steps = [], []
        if self.stream:
            self.envelope = None
            for event in events:
                self._note_session(event)
                kind, body = event["event"], event.get(event["event"])
                if not isinstance(body, dict):
                    continue
                self._note_session(body)
                if kind == "init" and isinstance(body.get("model"), str):
                    self.model = body["model"]
                elif kind == "step_update":
                    if body.get("step_type") == "agent_response" and isinstance(body.get("text_delta"), str):
                        text.append(body["text_delta"])
                    if isinstance(body.get("usage"), dict):
                        steps.append(body["usage"])
                elif kind == "result":
                    self.envelope = body
        else:
            self.envelope = last_json_object(output, _is_envelope)
        envelope = self.envelope or {}
        self._note_session(envelope)
        response = envelope.get("response")
        self.response = response if isinstance(response, str) else ("".join(text) or None)
        if isinstance(envelope.get("usage"), dict):
            self.raw_usage = envelope["usage"]
            self.usage = (_model_usage(self.model, envelope["usage"]),)
        elif steps:
            self.raw_usage = {"steps": steps}
            self.usage = (_model_usage(self.model, _sum(steps)),)
        else:
            self.raw_usage, self.usage = None, ()

    def _note_session(self, obj: dict) -> None:
        value = obj.get("conversation_id")
        if isinstance(value, str) and value and (obj is self.envelope or not self.session_id):
            self.session_id = value


def _is_envelope(obj: dict) -> bool:
    return "status" in obj and any(key in obj for key in ("response", "conversation_id", "usage", "error"))


def _sum(usages: list) -> dict:
    total: dict = {}
    for usage in usages:
        for key, value in usage.items():
            if count(value) is not None:
                total[key] = total.get(key, 0) + count(value)
    return total


def _model_usage(model: Optional[str], usage: dict) -> ModelUsage:
    """agy's ``input_tokens`` includes ``cache_read_tokens`` and its ``output_tokens`` includes
    ``thinking_tokens`` (``total_tokens`` is input + output in every published sample); both
    are subtracted."""
    prompt, cached = count(usage.get("input_tokens")), count(usage.get("cache_read_tokens"))
    output, thinking = count(usage.get("output_tokens")), count(usage.get("thinking_tokens"))
    if prompt is not None and cached is not None:
        prompt = max(prompt - cached, 0)
    if output is not None and thinking is not None and thinking <= output:
        output -= thinking
    return ModelUsage(model=model, input_tokens=prompt, cached_input_tokens=cached, output_tokens=output,
                      thinking_tokens=thinking, total_tokens=count(usage.get("total_tokens")))
