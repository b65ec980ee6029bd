"""Fixtures shared by the in-process node tests (see tests/nodekit.py)."""

from __future__ import annotations

import pytest

from node.service import Node
from tests.nodekit import Till, make_node


@pytest.fixture
def node(tmp_path) -> Node:
    """A counter C01 with the small test catalog and users, not logged in."""
    return make_node(tmp_path)


@pytest.fixture
def ann(node: Node) -> Till:
    """Cashier ann, logged in, with her shift open on 100.00 cash."""
    till = Till(node, "ann")
    till("shift_open", opening={"Cash": "100.00", "Card": "0"})
    return till


@pytest.fixture
def site():
    """The ERPNext simulator with the demo store, on 127.0.0.1: ``(simulator, url)``."""
    from node.erpnext.simulator import Simulator

    with Simulator(seed="demo") as sim:
        url = sim.start()
        assert url.startswith("http://127.0.0.1:")
        yield sim, url
