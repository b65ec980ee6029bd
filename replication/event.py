"""The replicated event envelope and its per-origin hash chain. Pure.

An event is ``(origin, seq)``: ``origin`` is the node id, ``seq`` counts 1, 2, 3 … with
no gaps. Its ``hash`` covers every field and the hash of the origin's previous event, so
a changed or dropped event breaks the chain (tamper evidence per node), and ``sig``, the
origin's signature of that hash, says which counter wrote it (``signing``). The body is
opaque bytes here: replication moves events, the node gives them meaning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import msgpack

GENESIS = b"\x00" * 32  # the "previous hash" of an origin's first event
HASH_BYTES = 32  # SHA-256


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
    body: bytes  # opaque to replication (the node packs msgpack)
    prev_hash: bytes
    hash: bytes = b""
    sig: bytes = b""  # the origin's Ed25519 signature of ``hash`` (replication.signing)

    @classmethod
    def make(
        cls,
        origin: str,
        seq: int,
        hlc: int,
        wall: datetime,
        kind: str,
        body: bytes,
        prev_hash: bytes,
    ) -> Event:
        wall_us = int(wall.astimezone(UTC).timestamp() * 1_000_000)
        digest = chain_hash(prev_hash, origin, seq, hlc, wall_us, kind, body)
        return cls(origin, seq, hlc, wall_us, kind, body, prev_hash, digest)

    @property
    def id(self) -> str:
        """Stable id of the event, e.g. ``C01:42``."""
        return f"{self.origin}:{self.seq}"

    @property
    def wall(self) -> datetime:
        return datetime.fromtimestamp(self.wall_us / 1_000_000, UTC)

    def verify(self, prev_hash: bytes) -> bool:
        """True when the event is intact and follows ``prev_hash`` in its origin's chain."""
        return self.prev_hash == prev_hash and self.hash == chain_hash(
            prev_hash, self.origin, self.seq, self.hlc, self.wall_us, self.kind, self.body
        )


def first_break(events: Iterable[Event],
                starts: Mapping[str, tuple[int, bytes]] | None = None) -> tuple[int, str | None]:
    """Events checked, and where the first chain breaks (its id, "C02:17") or None. Given in
    (origin, seq) order, each origin's events must be n+1, n+2 …, each naming its
    predecessor's hash and hashing to its own, where ``starts`` gives an origin's (n, hash)
    of the last event before them (an archived prefix) and (0, GENESIS) otherwise: a
    changed, lost or inserted event breaks it. Events at or below a start (the few an
    archive leaves live) must hash to themselves, and the one at the start to its hash."""
    starts = starts or {}
    count, origin, seq, prev = 0, None, 0, GENESIS
    start = (0, GENESIS)
    for event in events:
        if event.origin != origin:
            origin = event.origin
            seq, prev = start = starts.get(origin, (0, GENESIS))
        if event.seq <= start[0]:
            if not event.verify(event.prev_hash) or (
                    event.seq == start[0] and event.hash != start[1]):
                return count, event.id
            count += 1
            continue
        if event.seq != seq + 1 or not event.verify(prev):
            return count, event.id
        seq, prev, count = event.seq, event.hash, count + 1
    return count, None
