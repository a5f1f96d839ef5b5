"""Hostile labels write nothing outside the run folder and run nothing, all the way to the sinks."""
from __future__ import annotations

import json
import os
import sys

HOSTILE = [
    "../../x",
    "$(touch pwned)",
    "`touch pwned-backtick`",
    "; touch pwned-semicolon",
    "a/../../../../tmp/evil",
    "/etc/agybatch-evil",
    "\u001b]0;owned\u0007\u001b[2J",
]

RECORD = """
import sys
with open(sys.argv[1], "a") as fh:
    fh.write(sys.stdin.read() + "\\n")
"""


def toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def tree(root):
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def test_hostile_labels_stay_data(project, tmp_path):
    tasks = "".join(f"""
[[task]]
label = {toml_string(label)}
command = ["sh", "-c", "printf 'label=%s\\\\n' \\"$AGYBATCH_LABEL\\"; exit 1"]
""" for label in HOSTILE)
    folder = project.batch("nightly", f"""
[notify]
wipeout = ["digest", "hook", "screen"]
[notify.sinks.digest]
type = "digest"
path = "digest.md"
[notify.sinks.hook]
type = "command"
argv = [{toml_string(sys.executable)}, "record.py", "got.jsonl"]
[notify.sinks.screen]
type = "console"
""" + tasks, **{"record.py": RECORD})
    before = tree(tmp_path)
    outside_paths = ("/etc/agybatch-evil", "/tmp/evil", "/tmp/x")
    existed = {p: os.path.exists(p) for p in outside_paths}
    result = project.run("run", "nightly", "--json")
    assert result.code == 1, result
    data = result.json()
    run_dir = project.state / "runs" / data["run_id"]

    # Nothing ran: no file named pwned* anywhere, in the project, its parent or the cwd.
    created = tree(tmp_path) - before
    planted = {"pwned", "pwned-backtick", "pwned-semicolon", "evil", "agybatch-evil", "x"}
    assert not [p for p in created if os.path.basename(p) in planted], created
    assert {p: os.path.exists(p) for p in outside_paths} == existed
    # Outside the state folder only the two sink outputs appeared.
    outside = {p for p in created if not p.startswith(".agybatch") and not p.startswith("proj/.agybatch")}
    assert outside == {"proj/digest.md", "proj/batches/nightly/got.jsonl"}, outside
    # Every failed-job log is a plain file directly in the run folder.
    logs = [t["log_path"] for t in data["tasks"]]
    assert len(set(logs)) == len(HOSTILE)
    for path in logs:
        assert os.path.dirname(path) == str(run_dir)
        assert os.path.basename(path).startswith("failed-")
    # The log holds the label as the job printed it, byte for byte.
    by_label = {t["label"]: t for t in data["tasks"]}
    assert set(by_label) == set(HOSTILE)
    with open(by_label["$(touch pwned)"]["log_path"]) as fh:
        assert fh.read() == "label=$(touch pwned)\n"

    # The command sink got the labels as JSON data.
    payload = json.loads((folder / "got.jsonl").read_text().strip())
    assert {f["label"] for f in payload["failures"]} == set(HOSTILE)
    # Rendered text never carries a raw control character.
    digest = (project.root / "digest.md").read_text()
    assert "\x1b" not in digest and "\x07" not in digest
    assert "\\x1b]0;owned\\x07" in digest
    assert "`../../x (" in digest
    for failure in payload["failures"]:
        assert "\x1b" not in failure["duration_label"]


def test_a_newline_in_a_label_is_refused_before_anything_runs(project):
    folder = project.batch("nightly", """
        [notify]
        wipeout = ["digest"]
        [notify.sinks.digest]
        type = "digest"
        path = "digest.md"

        [[task]]
        label = "two\\nlines"
        command = ["true"]
    """)
    result = project.run("run", "nightly")
    assert result.code == 4, result
    assert f"{folder / 'batch.toml'}:" in result.err
    assert "label must not contain NUL or newline characters" in result.err
    assert not (project.root / "digest.md").exists()
    assert not project.state.exists(), "refused before the state folder was made"
