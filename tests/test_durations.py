"""Duration labels, the history they are compared with, and ``agybatch history``."""
from __future__ import annotations

import pytest

from agybatch.builtin.durations import duration_label
from agybatch.history import DEFAULTS, Usual, median, settings
from agybatch.model import Outcome, TaskResult


def result(label, outcome, took, queued=0.0, **kw):
    start = 1000.0
    return TaskResult(label, outcome, "j", 1, None, start, start + queued, start + took, **kw)


@pytest.mark.parametrize("task, usual, expected", [
    (result("audit:internal-links", Outcome.FAILED, 720), None, "audit:internal-links (12m, failed)"),
    (result("report:x", Outcome.TIMED_OUT, 3720), None, "report:x (1h02m, timed out)"),
    (result("audit:internal-links", Outcome.FAILED, 720), 232, "audit:internal-links (12m, failed, 3.1× usual)"),
    (result("a", Outcome.SUCCEEDED, 60), 600, "a (1m, succeeded, 0.1× usual)"),
    (result("a", Outcome.SUCCEEDED, 60), 100, "a (1m, succeeded)"),
    (result("a", Outcome.FAILED, 600, queued=540), None, "a (10m, failed, 9m queued)"),
    (result("a", Outcome.FAILED, 600, queued=30), None, "a (10m, failed)"),
    (result("tiny", Outcome.SUCCEEDED, 0.5), 0.1, "tiny (500ms, succeeded)"),
    (TaskResult("never", Outcome.SKIPPED), None, "never (skipped)"),
])
def test_labels(task, usual, expected):
    usual = None if usual is None else Usual(usual, DEFAULTS["min_runs"])
    assert duration_label(task, usual, DEFAULTS) == expected


def test_no_comparison_below_min_runs():
    task = result("audit:internal-links", Outcome.FAILED, 720)
    assert duration_label(task, Usual(232, DEFAULTS["min_runs"] - 1), DEFAULTS) == "audit:internal-links (12m, failed)"


def test_unsettled_task_of_an_interrupted_run():
    task = TaskResult("long", None, "j", submitted_at=1000.0, state="running")
    assert duration_label(task, None, DEFAULTS, now=1000.0 + 125) == "long (2m05s so far, running)"


def test_median():
    assert median([]) is None
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 2, 3]) == 2.5


@pytest.mark.parametrize("table, message", [
    ({"factor": 1}, "greater than 1"), ({"min_runs": 0}, ">= 1"), ({"ignore_below": "soon"}, "bad duration"),
    ({"facter": 2}, "unknown key 'facter'"), ({"min_runs": 30}, "must not exceed history"),
])
def test_bad_settings(table, message):
    with pytest.raises(ValueError, match=message):
        settings(table)


BATCH = """
    [durations]
    min_runs = 2
    ignore_below = "100ms"

    [[task]]
    label = "fetch:feeds"
    command = ["sh", "-c", "sleep $NAP; test -z \\"$FAIL\\""]

    [[task]]
    label = "quick"
    command = ["true"]
"""


def test_far_longer_than_usual_is_flagged_and_history_shows_it(project):
    project.batch("nightly", BATCH)
    for _ in range(2):
        first = project.run("run", "nightly", "--json", env={"NAP": "0.3"})
        assert first.code == 0, first
        labels = {t["label"]: t["duration_label"] for t in first.json()["tasks"]}
        assert "usual" not in labels["fetch:feeds"]
    slow = project.run("run", "nightly", "--json", env={"NAP": "1.5", "FAIL": "1"})
    assert slow.code == 2, slow
    task = next(t for t in slow.json()["tasks"] if t["label"] == "fetch:feeds")
    assert task["duration_label"].startswith("fetch:feeds (1.")
    assert task["duration_label"].endswith("× usual)")
    ratio = float(task["duration_label"].rsplit(", ", 1)[1].split("×")[0])
    assert ratio >= 2
    text = project.run("run", "nightly", "--no-notify", env={"NAP": "1.5", "FAIL": "1"}).out
    assert "fetch:feeds (1." in text and "× usual)" in text

    history = project.run("history", "nightly", "--json")
    assert history.code == 0, history
    data = history.json()
    assert [r["verdict"] for r in data["runs"]] == ["partial", "partial", "ok", "ok"]
    stats = {s["label"]: s for s in data["labels"]}
    feeds = stats["fetch:feeds"]
    assert feeds["runs"] == 4 and feeds["last_outcome"] == "failed"
    assert 0.3 <= feeds["median_s"] < feeds["last_s"]
    assert stats["quick"]["last_outcome"] == "succeeded"

    text = project.run("history", "nightly").out
    assert "nightly: duration per label" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("fetch:feeds"))
    assert row.split()[-1] == "failed" and row.split()[-2] == "4"


def test_history_without_runs(project):
    result = project.run("history", "--json")
    assert result.code == 0
    assert result.json() == {"batch": None, "runs": [], "labels": []}
    assert project.run("history").out == "no runs yet\n"
