"""The app reaches the node through a group, never through the data dir: a node with
``api_group`` makes its socket 0660 of that group, and ``tillmesh ui --socket`` connects
to it without reading the data dir's config (the till user may not read it)."""

from __future__ import annotations

import grp
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.proc import Nodes
from tillmesh.node.api.client import Client
from tillmesh.node.errors import ConfigError
from tillmesh.node.ops import cli
from tillmesh.node.ops.config import CONFIG_NAME, Config, validate

EXIT_DEADLINE_S = 30.0  # a node that refuses its config exits once imports are done


def _another_group() -> grp.struct_group:
    """A group this process is not in as its own: the socket's group must be set on purpose."""
    return next(g for g in grp.getgrall() if g.gr_gid not in (0, os.getegid()))


def _share(data_dir: Path, socket: Path, group: str) -> None:
    """Set api_socket and api_group in the counter's config (init wrote every setting)."""
    config = data_dir / CONFIG_NAME
    text = config.read_text()
    for key, value in (("api_socket", str(socket)), ("api_group", group)):
        text, found = re.subn(rf"^{key} = .*$", f"{key} = {json.dumps(value)}", text,
                              flags=re.MULTILINE)
        assert found == 1, key
    config.write_text(text)


@pytest.fixture(scope="module")
def shared() -> Any:
    """A demo counter whose socket lies in its own directory, given to another group."""
    with Nodes() as nodes:
        data_dir = nodes.init()
        run_dir = nodes.tmp() / "run"
        run_dir.mkdir(mode=0o750)
        group = _another_group()
        _share(data_dir, run_dir / "api.sock", group.gr_name)
        node = nodes.start(data_dir)
        yield node, run_dir / "api.sock", group, nodes


def test_the_node_gives_its_socket_to_the_app_group(shared: Any) -> None:
    node, socket, group, _ = shared
    info = socket.lstat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert info.st_gid == group.gr_gid
    with node.client() as client:  # and the node answers there
        assert "login" in client.call("methods")


@pytest.mark.parametrize("display", ["app", "customer display"])
def test_ui_socket_reaches_the_node_without_reading_the_data_dir(
        shared: Any, display: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, socket, _, _ = shared
    reached: list[Any] = []

    def app(endpoint: str, *args: Any, **kwargs: Any) -> int:  # the app's first call
        with Client(endpoint, timeout=5.0) as client:
            reached.append(client.call("methods"))
        return 0

    monkeypatch.setattr("tillmesh.ui.app.run", app)
    monkeypatch.setattr("tillmesh.ui.app.run_customer_display", app)
    extra = ["--customer-display"] if display != "app" else []
    unreadable = tmp_path / "not-for-the-till-user"  # no tillmesh.toml there at all
    assert cli.main(["--data-dir", str(unreadable), "ui", "--socket", str(socket), *extra]) == 0
    assert "login" in reached[0]
    assert not unreadable.exists()


def test_an_unknown_api_group_stops_the_node_with_one_clear_line(shared: Any) -> None:
    node, _, _, nodes = shared
    data_dir = nodes.copy(node.data_dir)  # the running node's: only its config is read
    _share(data_dir, nodes.tmp() / "api.sock", "no-such-group-here")
    refused = nodes.spawn(data_dir)
    assert refused.wait(EXIT_DEADLINE_S) == 1
    err = refused.stderr()
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "tillmesh: api_group 'no-such-group-here' is no group on this machine")


def test_api_group_wants_the_socket_outside_the_private_data_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="outside the data directory"):
        validate(Config(data_dir=tmp_path, api_group="tillmesh-app"))
    validate(Config(data_dir=tmp_path, api_group="tillmesh-app",
                    api_socket="/run/tillmesh/api.sock"))
