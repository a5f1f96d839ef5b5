"""What a night cost: usage per attempt and per task, prices, the budget, history, and "× usual cost"."""
from __future__ import annotations

import json
import os
import signal
import xml.etree.ElementTree as ET

import pytest

from tests.agent_standins.standins import standin_argv, standin_env
from tests.helpers.state import journal_rows


def task(label: str, argv, **keys) -> str:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
    return f"[[task]]\nlabel = {json.dumps(label)}\ncommand = {json.dumps(argv)}\n{extra}"


def run(project, *args, state=None):
    result = project.run("run", *args, "--json", env=standin_env(state))
    data = result.json() if result.out.startswith("{") else {}
    return result, data, {t["label"]: t for t in data.get("tasks", [])}


PRICES = """
[prices."gemini-3-flash-high"]
input = 0.30
cached_input = 0.03
output = 2.50
thinking = 2.50

[prices."m-a"]
input = 1.0
cached_input = 0.1
output = 4.0
thinking = 4.0
"""

FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "thinking_tokens", "total_tokens")


def usage(unpriced=False, **counts) -> dict:
    return {**{name: counts.get(name) for name in FIELDS}, "unpriced": unpriced}


def test_usage_is_normalised_priced_and_summed_per_task_and_run(project):
    project.batch("night", PRICES + "".join([
        # claude reports its own cost; cache writes count as uncached input; it has no thinking count
        task("claude", standin_argv("claude", "json", "go [[usage in=1000 cached=200 out=300 create=100]] [[cost 0.25]]")),
        # agy's input includes cache reads and its output thinking: both subtracted; priced by the table
        task("agy", standin_argv("agy", "json", "go [[usage in=1000 cached=400 out=200 think=100]]",
                                 "--model", "gemini-3-flash-high")),
        # gemini names each model: each one priced on its own, m-b has no price
        task("gemini", standin_argv("gemini", "json", "go [[models m-a,m-b]] [[usage in=100 cached=50 out=10 think=5]]")),
        task("no usage", standin_argv("codex", "jsonl", "go [[usage none]]")),
        task("zeros", standin_argv("agy", "json", "go [[usage in=0 cached=0 out=0 think=0]]",
                                   "--model", "gemini-3-flash-high")),
        task("plain", ["true"]),
    ]))
    result, data, tasks = run(project, "night")
    assert result.code == 0, result
    assert {label: t["usage"] for label, t in tasks.items()} == {
        "claude": {**usage(input_tokens=1000, cached_input_tokens=200, output_tokens=300, total_tokens=1500),
                   "cost_usd": 0.25, "model": "claude-sonnet-4-5"},
        # 1000*0.30 + 400*0.03 + 200*2.50 + 100*2.50 = 1062 USD per million tokens
        "agy": {**usage(input_tokens=1000, cached_input_tokens=400, output_tokens=200, thinking_tokens=100,
                        total_tokens=1700), "cost_usd": 0.001062, "model": "gemini-3-flash-high"},
        # m-a: 100*1 + 50*0.1 + 10*4 + 5*4 = 165 per million; m-b's tokens have no price
        "gemini": {**usage(input_tokens=200, cached_input_tokens=100, output_tokens=20, thinking_tokens=10,
                           total_tokens=330, unpriced=True), "cost_usd": 0.000165, "model": "m-a, m-b"},
        "no usage": None,
        "zeros": {**usage(input_tokens=0, cached_input_tokens=0, output_tokens=0, thinking_tokens=0,
                          total_tokens=0), "cost_usd": 0.0, "model": "gemini-3-flash-high"},
        "plain": None,
    }
    assert tasks["agy"]["cost_usd"] == 0.001062
    assert data["usage_total"] == {**usage(input_tokens=2200, cached_input_tokens=700, output_tokens=520,
                                           thinking_tokens=110, total_tokens=3530, unpriced=True),
                                   "cost_usd": round(0.25 + 0.001062 + 0.000165, 6),
                                   "model": "claude-sonnet-4-5, gemini-3-flash-high, m-a, m-b"}
    assert data["cost_usd_total"] == data["usage_total"]["cost_usd"]
    assert "counts" in data and "usage_total" not in data["counts"]
    line = project.run("report", env=standin_env()).out.splitlines()[-1]
    assert line.endswith("· 3.53k tokens · $0.25 + unpriced tokens ==")


