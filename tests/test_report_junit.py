"""JUnit XML: the outcome mapping, and valid per xmllint against the schema Jenkins validates JUnit
reports with (tests/schemas/jenkins-junit-10.xsd, which also lets a testcase hold properties, as
Jenkins' JUnit plugin and GitLab read them) and against our stricter own (tests/schemas/agybatch-junit.xsd)."""
from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agybatch.model import Outcome, RunSummary, TaskResult
from agybatch.report import data, junit
from tests.helpers.need import need_command
from tests.report_fixtures import HOSTILE, MIXED, OUTCOMES

SCHEMAS = Path(__file__).parent / "schemas"
#: Jenkins' JUnit schema (xunit-plugin junit-10.xsd, MIT; testcase properties allowed: see its header).
JENKINS = SCHEMAS / "jenkins-junit-10.xsd"
#: Ours, stricter: whole-number counts, plain decimal times.
OURS = SCHEMAS / "agybatch-junit.xsd"


def validate(path: Path, schema: Path = JENKINS) -> subprocess.CompletedProcess:
    xmllint = need_command("xmllint", "libxml2-utils")
    return subprocess.run([xmllint, "--noout", "--schema", str(schema), str(path)],
                          capture_output=True, text=True, timeout=60)


def assert_valid(path: Path) -> None:
    for schema in (JENKINS, OURS):
        result = validate(path, schema)
        assert result.returncode == 0, f"{schema.name}: {result.stderr}"


def every_outcome(tmp_path) -> RunSummary:
    tasks = []
    for i, outcome in enumerate([*Outcome, None]):
        log = tmp_path / f"{i}.log"
        log.write_bytes(b"first\n\x00nul and \x1b[31mescape\x1b[0m\n<tag> & last line\n")
        tasks.append(TaskResult(
            label=f"t{i}:{outcome.value if outcome else 'unsettled'}\n<x>", outcome=outcome, job_id=f"j{i}",
            attempts=1, exit_code=3 if outcome is Outcome.FAILED else None, submitted_at=100.0 + i,
            started_at=101.0 + i, ended_at=None if outcome is None else 110.5 + i,
            reason=None if outcome in (Outcome.SUCCEEDED, Outcome.FAILED, None) else f"why \x07 {i}",
            log_path=str(log), state="running" if outcome is None else None,
            session_id="sess-7" if outcome is Outcome.FAILED else None))
    return RunSummary("r1", "night\x01ly", "local", 100.0, 130.0, tasks, interrupted=True)


def cases(root) -> dict:
    return {c.get("name"): c for c in root.iter("testcase")}


def test_each_outcome_maps_to_its_junit_element(tmp_path):
    summary = every_outcome(tmp_path)
    root = ET.fromstring(junit.render_xml(data.Report(summary=summary, host="h")))
    suite = root.find("testsuite")
    assert suite.get("name") == "night\\x01ly" and suite.get("id") == "r1"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == \
        ("10", "4", "3", "2")
    kinds = {}
    for case in root.iter("testcase"):
        assert case.get("classname") == "night\\x01ly"
        child = [c.tag for c in case if c.tag not in ("system-out", "properties")]
        kinds[case.get("name").split(":")[1].split("\\")[0]] = (child, case.find("*[@type]") is not None
                                                                 and case.find("*[@type]").get("type"))
    assert kinds == {
        "succeeded": ([], False), "failed": (["failure"], "failed"), "cancelled": (["failure"], "cancelled"),
        "timed_out": (["failure"], "timed_out"), "stalled": (["failure"], "stalled"),
        "lost": (["error"], "lost"), "skipped": (["skipped"], "skipped"), "error": (["error"], "error"),
        "rate_limited": (["error"], "rate_limited"),
        "unsettled": (["skipped"], "unsettled"),
    }
    by_name = cases(root)
    failed = by_name["t1:failed\\x0a<x>"]
    assert failed.get("time") == "10.500", "submitted to ended"
    assert failed.find("failure").get("message") == "failed: exit 3"
    assert by_name["t3:timed_out\\x0a<x>"].find("failure").get("message") == "timed out: why \\x07 3"
    assert [(p.get("name"), p.get("value")) for p in failed.find("properties")] == [("session_id", "sess-7")]
    assert by_name["t0:succeeded\\x0a<x>"].find("properties") is None, "no properties for a plain task"
    out = failed.find("system-out").text
    assert out.startswith("first\n\\x00nul and \\x1b[31mescape") and "<tag> & last line" in out
    assert by_name["t0:succeeded\\x0a<x>"].find("system-out") is None, "never the log of a succeeded job"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == "interrupted" and props["exit_code"] == "130"


def test_every_outcome_validates_against_the_junit_schemas(tmp_path):
    path = junit.write(data.Report(summary=every_outcome(tmp_path), host="h"), tmp_path / "out" / "j.xml")
    assert_valid(path)


CASE = '<testsuites><testsuite name="b" tests="1" failures="0" errors="0">{}</testsuite></testsuites>'


@pytest.mark.parametrize("schema", [JENKINS, OURS], ids=lambda p: p.name)
@pytest.mark.parametrize("case, complaint", [
    ('<testcase name="x"><failure><nested/></failure></testcase>', "nested"),
    ('<testcase><failure/></testcase>', "name"),
    ('<testcase name="x"><properties><property name="p"/></properties></testcase>', "value"),
    ('<testcase name="x"><outcome/></testcase>', "outcome"),
])
def test_each_schema_rejects_what_ci_tools_cannot_read(tmp_path, schema, case, complaint):
    broken = tmp_path / "broken.xml"
    broken.write_text(CASE.format(case))
    result = validate(broken, schema)
    assert result.returncode == 3, result  # xmllint: "validation error"
    assert complaint in result.stderr, result.stderr


@pytest.mark.parametrize("schema", [JENKINS, OURS], ids=lambda p: p.name)
def test_each_schema_accepts_properties_on_a_testcase(tmp_path, schema):
    """The per-task usage, cost and branch are testcase properties, as Jenkins' JUnit plugin and GitLab read them."""
    path = tmp_path / "props.xml"
    path.write_text(CASE.format('<testcase name="x" time="1.5"><properties><property name="cost_usd" value="0.12"/>'
                                '</properties><failure message="m" type="failed">log</failure>'
                                '<system-out>out</system-out></testcase>'))
    result = validate(path, schema)
    assert result.returncode == 0, result.stderr


def test_run_junitxml_is_valid_and_names_batch_and_labels(project):
    project.batch("nightly", MIXED)
    result = project.run("run", "nightly", "--junitxml", "ci/junit.xml", "--json")
    assert result.code == 2, result
    path = project.root / "ci" / "junit.xml"
    assert_valid(path)
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite.get("name") == "nightly"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == \
        ("6", "2", "0", "1")
    got = cases(root)
    assert set(got) == set(OUTCOMES) and all(c.get("classname") == "nightly" for c in got.values())
    tasks = {t["label"]: t for t in result.json()["tasks"]}
    for label, case in got.items():
        assert float(case.get("time")) == pytest.approx(tasks[label]["duration_s"] or 0.0, abs=0.002)
    assert got[HOSTILE].find("failure").get("type") == "failed"
    assert "it broke" in got[HOSTILE].find("system-out").text
    assert "log: " + tasks[HOSTILE]["log_path"] in got[HOSTILE].find("failure").text
    assert got["stuck"].find("failure").get("type") == "timed_out"
    assert got["after-bad"].find("skipped").get("message").startswith("skipped: needs")
    assert list(got["flaky"]) == [], "a task that succeeded on a retry passed"
