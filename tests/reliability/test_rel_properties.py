"""Property-based tests (hypothesis) of the batch-file loader and of the verdict.

* Any batch file, generated TOML or arbitrary text, either loads or fails with a
  :class:`~agybatch.errors.UsageError` whose one-line message names the file; never another
  exception (which the CLI would turn into an internal error). Checked in-process with
  :func:`agybatch.batchfile.load_batch` for speed, and for a few files through the CLI
  (``run --collect-only``, which submits nothing): the exit code the loader's answer calls for
  (4 refused, 5 no task, else 0), never a traceback.
* The verdict: exit 0 iff every task succeeded, 1 iff none did, 2 otherwise; in-process for
  any list of outcomes, and through real runs of generated batches of passing and failing jobs.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agybatch.batchfile import BATCH_KEYS, POLL_KEYS, load_batch
from agybatch.errors import UsageError
from agybatch.manager import build_manager, registered
from agybatch.model import Outcome, RunSummary, TaskResult, verdict_for
from agybatch.project import Project

# -- a TOML writer for generated documents -----------------------------------------------

def toml_key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict) -> str:
    lines = []
    for key, value in doc.items():
        if key == "task" and isinstance(value, list) and all(isinstance(t, dict) for t in value):
            continue
        lines.append(f"{toml_key(key)} = {toml_value(value)}" if not isinstance(value, dict)
                     else f"[{toml_key(key)}]\n" + "\n".join(f"{toml_key(k)} = {toml_value(v)}"
                                                            for k, v in value.items()))
    for task in doc.get("task", []) if isinstance(doc.get("task"), list) else []:
        if isinstance(task, dict):
            lines.append("[[task]]\n" + "\n".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in task.items()))
    return "\n".join(lines) + "\n"


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
DURATIONS = st.sampled_from(["5s", "100ms", "2m", "1h", "0s", "-1s", "1.5x", "", "10", "3 days", "1e9s", "nan s"])
SCALARS = st.one_of(TEXT, DURATIONS, st.integers(-10, 10**12), st.floats(allow_nan=True), st.booleans())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(TEXT, st.sampled_from(sorted(POLL_KEYS))), inner,
                                                 max_size=3)), max_leaves=8)
COMMANDS = st.one_of(st.lists(st.one_of(TEXT, st.just("true")), max_size=4), TEXT, st.just(["true"]),
                     st.integers(), st.lists(st.integers(), max_size=2))


def table(keys, extra) -> st.SearchStrategy:
    return st.dictionaries(st.one_of(st.sampled_from(sorted(keys)), TEXT), extra, max_size=6)


TASKS = st.lists(st.fixed_dictionaries(
    {"label": st.one_of(st.sampled_from(["a", "b", "c", "audit:x"]), TEXT, st.integers()),
     "command": st.one_of(st.just(["true"]), COMMANDS)},
    optional={ "timeout": st.one_of(DURATIONS, SCALARS), "cwd": st.one_of(TEXT, st.just(".")),
              "env": st.one_of(st.dictionaries(TEXT, TEXT, max_size=2), SCALARS),
              "needs": st.one_of(st.lists(st.sampled_from(["a", "b", "c"]), max_size=2), SCALARS),
              "retries": SCALARS, "retry_on": st.one_of(st.lists(st.sampled_from(["failed", "lost", "nope"])), SCALARS),
              "tags": st.one_of(st.lists(TEXT, max_size=2), SCALARS), "prompt": SCALARS, "bogus": SCALARS}),
    max_size=4)
PLAUSIBLE_TASKS = st.lists(st.fixed_dictionaries(
    {"label": st.sampled_from(["a", "b", "c", "audit:x", "report:y"]), "command": st.just(["true"])},
    optional={"timeout": st.sampled_from(["5s", "100ms", "2m", "0s", "-1s"]), "retries": st.integers(-1, 3),
              "needs": st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=2),
              "tags": st.lists(st.sampled_from(["x", "y", ""]), max_size=2),
              "retry_on": st.lists(st.sampled_from(["failed", "lost", "nope"]), max_size=2),
              "env": st.dictionaries(st.sampled_from(["A", "B", "A=B", ""]), TEXT, max_size=2),
              "cwd": st.sampled_from([".", "..", "/", "missing", "~"])}),
    max_size=5)
BATCH_VALUES = st.one_of(DURATIONS, st.integers(-2, 20), st.sampled_from(["local", "agy", "cancel", "leave"]), VALUES)
DOCUMENTS = st.one_of(
    # mostly plausible: tasks and a [batch] table, so validation gets past the top level
    st.fixed_dictionaries({"task": st.one_of(PLAUSIBLE_TASKS, TASKS)},
                          optional={"batch": table(BATCH_KEYS, BATCH_VALUES)}),
    st.fixed_dictionaries({}, optional={
        "batch": st.one_of(table(BATCH_KEYS, BATCH_VALUES), SCALARS),
        "task": st.one_of(TASKS, SCALARS),
        "notify": VALUES,
        "extra": VALUES,
    }),
)


@pytest.fixture(scope="module")
def registry():
    pm, _ = build_manager()
    return registered(pm, "register_backends"), registered(pm, "register_tables"), registered(pm, "register_result_formats")


def check_loads_or_names_the_file(text: str, registry) -> None:
    backends, tables, formats = registry
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "b"
        folder.mkdir()
        path = folder / "batch.toml"
        path.write_text(text, encoding="utf-8")
        project = Project(root=Path(tmp), settings={}, settings_path=None)
        try:
            load_batch(path, project, backends, tables, formats=formats)
        except UsageError as exc:
            message = str(exc)
            assert str(path) in message, message
            assert "\n" not in message and "\r" not in message, repr(message)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=DOCUMENTS)
def test_any_generated_batch_loads_or_fails_naming_the_file(doc, registry):
    check_loads_or_names_the_file(toml_document(doc), registry)


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_text_loads_or_fails_naming_the_file(text, registry):
    check_loads_or_names_the_file(text, registry)


def load_in_process(path: Path, root: Path, registry) -> int:
    """The exit code ``run --collect-only`` owes ``path``, from the loader itself: 4 if it refuses the
    file, 5 if the file has no task, else 0."""
    backends, tables, formats = registry
    try:
        spec = load_batch(path, Project(root=root, settings={}, settings_path=None), backends, tables,
                          formats=formats)
    except UsageError:
        return 4
    return 0 if spec.tasks else 5


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCUMENTS)
def test_through_the_cli_the_loaders_answer_never_a_traceback(doc, tmp_path_factory, registry):
    root = tmp_path_factory.mktemp("cli")
    (root / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n')
    folder = root / "batches" / "b"
    folder.mkdir(parents=True)
    (folder / "batch.toml").write_text(toml_document(doc), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "agybatch", "run", "b", "--collect-only"], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == load_in_process(folder / "batch.toml", root, registry), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    if proc.returncode == 4:
        assert len(proc.stderr.strip().splitlines()) == 1 and "batch.toml" in proc.stderr, proc.stderr
    assert not (root / ".agybatch" / "jobs").exists(), "collect-only submitted something"


# -- the verdict -----------------------------------------------------------------------

OUTCOMES = st.lists(st.sampled_from(list(Outcome)), max_size=12)


def expected_code(outcomes) -> int:
    """The rule in words, not the code's arithmetic: 0 when every task (of at least one) succeeded,
    1 when none did, 2 when some did and some did not."""
    succeeded = {outcome is Outcome.SUCCEEDED for outcome in outcomes}
    return {frozenset({True}): 0, frozenset({False}): 1, frozenset(): 1, frozenset({True, False}): 2}[
        frozenset(succeeded)]


@pytest.mark.parametrize("outcomes, code, word", [
    ([], 1, "wipeout"),
    ([Outcome.SUCCEEDED], 0, "ok"),
    ([Outcome.SUCCEEDED, Outcome.SUCCEEDED], 0, "ok"),
    ([Outcome.FAILED], 1, "wipeout"),
    ([Outcome.SKIPPED, Outcome.LOST], 1, "wipeout"),
    ([Outcome.SUCCEEDED, Outcome.CANCELLED], 2, "partial"),
    ([Outcome.TIMED_OUT, Outcome.SUCCEEDED, Outcome.SUCCEEDED], 2, "partial"),
])
def test_verdict_examples(outcomes, code, word):
    assert verdict_for(outcomes) == (code, word)


@given(outcomes=OUTCOMES)
def test_verdict_is_0_iff_all_succeeded_1_iff_none_2_otherwise(outcomes):
    code, word = verdict_for(outcomes)
    assert int(code) == expected_code(outcomes)
    assert word == {0: "ok", 1: "wipeout", 2: "partial"}[int(code)]
    summary = RunSummary(run_id="r", batch="b", backend="local", started_at=0.0, ended_at=1.0,
                         tasks=[TaskResult(label=f"t{i}", outcome=o) for i, o in enumerate(outcomes)])
    assert int(summary.exit_code) == expected_code(outcomes)
    assert sum(summary.counts.values()) == len(outcomes)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codes=st.lists(st.sampled_from([0, 0, 1, 3, 127]), min_size=1, max_size=5))
def test_real_runs_exit_with_the_verdict_of_their_jobs(codes, tmp_path_factory):
    root = tmp_path_factory.mktemp("verdict")
    (root / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n')
    folder = root / "batches" / "b"
    folder.mkdir(parents=True)
    (folder / "batch.toml").write_text("".join(
        f'[[task]]\nlabel = "t{i}"\ncommand = ["sh", "-c", "exit {code}"]\n' for i, code in enumerate(codes)))
    proc = subprocess.run([sys.executable, "-m", "agybatch", "run", "b", "--json"], cwd=root,
                          capture_output=True, text=True, timeout=60)
    outcomes = [Outcome.SUCCEEDED if c == 0 else Outcome.FAILED for c in codes]
    assert proc.returncode == expected_code(outcomes), proc.stderr
    data = json.loads(proc.stdout)
    assert [t["exit_code"] for t in data["tasks"]] == codes
