"""Fixtures shared by every level: in-process counters (tests/nodekit.py) and real
``tillmesh`` processes (tests/proc.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nodekit import Till, make_node
from tests.proc import Nodes
from tillmesh.node.api import Node


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
def nodes() -> Iterator[Nodes]:
    """Real ``tillmesh`` processes a test starts (init, run, join); all stopped after."""
    with Nodes() as started:
        yield started
