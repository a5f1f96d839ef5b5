"""Two and three simultaneous launches of one batch: exactly one runs, the others exit 6 at once."""
from __future__ import annotations

import pytest

from tests.helpers.jobs import ledger_batch, ledger_lines
from tests.helpers.state import journal_rows


@pytest.mark.parametrize("launches", [2, 3])
def test_simultaneous_launches_run_the_batch_once(project, wait, launches):
    ledger = ledger_batch(project, "b", [1.5, 1.5, 1.5])
    procs = [project.spawn("run", "b", "--json") for _ in range(launches)]
    # Whoever loses the lock exits while the winner is still running its 1.5 s jobs.
    wait(lambda: sum(p.poll() is not None for p in procs) >= launches - 1, timeout=60,
         what=f"{launches - 1} launches exiting")
    losers = [p for p in procs if p.poll() is not None]
    assert [p.returncode for p in losers] == [6] * (launches - 1), [p.communicate() for p in losers]
    assert len(losers) == launches - 1, "the winner was still running when the losers had exited"
    results = [(p, *p.communicate(timeout=60)) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0] + [6] * (launches - 1), [(p.returncode, err) for p, _, err in results]
    for proc, out, err in results:
        if proc.returncode == 6:
            assert out == "" and len(err.strip().splitlines()) == 1, err
            assert "already running" in err and "Traceback" not in err
    assert sorted(ledger_lines(ledger)) == ["t0", "t1", "t2"], "each task ran exactly once"
    assert len(journal_rows(project.state, "SELECT run_id FROM runs")) == 1, "the losers recorded no run"


def test_run_and_join_at_the_same_moment(project, wait):
    """A run and a join of it race: the join exits 6 while the run holds the lock, nothing runs twice."""
    ledger = ledger_batch(project, "b", [1.0, 1.0])
    runner = project.spawn("run", "b", "-q")
    wait(lambda: journal_rows(project.state, "SELECT run_id FROM runs"))
    joiners = [project.spawn("join", "-q") for _ in range(2)]
    for joiner in joiners:
        _, err = joiner.communicate(timeout=60)
        assert joiner.returncode == 6, err
    assert runner.poll() is None, "the joins returned while the run was still going"
    assert runner.wait(timeout=60) == 0
    assert sorted(ledger_lines(ledger)) == ["t0", "t1"]
