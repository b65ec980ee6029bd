"""This counter's keys: its CurveZMQ keypair (who it is on the wire) and its Ed25519
signing key (who wrote its events), made once by ``init`` or ``join``, kept 0600 on disk
(``tillmesh seal`` may seal the file to the machine or a passphrase).
A key file from before events were signed gets its signing key at the first start."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import zmq

from tillmesh.node.errors import StoreError
from tillmesh.node.store.ownership import create
from tillmesh.node.store.sealing import PLAIN, held, read_secret
from tillmesh.replication.signing import SEED_BYTES, Signer


@dataclass(frozen=True)
class Keypair:
    public: bytes  # z85, 40 characters
    secret: bytes
    signing: bytes  # Ed25519 seed, 32 bytes

    @property
    def signer(self) -> Signer:
        return Signer(self.signing)

    def _json(self) -> str:
        return json.dumps({"public": self.public.decode(), "secret": self.secret.decode(),
                           "signing": self.signing.hex()})


def create_keypair_file(path: Path) -> Keypair:
    public, secret = zmq.curve_keypair()
    pair = Keypair(public, secret, Signer.generate().seed)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise StoreError(f"node key {path} already exists; not overwriting it") from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(pair._json())
    return pair


def read_keypair_file(path: Path) -> Keypair:
    """This counter's keys from ``path``, plain or sealed (``tillmesh.node.store.sealing``)."""
    text = read_secret(path, "this counter's key")
    try:
        data = json.loads(text)
        signing = data.get("signing")
        pair = Keypair(data["public"].encode(), data["secret"].encode(),
                       bytes.fromhex(signing) if signing else b"")
    except (ValueError, KeyError, AttributeError) as exc:
        raise StoreError(f"cannot read this counter's key {path}: {exc}") from exc
    if len(pair.public) != 40 or len(pair.secret) != 40:
        raise StoreError(f"{path} does not hold a CurveZMQ keypair")
    if not pair.signing:
        if held(path) != PLAIN:  # `tillmesh seal` completes a key before sealing it
            raise StoreError(f"the sealed key of {path} has no signing key")
        pair = replace(pair, signing=Signer.generate().seed)
        _rewrite(path, pair._json())
    if len(pair.signing) != SEED_BYTES:
        raise StoreError(f"{path} holds a signing key of {len(pair.signing)} bytes, not "
                         f"{SEED_BYTES}")
    return pair


def _rewrite(path: Path, text: str) -> None:
    """Replace the key file whole (write beside it, fsync, rename): a crash leaves the old
    file or the new one, never half of one."""
    partial = path.with_suffix(".new")
    fd = create(partial, path.parent)  # rewritten by a root-run command: the service reads it
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, path)