def test_totals_count_every_attempt_once(project, tmp_path):
    project.batch("retried", task("flaky", standin_argv("claude", "json", "go [[usage in=100 out=10]] [[cost 0.5]] [[exit 3]]"),
                                  retries=2, retry_backoff="0s"))
    result, data, tasks = run(project, "retried", state=tmp_path)
    assert result.code == 1, result
    flaky = tasks["flaky"]
    assert flaky["attempts"] == 3
    assert flaky["usage"]["input_tokens"] == 300 and flaky["cost_usd"] == 1.5
    ledger = journal_rows(project.state, "SELECT attempt, outcome, input_tokens, cost_usd FROM attempts ORDER BY attempt")
    assert ledger == [(1, "failed", 100, 0.5), (2, "failed", 100, 0.5), (3, "failed", 100, 0.5)]


def test_a_model_without_a_price_shows_its_tokens_and_an_unknown_cost(project):
    project.batch("unpriced", task("agy", standin_argv("agy", "json", "go [[usage in=500 out=100]]", "--model", "x-9")))
    result, data, tasks = run(project, "unpriced")
    assert result.code == 0, result
    assert tasks["agy"]["usage"]["model"] == "x-9" and tasks["agy"]["cost_usd"] is None
    assert data["cost_usd_total"] is None
    assert project.run("report").out.splitlines()[-1].endswith("· 600 tokens · cost unknown ==")


def budget_batch(project, name, extra=""):
    tasks = "".join(task(f"t{i}", standin_argv("claude", "json", f"work {i} [[cost 0.4]] [[sleep 0.5]]"))
                    for i in range(1, 6))
    project.batch(name, f'[batch]\nmax_cost_usd = 1.0\n{extra}\n' + tasks)


def test_the_budget_stops_submission_at_the_task_that_reaches_it(project, tmp_path):
    budget_batch(project, "b", 'max_parallel = 1\nstagger = "200ms"')
    result, data, tasks = run(project, "b", state=tmp_path)
    assert result.code == 2, result
    assert [(label, t["outcome"]) for label, t in tasks.items()] == [
        ("t1", "succeeded"), ("t2", "succeeded"), ("t3", "succeeded"), ("t4", "skipped"), ("t5", "skipped")]
    assert tasks["t4"]["reason"] == "budget reached ($1.00)"
    assert data["stopped_by"] == "budget" and data["cost_usd_total"] == pytest.approx(1.2)


@pytest.mark.parametrize("on_budget, running", [("finish", "succeeded"), ("cancel", "cancelled")])
def test_running_jobs_finish_unless_on_budget_cancels(project, tmp_path, on_budget, running):
    budget_batch(project, "b", f'max_parallel = 2\non_budget = "{on_budget}"')
    (project.root / "batches" / "b" / "batch.toml").write_text(
        (project.root / "batches" / "b" / "batch.toml").read_text().replace("work 4 [[cost 0.4]] [[sleep 0.5]]",
                                                                            "work 4 [[cost 0.4]] [[sleep 20]]"))
    result, data, tasks = run(project, "b", state=tmp_path)
    outcomes = [t["outcome"] for t in tasks.values()]
    assert outcomes == ["succeeded", "succeeded", "succeeded", running, "skipped"], result
    if running == "cancelled":
        assert tasks["t4"]["reason"] == "budget reached ($1.00)"


def test_sigkill_then_join_counts_nothing_twice(project, wait, tmp_path):
    project.batch("b", "".join(task(f"t{i}", standin_argv("claude", "json", f"go {i} [[cost 0.1]] [[usage in=10 out=1]]"
                                                                                + (" [[sleep 3]]" if i else "")))
                               for i in range(3)))
    runner = project.spawn("run", "b", "-q", env=standin_env(tmp_path))
    wait(lambda: journal_rows(project.state, "SELECT COUNT(*) FROM attempts") in ([(1,)], [(2,)]),
         what="an attempt recorded")
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    result = project.run("join", "--json", env=standin_env(tmp_path))
    assert result.code == 0, result
    data = result.json()
    assert data["usage_total"]["input_tokens"] == 30 and data["cost_usd_total"] == pytest.approx(0.3)
    assert journal_rows(project.state, "SELECT COUNT(*) FROM attempts") == [(3,)]


