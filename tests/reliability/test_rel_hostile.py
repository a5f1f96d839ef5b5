"""Hostile input: commands, env values, labels and backend-returned job IDs carrying shell
metacharacters, ``../``, absolute paths, newlines, NUL and 10 kB strings.

Nothing runs that the batch did not ask for, nothing is written outside the state folder (and
the files the jobs themselves write), state files are owner-only (0700 folders, 0600 files),
and the values of ``${VAR}`` secrets never show in agybatch's output, summaries, notifications
or state files, even when a receiving server echoes them back in an error.
"""
from __future__ import annotations

import http.server
import json
import os
import sys
import threading

import pytest

from tests.helpers.state import loose_permissions

ECHO_ARGS = "import json, sys; sys.stdout.write(json.dumps(sys.argv[1:]))"
ECHO_ENV = "import json, os; print(json.dumps({k: os.environ[k] for k in ('EVIL', 'BIG', 'PATHISH')}))"
HOSTILE_ARGS = [
    "$(touch pwned-subst)", "`touch pwned-backtick`", "; touch pwned-semi", "| touch pwned-pipe",
    "&& touch pwned-and", "../../../../tmp/agyb-evil", "/etc/agyb-evil", "line\nbreak\r\x1b[2J",
    "*", "~root", "x" * 10_000,
]
HOSTILE_ENV = {"EVIL": "$(touch pwned-env)\n`touch pwned-env2`; rm -rf /nonexistent", "BIG": "y" * 10_000,
               "PATHISH": "../../../../tmp/agyb-evil"}
OUTSIDE = ("/tmp/agyb-evil", "/etc/agyb-evil", "/agyb-evil")


def q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def tree(root) -> set:
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def new_outside_state(before: set, root, state, allowed=()) -> list:
    rel_state = os.path.relpath(state, root)
    return sorted(p for p in tree(root) - before
                  if not (p == rel_state or p.startswith(rel_state + os.sep)) and p not in allowed)


@pytest.fixture
def outside_untouched():
    existed = {p: os.path.exists(p) for p in OUTSIDE}
    yield
    for path, was in existed.items():
        assert os.path.exists(path) == was, f"{path} was created"


def test_hostile_argv_and_env_are_passed_as_data(project, tmp_path, outside_untouched):
    project.batch("b", f"""
        [[task]]
        label = "args"
        command = ["python3", "-c", {q(ECHO_ARGS)}, {", ".join(q(a) for a in HOSTILE_ARGS)}]
        [[task]]
        label = "env"
        command = ["python3", "-c", {q(ECHO_ENV)}]
        env = {{ {", ".join(f"{k} = {q(v)}" for k, v in HOSTILE_ENV.items())} }}
    """)
    before = tree(tmp_path)
    result = project.run("run", "b", "--json")
    assert result.code == 0, result
    assert json.loads(project.run("logs", "args").out) == HOSTILE_ARGS
    assert json.loads(project.run("logs", "env").out) == HOSTILE_ENV
    assert new_outside_state(before, tmp_path, project.state) == []
    assert not [p for p in tree(tmp_path) if os.path.basename(p).startswith("pwned")]
    assert loose_permissions(project.state) == []


