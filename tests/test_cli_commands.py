"""The inspection commands and the terminal output a person sees."""
import os
import pty
import subprocess
import sys

BATCH = """
[[task]]
label = "chatty"
command = ["sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done; exit 2"]
[[task]]
label = "fine"
command = ["true"]
"""


def test_status_logs_history_list(project):
    project.batch("nightly", BATCH)
    project.batch("weekly", '[[task]]\nlabel = "x"\ncommand = ["true"]\n')
    run = project.run("run", "nightly", "--json").json()
    status = project.run("status", "--json").json()
    assert status["run_id"] == run["run_id"] and status["verdict"] == "partial"
    assert {t["label"]: t["outcome"] for t in status["tasks"]} == {"chatty": "failed", "fine": "succeeded"}
    text = project.run("status").out
    assert "failed" in text and "chatty" in text
    assert project.run("logs", "chatty", "--tail", "2").out == "line 4\nline 5\n"
    assert project.run("logs", "chatty", "--run", run["run_id"]).out.count("line") == 5
    missing = project.run("logs", "nope")
    assert missing.code == 4 and "no task labelled 'nope'" in missing.err
    history = project.run("history", "nightly", "--json").json()
    assert [r["run_id"] for r in history["runs"]] == [run["run_id"]]
    assert history["runs"][0]["counts"]["failed"] == 1
    listing = project.run("list", "--json").json()["batches"]
    assert [(b["name"], b["tasks"], b["last_verdict"]) for b in listing] == [
        ("nightly", 2, "partial"), ("weekly", 1, None)]
    assert "nightly" in project.run("list").out
    assert project.run("status", "no-such-run").code == 4


def test_plain_output_without_a_tty_has_no_colour(project):
    project.batch("nightly", BATCH)
    result = project.run("run", "nightly")
    assert "\x1b[" not in result.out
    lines = result.out.splitlines()
    assert lines[0].startswith("agybatch running batch 'nightly': 2 tasks on local")
    assert any(line.startswith("failed") and "chatty" in line for line in lines)
    assert "chatty" in lines[-3] and ": exit 2" in lines[-3]
    assert lines[-2].strip().startswith("log: ") and lines[-1].startswith("== 1 succeeded, 1 failed in ")


def test_colour_when_asked_and_quiet_levels(project):
    project.batch("nightly", BATCH)
    assert "\x1b[" in project.run("run", "nightly", "--color", "yes").out
    quiet = project.run("run", "nightly", "-q")
    assert quiet.out.count("\n") == 1 and quiet.out.startswith("== ")
    silent = project.run("run", "nightly", "-qq")
    assert silent.out == "" and silent.err == "" and silent.code == 2
    verbose = project.run("run", "nightly", "-v")
    assert "submitted chatty ->" in verbose.out


def test_live_progress_line_on_a_tty(project):
    project.batch("nightly", """
        [[task]]
        label = "slowish"
        command = ["sleep", "2.5"]
    """)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(project.command("run", "nightly"), cwd=project.root, env=project.env,
                            stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    screen = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert "[0/1] 1 running" in screen, screen
    assert "\r\x1b[2K" in screen, "the progress line is redrawn in place"
    assert "\x1b[32m" in screen, "colour on a TTY"


def test_python_dash_m_and_version(project):
    result = subprocess.run([sys.executable, "-m", "agybatch", "--version"], capture_output=True, text=True)
    from agybatch import __version__

    assert result.returncode == 0 and result.stdout.strip() == f"agybatch {__version__}"
