"""The agy backend through the real CLI, against the agy stand-in: submit, poll, join, options."""
from __future__ import annotations

import sys

import pytest

from agybatch.units import parse_iso


def outcomes(result) -> dict:
    return {t["label"]: t["outcome"] for t in result.json()["tasks"]}


def by_label(result) -> dict:
    return {t["label"]: t for t in result.json()["tasks"]}


def test_prompts_run_as_detached_jobs_and_join_with_a_verdict(project, agy):
    project.batch("nightly", """
        [batch]
        backend = "agy"

        [batch.agy]
        model = "gemini-3.5-flash"

        [[task]]
        label = "generate:article-a"
        prompt = "sleep=0.5 say=written"

        [[task]]
        label = "audit:internal-links"
        prompt = "sleep=1 exit=3"
        model = "gemini-3.5-pro"
    """)
    result = project.run("run", "nightly", "--json")
    assert result.code == 2, result
    tasks = by_label(result)
    assert outcomes(result) == {"generate:article-a": "succeeded", "audit:internal-links": "failed"}
    assert tasks["audit:internal-links"]["exit_code"] == 3
    runs = [argv for argv in agy.calls() if argv[0] == "run"]
    assert sorted(runs) == [
        ["run", "--detach", "--json", "--task", "sleep=0.5 say=written", "--model", "gemini-3.5-flash"],
        ["run", "--detach", "--json", "--task", "sleep=1 exit=3", "--model", "gemini-3.5-pro"],
    ]
    jobs = {j["job_id"]: j for j in agy.jobs()}
    for task in tasks.values():
        job = jobs[task["job_id"]]
        assert parse_iso(task["started_at"]) == pytest.approx(job["started_at"], abs=0.002)
        assert parse_iso(task["ended_at"]) == pytest.approx(job["ended_at"], abs=0.002)


def test_prompt_is_one_argv_item_never_seen_by_a_shell(project, agy):
    prompt = "say=x; touch pwned $(touch pwned2) `touch pwned3` | cat > pwned4 'quoted \"double\"'"
    project.batch("hostile", f"""
        [batch]
        backend = "agy"

        [[task]]
        label = "hostile"
        prompt = '''{prompt}'''
    """)
    result = project.run("run", "hostile", "--json")
    assert result.code == 0, result
    assert [argv for argv in agy.calls() if argv[0] == "run"] == [
        ["run", "--detach", "--json", "--task", prompt]]
    assert not list(project.root.rglob("pwned*"))


def test_model_defaults_come_from_the_project_and_batch_agy_table(project, agy):
    (project.root / "pyproject.toml").write_text(
        '[project]\nname = "nightly"\nversion = "0"\n\n'
        '[tool.agybatch.batch.agy]\nmodel = "project-default"\n')
    project.batch("models", """
        [batch]
        backend = "agy"

        [[task]]
        label = "plain"
        prompt = "say=a"

        [[task]]
        label = "own"
        prompt = "say=b"
        model = "own-model"
    """)
    result = project.run("run", "models", "--json")
    assert result.code == 0, result
    models = {j["task"]: j["model"] for j in agy.jobs()}
    assert models == {"say=a": "project-default", "say=b": "own-model"}


def test_without_any_model_agy_chooses_its_own(project, agy):
    project.batch("nomodel", """
        [batch]
        backend = "agy"

        [[task]]
        label = "t"
        prompt = "say=a"
    """)
    assert project.run("run", "nomodel").code == 0
    assert "--model" not in agy.calls()[0]


def test_bin_args_and_run_args_build_every_call(project, agy):
    project.env["PATH"] = "/usr/bin:/bin"  # the stand-in is reached only through bin + args
    project.batch("wrapped", f"""
        [batch]
        backend = "agy"

        [batch.agy]
        bin = "{sys.executable}"
        args = ["{agy.bin}"]
        run_args = ["--tag", "nightly"]

        [[task]]
        label = "t"
        prompt = "say=a"
    """)
    result = project.run("run", "wrapped", "--json")
    assert result.code == 0, result
    assert agy.calls()[0] == ["run", "--detach", "--json", "--task", "say=a", "--tag", "nightly"]
    assert agy.jobs()[0]["tag"] == "nightly"
    assert agy.count("jobs", "list") >= 1


def test_one_jobs_list_per_round_and_only_this_runs_jobs_count(project, agy):
    foreign = agy.cli("run", "--detach", "--json", "--task", "sleep=60")
    assert foreign.returncode == 0, foreign.stderr
    project.batch("bulk", """
        [batch]
        backend = "agy"

        [batch.poll]
        initial = "200ms"
        max = "200ms"
    """ + "".join(f"""
        [[task]]
        label = "job{i}"
        prompt = "sleep={0.3 * i}"
    """ for i in range(1, 6)))
    result = project.run("run", "bulk", "--json")
    assert result.code == 0, result
    assert set(outcomes(result).values()) == {"succeeded"}
    calls = [argv for argv in agy.calls() if argv[0] == "jobs"]
    statuses = [argv[:2] for argv in calls if argv[1] != "logs"]
    assert statuses and all(argv == ["jobs", "list"] for argv in statuses)
    # Each job's output is read once, when it ends, to judge an agy result envelope in it.
    logs = sorted(argv[2] for argv in calls if argv[1] == "logs")
    assert logs == sorted(t["job_id"] for t in result.json()["tasks"])
    # The foreign job is still running, and the run did not wait for it.
    assert [j["state"] for j in agy.jobs() if j["task"] == "sleep=60"] == ["running"]


