"""This counter's CurveZMQ keypair: made once by ``init`` or ``join``, kept 0600 on disk."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import zmq

from tillmesh.node.errors import StoreError


@dataclass(frozen=True)
class Keypair:
    public: bytes  # z85, 40 characters
    secret: bytes


def create_keypair_file(path: Path) -> Keypair:
    public, secret = zmq.curve_keypair()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise StoreError(f"node key {path} already exists; not overwriting it") from exc
    with os.fdopen(fd, "w") as fh:
        json.dump({"public": public.decode(), "secret": secret.decode()}, fh)
    return Keypair(public, secret)


def read_keypair_file(path: Path) -> Keypair:
    try:
        data = json.loads(path.read_text())
        pair = Keypair(data["public"].encode(), data["secret"].encode())
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise StoreError(f"cannot read this counter's key {path}: {exc}") from exc
    if len(pair.public) != 40 or len(pair.secret) != 40:
        raise StoreError(f"{path} does not hold a CurveZMQ keypair")
    return pair