def test_history_medians_and_far_from_usual_cost(project):
    def night(cost):
        project.batch("n", '[durations]\nmin_runs = 2\n'
                      + task("translate:es", standin_argv("claude", "json", f"go [[cost {cost}]] [[usage in=1000 out=100]]")))
        result, data, tasks = run(project, "n")
        assert result.code == 0, result
        return tasks["translate:es"]["duration_label"]

    assert night(0.2).endswith(", succeeded, $0.20)")
    assert night(0.4).endswith(", succeeded, $0.40)")
    assert night(1.2).endswith(", succeeded, $1.20, 4.0× usual cost)")  # median of 0.2 and 0.4 is 0.3
    stats = project.run("history", "n", "--json").json()["labels"]
    assert [(s["label"], s["median_cost_usd"], s["median_tokens"]) for s in stats] == [("translate:es", 0.4, 1100)]
    text = project.run("history", "n").out
    assert "duration, cost and tokens per label" in text and "$0.40" in text and "1.1k" in text


def test_a_batch_without_agent_output_shows_nothing_new(project, tmp_path):
    project.batch("plain", task("a", ["true"]) + task("b", ["sh", "-c", "exit 1"]))
    html, junit = tmp_path / "r.html", tmp_path / "r.xml"
    result = project.run("run", "plain", "--html", html, "--junitxml", junit)
    assert result.code == 2, result
    assert "tokens" not in result.out and "$" not in result.out and "cost" not in result.out
    assert "<th>Cost</th>" not in html.read_text()
    assert ET.parse(junit).getroot().find(".//testcase/properties") is None


def test_usage_shows_in_the_summary_the_report_the_junit_xml_and_the_digest(project, tmp_path):
    model = ("--model", "gemini-3-flash-high")
    project.batch("agents", PRICES + task("agy", standin_argv("agy", "json", "go [[usage in=1000 out=200]]", *model))
                  + task("broken", standin_argv("agy", "json", "go [[error]]", *model))
                  + '[notify]\npartial = ["digest"]\n[notify.sinks.digest]\ntype = "digest"\npath = "digest.md"\n')
    html, junit = tmp_path / "r.html", tmp_path / "r.xml"
    result = project.run("run", "agents", "--html", html, "--junitxml", junit, env=standin_env())
    assert result.code == 2, result
    # agy: 1000*0.30 + 200*2.50 = 800 per million; its error envelope reported 100 in, 20 out: 80 more
    usage = "1.32k tokens · $0.0009"
    assert f"· {usage} ==" in result.out
    page = html.read_text()
    assert "<th>Cost</th>" in page and "1.2k tokens · $0.0008" in page and usage in page
    props = {p.get("name"): p.get("value")
             for p in ET.parse(junit).getroot().find(".//testcase[@name='agy']/properties")}
    assert (props["input_tokens"], props["output_tokens"], props["model"], props["cost_usd"]) == \
        ("1000", "200", "gemini-3-flash-high", "0.0008")
    assert usage in (project.root / "digest.md").read_text()


@pytest.mark.parametrize("toml, line, message", [
    ('[prices."m"]\ninput = -1\n', 2, "[prices.'m']: input must be a number >= 0, got -1"),
    ('[prices."m"]\ninptu = 1\n', 2, "[prices.'m']: unknown key 'inptu' (did you mean 'input'?)"),
    ('[batch]\nmax_cost_usd = "ten"\n', 2, "[batch]: max_cost_usd must be a number > 0, got 'ten'"),
    ('[batch]\non_budget = "stop"\n', 2, "[batch]: on_budget must be one of 'finish', 'cancel', got 'stop'"),
])
def test_bad_cost_keys_exit_4_naming_file_line_and_key(project, toml, line, message):
    folder = project.batch("bad", toml + task("a", ["true"]))
    result = project.run("run", "bad")
    assert result.code == 4, result
    assert result.err == f"agybatch: error: {folder / 'batch.toml'}:{line}: {message}\n"


