"""A stolen disk holds no key: ``tillmesh seal --systemd`` with the real ``systemd-creds``
(systemd 250+, root: it seals with /var/lib/systemd/credential.secret, or a TPM2).

What this container cannot show: PID 1 handling the unit's ``LoadCredentialEncrypted=``
lines (there is no systemd as PID 1 here). The service is stood in for by doing what
systemd does at start: ``systemd-creds decrypt`` of each ``.cred`` into a private
directory, named in ``$CREDENTIALS_DIRECTORY`` for ``tillmesh run``. The drop-in's lines
are checked as text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.proc import (
    Nodes,
    ok,
    one_clear_line,
    starts_and_sells,
    tillmesh,
)
from tillmesh.node.erpnext import ErpNextSettings, load_settings, save_settings
from tillmesh.node.ops.config import load

SYSTEMD_CREDS = shutil.which("systemd-creds")
pytestmark = [
    pytest.mark.skipif(SYSTEMD_CREDS is None, reason="systemd-creds is not installed "
                       "(Debian: systemd 250 or later)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="systemd-creds encrypt needs root (the "
                       "host key in /var/lib/systemd/credential.secret)"),
]
NAMES = ("db.key", "node.key", "erpnext.toml")


def _decrypt(cred: Path, name: str, into: Path) -> None:
    subprocess.run([str(SYSTEMD_CREDS), "decrypt", f"--name={name}", str(cred),
                    str(into / name)], check=True, capture_output=True, timeout=60)


def test_sealed_to_the_machine_the_disk_holds_no_key_and_the_counter_still_sells(
        nodes: Nodes, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = nodes.init()
    config = load(data_dir)
    settings = ErpNextSettings("http://127.0.0.1:9", "key-1", "secret-one", "Demo POS",
                               verify=False)
    save_settings(config, settings)
    secrets_dir = config.key_path.parent
    plain = {p.name: p.read_bytes().strip() for p in secrets_dir.iterdir()}
    db_key = bytes.fromhex(plain["db.key"].decode())
    dropin = nodes.tmp() / "tillmesh.service.d"

    out = ok(tillmesh(data_dir, "seal", "--systemd", "--unit-dropin", str(dropin)))
    assert out.count("sealed to this machine") == 3, out
    assert sorted(p.name for p in secrets_dir.iterdir()) == [f"{n}.cred" for n in sorted(NAMES)]
    assert {p.stat().st_mode & 0o777 for p in secrets_dir.iterdir()} == {0o600}

    # (iii) The drop-in hands each sealed secret to the service, under its own name.
    text = (dropin / "credentials.conf").read_text()
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "[Service]", *(f"LoadCredentialEncrypted={n}:{secrets_dir / n}.cred" for n in NAMES)]

    # A stolen disk: no file in the data dir holds a secret, raw or as it was written.
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert db_key not in content, path
            assert [n for n, secret in plain.items() if secret in content] == [], path

    # (i) IT as root: status opens the store through the .cred files, and warns no more.
    state = json.loads(ok(tillmesh(data_dir, "status")))
    assert state["secrets"] == dict.fromkeys(NAMES, "sealed to this machine (systemd-creds)")
    assert state["warnings"] == [] and state["events"] > 0
    assert load_settings(config) == settings  # the ERPNext secret, in this process too
    assert "no secret lies in plain text" in ok(
        tillmesh(data_dir, "seal", "--systemd", "--unit-dropin", str(dropin)))  # idempotent
    assert (dropin / "credentials.conf").read_text() == text

    # (ii) The service: systemd opens the .cred files into a private directory at start.
    opened = nodes.tmp()
    for name in NAMES:
        _decrypt(secrets_dir / f"{name}.cred", name, opened)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(opened))
    state = json.loads(ok(tillmesh(data_dir, "status")))
    assert state["secrets"] == dict.fromkeys(NAMES, "opened by systemd for the service")
    node = starts_and_sells(nodes, data_dir)
    assert "plain text" not in node.stderr()


def test_a_seal_that_stops_keeps_every_plain_key(nodes: Nodes) -> None:
    data_dir = nodes.init()
    secrets_dir = load(data_dir).key_path.parent
    before = {p.name: p.read_bytes() for p in secrets_dir.iterdir()}
    not_a_dir = nodes.tmp() / "file"
    not_a_dir.write_text("")
    one_clear_line(tillmesh(data_dir, "seal", "--systemd", "--unit-dropin",
                            str(not_a_dir / "tillmesh.service.d")),
                   "sealing stopped, every plain file is kept")
    assert {p.name: p.read_bytes() for p in secrets_dir.iterdir()
            if p.suffix != ".cred"} == before
    ok(tillmesh(data_dir, "status"))


def test_a_missing_damaged_or_unreachable_seal_is_one_clear_line(nodes: Nodes) -> None:
    data_dir = nodes.init()
    secrets_dir = load(data_dir).key_path.parent
    ok(tillmesh(data_dir, "seal", "--systemd", "--unit-dropin", str(nodes.tmp())))
    cred = secrets_dir / "db.key.cred"
    sealed = cred.read_bytes()

    # Not root: systemd-creds cannot read the host key. The .cred is copied where the
    # unprivileged user can reach it; the check runs in a process that drops to nobody.
    shared = nodes.tmp()
    shared.chmod(0o755)
    (shared / "db.key.cred").write_bytes(sealed)
    (shared / "db.key.cred").chmod(0o644)
    code = ("import os, sys; from pathlib import Path\n"
            "from tillmesh.node.store.sealing import read_secret\n"
            "from tillmesh.node.errors import StoreError\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "try: read_secret(Path(sys.argv[1]), 'database key file')\n"
            "except StoreError as exc: print(exc.message)\n")
    said = subprocess.run([sys.executable, "-c", code, str(shared / "db.key")],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert "only root can open it: run this as root (sudo tillmesh" in said, said

    cred.write_bytes(sealed[:40] + sealed[80:])
    one_clear_line(tillmesh(data_dir, "status"), "cannot open", "db.key.cred")
    cred.unlink()
    one_clear_line(tillmesh(data_dir, "status"), "database key file", "it is missing")
