"""Jobs that leave their own record of having run, and a command sink that records what it was told.

The ledger is the jobs' own account, independent of agybatch's journal: a task that ran twice
shows twice, a task that never ran is missing.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

#: argv[1] ledger, argv[2] label, argv[3] seconds: append the label to the ledger, then sleep.
LEDGER_JOB = ('import sys, time; open(sys.argv[1], "a").write(sys.argv[2] + "\\n"); '
              'time.sleep(float(sys.argv[3]))')

#: argv[1] file, argv[2] seconds, argv[3] label: sleep, then append the label (a record of having *ended*).
DONE_JOB = 'import sys, time; time.sleep(float(sys.argv[2])); open(sys.argv[1], "a").write(sys.argv[3] + "\\n")'

#: A ``command`` sink's program: appends the notification it reads on stdin as one line to argv[1].
NOTE = 'import sys; open(sys.argv[1], "a").write(sys.stdin.read().replace("\\n", " ") + "\\n")'


#: A shell job for cluster backends: append ``$AGYBATCH_LABEL`` to the ledger, then sleep.
SHELL_LEDGER_JOB = 'echo "$AGYBATCH_LABEL" >> {ledger}; sleep {sleep}'


def shell_ledger_tasks(ledger: Path, labels, sleep: float = 3) -> str:
    """``[[task]]`` tables running :data:`SHELL_LEDGER_JOB` for each of ``labels``."""
    command = json.dumps(SHELL_LEDGER_JOB.format(ledger=ledger, sleep=sleep))
    return "".join(f'[[task]]\nlabel = "{label}"\ncommand = {command}\n' for label in labels)


def ledger_command(ledger: Path, label: str, seconds: float) -> list:
    """The argv of a job that appends ``label`` to ``ledger``, then sleeps ``seconds``."""
    return ["python3", "-c", LEDGER_JOB, str(ledger), label, f"{seconds:g}"]


def ledger_batch(project, name: str, sleeps, batch: str = "", extra: str = "") -> Path:
    """Write batch ``name``: tasks ``t0..`` where task i logs to the ledger then sleeps ``sleeps[i]``.

    ``batch`` is added to the ``[batch]`` table, ``extra`` after the tasks. Returns the ledger path.
    """
    ledger = project.root / f"{name}-ledger.txt"
    tasks = "".join(f'[[task]]\nlabel = "t{i}"\ncommand = {json.dumps(ledger_command(ledger, f"t{i}", s))}\n'
                    for i, s in enumerate(sleeps))
    project.batch(name, f"[batch]\n{batch}\n{tasks}{extra}")
    return ledger


def ledger_lines(ledger: Path) -> list:
    """The labels in the ledger, in the order the jobs wrote them ([] before any job ran)."""
    return ledger.read_text().split() if ledger.exists() else []


def note_sink(told: Path) -> str:
    """The TOML value of a ``command`` sink's ``argv`` that appends each notification to ``told``."""
    return json.dumps([sys.executable, "-c", NOTE, str(told)])


def notes(told: Path) -> list:
    """The notifications a :func:`note_sink` recorded, parsed ([] before any)."""
    return [json.loads(line) for line in told.read_text().splitlines()] if told.exists() else []
