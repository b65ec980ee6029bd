"""Fixtures of the app tests: a real ``tillmesh run`` per module, and the real main window
driven offscreen through pytest-qt. Qt must pick the offscreen platform before it starts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator  # noqa: E402  (after the platform is set)
from contextlib import contextmanager  # noqa: E402
from typing import TypeVar  # noqa: E402

import pytest  # noqa: E402

from tests.proc import NodeProcess, Nodes  # noqa: E402
from tests.ui.driver import App  # noqa: E402
from tests.ui.returns_scene import counters  # noqa: E402, F401  (a fixture of C01 and C02)

A = TypeVar("A", bound=App)


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    with Nodes() as started:
        yield started


@pytest.fixture(scope="module")
def node(nodes: Nodes) -> NodeProcess:
    """One demo counter C01 for the module (admin 1234, supervisor 2222, cashier 1111)."""
    return nodes.start(nodes.init())


@contextmanager
def windows(make: Callable[[str], A]) -> Iterator[Callable[[str], A]]:
    """Open main windows on endpoints with ``make``; every one is closed (and its threads
    stopped) after."""
    apps: list[A] = []

    def open_(endpoint: str) -> A:
        app = make(endpoint)
        apps.append(app)
        return app

    try:
        yield open_
    finally:
        for app in apps:
            app.close()


@pytest.fixture
def open_app(qtbot, qapp) -> Iterator[Callable[[str], App]]:
    with windows(lambda endpoint: App.open(qtbot, endpoint)) as open_:
        yield open_


@pytest.fixture
def app(open_app, node: NodeProcess) -> App:
    """The app on this module's node, nobody logged in yet."""
    return open_app(node.endpoint)
