"""Reports of a run: the shared text/Markdown summary, the HTML timeline and JUnit XML.

- :mod:`agybatch.report.summary`: the one place that formats a run summary
  (terminal, notifications and digest, ``agybatch report``, the HTML header).
- :mod:`agybatch.report.data`: a :class:`~agybatch.report.data.Report` from a
  live run or rebuilt from the journal for any past run.
- :mod:`agybatch.report.html`: one self-contained HTML page (inline CSS and
  SVG, no JavaScript, no network).
- :mod:`agybatch.report.junit`: JUnit XML for CI dashboards.

Nothing here is imported at start-up: the terminal and notify plugins import
:mod:`~agybatch.report.summary` at join, the rest only for ``--html``,
``--junitxml`` or ``agybatch report``.
"""

#: Report kinds and the module that writes each.
KINDS = {"html": "agybatch.report.html", "junitxml": "agybatch.report.junit"}


def write(kind: str, report, path):
    """Write ``report`` as ``kind`` (``html`` or ``junitxml``) to ``path``; return the path written."""
    import importlib

    return importlib.import_module(KINDS[kind]).write(report, path)
