"""Files a command run as root creates for the counter (issue 13: after `seal --systemd`
IT works as root) belong to the data dir's owner, the node's service user, so the node
can still open them: the node's lock, the session token, the ERPNext settings, a
rewritten key, the database's -wal and -shm. Root only (CI runs as root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.proc import Nodes, network, ok, tillmesh
from tillmesh.node.erpnext import ErpNextSettings, load_settings, save_settings
from tillmesh.node.ops.config import load
from tillmesh.node.store import ownership

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="giving files away needs root")
SERVICE = 65534  # nobody: the service user of these tests


def _service_owned(path: Path) -> None:
    for root, dirs, names in os.walk(path):
        for name in [*dirs, *names]:
            os.lchown(Path(root) / name, SERVICE, SERVICE)
    os.chown(path, SERVICE, SERVICE)


def test_a_file_made_as_root_goes_to_the_data_dirs_owner_and_nothing_else_moves(tmp_path,
                                                                                monkeypatch):
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    made = data_dir / "made"
    fd = os.open(made, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        ownership.own(fd, data_dir)  # the data dir is root's own: nothing to do
        assert os.fstat(fd).st_uid == 0
        os.chown(data_dir, SERVICE, SERVICE)
        ownership.own(fd, data_dir)
        assert (os.fstat(fd).st_uid, os.fstat(fd).st_gid) == (SERVICE, SERVICE)
    finally:
        os.close(fd)
    target = tmp_path / "elsewhere"
    target.write_text("root's")
    link = data_dir / "link"
    link.symlink_to(target)
    ownership.own(link, data_dir)  # the link itself, never what it points to
    assert target.stat().st_uid == 0 and link.lstat().st_uid == SERVICE
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: never chown
    assert ownership.owner_of(data_dir) is None


def test_commands_run_as_root_leave_every_file_to_the_service_user():
    with Nodes() as nodes:
        data_dir = nodes.init(*network(), node="C01")
        for run_file in data_dir.glob("run-*"):
            run_file.unlink()
        _service_owned(data_dir)
        ok(tillmesh(data_dir, "rebuild"))  # opens and writes the store, holds the node's lock
        config = load(data_dir)
        save_settings(config, ErpNextSettings("https://erp.example.com", "k", "s", "Demo POS"))
        assert load_settings(config).api_key == "k"
        strangers = [str(p.relative_to(data_dir)) for p in data_dir.rglob("*")
                     if p.lstat().st_uid != SERVICE]
        assert strangers == [], f"left to root: {strangers}"
        assert (data_dir / "api.sock.lock").exists()  # rebuild held the node's lock

        node = nodes.start(data_dir)  # as root here: only the token is looked at
        ok(tillmesh(data_dir, "api", "login", "--json", '{"user": "admin"}', stdin="1234\n"))
        assert (data_dir / ".session").stat().st_uid == SERVICE
        node.stop()
