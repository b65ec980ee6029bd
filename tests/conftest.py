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
