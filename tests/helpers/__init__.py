"""Helpers the tests share (``from tests.helpers.<module> import ...``); fixtures live in the root conftest.

* :mod:`~tests.helpers.need`: what a test's environment must have (skip, or fail in CI);
* :mod:`~tests.helpers.waiting`: wait for an observable event, with a timeout;
* :mod:`~tests.helpers.jobs`: ledger jobs that record that they ran, and a command sink that records notes;
* :mod:`~tests.helpers.state`: a read-only look at a project's state folder and journal;
* :mod:`~tests.helpers.backends`: the batch the cluster-backend tests run on ``local`` and on the cluster;
* :mod:`~tests.helpers.net`: a free loopback port.

See tests/README.md for the rules these serve.
"""