@pytest.mark.parametrize("where,toml", [
    ("argument", 'command = ["echo", "a\\u0000b"]'),
    ("program", 'command = ["tr\\u0000ue"]'),
    ("env value", 'command = ["true"]\nenv = { X = "a\\u0000b" }'),
    ("env name", 'command = ["true"]\nenv = { "A=B" = "x" }'),
])
def test_nul_bytes_and_bad_env_names_are_refused_at_load(project, where, toml):
    project.batch("b", f"""
        [[task]]
        label = "bad"
        {toml}
        [[task]]
        label = "good"
        command = ["true"]
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 4, result  # refused when the batch is loaded, before anything runs
    assert "batch.toml" in result.err and "task 'bad'" in result.err, result
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert not (project.state / "jobs").exists()


def test_nul_and_newline_in_labels_are_refused_naming_the_file(project):
    for label in ("a\\u0000b", "a\\nb"):
        project.batch("b", f'[[task]]\nlabel = "{label}"\ncommand = ["true"]\n')
        result = project.run("run", "b")
        assert result.code == 4, result
        assert "batch.toml" in result.err and len(result.err.strip().splitlines()) == 1


def test_a_10kb_label_that_fails_saves_its_log_under_a_short_safe_name(project, tmp_path):
    label = "audit:" + "../" * 3000 + "x" * 1000
    project.batch("b", f'[[task]]\nlabel = {q(label)}\ncommand = ["sh", "-c", "echo broken; exit 3"]\n')
    before = tree(tmp_path)
    result = project.run("run", "b", "--json")
    assert result.code == 1, result
    task = result.json()["tasks"][0]
    assert task["label"] == label and task["outcome"] == "failed"
    saved = list(project.state.glob("runs/*/failed-*.log"))
    assert len(saved) == 1 and len(saved[0].name) <= 255 and saved[0].read_text().strip() == "broken"
    assert new_outside_state(before, tmp_path, project.state) == []
    assert loose_permissions(project.state) == []


HOSTILE_IDS = ["../../../../tmp/agyb-evil", "/etc/agyb-evil", "$(touch pwned-id)", "a\nb\r\x1b[2Jc",
               "z" * 10_000, "nul\0id"]
BACKEND_PLUGIN = """
from agybatch import hookimpl, JobState, JobStatus
from agybatch.backends import Backend
from agybatch.schedule import PollPolicy

IDS = {ids}


class Hostile(Backend):
    name = "hostile"
    poll_defaults = PollPolicy(initial=0.05, max=0.05)

    def submit(self, task, key):
        return JobStatus(IDS[int(task.label[1:])], JobState.RUNNING)

    def recover(self, key):
        raise NotImplementedError

    def poll(self, job_ids):
        return {{j: JobStatus(j, JobState.SUCCEEDED if IDS.index(j) % 2 else JobState.FAILED, 0)
                for j in job_ids}}

    def cancel(self, job_ids):
        pass

    def logs(self, job_id, tail=None):
        return "log of " + job_id + "\\n"


@hookimpl
def register_backends(register):
    register("hostile", Hostile)
"""


def test_hostile_job_ids_from_a_backend_stay_data(project, tmp_path, outside_untouched):
    tasks = "".join(f'[[task]]\nlabel = "t{i}"\ncommand = ["true"]\n' for i in range(len(HOSTILE_IDS)))
    project.batch("b", '[batch]\nbackend = "hostile"\n' + tasks,
                  **{"batchconf.py": BACKEND_PLUGIN.format(ids=repr(HOSTILE_IDS))})
    before = tree(tmp_path)
    result = project.run("run", "b", "--json")
    assert result.code == 2, result
    got = [t["job_id"] for t in result.json()["tasks"]]
    assert got == HOSTILE_IDS
    assert "\x1b" not in result.err, "control characters from a job ID reach the terminal raw"
    history = project.run("history")
    assert history.code == 0 and "\x1b" not in history.out, history
    for label in ("t0", "t3"):  # a log is the job's own output, printed as is, like cat
        shown = project.run("logs", label)
        assert shown.code == 0 and "Traceback" not in shown.err, shown
    saved = sorted(project.state.glob("runs/*/failed-*.log"))
    assert len(saved) == 3 and all(len(p.name) <= 255 for p in saved)
    assert new_outside_state(before, tmp_path, project.state) == []
    assert not [p for p in tree(tmp_path) if os.path.basename(p).startswith("pwned")]
    assert loose_permissions(project.state) == []


# -- secrets -------------------------------------------------------------------------------------

SECRET = "s3cr3t-Zq8-token"
RECORD = "import sys\nopen(sys.argv[1], 'a').write(sys.stdin.read())\nprint('sink saw ' + sys.argv[2], file=sys.stderr)\nsys.exit(3)\n"


class EchoingHandler(http.server.BaseHTTPRequestHandler):
    """Answers 500 with the request's headers and path in the body: an error that echoes secrets."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f"bad gateway for {self.path} with {self.headers.get('Authorization')}".encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def echoing_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_secrets_never_show_even_when_sinks_echo_them(project, echoing_server):
    sink_out = project.root / "sink-got.txt"
    project.batch("b", f"""
        [notify]
        partial = ["hook", "cmd", "digest"]
        [notify.sinks.hook]
        type = "webhook"
        url = "{echoing_server}/topic/${{AGYB_SECRET}}"
        headers = {{ Authorization = "Bearer ${{AGYB_SECRET}}" }}
        retries = 0
        [notify.sinks.cmd]
        type = "command"
        argv = [{q(sys.executable)}, "record.py", {q(str(sink_out))}, "${{AGYB_SECRET}}"]
        [notify.sinks.digest]
        type = "digest"
        path = "digest-${{AGYB_SECRET}}.md"
        [[task]]
        label = "ok"
        command = ["true"]
        [[task]]
        label = "bad"
        command = ["sh", "-c", "echo failing; exit 1"]
    """, **{"record.py": RECORD})
    result = project.run("run", "b", "--json", "-vv", env={"AGYB_SECRET": SECRET})
    assert result.code == 2, result
    assert SECRET not in result.out and SECRET not in result.err, result
    # Each failing sink is reported, naming the secret by its variable or masking what a sink echoed.
    assert f"webhook sink 'hook' failed: POST to {echoing_server}/topic/${{AGYB_SECRET}} failed: HTTP 500" in result.err
    assert "failed (exit 3): sink saw ***" in result.err
    assert "notified: digest" in result.err
    for folder, _, files in os.walk(project.state):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                assert SECRET.encode() not in fh.read(), f"the secret is in {path}"
    digests = list(project.root.glob("digest-*.md"))  # relative to the project root
    assert digests and SECRET not in digests[0].read_text()
    assert SECRET not in sink_out.read_text()


def test_status_escapes_control_characters_in_job_ids(project):
    project.batch("b", '[batch]\nbackend = "hostile"\n[[task]]\nlabel = "t3"\ncommand = ["true"]\n',
                  **{"batchconf.py": BACKEND_PLUGIN.format(ids=repr(HOSTILE_IDS))})
    assert project.run("run", "b", "-q").code == 0
    shown = project.run("status")
    assert shown.code == 0, shown
    assert "\x1b" not in shown.out and "a\nb" not in shown.out
