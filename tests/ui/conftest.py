"""Fixtures of the app tests: a real ``tillmesh run`` per module, and the real main window
driven offscreen through pytest-qt. Qt must pick the offscreen platform before it starts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator  # noqa: E402  (after the platform is set)

import pytest  # noqa: E402

from tests.proc import NodeProcess, Nodes  # noqa: E402
from tests.ui.driver import App  # noqa: E402


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    with Nodes() as started:
        yield started


@pytest.fixture(scope="module")
def node(nodes: Nodes) -> NodeProcess:
    """One demo counter C01 for the module (admin 1234, supervisor 2222, cashier 1111)."""
    return nodes.start(nodes.init())


@pytest.fixture
def open_app(qtbot, qapp) -> Iterator[Callable[[str], App]]:
    """Open main windows on endpoints; every one is closed (and its threads stopped)."""
    apps: list[App] = []

    def open_(endpoint: str) -> App:
        app = App.open(qtbot, endpoint)
        apps.append(app)
        return app

    yield open_
    for app in apps:
        app.close()


@pytest.fixture
def app(open_app, node: NodeProcess) -> App:
    """The app on this module's node, nobody logged in yet."""
    return open_app(node.endpoint)
