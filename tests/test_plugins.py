"""Plugins: built-ins, -p, -p no:NAME, batchconf.py, project plugins, failures named."""
import json

BATCH = '[[task]]\nlabel = "a"\ncommand = ["true"]\n[[task]]\nlabel = "b"\ncommand = ["false"]\n'

RECORDER = '''
import json, os
from agybatch import hookimpl

def _log(*parts):
    with open(os.environ["HOOK_LOG"], "a") as fh:
        fh.write(json.dumps(parts) + "\\n")

@hookimpl
def addoption(parser):
    parser.add_argument("--shout", action="store_true")

@hookimpl
def configure(config):
    _log("configure", config.option.shout)

@hookimpl
def on_session_start(session):
    _log("start", session.batch.name, session.resumed)

@hookimpl
def on_submit(session, task, job):
    row = [t for t in session.journal.tasks(session.run_id) if t["label"] == task.label][0]
    _log("submit", task.label, job.job_id, row["job_id"])

@hookimpl
def on_state_change(task, outcome):
    _log("state", task.label, outcome and outcome.value)

@hookimpl
def on_join(session, summary):
    _log("join", summary.verdict, session.journal.run(session.run_id)["verdict"])

@hookimpl
def on_session_end(exit_code):
    _log("end", exit_code)
'''


def hook_log(project):
    return [json.loads(line) for line in (project.root / "hooks.log").read_text().splitlines()]


def test_batchconf_sees_every_hook_after_the_journal(project):
    project.batch("b", BATCH, **{"batchconf.py": RECORDER})
    result = project.run("run", "b", "--shout", env={"HOOK_LOG": str(project.root / "hooks.log")})
    assert result.code == 2, result
    log = hook_log(project)
    assert log[0] == ["configure", True]
    assert log[1] == ["start", "b", False]
    submits = [entry for entry in log if entry[0] == "submit"]
    assert len(submits) == 2 and all(e[2] == e[3] for e in submits), "job ID journalled before on_submit"
    assert ["state", "a", "succeeded"] in log and ["state", "b", "failed"] in log
    assert log[-2] == ["join", "partial", "partial"], "verdict journalled before on_join"
    assert log[-1] == ["end", 2]


