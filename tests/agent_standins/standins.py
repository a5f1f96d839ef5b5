"""Running the agent CLI stand-ins from tests: their paths, their argv per output mode, one run.

``from tests.agent_standins.standins import run_standin, standin_argv``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLIS = ("agy", "claude", "gemini", "codex")
#: Every (cli, output mode) the stand-ins print JSON in; codex has one JSON mode, JSON Lines.
JSON_MODES = (("agy", "json"), ("agy", "stream-json"), ("claude", "json"), ("claude", "stream-json"),
              ("gemini", "json"), ("gemini", "stream-json"), ("codex", "jsonl"))


def standin(cli: str) -> str:
    """The stand-in's path."""
    return str(HERE / cli)


def standin_argv(cli: str, mode: str, prompt: str, *extra: str) -> list:
    """The argv a user would write for ``cli`` in output ``mode``, with ``extra`` options."""
    if cli == "agy":
        return [standin(cli), "-p", prompt, "--output-format", mode, *extra]
    if cli == "claude":
        verbose = ["--verbose"] if mode == "stream-json" else []
        return [standin(cli), "-p", "--output-format", mode, *verbose, *extra, prompt]
    if cli == "gemini":
        return [standin(cli), "-p", prompt, "-o", mode, *extra]
    if cli == "codex":
        return [standin(cli), "exec", "--json", *extra, prompt]
    raise ValueError(cli)


def fast_python_dir() -> str:
    """A folder whose ``python3`` is the test's own interpreter started with ``-S`` (no site
    packages: the stand-ins need only the standard library), so ``#!/usr/bin/env python3`` starts in
    a third of the time a venv with editable installs (or a pyenv shim) takes."""
    digest = hashlib.sha256(sys.executable.encode()).hexdigest()[:12]
    folder = os.path.join(tempfile.gettempdir(), f"agybatch-standin-python-{os.getuid()}-{digest}")
    target = os.path.join(folder, "python3")
    if not os.path.exists(target):
        os.makedirs(folder, exist_ok=True)
        spare = f"{target}.{os.getpid()}"
        with open(spare, "w") as fh:
            fh.write(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -S \"$@\"\n")
        os.chmod(spare, 0o755)
        os.replace(spare, target)
    return folder


def standin_env(state=None) -> dict:
    """The environment for a stand-in: a fast ``python3`` first on PATH (:func:`fast_python_dir`)
    and ``AGENT_STANDIN_STATE`` when ``state`` is given."""
    env = dict(os.environ, PATH=fast_python_dir() + os.pathsep + os.environ.get("PATH", ""))
    env.pop("AGENT_STANDIN_STATE", None)
    if state is not None:
        env["AGENT_STANDIN_STATE"] = str(state)
    return env


def run_standin(argv: list, log: Path, state=None, timeout: float = 30) -> tuple:
    """Run ``argv`` with stdout and stderr into one file ``log`` (as the local backend does);
    return ``(output, exit_code)``."""
    with open(log, "wb") as fh:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                              env=standin_env(state), timeout=timeout)
    return log.read_bytes().decode("utf-8", "replace"), proc.returncode


#: A fixed clock for judging (epoch seconds), so that reset times come out the same every run.
NOW = 1_900_000_000.0


def formats() -> dict:
    """The built-in result formats by name, as the ``agents`` plugin registers them."""
    from agybatch.builtin.agents import register_result_formats

    found: dict = {}
    register_result_formats(found.__setitem__)
    return found


def judge(cli: str, mode: str, prompt: str, tmp_path: Path, *extra: str, state=None, now=NOW) -> tuple:
    """Run a stand-in and judge its output with its CLI's format: ``(judgement, output, exit_code)``."""
    output, code = run_standin(standin_argv(cli, mode, prompt, *extra), tmp_path / "job.log", state)
    return formats()[cli].judge(output, code, now=now), output, code


def calls(state) -> list:
    """The invocations the stand-ins recorded in ``state`` (``calls.jsonl``), oldest first."""
    path = Path(state) / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

