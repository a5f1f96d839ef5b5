"""A bad batch file: exit 4, one line naming the file (and line or key), nothing submitted."""
import pytest

GOOD_TASK = '''
[[task]]
label = "a"
command = ["true"]
'''

CASES = {
    "toml syntax": ('[batch\nname = "x"\n' + GOOD_TASK, ["invalid TOML", "line 1"]),
    "unknown top-level key": ("[bacth]\n" + GOOD_TASK, ["unknown key 'bacth'", "did you mean 'batch'"]),
    "unknown batch key": ('[batch]\ndeadlin = "5m"\n' + GOOD_TASK, [":2:", "did you mean 'deadline'"]),
    "unknown task key": ('[[task]]\nlabel = "a"\ncomand = ["true"]\n', [":3:", "did you mean 'command'"]),
    "wrong type": ('[batch]\nmax_parallel = "four"\n' + GOOD_TASK, [":2:", "max_parallel must be a whole number"]),
    "negative number": ("[batch]\nmax_parallel = -1\n" + GOOD_TASK, ["max_parallel", ">= 0"]),
    "duplicate label": (GOOD_TASK + GOOD_TASK, ["duplicate label 'a'", ":7:"]),
    "missing label": ('[[task]]\ncommand = ["true"]\n', ["task 1", "missing required key 'label'", ":1:"]),
    "blank label": ('[[task]]\nlabel = "  "\ncommand = ["true"]\n', ["label must be a non-empty string"]),
    "missing command": ('[[task]]\nlabel = "a"\n', ["task 'a'", "missing required key 'command'"]),
    "empty command list": ('[[task]]\nlabel = "a"\ncommand = []\n', ["command must be a non-empty list"]),
    "empty command string": ('[[task]]\nlabel = "a"\ncommand = " "\n', ["command must not be empty"]),
    "command of numbers": ('[[task]]\nlabel = "a"\ncommand = [1, 2]\n', ["command must be a non-empty list"]),
    "bad duration": ('[batch]\ndeadline = "soon"\n' + GOOD_TASK, [":2:", "bad duration 'soon'"]),
    "negative duration": ("[batch]\nstagger = -2\n" + GOOD_TASK, ["stagger", "must not be negative"]),
    "zero task timeout": ('[[task]]\nlabel = "a"\ncommand = ["true"]\ntimeout = "0s"\n', ["timeout", "greater than zero"]),
    "missing cwd": ('[[task]]\nlabel = "a"\ncommand = ["true"]\ncwd = "nowhere"\n', ["cwd 'nowhere' does not exist", ":4:"]),
    "unknown backend": ('[batch]\nbackend = "moon"\n' + GOOD_TASK, ["backend 'moon' is not registered", "local"]),
    "poll factor below 1": ("[batch.poll]\nfactor = 0.5\n" + GOOD_TASK, ["factor must be a number >= 1"]),
    "poll initial above max": ('[batch.poll]\ninitial = "1m"\nmax = "1s"\n' + GOOD_TASK, ["initial must not exceed max"]),
    "env not strings": ('[[task]]\nlabel = "a"\ncommand = ["true"]\nenv = { N = 1 }\n', ["env must be a table of strings"]),
    "bad on_stalled": ('[batch]\non_stalled = "explode"\n' + GOOD_TASK, ["on_stalled must be one of"]),
    "label with newline": ('[[task]]\nlabel = "a\\nb"\ncommand = ["true"]\n', ["must not contain NUL or newline"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_batch_file_exits_4_with_one_line(project, case):
    text, expected = CASES[case]
    folder = project.batch("broken", text)
    result = project.run("run", "broken")
    assert result.code == 4, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result
    assert "Traceback" not in result.err
    assert str(folder / "batch.toml") in lines[0]
    for fragment in expected:
        assert fragment in lines[0]
    assert result.out == ""
    assert not (project.state / "jobs").exists(), "nothing may be submitted"


def test_empty_task_list_exits_5(project):
    project.batch("empty", '[batch]\nname = "empty"\n')
    result = project.run("run", "empty")
    assert result.code == 5, result
    assert "no [[task]]" in result.err


@pytest.mark.parametrize("args, fragment", [
    (["run", "nightly", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "nightly", "-j", "-3"], "must be >= 0"),
    (["run", "nightly", "--color", "purple"], "invalid choice"),
    (["run", "nightly", "-p", "no_such_plugin_xyz"], "unknown plugin 'no_such_plugin_xyz'"),
    (["run", "nightly", "--deadline", "whenever"], "bad duration"),
    (["run", "does-not-exist"], "no batch 'does-not-exist'"),
    (["frobnicate"], "invalid choice"),
    (["join"], "no unfinished run to join"),
])
def test_bad_flags_exit_4(project, args, fragment):
    project.batch("nightly", GOOD_TASK)
    result = project.run(*args)
    assert result.code == 4, result
    assert fragment in result.err
    assert len(result.err.strip().splitlines()) == 1, result
    assert "Traceback" not in result.err


def test_project_defaults_apply_and_batch_overrides(project):
    (project.root / "pyproject.toml").write_text(
        '[project]\nname = "n"\nversion = "0"\n\n[tool.agybatch.batch]\ndeadline = "nonsense"\n'
    )
    project.batch("nightly", GOOD_TASK)
    result = project.run("run", "nightly")
    assert result.code == 4 and "bad duration 'nonsense'" in result.err
    project.batch("nightly", '[batch]\ndeadline = "1m"\n' + GOOD_TASK)
    assert project.run("run", "nightly").code == 0
