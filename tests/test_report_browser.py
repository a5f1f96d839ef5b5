"""The HTML report in a real headless Chromium (Debian's ``chromium``): loads cleanly, one bar per task.

No JavaScript is needed or allowed in the page, so the checks use Chromium's
own outputs: ``--dump-dom`` (the DOM after parsing and layout), console
messages logged on stderr (``--enable-logging=stderr``; the page has no
script, so any console message is a CSP violation or a load error), and
``--screenshot``. A control page proves the console check catches errors.
"""
from __future__ import annotations

import struct
import subprocess

from tests.helpers.need import need_command
from tests.report_fixtures import HOSTILE, MIXED, OUTCOMES, Page


def chromium(tmp_path, url: str, *extra) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    argv = [need_command("chromium", "chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def console_messages(stderr: str) -> list:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_the_console_check_catches_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("boom")</script></body></html>')
    result = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert any('"boom"' in line for line in console_messages(result.stderr)), result.stderr


def test_report_loads_without_console_errors_and_draws_a_bar_per_task(project, tmp_path):
    project.batch("nightly", MIXED)
    result = project.run("run", "nightly", "--html", "report.html")
    assert result.code == 2, result
    url = (project.root / "report.html").as_uri()

    dom = chromium(tmp_path, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    assert console_messages(dom.stderr) == []
    page = Page(dom.stdout)
    assert len(page.find("rect", "bar")) == len(page.find("g", "task")) == len(OUTCOMES)
    assert not page.find("script"), "the hostile label stayed text in the browser's DOM"
    assert HOSTILE in page.text

    shot = tmp_path / "timeline.png"
    taken = chromium(tmp_path, url, f"--screenshot={shot}", "--window-size=1200,800", "--hide-scrollbars")
    assert taken.returncode == 0 and console_messages(taken.stderr) == [], taken.stderr
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1200, 800)
    assert len(png) > 20_000, "a real picture, not a blank page"
