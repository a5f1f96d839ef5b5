"""needs, retries, -k/--tag/--lf selection, --collect-only and longest-first ordering."""
import os
import signal

import pytest

from tests.helpers.state import submitted


def by_label(result):
    return {t["label"]: t for t in result.json()["tasks"]}


def test_a_dependent_starts_as_soon_as_its_needs_succeed(project):
    ledger = project.root / "ledger"
    project.batch("b", f"""
        [[task]]
        label = "generate"
        command = ["sh", "-c", "sleep 0.3; echo generate >> {ledger}"]
        [[task]]
        label = "link"
        command = ["sh", "-c", "echo link >> {ledger}"]
        needs = ["generate"]
        [[task]]
        label = "independent-slow"
        command = ["sh", "-c", "sleep 2; echo slow >> {ledger}"]
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 0, result
    assert ledger.read_text().split() == ["generate", "link", "slow"], "link ran before the slow job ended"
    got = by_label(result)
    assert got["link"]["submitted_at"] >= got["generate"]["ended_at"]


def test_a_failed_need_skips_its_dependents_transitively_and_names_it(project):
    project.batch("b", """
        [[task]]
        label = "generate"
        command = ["false"]
        [[task]]
        label = "link"
        command = ["true"]
        needs = ["generate"]
        [[task]]
        label = "announce"
        command = ["true"]
        needs = ["link"]
        [[task]]
        label = "other"
        command = ["true"]
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 2, result
    got = by_label(result)
    assert got["link"]["outcome"] == "skipped" and got["link"]["reason"] == "needs 'generate', which failed"
    assert got["announce"]["outcome"] == "skipped" and "needs 'link', which was skipped" in got["announce"]["reason"]
    assert got["link"]["job_id"] is None and got["other"]["outcome"] == "succeeded"
    status = {t["label"]: t for t in project.run("status", "--json").json()["tasks"]}
    assert status["link"]["reason"] == "needs 'generate', which failed", "the journal records why"


@pytest.mark.parametrize("needs, fragment", [
    ('needs = ["nope"]', "needs unknown task 'nope'"),
    ('needs = ["b"]', "dependency cycle: a -> b -> c -> a"),
    ('needs = ["a"]', "needs itself"),
])
def test_unknown_needs_and_cycles_exit_4(project, needs, fragment):
    project.batch("g", f"""
        [[task]]
        label = "a"
        command = ["true"]
        {needs}
        [[task]]
        label = "b"
        command = ["true"]
        needs = ["c"]
        [[task]]
        label = "c"
        command = ["true"]
        needs = ["a"]
    """ if "cycle" in fragment else f"""
        [[task]]
        label = "a"
        command = ["true"]
        {needs}
    """)
    result = project.run("run", "g")
    assert result.code == 4, result
    assert fragment in result.err and len(result.err.strip().splitlines()) == 1


def test_join_after_a_crash_continues_the_graph(project, wait):
    ledger = project.root / "ledger"
    project.batch("b", f"""
        [[task]]
        label = "first"
        command = ["sh", "-c", "sleep 1; echo first >> {ledger}"]
        [[task]]
        label = "second"
        command = ["sh", "-c", "echo second >> {ledger}"]
        needs = ["first"]
        [[task]]
        label = "blocked"
        command = ["sh", "-c", "echo blocked >> {ledger}"]
        needs = ["doomed"]
        [[task]]
        label = "doomed"
        command = ["sh", "-c", "sleep 0.5; exit 1"]
    """)
    runner = project.spawn("run", "b")
    wait(lambda: submitted(project.state) == 2)
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL
    assert submitted(project.state) == 2, "the kill came before 'second' could be submitted"
    result = project.run("join", "--json")
    assert result.code == 2, result
    got = by_label(result)
    assert got["second"]["outcome"] == "succeeded" and got["blocked"]["outcome"] == "skipped"
    assert ledger.read_text().split() == ["first", "second"]


def test_retries_resubmit_with_new_job_ids_and_keep_every_attempt(project):
    counter = project.root / "count"
    project.batch("b", f"""
        [batch]
        retry_backoff = "100ms"
        [[task]]
        label = "flaky"
        command = ["sh", "-c", "echo x >> {counter}; test $(wc -l < {counter}) -ge 3"]
        retries = 3
        [[task]]
        label = "hopeless"
        command = ["false"]
        retries = 1
        [[task]]
        label = "no-retry-on-timeout"
        command = ["sleep", "5"]
        timeout = "200ms"
        retries = 2
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 2, result
    got = by_label(result)
    assert got["flaky"]["outcome"] == "succeeded" and got["flaky"]["attempts"] == 3
    assert got["hopeless"]["outcome"] == "failed" and got["hopeless"]["attempts"] == 2
    assert "failed after 2 attempts" in got["hopeless"]["duration_label"]
    assert "succeeded after 3 attempts" in got["flaky"]["duration_label"]
    assert got["no-retry-on-timeout"]["outcome"] == "timed_out" and got["no-retry-on-timeout"]["attempts"] == 1
    journal = project.journal()
    run_id = result.json()["run_id"]
    jobs = [e["job_id"] for e in journal.events(run_id, "flaky") if e["kind"] == "submitted"]
    assert len(jobs) == 3 and len(set(jobs)) == 3
    retries = [e["detail"] for e in journal.events(run_id, "flaky") if e["kind"] == "retry"]
    assert retries[0].startswith("attempt 1 failed; retrying in 0.1s")
    assert retries[1].startswith("attempt 2 failed; retrying in 0.2s")


def test_retry_on_timed_out_and_never_past_the_deadline(project):
    project.batch("b", """
        [batch]
        deadline = "3s"
        [[task]]
        label = "slow"
        command = ["sleep", "5"]
        timeout = "300ms"
        retries = 5
        retry_backoff = "1s"
        retry_on = ["timed_out"]
    """)
    result = project.run("run", "b", "--json")
    task = result.json()["tasks"][0]
    assert task["outcome"] == "timed_out"
    assert task["attempts"] == 2, "attempt 3 would start after the deadline"
    assert result.json()["duration_s"] < 3


def test_selection_by_keyword_tag_and_last_failed(project):
    project.batch("b", """
        [[task]]
        label = "generate:article-a"
        command = ["true"]
        tags = ["llm"]
        [[task]]
        label = "link:article-a"
        command = ["false"]
        needs = ["generate:article-a"]
        [[task]]
        label = "audit:internal-links"
        command = ["false"]
        [[task]]
        label = "report:admob"
        command = ["true"]
        tags = ["report"]
    """)
    labels = lambda r: [t["label"] for t in r.json()["tasks"]]  # noqa: E731
    keyword = project.run("run", "b", "-k", "link and not audit", "--json")
    assert labels(keyword) == ["generate:article-a", "link:article-a"], "needs come along"
    assert labels(project.run("run", "b", "-k", "(admob or audit)", "--json")) == [
        "audit:internal-links", "report:admob"]
    assert labels(project.run("run", "b", "--tag", "report", "--json")) == ["report:admob"]
    full = project.run("run", "b", "--json")
    assert full.code == 2
    last_failed = project.run("run", "b", "--lf", "--json")
    assert labels(last_failed) == ["link:article-a", "audit:internal-links"], "succeeded needs are not rerun"
    assert by_label(last_failed)["link:article-a"]["outcome"] == "failed", "need counted as satisfied"
    nothing = project.run("run", "b", "-k", "nothing-matches")
    assert nothing.code == 5 and "no task selected by -k 'nothing-matches'" in nothing.err
    bad = project.run("run", "b", "-k", "link and (")
    assert bad.code == 4 and "-k 'link and ('" in bad.err


def test_collect_only_lists_the_order_and_submits_nothing(project):
    project.batch("b", """
        [batch]
        max_parallel = 1
        [[task]]
        label = "short"
        command = ["sleep", "0.1"]
        [[task]]
        label = "long"
        command = ["sleep", "0.4"]
        [[task]]
        label = "after-short"
        command = ["true"]
        needs = ["short"]
    """)
    first = project.run("run", "b", "--co")
    assert first.code == 0 and "finish unknown" in first.out and "└─ needs short" in first.out
    assert not (project.state / "jobs").exists()
    assert project.run("run", "b", "-q").code == 0
    plan = project.run("run", "b", "--co", "--json").json()
    assert [t["label"] for t in plan["tasks"]] == ["long", "short", "after-short"], "longest first"
    assert plan["expected_finish_s"] == pytest.approx(sum(t["usual_s"] for t in plan["tasks"]), rel=0.01)
    text = project.run("run", "b", "--co").out
    assert "expected finish: +" in text


def test_longest_first_uses_history_when_capped(project):
    project.batch("b", """
        [batch]
        max_parallel = 1
        [[task]]
        label = "a-short"
        command = ["sleep", "0.25"]
        [[task]]
        label = "b-long"
        command = ["sleep", "0.5"]
        [[task]]
        label = "c-new"
        command = ["sleep", "0.05"]
    """)
    first = project.run("run", "b", "--json")
    order = lambda r: [t["label"] for t in sorted(r.json()["tasks"], key=lambda t: t["submitted_at"])]  # noqa: E731
    assert order(first) == ["a-short", "b-long", "c-new"], "no history: batch order"
    second = project.run("run", "b", "--json")
    assert order(second) == ["b-long", "a-short", "c-new"]
    (project.root / "batches" / "b" / "batch.toml").open("a").write(
        '[[task]]\nlabel = "d-unknown"\ncommand = ["true"]\n')
    third = project.run("run", "b", "--json")
    assert order(third)[0] == "d-unknown", "unknown durations go first"