def test_loading_batchconf_writes_no_bytecode_into_the_batch_folder(project, tmp_path):
    # What batchconf.py imports is cached as usual: only the batch folder is left alone.
    library = tmp_path / "lib"
    library.mkdir()
    (library / "helper.py").write_text("NAME = 'helper'\n")
    folder = project.batch("b", BATCH, **{"batchconf.py": "import helper\n" + RECORDER})
    project.env = {k: v for k, v in project.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = project.run("run", "b", env={"HOOK_LOG": str(project.root / "hooks.log"), "PYTHONPATH": str(library)})
    assert result.code == 2, result
    assert hook_log(project)[-1] == ["end", 2], "batchconf.py was loaded"
    assert sorted(p.name for p in folder.iterdir()) == ["batch.toml", "batchconf.py"]
    assert [p.name.split(".")[0] for p in (library / "__pycache__").iterdir()] == ["helper"]


def test_dash_p_loads_a_module_and_no_blocks_builtins(project, tmp_path):
    plugdir = tmp_path / "plugs"
    plugdir.mkdir()
    (plugdir / "my_recorder.py").write_text(RECORDER)
    project.batch("b", BATCH)
    env = {"HOOK_LOG": str(project.root / "hooks.log"), "PYTHONPATH": str(plugdir)}
    result = project.run("run", "b", "-p", "my_recorder", "-p", "no:terminal", env=env)
    assert result.code == 2, result
    assert result.out == "", "terminal reporter blocked"
    assert hook_log(project)[-1] == ["end", 2]
    listing = project.run("plugins", "--json", "-p", "my_recorder", env=env).json()["plugins"]
    names = {p["name"]: p for p in listing}
    assert names["my_recorder"]["origin"].startswith("module")
    assert names["lock"]["origin"] == "builtin"
    assert "on_submit" in names["my_recorder"]["hooks"]
    blocked = project.run("plugins", "-p", "no:lock", env=env)
    assert "lock" not in blocked.out and "terminal" in blocked.out


def test_global_options_before_or_after_the_subcommand(project):
    project.batch("b", BATCH)
    before = project.run("-q", "-p", "no:lock", "run", "b")
    after = project.run("run", "b", "-q", "-p", "no:lock")
    assert before.code == after.code == 2
    assert before.out.count("\n") == after.out.count("\n") == 1
    assert before.out.startswith("== 1 succeeded, 1 failed")


def test_project_plugin_list(project, tmp_path):
    plugdir = tmp_path / "plugs"
    plugdir.mkdir()
    (plugdir / "team_plugin.py").write_text(RECORDER)
    (project.root / "pyproject.toml").write_text(
        '[project]\nname = "n"\nversion = "0"\n[tool.agybatch]\nplugins = ["team_plugin"]\n')
    project.batch("b", BATCH)
    env = {"HOOK_LOG": str(project.root / "hooks.log"), "PYTHONPATH": str(plugdir)}
    assert project.run("run", "b", env=env).code == 2
    assert hook_log(project)[-1] == ["end", 2]


def test_a_failing_plugin_is_named_and_the_run_state_survives(project):
    project.batch("b", BATCH, **{"batchconf.py": """
        from agybatch import hookimpl

        @hookimpl
        def on_state_change(task):
            raise RuntimeError("boom in " + task.label)
    """})
    result = project.run("run", "b", "--json")
    assert result.code == 2, result
    data = result.json()
    assert {t["outcome"] for t in data["tasks"]} == {"succeeded", "failed"}
    assert any("plugin 'batchconf' failed in on_state_change: RuntimeError: boom in" in e
               for e in data["plugin_errors"])
    assert "plugin 'batchconf' failed in on_state_change" in result.err
    status = project.run("status", "--json").json()
    assert status["verdict"] == "partial"


def test_a_plugin_failing_to_load_names_file_and_line(project):
    folder = project.batch("b", BATCH, **{"batchconf.py": "x = 1\nraise ValueError('bad config')\n"})
    result = project.run("run", "b")
    assert result.code == 4, result
    assert f"{folder / 'batchconf.py'}:2: plugin failed to load: ValueError: bad config" in result.err
    assert "Traceback" not in result.err


def test_a_plugin_failing_in_configure_exits_3(project):
    project.batch("b", BATCH, **{"batchconf.py": """
        from agybatch import hookimpl

        @hookimpl
        def configure(config):
            raise KeyError("missing")
    """})
    result = project.run("run", "b")
    assert result.code == 3, result
    assert "plugin 'batchconf' failed in configure: KeyError" in result.err
    assert not (project.state / "jobs").exists()


def test_a_local_plugin_registers_a_backend(project):
    project.batch("b", '[batch]\nbackend = "echo"\n[[task]]\nlabel = "a"\nmessage = "hi"\n', **{"batchconf.py": """
        from agybatch import hookimpl, JobState, JobStatus
        from agybatch.backends import Backend

        class EchoBackend(Backend):
            task_options = {"message": str}

            @classmethod
            def check_task(cls, task):
                if "message" not in task.options:
                    raise ValueError("needs a message")

            def submit(self, task, key):
                return JobStatus(key, JobState.SUCCEEDED, exit_code=0, started_at=1.0, ended_at=2.0)

            def poll(self, job_ids):
                return {}

        @hookimpl
        def register_backends(register):
            register("echo", EchoBackend)
    """})
    result = project.run("run", "b", "--json")
    assert result.code == 0, result
    assert result.json()["backend"] == "echo"


def test_blocking_a_plugin_leaves_its_table_alone(project):
    project.batch("b", BATCH + '\n[notify]\npartial = ["digest"]\n[notify.sinks.digest]\ntype = "digest"\npath = "d.md"\n')
    digest = project.root / "d.md"  # a digest path is relative to the project root
    assert project.run("run", "b").code == 2
    assert digest.is_file(), "the control: with the notify plugin, the partial run writes the digest"
    digest.unlink()
    result = project.run("run", "b", "-p", "no:notify")
    assert result.code == 2, result
    assert "notified" not in result.out + result.err
    assert not digest.exists()


def test_a_raising_on_join_plugin_does_not_hide_the_summary(project):
    project.batch("b", BATCH, **{"batchconf.py": """
        from agybatch import hookimpl

        @hookimpl
        def on_join(summary):
            raise RuntimeError("reporting broke")
    """})
    result = project.run("run", "b")
    assert result.code == 2, result
    assert result.out.splitlines()[-1].startswith("== 1 succeeded, 1 failed in ")
    assert "plugin 'batchconf' failed in on_join: RuntimeError: reporting broke" in result.err


def test_hostile_labels_are_printed_escaped(project):
    project.batch("b", '[[task]]\nlabel = "evil\\u001b[31mred"\ncommand = ["false"]\n')
    result = project.run("run", "b", "--color", "no")
    assert result.code == 1, result
    assert "\x1b" not in result.out and "evil\\x1b[31mred" in result.out
