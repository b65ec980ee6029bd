"""The print tests' fixtures: nodes whose print workers are stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tillmesh.node.api import Node


@pytest.fixture
def printing_nodes() -> Iterator[list[Node]]:
    """Nodes built by a test; their print workers are stopped afterwards."""
    made: list[Node] = []
    yield made
    for node in made:
        node.print_service.close()
