"""Command templates on the local backend: agy's headless ``-p`` mode, and any other CLI."""
from __future__ import annotations

import json
import sys

ARGV_DUMP = ["{python}", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]


def outcomes(result) -> dict:
    return {t["label"]: t["outcome"] for t in result.json()["tasks"]}


def test_agy_print_mode_runs_on_the_local_backend_with_a_command_template(project, agy):
    project.batch("headless", """
        [batch]
        vars = { model = "gemini-3.5-flash" }

        [[task]]
        label = "article"
        command = ["agy", "-p", "{prompt}", "--model", "{model}"]
        prompt = "say=written sleep=0.2"

        [[task]]
        label = "audit"
        command = ["agy", "-p", "{prompt}", "--model", "{model}"]
        prompt = "say=3_broken_links exit=3"
        model = "gemini-3.5-pro"
    """)
    result = project.run("run", "headless", "--json")
    assert result.code == 2, result
    assert outcomes(result) == {"article": "succeeded", "audit": "failed"}
    assert result.json()["tasks"][1]["exit_code"] == 3
    assert sorted(agy.calls()) == [  # submission order is the runner's business
        ["-p", "say=3_broken_links exit=3", "--model", "gemini-3.5-pro"],
        ["-p", "say=written sleep=0.2", "--model", "gemini-3.5-flash"],
    ]
    assert project.run("logs", "audit").out == "3 broken links\n"


def test_placeholders_fill_whole_argv_items_for_any_cli_never_through_a_shell(project):
    hostile = "a b; touch pwned $(touch pwned2) {model} 'q' \"dq\" *"
    argv = json.dumps([sys.executable, *ARGV_DUMP[1:], "{prompt}", "--label={label}", "{lang}-{{lang}}",
                       "{'dict': 1}"])
    project.batch("anycli", f"""
        [[task]]
        label = "t1"
        command = {argv}
        prompt = '''{hostile}'''
        model = "m"
        vars = {{ lang = "ja" }}
    """)
    result = project.run("run", "anycli")
    assert result.code == 0, result
    log = project.run("logs", "t1").out
    assert json.loads(log) == [hostile, "--label=t1", "ja-{lang}", "{'dict': 1}"]
    assert not list(project.root.rglob("pwned*"))


def test_commands_without_template_fields_are_left_alone(project):
    project.batch("plain", """
        [[task]]
        label = "frames"
        command = ["python3", "-c", "i = 7; print(f'frame {i} {{label}}')"]
    """)
    result = project.run("run", "plain")
    assert result.code == 0, result
    assert project.run("logs", "frames").out == "frame 7 {label}\n"


def test_task_vars_override_batch_vars(project):
    argv = json.dumps([sys.executable, *ARGV_DUMP[1:], "{model}", "{lang}"])
    project.batch("override", f"""
        [batch]
        vars = {{ model = "default-model", lang = "en" }}

        [[task]]
        label = "a"
        command = {argv}

        [[task]]
        label = "b"
        command = {argv}
        vars = {{ lang = "fr" }}
        model = "own-model"
    """)
    assert project.run("run", "override").code == 0
    assert json.loads(project.run("logs", "a").out) == ["default-model", "en"]
    assert json.loads(project.run("logs", "b").out) == ["own-model", "fr"]


def test_unknown_placeholder_is_a_one_line_error_naming_file_line_and_task(project):
    folder = project.batch("typo", """
        [[task]]
        label = "t"
        prompt = "hello"
        command = ["agy", "-p", "{promt}"]
    """)
    result = project.run("run", "typo")
    assert result.code == 4, result
    assert result.err.count("\n") == 1
    assert f"{folder / 'batch.toml'}:5" in result.err
    assert "task 't'" in result.err and "unknown placeholder {promt}" in result.err
    assert "known: label, previous_session, prompt" in result.err


def test_a_string_command_cannot_take_placeholders(project):
    project.batch("shell", """
        [[task]]
        label = "t"
        prompt = "hello"
        command = "agy -p {prompt}"
    """)
    result = project.run("run", "shell")
    assert result.code == 4, result
    assert "placeholder {prompt} needs a list command" in result.err


def test_bad_vars_are_reported_with_the_key(project):
    project.batch("badvars", """
        [batch]
        vars = { model = 3 }

        [[task]]
        label = "t"
        command = ["true"]
    """)
    result = project.run("run", "badvars")
    assert result.code == 4, result
    assert "[batch]" in result.err and "vars: model must be a string" in result.err
