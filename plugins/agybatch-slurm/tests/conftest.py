"""A real single-node Slurm cluster for the slurm backend's tests: started once per session, stopped after.

``slurm_cluster.py`` (next to this file) writes the configuration into a
temporary folder and starts munged, MariaDB, slurmdbd, slurmctld and slurmd
as root, all on 127.0.0.1; teardown cancels leftover jobs and stops exactly
the daemons it started, by PID. Tests that need the cluster are skipped, with
a reason naming the script and the packages, where Slurm or root is missing
(and fail instead under ``AGYBATCH_REQUIRE_ALL=1``, as in CI).
"""
from __future__ import annotations

import getpass

import pytest
from slurm_cluster import slurm_missing, start_cluster

from tests.helpers.need import need


@pytest.fixture(scope="session")
def slurm_cluster():
    """The session's cluster (the test is skipped, or fails in CI, where Slurm or root is missing)."""
    reason = slurm_missing()
    need(reason is None, f"a Slurm cluster: {reason}")
    try:
        cluster = start_cluster()
    except Exception as exc:  # a cluster that does not come up is a failure, not a skip
        pytest.fail(f"the Slurm test cluster did not start: {exc}")
    yield cluster
    try:
        cluster.run("scancel", "-u", getpass.getuser(), check=False)
    finally:
        cluster.stop()
        cluster.remove()


@pytest.fixture
def slurm_project(project, slurm_cluster):
    """The root ``project`` fixture, with ``SLURM_CONF`` pointing at the session's cluster."""
    project.env = slurm_cluster.env(project.env)
    return project
