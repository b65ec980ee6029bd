"""Files a command run as root creates for the counter (issue 13: after `seal --systemd`
IT works as root) belong to the data dir's owner, the node's service user, so the node
can still open them: the node's lock, the session token, the ERPNext settings, a
rewritten key, the database's -wal and -shm; and never a file of root's a link the
service user planted there points at. Root only (CI runs as root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nacl.pwhash import argon2id

from tests.proc import Nodes, network, ok, one_clear_line, tillmesh
from tillmesh.node.erpnext import ErpNextSettings, load_settings, save_settings
from tillmesh.node.erpnext._settings import settings_path
from tillmesh.node.errors import StoreError
from tillmesh.node.ops.config import load
from tillmesh.node.ops.seal import seal_passphrase
from tillmesh.node.store import ownership, sealing

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
    hard = data_dir / "hard"
    hard.hardlink_to(target)  # the service user's, where protected_hardlinks is off
    with pytest.raises(StoreError, match="may be an attack"):
        ownership.own(hard, data_dir)
    assert target.stat().st_uid == 0
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
        target = _roots_file(data_dir.parent)
        (data_dir / ".session").symlink_to(target)  # planted by the service user
        ok(tillmesh(data_dir, "api", "login", "--json", '{"user": "admin"}', stdin="1234\n"))
        assert (data_dir / ".session").lstat().st_uid == SERVICE
        assert (data_dir / ".session").is_file() and not (data_dir / ".session").is_symlink()
        _untouched(target)
        node.stop()


def _roots_file(folder: Path) -> Path:
    """A file of root's that a link the service user plants points at (/etc/shadow)."""
    target = folder / "shadow"
    target.write_text("root's secret\n")
    target.chmod(0o600)
    return target


def _untouched(target: Path) -> None:
    st = target.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o600)
    assert target.read_text() == "root's secret\n"


def test_a_link_the_service_user_plants_never_hands_root_a_file_to_it():
    with Nodes() as nodes:
        data_dir = nodes.init(*network(), node="C01")
        _service_owned(data_dir)
        target = _roots_file(data_dir.parent)
        lock = data_dir / "api.sock.lock"
        lock.symlink_to(target)
        one_clear_line(tillmesh(data_dir, "rebuild"), str(lock), "may be an attack")
        _untouched(target)
        assert lock.is_symlink()  # refused, left for IT to look at

        config = load(data_dir)
        settings = settings_path(config)
        settings.with_name(settings.name + ".tmp").symlink_to(target)
        save_settings(config, ErpNextSettings("https://erp.example.com", "k", "s", "Demo POS"))
        assert settings.stat().st_uid == SERVICE and load_settings(config).api_key == "k"
        _untouched(target)

        sealed = sealing.sealed_path(config.key_path)
        sealed.with_name(sealed.name + ".new").symlink_to(target)
        seal_passphrase(config, "the counter's own passphrase", argon2id.OPSLIMIT_MIN,
                        argon2id.MEMLIMIT_MIN)
        assert sealed.stat().st_uid == SERVICE
        _untouched(target)
