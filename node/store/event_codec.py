"""Event bodies: the node's facts as msgpack. Pure.

The envelope (origin, seq, HLC stamp, hash chain) is ``replication.event.Event``; this
module packs and unpacks the body a counter puts inside it. Bodies are plain data: money
travels as strings (``"12.50"``) so that no float ever touches an amount, and times as
ISO-8601 strings with their offset.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgpack

from tillmesh.node.errors import StoreError
from tillmesh.replication.event import GENESIS, Event, first_break

__all__ = ["GENESIS", "Event", "data", "first_break", "make_event", "pack_body",
           "pack_known", "unpack_body"]


def _default(obj: object) -> object:
    """What a body holds beyond msgpack's exact types, as plain data: as msgpack packs
    it unasked (a tuple as a list, an enum of str or int as its value, a subclass as its
    base), or as a Decimal or a datetime travels."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        if obj.tzinfo is None:
            raise TypeError("naive datetime in an event body")
        return obj.isoformat()
    if isinstance(obj, str):
        return str.__str__(obj)  # a StrEnum's value (its str() may say otherwise)
    if isinstance(obj, int):  # an IntEnum's value (bool is exact: it has no subclass)
        return int.__int__(obj)
    if isinstance(obj, float):
        return float.__float__(obj)
    if isinstance(obj, bytes):
        return bytes(obj)
    if isinstance(obj, list | tuple):
        return list(obj)
    if isinstance(obj, dict):
        return dict(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} in an event body")


def pack_body(body: dict[str, Any]) -> bytes:
    """Canonical msgpack of a body (Decimals as strings, datetimes as ISO)."""
    packed: bytes = msgpack.packb(body, default=_default, use_bin_type=True, strict_types=True)
    return packed


def pack_known(body: dict[str, Any]) -> tuple[bytes, dict[str, Any] | None]:
    """``pack_body``'s bytes, and ``body`` itself when it already is what ``unpack_body``
    gives back of them: only msgpack's exact types (maps, lists, str, int, bytes...),
    nothing converted (a bytearray or memoryview, which no body holds, would read back
    as bytes). Whoever made the body then need not decode it again (a sale's own
    counter projecting it spent ~0.1 ms doing so)."""
    converted = False

    def default(obj: object) -> object:
        nonlocal converted
        converted = True
        return _default(obj)

    packed: bytes = msgpack.packb(body, default=default, use_bin_type=True, strict_types=True)
    return packed, None if converted else body


def unpack_body(raw: bytes) -> dict[str, Any]:
    try:
        body = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise StoreError(f"corrupt event body: {exc}") from exc
    if not isinstance(body, dict):
        raise StoreError("corrupt event body: not a map")
    return body


def make_event(origin: str, seq: int, hlc: int, wall: datetime, kind: str,
               body: dict[str, Any], prev_hash: bytes) -> Event:
    """A new event of this node with a msgpack body."""
    return Event.make(origin, seq, hlc, wall, kind, pack_body(body), prev_hash)


def data(event: Event) -> dict[str, Any]:
    """The decoded body of an event."""
    return unpack_body(event.body)
