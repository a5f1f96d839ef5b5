"""A batch with every kind of row a report draws, and helpers to read the HTML it produces."""
from __future__ import annotations

from html.parser import HTMLParser

HOSTILE = '<script>alert(1)</script> & "quotes"'

#: Six tasks: two succeed, one fails (hostile label, log with markup), one times
#: out, one is skipped (it needs the failed one), one succeeds on its second attempt.
MIXED = """
[batch]
stagger = "50ms"

[[task]]
label = "fast-ok"
command = ["true"]

[[task]]
label = '<script>alert(1)</script> & "quotes"'
command = ["sh", "-c", "echo '<b>not bold</b>'; echo 'it broke' >&2; exit 3"]

[[task]]
label = "slow-ok"
command = ["sleep", "1.5"]

[[task]]
label = "stuck"
command = ["sleep", "30"]
timeout = "1s"

[[task]]
label = "after-bad"
command = ["true"]
needs = ['<script>alert(1)</script> & "quotes"']

[[task]]
label = "flaky"
command = ["sh", "-c", "test -e marker || { touch marker; exit 1; }"]
retries = 1
retry_backoff = "200ms"
"""

OUTCOMES = {"fast-ok": "succeeded", HOSTILE: "failed", "slow-ok": "succeeded", "stuck": "timed_out",
            "after-bad": "skipped", "flaky": "succeeded"}


class Page(HTMLParser):
    """The elements of an HTML page: ``elements`` is ``[(tag, attrs dict)]``; ``text`` the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list = []
        self.chunks: list = []
        self.feed(html)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.chunks.append(data)

    def find(self, tag: str, cls: str | None = None) -> list:
        """Elements ``tag`` (with class token ``cls``)."""
        return [a for t, a in self.elements
                if t == tag and (cls is None or cls in (a.get("class") or "").split())]
