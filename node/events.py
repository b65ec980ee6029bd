"""Events: the immutable facts a counter records, and their per-origin hash chain. Pure.

An event is ``(origin, seq)``: ``origin`` is the node id, ``seq`` counts 1, 2, 3 … with
no gaps. Its ``hash`` covers every field and the hash of the origin's previous event, so
a changed or dropped event breaks the chain (tamper evidence per counter).

Bodies are plain msgpack-able data. Money travels as strings (``"12.50"``) so that no
float ever touches an amount, and times as ISO-8601 strings with their offset.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgpack

from node.errors import StoreError

GENESIS = b"\x00" * 32  # the "previous hash" of an origin's first event


def _default(obj: object) -> object:
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        if obj.tzinfo is None:
            raise TypeError("naive datetime in an event body")
        return obj.isoformat()
    raise TypeError(f"cannot encode {type(obj).__name__} in an event body")


def pack_body(body: dict[str, Any]) -> bytes:
    """Canonical msgpack of a body (Decimals as strings, datetimes as ISO)."""
    packed: bytes = msgpack.packb(body, default=_default, use_bin_type=True)
    return packed


def unpack_body(raw: bytes) -> dict[str, Any]:
    try:
        body = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise StoreError(f"corrupt event body: {exc}") from exc
    if not isinstance(body, dict):
        raise StoreError("corrupt event body: not a map")
    return body


def chain_hash(
    prev_hash: bytes, origin: str, seq: int, hlc: int, wall_us: int, kind: str, body: bytes
) -> bytes:
    header = msgpack.packb([origin, seq, hlc, wall_us, kind], use_bin_type=True)
    return hashlib.sha256(prev_hash + header + body).digest()


@dataclass(frozen=True)
class Event:
    origin: str
    seq: int
    hlc: int
    wall_us: int  # wall time of the origin when recorded, microseconds since the epoch UTC
    kind: str
    body: bytes  # msgpack, see pack_body
    prev_hash: bytes
    hash: bytes = field(default=b"")

    @classmethod
    def make(
        cls,
        origin: str,
        seq: int,
        hlc: int,
        wall: datetime,
        kind: str,
        body: dict[str, Any],
        prev_hash: bytes,
    ) -> Event:
        wall_us = int(wall.astimezone(UTC).timestamp() * 1_000_000)
        raw = pack_body(body)
        digest = chain_hash(prev_hash, origin, seq, hlc, wall_us, kind, raw)
        return cls(origin, seq, hlc, wall_us, kind, raw, prev_hash, digest)

    @property
    def id(self) -> str:
        """Stable id of the event, e.g. ``C01:42``."""
        return f"{self.origin}:{self.seq}"

    @property
    def wall(self) -> datetime:
        return datetime.fromtimestamp(self.wall_us / 1_000_000, UTC)

    def data(self) -> dict[str, Any]:
        return unpack_body(self.body)

    def verify(self, prev_hash: bytes) -> bool:
        """True when the event is intact and follows ``prev_hash`` in its origin's chain."""
        return self.prev_hash == prev_hash and self.hash == chain_hash(
            prev_hash, self.origin, self.seq, self.hlc, self.wall_us, self.kind, self.body
        )
