"""Telling whether a journalled runner is still there, from real processes."""
import json
import os
import socket
import subprocess
import sys

from agybatch.liveness import check, me


def test_this_process_is_alive():
    assert check(me()) == {"pid": os.getpid(), "alive": True}


def test_a_process_that_exited_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "from agybatch.liveness import me; print(me())"],
                             stdout=subprocess.PIPE, text=True)
    recorded = child.communicate()[0].strip()
    assert check(recorded) == {"pid": child.pid, "alive": False}


def test_a_reused_pid_is_not_taken_for_the_runner():
    who = json.loads(me())
    who["start"] -= 1  # same PID, another process's start time
    assert check(json.dumps(who)) == {"pid": os.getpid(), "alive": False}


def test_a_runner_on_another_host_cannot_be_told():
    who = {**json.loads(me()), "host": socket.gethostname() + "-elsewhere"}
    assert check(json.dumps(who)) == {"pid": os.getpid(), "alive": None}


def test_a_run_without_a_journalled_runner_or_with_garbage_has_none():
    assert check(None) is None and check("not json") is None and check('{"pid": 1}') is None
