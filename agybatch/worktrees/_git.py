"""Running git: argv lists, no prompts, a timeout, one-line errors, retries on git's own locks."""
from __future__ import annotations

import functools
import os
import random
import re
import signal
import subprocess
import time

#: Seconds one git command may take (a checkout of a big tree, a commit running slow hooks).
TIMEOUT = 300.0

#: Attempts of a command that lost a race for one of git's own locks, and the first pause between them
#: (doubled each time, capped at 0.8 s, jittered): about 4 s in all.
ATTEMPTS = 10
FIRST_PAUSE = 0.025

# Variables that point git at another repository than the folder it runs in (set when agybatch itself is
# started from a git hook, for instance).
_REPOSITORY_LOCATORS = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_IMPLICIT_WORK_TREE", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES",
)
_LOCALE_CATEGORIES = ("LC_CTYPE", "LC_COLLATE", "LC_NUMERIC", "LC_TIME", "LC_MONETARY")

# Another git process holds a lock we need, or git's worktree bookkeeping raced another git process
# creating or removing a worktree (git reads a half-written .git/worktrees/<id>, or misses it).
_TRANSIENT = re.compile(
    r"Unable to create '[^']*\.lock': File exists"
    r"|could not lock config file"
    r"|failed to read .*/commondir"
    r"|is not a working tree"
    r"|could not create (?:leading )?director"
)


class WorktreeError(Exception):
    """A git operation behind a task's worktree or branch failed.

    ``str(err)`` is one line that names the command and carries git's own
    message, shortened; ``err.stderr`` holds git's full message.
    """

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr

    @property
    def transient(self) -> bool:
        """True when git lost a race for one of its locks: the same command may succeed if tried again."""
        return bool(_TRANSIENT.search(self.stderr))


def environment(**extra: str) -> dict:
    """The caller's environment as git should see it.

    Never prompts (``GIT_TERMINAL_PROMPT=0``), takes no optional lock (a
    ``git status`` must not hold the index of a worktree an agent works in),
    ignores variables that would point it at another repository, and speaks
    English (its messages are matched) while every other locale category stays
    as the user set it, so hooks keep their character set.
    """
    env = {key: value for key, value in os.environ.items() if key not in _REPOSITORY_LOCATORS}
    every_category = env.pop("LC_ALL", "")
    if every_category:
        for category in _LOCALE_CATEGORIES:
            env[category] = every_category
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_MESSAGES="C")
    env.update(extra)
    return env


def git(cwd, *args: str, ok=(0,), env: dict | None = None, timeout: float = TIMEOUT,
        retry: bool = True) -> subprocess.CompletedProcess:
    """Run ``git ARGS`` in ``cwd``; return the finished process (text, stdout and stderr captured).

    An exit status outside ``ok`` raises :class:`WorktreeError`. With ``retry``, a
    command that lost a race for one of git's locks is run again after a short,
    growing pause; only idempotent commands should retry here. git runs in a
    session of its own, so a Ctrl-C meant for agybatch does not stop it halfway.
    """
    for attempt in range(ATTEMPTS):
        proc = _run(cwd, args, env or environment(), timeout)
        if proc.returncode in ok:
            return proc
        err = WorktreeError(_failure(cwd, args, proc), proc.stderr)
        if not (retry and err.transient and attempt + 1 < ATTEMPTS):
            raise err
        pause(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def out(cwd, *args: str, **kwargs) -> str:
    """The stdout of ``git ARGS``, without its trailing newline."""
    return git(cwd, *args, **kwargs).stdout.rstrip("\n")


def pause(attempt: int) -> None:
    """Sleep before attempt ``attempt + 1`` of a command that lost a race for a lock."""
    time.sleep(min(0.8, FIRST_PAUSE * 2 ** attempt) * random.uniform(0.5, 1.5))


def shorten(stderr: str, limit: int = 300) -> str:
    """git's message on one line: its non-empty lines, hints left out, at most ``limit`` characters."""
    lines = [line.strip() for line in stderr.splitlines()]
    text = "; ".join(line for line in lines if line and not line.startswith("hint:"))
    return text if len(text) <= limit else text[:limit - 1] + "…"


@functools.cache
def version() -> tuple:
    """The installed git's version as a tuple of integers, such as ``(2, 39, 5)``."""
    text = out("/", "version")
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not found:
        raise WorktreeError(f"cannot read git's version from {text!r}")
    return tuple(int(part or 0) for part in found.groups())


def require(minimum: tuple) -> None:
    """Raise :class:`WorktreeError` unless git is at least ``minimum`` (such as ``(2, 33)``)."""
    if version() < minimum:
        wanted = ".".join(map(str, minimum))
        found = ".".join(map(str, version()))
        raise WorktreeError(f"git {wanted} or newer is needed for worktrees (found git {found})")


def _run(cwd, args, env, timeout) -> subprocess.CompletedProcess:
    argv = ["git", *args]
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="surrogateescape",
                                start_new_session=True)
    except OSError as err:
        if not os.path.isdir(cwd):
            raise WorktreeError(f"no such folder: {cwd}") from None
        raise WorktreeError(f"cannot run git in {cwd}: {err.strerror or err}") from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # git and the hooks it started
        proc.communicate()
        raise WorktreeError(f"git {_command(args)} timed out after {timeout:g} s in {cwd}") from None
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _command(args) -> str:
    return " ".join(args[:2]) if args and args[0] == "worktree" else (args[0] if args else "")


def _failure(cwd, args, proc) -> str:
    reason = shorten(proc.stderr) or f"exit status {proc.returncode}"
    return f"git {_command(args)} failed in {cwd}: {reason}"
