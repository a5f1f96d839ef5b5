"""What the four agent CLI stand-ins share: reading the prompt's tokens, state, noise, timing.

The stand-ins (``agy``, ``claude``, ``gemini``, ``codex`` beside this file) parse
their CLI's real flags and print real-shaped output; what a run does is chosen
by ``[[token]]`` s in the prompt (README.md lists them). Python puts a script's
own folder first on ``sys.path``, which is how they import this module.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone

TOKEN = re.compile(r"\[\[([a-z][a-z-]*)([^\]]*)\]\]")
#: Behaviours (one per run); anything else in the prompt is ignored.
KINDS = {"ok", "error", "empty", "rate-limit", "hang", "cut", "print-timeout", "denied", "max-turns"}
DEFAULT_USAGE = {"in": 100, "cached": 0, "out": 20, "think": 0}
DEFAULT_RESET = 3600


class Plan:
    """What the prompt asks the stand-in to do."""

    def __init__(self, cli: str, prompt: str) -> None:
        self.cli, self.prompt = cli, prompt
        self.kind = "ok"
        self.exit = 0
        self.usage = dict(DEFAULT_USAGE)
        self.models = None
        self.cost = 0.0123
        self.sleep = 0.0
        self.ticks = (0.0, 0)
        self.reset = ("in", DEFAULT_RESET)
        self.response = f"OK from the {cli} stand-in."
        for name, raw in TOKEN.findall(prompt):
            self._token(name, raw.split())

    def _token(self, name: str, args: list) -> None:
        if name in KINDS:
            self.kind = name
            self._reset_args(args)
        elif name == "rate-limit-then-ok":
            limited_calls = int(args[0]) if args and args[0].isdigit() else 1
            self.kind = "rate-limit" if bump_counter(self.prompt) <= limited_calls else "ok"
            self._reset_args(args[1:])
        elif name == "exit":
            self.exit = int(args[0])
        elif name == "usage":
            self.usage = None if args == ["none"] else {k: int(v) for k, v in (a.split("=", 1) for a in args)}
        elif name == "models":
            self.models = ",".join(args).split(",")
        elif name == "cost":
            self.cost = float(args[0])
        elif name == "sleep":
            self.sleep = float(args[0])
        elif name == "tick":
            self.ticks = (float(args[0]), int(args[1].lstrip("x")) if len(args) > 1 else 1)
        elif name == "say":
            self.response = " ".join(args).replace("_", " ")
        elif name == "big":
            self.response = big_text(int(args[0]))

    def _reset_args(self, args: list) -> None:
        for arg in args:
            if arg == "noreset":
                self.reset = None
            elif arg.startswith(("in=", "at=")):
                self.reset = (arg[:2], float(arg[3:]))

    def reset_at(self) -> float | None:
        """The reset as epoch seconds (``in=`` counted from now), or None for ``noreset``."""
        if self.reset is None:
            return None
        kind, value = self.reset
        return value if kind == "at" else time.time() + value

    def reset_in(self) -> float | None:
        """The reset as seconds from now (``at=`` counted to now), or None for ``noreset``."""
        if self.reset is None:
            return None
        kind, value = self.reset
        return value if kind == "in" else max(value - time.time(), 0.0)


def big_text(size: int) -> str:
    line = "0123456789 lorem ipsum dolor sit amet, a long response line\n"
    return (line * (size // len(line) + 1))[:size]


def state_dir() -> str | None:
    """``$AGENT_STANDIN_STATE``; for a stand-in run as an agybatch job without it, a folder of the
    system's temporary folder (its counters are per run anyway)."""
    path = os.environ.get("AGENT_STANDIN_STATE")
    if not path and os.environ.get("AGYBATCH_RUN_ID"):
        import tempfile

        path = os.path.join(tempfile.gettempdir(), f"agent-standin-state-{os.getuid()}")
    if path:
        os.makedirs(path, exist_ok=True)
    return path


def _locked_update(path: str, update) -> str:
    """Apply ``update(old_text) -> new_text`` to a file under an exclusive lock; return the new text."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        old = os.read(fd, 1 << 20).decode()
        new = update(old)
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, new.encode())
        return new
    finally:
        os.close(fd)


def bump_counter(prompt: str) -> int:
    """Count this call of ``prompt`` in ``$AGENT_STANDIN_STATE/counters/``; return the new count.

    Calls are counted per agybatch run when the stand-in runs as an agybatch job (``AGYBATCH_RUN_ID``
    is set), so a batch behaves the same every time it runs.
    """
    folder = state_dir()
    if not folder:
        fail("the [[rate-limit-then-ok N]] token needs AGENT_STANDIN_STATE (a folder for the call counts)")
    os.makedirs(os.path.join(folder, "counters"), exist_ok=True)
    key = hashlib.sha256((os.environ.get("AGYBATCH_RUN_ID", "") + "\0" + prompt).encode()).hexdigest()[:16]
    return int(_locked_update(os.path.join(folder, "counters", key), lambda old: str(int(old or 0) + 1)))


def record_call(cli: str, argv: list, session_id: str) -> None:
    """Append this invocation to ``$AGENT_STANDIN_STATE/calls.jsonl`` and remember its session."""
    folder = state_dir()
    if not folder:
        return
    line = json.dumps({"cli": cli, "argv": argv, "session_id": session_id, "pid": os.getpid(),
                       "time": time.time()}) + "\n"
    _locked_update(os.path.join(folder, "calls.jsonl"), lambda old: old + line)
    with open(os.path.join(folder, f"last-session-{cli}"), "w") as fh:
        fh.write(session_id)


def last_session(cli: str) -> str | None:
    folder = state_dir()
    try:
        with open(os.path.join(folder or "", f"last-session-{cli}")) as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def new_session() -> str:
    return str(uuid.uuid4())


def read_stdin_prompt() -> str:
    return "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()


def fail(message: str, code: int = 2) -> None:
    sys.stderr.write(f"stand-in: {message}\n")
    sys.exit(code)


def out(text: str) -> None:
    """Write to stdout now (the log must show stdout and stderr in the order they happened)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def emit(obj: dict) -> None:
    out(json.dumps(obj) + "\n")


def work(plan: Plan) -> None:
    """The run's duration: ``[[tick S xN]]`` progress lines on stderr, then ``[[sleep S]]``."""
    interval, ticks = plan.ticks
    for tick in range(1, ticks + 1):
        time.sleep(interval)
        err(f"[{plan.cli}] working... step {tick}/{ticks}\n")
    if plan.sleep:
        time.sleep(plan.sleep)


def hang() -> None:
    """Sleep "forever"; SIGTERM ends the process (Python keeps its default action)."""
    while True:
        time.sleep(3600)


def cut(text: str) -> None:
    """Print the first half of ``text``, no newline, as a process killed mid-write leaves it."""
    out(text[: max(len(text) // 2, 1)])


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String(): 1h2m3s, 2m30s, 45s."""
    seconds = int(math.ceil(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
