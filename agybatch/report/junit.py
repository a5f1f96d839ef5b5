"""JUnit XML for CI dashboards and log aggregators: one ``testsuite`` per batch, one ``testcase`` per task.

Mapping (``classname`` = batch, ``name`` = label, ``time`` = submit to end):

============================================  =================================
outcome                                       element
============================================  =================================
succeeded                                     (none: passed)
failed, timed_out, stalled, cancelled         ``<failure type=OUTCOME>``
error, lost, rate_limited                     ``<error type=OUTCOME>``
skipped                                       ``<skipped>``
unsettled (an interrupted or unfinished run)  ``<skipped type="unsettled">``
============================================  =================================

The tail of a failed job's log goes into the testcase's ``<system-out>``;
succeeded jobs' logs are never included. The run's ID, verdict, exit code
and backend are ``<properties>`` of the suite; what an agent task reported
(session, tokens, ``cost_usd``, model) and its worktree (branch, commit,
diffstat) are ``<properties>`` of its testcase
(:func:`agybatch.report.summary.task_facts`). Characters XML 1.0 cannot
carry (NUL, most control characters) are shown escaped as ``\\xNN``.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from xml.etree import ElementTree as ET

from ..units import printable
from . import summary as render

FAILURE = {"failed", "timed_out", "stalled", "cancelled"}
ERROR = {"error", "lost", "rate_limited"}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def clean(text) -> str:
    """``text`` without characters XML 1.0 forbids (shown as ``\\xNN`` instead)."""
    return _NOT_XML.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 256 else "\\u%04x" % ord(m.group()),
                        str(text))


def seconds(value) -> str:
    return f"{max(0.0, value or 0.0):.3f}"


def element(report) -> ET.Element:
    """The ``<testsuites>`` element of ``report`` (a :class:`~agybatch.report.data.Report`)."""
    summary = report.summary
    batch = printable(summary.batch)
    counts = {"tests": len(summary.tasks), "failures": 0, "errors": 0, "skipped": 0}
    cases = []
    for task in summary.tasks:
        case = ET.Element("testcase", {"classname": batch, "name": printable(task.label),
                                       "time": seconds(task.duration_s)})
        facts = render.task_facts(task)
        if facts:
            own = ET.SubElement(case, "properties")
            for name, value in facts:
                ET.SubElement(own, "property", {"name": name, "value": clean(printable(value))})
        key = task.outcome.value if task.outcome is not None else None
        message = _message(task)
        if key in FAILURE or key in ERROR:
            counts["failures" if key in FAILURE else "errors"] += 1
            tag = "failure" if key in FAILURE else "error"
            ET.SubElement(case, tag, {"type": key, "message": clean(message)}).text = clean(_body(task))
        elif key == "skipped" or key is None:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", {"type": key or "unsettled", "message": clean(message)})
        tail = report.log_tail(task)
        if tail:
            ET.SubElement(case, "system-out").text = clean(tail)
        cases.append(case)
    duration = summary.duration_s
    root = ET.Element("testsuites", {"name": "agybatch", "tests": str(counts["tests"]),
                                     "failures": str(counts["failures"]), "errors": str(counts["errors"]),
                                     "time": seconds(duration)})
    suite = ET.SubElement(root, "testsuite", {
        "name": batch, **{k: str(v) for k, v in counts.items()}, "time": seconds(duration),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(summary.started_at)),
        "hostname": clean(report.host or "localhost"), "id": summary.run_id,
    })
    properties = ET.SubElement(suite, "properties")
    usage = render.usage_text(summary.usage_total)
    for name, value in (("run_id", summary.run_id), ("verdict", report.state),
                        ("exit_code", "" if report.unfinished else str(int(summary.exit_code))),
                        ("backend", summary.backend), ("summary", render.title(summary)),
                        *((("usage", usage),) if usage else ())):
        ET.SubElement(properties, "property", {"name": name, "value": clean(value)})
    suite.extend(cases)
    return root


def _message(task) -> str:
    """``failed: exit 3, 3 broken links`` / ``timed out: …`` / ``unsettled (running): …``."""
    if task.outcome is None:
        head = f"unsettled ({task.state or 'unknown'}): the run ended before this task did"
    else:
        head = task.outcome.text
    detail = render.detail(task)
    if detail.startswith(head):  # "rate limited: ..." says its outcome already
        return printable(detail)
    return printable(f"{head}: {detail}" if detail else head)


def _body(task) -> str:
    """The text of a ``failure``/``error``: duration label, detail, attempts and the log's path."""
    lines = [printable(task.duration_label or render.fallback_label(task))]
    detail = render.detail(task)
    if detail:
        lines.append(printable(detail))
    if task.attempts > 1:
        lines.append(f"{task.attempts} attempts")
    if task.log_path:
        lines.append(f"log: {printable(task.log_path)}")
    return "\n".join(lines)


def render_xml(report) -> str:
    """The JUnit XML document of ``report`` as text (UTF-8 declared)."""
    root = element(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(report, path, mode: int = 0o600) -> Path:
    """Render ``report`` into ``path`` (owner-only, replaced atomically); return the path."""
    from .files import write_atomic

    path = Path(path).expanduser()
    return write_atomic(path, render_xml(report), mode)