def test_a_task_budget_is_passed_to_claude_and_checked_on_every_result(project, tmp_path):
    model = ("--model", "gemini-3-flash-high")
    project.batch("capped", PRICES + "".join([
        task("claude", standin_argv("claude", "json", "go [[cost 0.8]]"), max_cost_usd=0.5),
        task("agy", standin_argv("agy", "json", "go [[usage in=1000000 out=0]]", *model), max_cost_usd=0.1),
        task("cheap", standin_argv("agy", "json", "go [[usage in=100 out=0]]", *model), max_cost_usd=0.1),
    ]))
    result, data, tasks = run(project, "capped", state=tmp_path)
    assert {label: (t["outcome"], t["reason"]) for label, t in tasks.items()} == {
        "claude": ("failed", "cost $0.80 is over its max_cost_usd ($0.50)"),
        "agy": ("failed", "cost $0.30 is over its max_cost_usd ($0.10)"),
        "cheap": ("succeeded", None),
    }, result
    argvs = {c["cli"]: c["argv"] for c in map(json.loads, (tmp_path / "calls.jsonl").read_text().splitlines())}
    assert argvs["claude"][:2] == ["--max-budget-usd", "0.5"]  # claude has a flag for it
    assert "--max-budget-usd" not in argvs["agy"]               # agy has none: only the result is checked


def test_the_budget_cancels_running_jobs_even_with_nothing_left_to_submit(project, tmp_path):
    project.batch("b", '[batch]\nmax_cost_usd = 0.5\non_budget = "cancel"\n'
                  + task("long", standin_argv("claude", "json", "long [[sleep 30]] [[cost 0.1]]"))
                  + task("pricey", standin_argv("claude", "json", "pricey [[cost 0.6]]"))
                  + '[notify]\nbudget = ["told"]\n[notify.sinks.told]\ntype = "digest"\npath = "told.md"\n')
    result, data, tasks = run(project, "b", state=tmp_path)
    assert (tasks["long"]["outcome"], tasks["long"]["reason"]) == ("cancelled", "budget reached ($0.50)"), result
    assert data["stopped_by"] == "budget" and tasks["pricey"]["outcome"] == "succeeded"
    assert "budget reached" in (project.root / "told.md").read_text()


def test_sigkill_after_the_budget_stopped_the_run_then_join_still_says_budget(project, wait, tmp_path):
    project.batch("b", '[batch]\nmax_cost_usd = 0.5\nmax_parallel = 2\n'
                  + task("long", standin_argv("claude", "json", "long [[sleep 3]] [[cost 0.1]]"))
                  + task("pricey", standin_argv("claude", "json", "pricey [[cost 0.6]]"))
                  + task("never", standin_argv("claude", "json", "never")))
    runner = project.spawn("run", "b", "-q", env=standin_env(tmp_path))
    wait(lambda: journal_rows(project.state, "SELECT outcome FROM tasks WHERE label='never'") == [("skipped",)],
         what="the budget skipping the last task")
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    result = project.run("join", "--json", env=standin_env(tmp_path))
    data = result.json()
    assert data["stopped_by"] == "budget" and data["cost_usd_total"] == pytest.approx(0.7), result
    assert [t["outcome"] for t in data["tasks"]] == ["succeeded", "succeeded", "skipped"]


def test_a_cheaper_run_than_usual_is_not_labelled(project):
    def night(cost):
        project.batch("n", '[durations]\nmin_runs = 2\n'
                      + task("t", standin_argv("claude", "json", f"go [[cost {cost}]]")))
        return run(project, "n")[2]["t"]["duration_label"]

    night(1.0), night(1.0)
    assert night(0.1).endswith(", succeeded, $0.10)")  # 0.1× usual: no news worth a label


def test_every_attempt_has_its_ledger_row_with_what_ended_it(project, tmp_path):
    project.batch("b", task("checked", standin_argv("claude", "json", "go [[cost 0.2]]"), check=["false"])
                  + task("nowhere", ["/no/such/program"]))
    result, data, tasks = run(project, "b", state=tmp_path)
    rows = journal_rows(project.state, "SELECT label, attempt, outcome, reason, cost_usd FROM attempts ORDER BY label")
    assert rows == [("checked", 1, "failed", "check failed: exit 1", 0.2),
                    ("nowhere", 1, "failed", "agybatch: cannot start '/no/such/program': No such file or directory",
                     None)], rows
