"""Fixtures of the ERPNext link's tests: the simulator, bare or set up for Tillmesh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.erpnext import ErpNextClient, setup

POS_PROFILE = "Demo POS"


@pytest.fixture
def site() -> Iterator[tuple[Simulator, str]]:
    """The ERPNext simulator with the demo store, on 127.0.0.1: ``(simulator, url)``."""
    with Simulator(seed="demo") as sim:
        url = sim.start()
        assert url.startswith("http://127.0.0.1:")
        yield sim, url


@pytest.fixture
def erpnext() -> Iterator[Simulator]:
    """The simulator set up as Tillmesh's ERPNext (custom fields made) for ``Demo POS``."""
    with Simulator(seed="demo") as sim:
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            checks: list = []
            setup(client, POS_PROFILE, checks.append)
        assert all(c.ok for c in checks if c.what.startswith("custom field")), checks
        yield sim
