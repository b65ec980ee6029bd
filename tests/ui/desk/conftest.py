"""The app in a real X server. These tests run only inside the process that
``tests/ui/test_real_x.py`` starts for each till set-up (``TILLMESH_SCREEN`` names it,
``DISPLAY`` points at its Xvfb, Qt uses xcb); a plain ``pytest`` run leaves them out, as
its Qt is already offscreen."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.proc import NodeProcess
from tests.ui.conftest import windows
from tests.ui.desk.desk import Desk
from tests.xserver import Screen

SCREEN_ENV = "TILLMESH_SCREEN"

if os.environ.get(SCREEN_ENV) is None or os.environ.get("QT_QPA_PLATFORM") != "xcb":
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def screen() -> Screen:
    return Screen.parse(os.environ[SCREEN_ENV])


@pytest.fixture
def open_desk(qtbot, qapp, screen: Screen) -> Iterator[Callable[[str], Desk]]:
    """Open the app on endpoints as the till set-up has it; every one closed after."""
    with windows(lambda endpoint: Desk.open_on(qtbot, endpoint, screen)) as open_:
        yield open_


@pytest.fixture
def desk(open_desk, node: NodeProcess) -> Desk:
    """The app on this module's node, nobody logged in yet."""
    return open_desk(node.endpoint)