def test_a_jobs_object_instead_of_an_array_is_read_too(project, agy):
    agy.configure(list_shape="object")
    project.batch("shape", """
        [batch]
        backend = "agy"

        [[task]]
        label = "ok"
        prompt = "say=a"

        [[task]]
        label = "bad"
        prompt = "exit=2"
    """)
    result = project.run("run", "shape", "--json")
    assert result.code == 2, result
    assert outcomes(result) == {"ok": "succeeded", "bad": "failed"}


@pytest.mark.parametrize("fmt", ["utc", "naive", "offset", "seconds"])
def test_iso_timestamps_with_or_without_fraction_and_zone(project, agy, fmt):
    agy.configure(time_format=fmt)
    project.batch("times", """
        [batch]
        backend = "agy"

        [[task]]
        label = "t"
        prompt = "sleep=1.2"
    """)
    result = project.run("run", "times", "--json")
    assert result.code == 0, result
    task = result.json()["tasks"][0]
    job = agy.jobs()[0]
    slack = 1.0 if fmt == "seconds" else 0.002
    assert parse_iso(task["started_at"]) == pytest.approx(job["started_at"], abs=slack)
    assert parse_iso(task["ended_at"]) == pytest.approx(job["ended_at"], abs=slack)


def test_without_started_at_the_start_is_when_the_runner_first_saw_it_running(project, agy):
    agy.configure(time_format="none")
    project.batch("notimes", """
        [batch]
        backend = "agy"

        [batch.poll]
        initial = "100ms"
        max = "100ms"

        [[task]]
        label = "t"
        prompt = "sleep=1.5"
    """)
    result = project.run("run", "notimes", "--json")
    assert result.code == 0, result
    task = result.json()["tasks"][0]
    job = agy.jobs()[0]
    assert task["started_at"] is not None
    started = parse_iso(task["started_at"])
    assert job["started_at"] <= started < job["ended_at"]


def test_failed_job_logs_come_from_agy_jobs_logs(project, agy):
    project.batch("logs", """
        [batch]
        backend = "agy"

        [[task]]
        label = "noisy"
        prompt = "lines=50 exit=1"
    """)
    assert project.run("run", "logs").code == 1
    result = project.run("logs", "noisy")
    assert result.code == 0, result
    assert "line 50" in result.out and "line 1\n" in result.out
    job_id = agy.jobs()[0]["job_id"]
    assert [argv for argv in agy.calls() if argv[:2] == ["jobs", "logs"]][-1][:3] == ["jobs", "logs", job_id]


def test_logs_of_a_job_agy_forgot_is_one_line_error(project, agy):
    agy.configure(retention=0)
    project.batch("gone", """
        [batch]
        backend = "agy"

        [[task]]
        label = "t"
        prompt = "say=a"
    """)
    project.run("run", "gone")
    result = project.run("logs", "t")
    assert result.code == 3, result
    assert result.err.count("\n") == 1 and "agy jobs logs" in result.err and "not found" in result.err


@pytest.mark.parametrize("table, task, message", [
    ('model = "m"\nmodle = "x"', 'prompt = "a"', "unknown key 'modle' (did you mean 'model'?)"),
    ('args = "--profile x"', 'prompt = "a"', "args must be a list of strings"),
    ('call_timeout = "soon"', 'prompt = "a"', "call_timeout: bad duration 'soon'"),
    ('call_timeout = 0', 'prompt = "a"', "call_timeout must be greater than zero"),
    ('submit_retries = -1', 'prompt = "a"', "submit_retries must be a whole number from 0 to 10"),
    ('bin = ""', 'prompt = "a"', "bin must be a non-empty string"),
    ('', 'command = ["true"]', "the agy backend runs prompts, not commands"),
    ('', 'model = "m"', "missing required key 'prompt' (sent to agy as --task)"),
    ('', 'prompt = "   "', "prompt must not be empty"),
    ('', 'prompt = 3', "prompt must be str"),
])
def test_bad_agy_settings_are_one_line_errors_naming_the_file(project, agy, table, task, message):
    folder = project.batch("bad", f"""
[batch]
backend = "agy"

[batch.agy]
{table}

[[task]]
label = "t"
{task}
""")
    result = project.run("run", "bad")
    assert result.code == 4, result
    assert result.err.count("\n") == 1, result
    assert str(folder / "batch.toml") in result.err and message in result.err
    assert agy.calls() == []
