"""Which route a run takes, what the notification says, and routing after ``agybatch join``."""
from __future__ import annotations

import signal

import pytest

from agybatch.model import Outcome, RunSummary, TaskResult
from agybatch.sinks.notification import event_for, from_summary
from agybatch.sinks.routing import parse
from tests.helpers.state import submitted


def summary(*outcomes, interrupted=False):
    tasks = [TaskResult(f"t{i}", o, f"j{i}", 1, None, 100.0, 100.0, 160.0) for i, o in enumerate(outcomes)]
    return RunSummary("r1", "nightly", "local", 100.0, 170.0, tasks, interrupted=interrupted)


@pytest.mark.parametrize("outcomes, interrupted, event", [
    ((Outcome.SUCCEEDED, Outcome.SUCCEEDED), False, "ok"),
    ((Outcome.FAILED, Outcome.TIMED_OUT), False, "wipeout"),
    ((Outcome.SUCCEEDED, Outcome.FAILED), False, "partial"),
    ((Outcome.SUCCEEDED, Outcome.STALLED), False, "stalled"),
    ((Outcome.STALLED, Outcome.STALLED), False, "stalled"),
    ((Outcome.STALLED, Outcome.FAILED), False, "wipeout"),
    ((Outcome.SUCCEEDED, None), True, "interrupted"),
])
def test_event_for(outcomes, interrupted, event):
    assert event_for(summary(*outcomes, interrupted=interrupted)) == event


def test_stalled_falls_back_to_the_verdict_route_unless_routed():
    sinks = {"sinks": {"d": {"type": "digest", "path": "d.md"}, "p": {"type": "console"}}}
    types = _types()
    plain = parse({"partial": ["d"], "wipeout": ["p"], **sinks}, types)
    assert plain.targets("stalled", "partial") == ("d",)
    assert plain.targets("stalled", "wipeout") == ("p",)
    assert plain.targets("ok", "ok") == ()
    routed = parse({"partial": ["d"], "stalled": ["p", "p"], **sinks}, types)
    assert routed.targets("stalled", "partial") == ("p",)
    silent = parse({"partial": ["d"], "stalled": [], **sinks}, types)
    assert silent.targets("stalled", "partial") == ()


def test_notification_lists_only_what_did_not_succeed():
    s = summary(Outcome.SUCCEEDED, Outcome.FAILED, Outcome.TIMED_OUT)
    s.tasks[1].duration_label = "t1 (1m, failed, 3.0× usual)"
    s.tasks[1].log_path = "/state/runs/r1/failed-t1-j1.log"
    n = from_summary(s, usual={"t1": 20.0})
    assert n.event == "partial" and n.severity == "warning" and n.exit_code == 2
    assert n.title == "nightly: partial, 1 of 3 succeeded; 1 failed, 1 timed out"
    assert [f.label for f in n.failures] == ["t1", "t2"]
    assert n.failures[0].usual_s == 20.0
    assert "- t1 (1m, failed, 3.0× usual)\n  log: /state/runs/r1/failed-t1-j1.log" in n.text
    assert "- t2 (1m, timed out)" in n.text
    assert "t0" not in n.text and "t0" not in n.markdown
    assert n.to_json()["summary"]["counts"]["failed"] == 1


def _types():
    from agybatch.sinks import BUILTIN_SINKS, load_builtin

    return {name: load_builtin(name) for name in BUILTIN_SINKS}


def test_join_after_an_interrupt_routes_the_final_verdict(project, wait):
    project.batch("nightly", """
        [notify]
        partial = ["digest"]
        interrupted = []
        [notify.sinks.digest]
        type = "digest"
        path = "digest.md"

        [[task]]
        label = "slow-ok"
        command = ["sleep", "2"]

        [[task]]
        label = "slow-bad"
        command = ["sh", "-c", "sleep 2; exit 4"]
    """)
    proc = project.spawn("run", "nightly")
    wait(lambda: submitted(project.state) == 2, what="both jobs running")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert not (project.root / "digest.md").exists()
    joined = project.run("join")
    assert joined.code == 2, joined
    digest = (project.root / "digest.md").read_text()
    assert "nightly: partial, 1 of 2 succeeded; 1 failed" in digest
    assert "`slow-bad (2." in digest and "failed)`: exit 4" in digest
    assert "failed-slow-bad-" in digest
