"""Secrets at rest: the passphrase format, ``tillmesh seal --passphrase`` on a real demo
counter, and the modes of everything the node writes whatever the umask.

Sealing to the machine with the real ``systemd-creds`` is tests/security/test_sealed_secrets.py.
The format tests use libsodium's smallest argon2id limits (a real seal uses the moderate
ones, checked on the file the command writes).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.pwhash import argon2id

from tests.proc import (
    Nodes,
    demo_barcodes,
    ok,
    one_clear_line,
    sell_one,
    starts_and_sells,
    tillmesh,
)
from tillmesh.node.erpnext import ErpNextSettings, load_settings, save_settings
from tillmesh.node.errors import StoreError
from tillmesh.node.ops.config import load
from tillmesh.node.store import sealing

FAST = (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
PHRASE = "correct horse battery staple"
KEY = sealing.new_key(PHRASE, *FAST)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=4096))
def test_a_sealed_secret_opens_to_the_same_bytes_with_the_passphrase(data: bytes) -> None:
    sealed = sealing.parse_sealed(sealing.seal_text(data, KEY), "db.key.sealed")
    again = sealing.derive(PHRASE, sealed.salt, sealed.opslimit, sealed.memlimit)
    assert sealing.open_sealed(sealed, again, "db.key.sealed") == data


def test_a_wrong_passphrase_or_an_altered_file_is_one_clear_error() -> None:
    text = sealing.seal_text(b"0123456789abcdef" * 4, KEY)
    sealed = sealing.parse_sealed(text, "db.key.sealed")
    wrong = sealing.derive(PHRASE + "!", sealed.salt, *FAST)
    with pytest.raises(StoreError, match="db.key.sealed: wrong passphrase"):
        sealing.open_sealed(sealed, wrong, "db.key.sealed")

    raw = json.loads(text)
    box = bytearray(sealing.parse_sealed(text, "x").box)
    box[-1] ^= 1
    altered = sealing.Sealed(sealed.salt, sealed.opslimit, sealed.memlimit, bytes(box))
    with pytest.raises(StoreError, match="wrong passphrase \\(or the file was altered\\)"):
        sealing.open_sealed(altered, KEY, "db.key.sealed")

    for damage, why in (({"format": "zip"}, "not a Tillmesh sealed secret"),
                        ({"version": 2}, "version 2 is not one this release reads"),
                        ({"memlimit": 2**40}, "limits are out of bounds"),
                        ({"salt": "***"}, "base64"), ({"box": None}, "NoneType")):
        with pytest.raises(StoreError, match=f"db.key.sealed is damaged: .*{why}"):
            sealing.parse_sealed(json.dumps({**raw, **damage}), "db.key.sealed")
    with pytest.raises(StoreError, match="is damaged"):
        sealing.parse_sealed("\x00garbage", "db.key.sealed")


def _files(data_dir: Path) -> list[Path]:
    return [data_dir, *sorted(data_dir.rglob("*"))]


def _held(data_dir: Path, how: str) -> dict[str, str]:
    return dict.fromkeys(("db.key", "node.key", "erpnext.toml"), how)


def test_sealed_with_a_passphrase_the_counter_opens_only_with_it(
        nodes: Nodes, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = nodes.init()
    config = load(data_dir)
    save_settings(config, ErpNextSettings("http://127.0.0.1:9/", "key-1", "secret-one",
                                          "Demo POS", verify=False))
    secrets_dir = config.key_path.parent
    plain = {p.name: p.read_bytes().strip() for p in secrets_dir.iterdir()}
    db_key = bytes.fromhex(plain["db.key"].decode())
    phrase, short = nodes.tmp() / "phrase", nodes.tmp() / "short"
    phrase.write_text(PHRASE + "\n")
    short.write_text("too short\n")

    # No terminal and no file: nothing to ask; a short passphrase is refused. Untouched.
    one_clear_line(tillmesh(data_dir, "seal", "--passphrase"), "TILLMESH_PASSPHRASE_FILE")
    monkeypatch.setenv(sealing.PASSPHRASE_FILE_ENV, str(short))
    one_clear_line(tillmesh(data_dir, "seal", "--passphrase"), "at least 12 characters")
    assert {p.name: p.read_bytes().strip() for p in secrets_dir.iterdir()} == plain

    monkeypatch.setenv(sealing.PASSPHRASE_FILE_ENV, str(phrase))
    assert ok(tillmesh(data_dir, "seal", "--passphrase")).count("sealed with the passph") == 3
    assert sorted(p.name for p in secrets_dir.iterdir()) == [
        "db.key.sealed", "erpnext.toml.sealed", "node.key.sealed"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in secrets_dir.iterdir()} == {0o600}
    written = json.loads((secrets_dir / "db.key.sealed").read_text())
    assert (written["opslimit"], written["memlimit"]) == (argon2id.OPSLIMIT_MODERATE,
                                                          argon2id.MEMLIMIT_MODERATE)
    assert "no secret lies in plain text" in ok(tillmesh(data_dir, "seal", "--passphrase"))

    # A stolen disk: no file in the data dir holds a secret, as written or as raw bytes.
    for path in _files(data_dir):
        if path.is_file():
            content = path.read_bytes()
            assert db_key not in content, path
            assert [n for n, secret in plain.items() if secret in content] == [], path

    state = json.loads(ok(tillmesh(data_dir, "status")))
    assert (state["secrets"], state["warnings"]) == (_held(data_dir, "sealed with a "
                                                           "passphrase"), [])
    phrase.write_text("correct horse battery stapler\n")
    one_clear_line(tillmesh(data_dir, "status"), "db.key.sealed", "wrong passphrase")
    phrase.write_text(PHRASE + "\n")
    monkeypatch.delenv(sealing.PASSPHRASE_FILE_ENV)
    one_clear_line(tillmesh(data_dir, "status"), "sealed with a passphrase",
                   "TILLMESH_PASSPHRASE_FILE")

    monkeypatch.setenv(sealing.PASSPHRASE_FILE_ENV, str(phrase))
    node = starts_and_sells(nodes, data_dir)
    assert "plain text" not in node.stderr()

    # ERPNext set up again after sealing: its new settings are the ones read (a plain
    # file is the newest form), and status says so until it is sealed again.
    save_settings(config, ErpNextSettings("http://127.0.0.1:9/", "key-2", "secret-two",
                                          "Demo POS", verify=False))
    assert load_settings(config).api_key == "key-2"
    state = json.loads(ok(tillmesh(data_dir, "status")))
    assert state["secrets"]["erpnext.toml"] == "plain text"
    assert state["warnings"] == [f"erpnext.toml lies in plain text: run `sudo tillmesh "
                                 f"--data-dir {data_dir} seal --systemd`"]
    ok(tillmesh(data_dir, "seal", "--passphrase"))
    try:
        assert load_settings(config).api_key == "key-2"  # in this process: from the file
    finally:
        sealing.passphrase.cache_clear()


def test_nothing_the_node_writes_is_open_to_others_under_umask_022(nodes: Nodes) -> None:
    old = os.umask(0o022)  # inherited by `tillmesh init` and `tillmesh run`
    try:
        data_dir = nodes.init()
        node = nodes.start(data_dir)
        with node.client() as client:
            client.login("cashier", "1111")
            client.shift_open({"Cash": "100.00"})
            sell_one(client, demo_barcodes(1)[0])
        node.stop()
    finally:
        os.umask(old)
    harness = {node.out_path, node.err_path}  # opened by this test, not by the node
    loose = {str(p): oct(stat.S_IMODE(p.lstat().st_mode)) for p in _files(data_dir)
             if p not in harness and not p.is_symlink()
             and p.lstat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)}
    assert loose == {}
    assert len(_files(data_dir)) > 6  # the store, its WAL, keys, config, socket lock…
    # The node says once, as it reads them at start, that its keys lie in plain text.
    err = node.stderr()
    assert err.count("db.key lies in plain text (") == 1, err
    assert err.count("node.key lies in plain text") == 1, err
