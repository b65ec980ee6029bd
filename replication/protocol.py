"""The replication wire protocol: messages and their msgpack codec. Pure: no sockets.

Every frame is one msgpack array ``[version, tag, field, ...]``:

    Hello   [v, 1, cluster, node, {origin: seq}, wall_ms, reply,   on connect
             release, schema]                                  (release, schema from 5)
    Vector  [v, 2, node, {origin: seq}, wall_ms]                   heartbeat, after news
    Pull    [v, 3, node, origin, first, last]                      ask for a seq range
    Events  [v, 4, node, [[origin, seq, hlc, wall_us, kind, body, prev_hash, hash, sig],
                          ...]]                                  (sig from version 4)
    Bye     [v, 5, node, reason]                                   refusal or shutdown
    ReturnAsk    [v, 6, node, ask_id, invoice, {row: qty}, holds]  (3) may I refund these?
    ReturnAnswer [v, 7, node, ask_id, granted, reason]             (3) the sale's counter says
    SaleAsk      [v, 8, node, ask_id, invoice]                     (5) send me your sale
    SaleAnswer   [v, 9, node, ask_id, event or nil, reason]        (5) its event, or why not

Evolution rules: a frame from a *newer* version may append fields to any of these arrays
and an older decoder ignores them; fields are never removed or retyped within the
accepted window (``VERSION_WINDOW``). Hello and Bye keep this layout in every version,
so a node can always read who a peer is and why it was refused; a Hello from within the
window and from version 5 on also says the sender's release (``0.2.0``) and store schema,
which a protocol-4 node takes as a newer peer's appended fields and ignores. Any other
message from a version outside the window is a ProtocolError, and so is a message from a
version that did not have it yet (a ReturnAsk stamped 2, a SaleAsk stamped 4).

``decode`` validates everything a peer could get wrong (sizes, types, id syntax, int
ranges, hash lengths, Pull spans) and raises ProtocolError, never anything else;
``encode`` applies the same rules, so ``decode(encode(m)) == m`` for every message it
accepts. Hash chains are not checked here: that needs the receiver's log (see sync.py).
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgpack

from tillmesh.replication.const import (
    ASK_PROTOCOL_VERSION,
    FIRST_PROTOCOL_VERSION,
    MAX_ASK_ID_CHARS,
    MAX_ASK_ROWS,
    MAX_BATCH_EVENTS,
    MAX_CLUSTER_CHARS,
    MAX_CONTAINERS,
    MAX_EVENT_BODY_BYTES,
    MAX_INT64,
    MAX_KIND_CHARS,
    MAX_MESSAGE_BYTES,
    MAX_NAME_CHARS,
    MAX_ORIGINS,
    MAX_REASON_CHARS,
    MAX_RELEASE_CHARS,
    MAX_STR_BYTES,
    MAX_VERSION_NUMBER,
    PROTOCOL_VERSION,
    RELEASE_PROTOCOL_VERSION,
    SALE_PROTOCOL_VERSION,
    SIGNATURE_BYTES,
    SIGNED_PROTOCOL_VERSION,
    VERSION_WINDOW,
)
from tillmesh.replication.event import HASH_BYTES, Event

__all__ = [
    "PROTOCOL_VERSION",
    "Bye",
    "Events",
    "Hello",
    "Message",
    "ProtocolError",
    "Pull",
    "ReturnAnswer",
    "ReturnAsk",
    "SaleAnswer",
    "SaleAsk",
    "StreamDecoder",
    "Vector",
    "check_event",
    "compatible",
    "decode",
    "encode",
    "version_refusal",
]

NODE_ID = re.compile(r"[A-Za-z0-9]{1,8}")  # counter codes such as C01 (ASCII only)
KIND = re.compile(rf"[A-Za-z0-9_.:\-]{{1,{MAX_KIND_CHARS}}}")  # e.g. "sale.submitted"
ASK_ID = re.compile(rf"[A-Za-z0-9_\-]{{1,{MAX_ASK_ID_CHARS}}}")  # e.g. "C02-5f1c9a0e2b7d4c11"
# A quantity as ERPNext keeps it: at most 9 decimals; 15 integer digits is far beyond a till.
QTY = re.compile(r"[0-9]{1,15}(\.[0-9]{1,9})?")

_HELLO, _VECTOR, _PULL, _EVENTS, _BYE, _ASK, _ANSWER, _SALE_ASK, _SALE_ANSWER = range(1, 10)
_EVENT_FIELDS = 8  # of an event before protocol 4; then its signature as well


class ProtocolError(Exception):
    """A frame or message breaks the wire protocol; the message names the rule.

    Raised by ``decode``/``encode``/``StreamDecoder.feed`` only. The transport drops the
    frame with a log line (or the connection, for a stream); it never crashes a node.
    """


# --- messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    """Sent on connect (``reply=False``) and in answer to a peer's Hello (``reply=True``).

    ``proto`` is the sender's protocol version; a reply is never answered, so two nodes
    exchange at most one Hello each per handshake even when frames are duplicated.
    ``release`` and ``schema`` (protocol 5): the sender's release and the version of the
    store schema it writes, for ``tillmesh peers`` and the Store screen ("" and 0: an
    older peer did not say).
    """

    proto: int
    cluster: str
    node: str
    vector: Mapping[str, int]
    wall_ms: int  # the sender's wall clock, ms since the epoch: the receiver measures skew
    reply: bool = False
    release: str = ""
    schema: int = 0


@dataclass(frozen=True)
class Vector:
    """What the sender holds: periodic heartbeat, and after it applied new events.

    ``erpnext`` (protocol 2): the sender reaches ERPNext, so it may be the forwarder.
    ``forwarding`` (protocol 3): the sender forwards now (``replication.election``).
    """

    node: str
    vector: Mapping[str, int]
    wall_ms: int
    erpnext: bool = False
    forwarding: bool = False


@dataclass(frozen=True)
class Pull:
    """Ask for ``origin``'s events ``first..last`` inclusive (at most MAX_BATCH_EVENTS)."""

    node: str
    origin: str
    first: int
    last: int


@dataclass(frozen=True)
class Events:
    """Events answering a Pull (a prefix of the range), or a push of fresh local events."""

    node: str
    events: tuple[Event, ...] = field(default=())


@dataclass(frozen=True)
class Bye:
    """The sender stops talking to the receiver (refused handshake or shutdown)."""

    node: str
    reason: str


@dataclass(frozen=True)
class ReturnAsk:
    """(protocol 3) May the sender refund ``rows`` (row name -> quantity, each > 0) of
    ``invoice``? Sent to the counter that made the sale, which decides (the node's
    business: replication only carries it).

    ``holds`` is how many of its own events the sender had recorded when it asked: a
    receiver that holds them all knows every return the sender made before asking.
    """

    node: str
    ask_id: str
    invoice: str
    rows: Mapping[str, Decimal]
    holds: int


@dataclass(frozen=True)
class ReturnAnswer:
    """(protocol 3) The answer to the ReturnAsk ``ask_id``; ``reason`` says why not."""

    node: str
    ask_id: str
    granted: bool
    reason: str = ""


@dataclass(frozen=True)
class SaleAsk:
    """(protocol 5) Send the sender the event of ``invoice``, a sale or return of the
    receiver's that the sender does not hold (it joined from a later checkpoint)."""

    node: str
    ask_id: str
    invoice: str


@dataclass(frozen=True)
class SaleAnswer:
    """(protocol 5) The answer to the SaleAsk ``ask_id``: the sale's event as recorded,
    or None and ``reason`` saying why not. The asker checks the event before using it."""

    node: str
    ask_id: str
    event: Event | None
    reason: str = ""


Message = Hello | Vector | Pull | Events | Bye | ReturnAsk | ReturnAnswer | SaleAsk | SaleAnswer


# --- versions ---------------------------------------------------------------------------


def version_refusal(theirs: object, ours: int = PROTOCOL_VERSION) -> str | None:
    """Why a peer speaking ``theirs`` is refused, or None when it is accepted."""
    if type(theirs) is not int:
        return f"protocol version must be an integer, not {type(theirs).__name__}"
    low, high = max(FIRST_PROTOCOL_VERSION, ours - VERSION_WINDOW), ours + VERSION_WINDOW
    if low <= theirs <= high:
        return None
    way = "upgrade this node" if theirs > high else "upgrade the peer"
    return (f"peer speaks replication protocol {theirs}; this node speaks {ours} and"
            f" accepts {low}..{high} ({way})")


def compatible(theirs: object, ours: int = PROTOCOL_VERSION) -> bool:
    """True when a node speaking ``ours`` talks to a peer speaking ``theirs`` (±1)."""
    return version_refusal(theirs, ours) is None


def _says_release(version: object) -> bool:
    """A Hello of ``version`` carries release and schema: from 5, within the window (one
    from beyond it is read only to say why it is refused)."""
    return (isinstance(version, int) and version >= RELEASE_PROTOCOL_VERSION
            and compatible(version))


# --- validation (shared by encode and decode) ---------------------------------------------


_SHOW = reprlib.Repr()  # a short, bounded picture of a bad value for the error message
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother, _SHOW.maxlist, _SHOW.maxdict = 2, 40, 40, 4, 4


def _fail(what: str, rule: str, value: object) -> ProtocolError:
    return ProtocolError(f"{what} {rule}, got {_SHOW.repr(value)}")


def _int(value: object, what: str, low: int = 0, high: int = MAX_INT64) -> int:
    if type(value) is not int:  # not bool, not float
        raise _fail(what, "must be an integer", value)
    if not low <= value <= high:
        raise _fail(what, f"must be within {low}..{high}", value)
    return value


def _node_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not NODE_ID.fullmatch(value):
        raise _fail(what, "must be 1-8 ASCII letters or digits", value)
    return value


def _text(value: object, what: str, max_chars: int) -> str:
    if not isinstance(value, str) or len(value) > max_chars:
        raise _fail(what, f"must be a string of at most {max_chars} characters", value)
    return value


def _bytes(value: object, what: str, max_len: int, exact: bool = False) -> bytes:
    if not isinstance(value, bytes):
        raise _fail(what, "must be binary", value)
    if len(value) > max_len or (exact and len(value) != max_len):
        rule = f"must be {max_len} bytes" if exact else f"must be at most {max_len} bytes"
        raise ProtocolError(f"{what} {rule}, got {len(value)}")
    return value


def _vector(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        raise _fail("vector", "must be a map of origin to seq", value)
    if len(value) > MAX_ORIGINS:
        raise ProtocolError(f"vector has {len(value)} origins, more than {MAX_ORIGINS}")
    return {_node_id(o, "vector origin"): _int(s, f"vector seq of {o}") for o, s in
            value.items()}


def _fields(value: object, what: str, count: int, newer: bool) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(what, "must be an array", value)
    if len(value) < count or (len(value) > count and not newer):
        raise ProtocolError(f"{what} must have {count} fields, got {len(value)}")
    return value[:count]


def _event(value: object, version: int, newer: bool) -> Event:
    signed = version >= SIGNED_PROTOCOL_VERSION
    fields = _fields(value, "event", _EVENT_FIELDS + signed, newer)
    origin, seq, hlc, wall_us, kind, body, prev, digest = fields[:_EVENT_FIELDS]
    sig = _bytes(fields[_EVENT_FIELDS], "event signature", SIGNATURE_BYTES) if signed else b""
    if sig and len(sig) != SIGNATURE_BYTES:
        raise ProtocolError(f"event signature must be empty or {SIGNATURE_BYTES} bytes, "
                            f"got {len(sig)}")
    origin = _node_id(origin, "event origin")
    if not isinstance(kind, str) or not KIND.fullmatch(kind):
        raise _fail("event kind", f"must be 1-{MAX_KIND_CHARS} of [A-Za-z0-9_.:-]", kind)
    return Event(origin, _int(seq, "event seq", 1), _int(hlc, "event hlc"),
                 _int(wall_us, "event wall_us"), kind,
                 _bytes(body, "event body", MAX_EVENT_BODY_BYTES),
                 _bytes(prev, "event prev_hash", HASH_BYTES, exact=True),
                 _bytes(digest, "event hash", HASH_BYTES, exact=True), sig)


def _name(value: object, what: str) -> str:
    if not _text(value, what, MAX_NAME_CHARS):
        raise _fail(what, "must not be empty", value)
    return str(value)


def _rows(value: object) -> dict[str, Decimal]:
    if not isinstance(value, dict) or not value:
        raise _fail("ReturnAsk rows", "must be a non-empty map of row to quantity", value)
    if len(value) > MAX_ASK_ROWS:
        raise ProtocolError(f"ReturnAsk has {len(value)} rows, more than {MAX_ASK_ROWS}")
    rows = {}
    for row, qty in value.items():
        if not isinstance(qty, str) or not QTY.fullmatch(qty) or not Decimal(qty):
            raise _fail(f"ReturnAsk qty of {_SHOW.repr(row)}",
                        "must be a positive decimal string with at most 9 decimals", qty)
        rows[_name(row, "ReturnAsk row")] = Decimal(qty)
    return rows


_SINCE = {_ASK: ("ReturnAsk", ASK_PROTOCOL_VERSION),
          _ANSWER: ("ReturnAnswer", ASK_PROTOCOL_VERSION),
          _SALE_ASK: ("SaleAsk", SALE_PROTOCOL_VERSION),
          _SALE_ANSWER: ("SaleAnswer", SALE_PROTOCOL_VERSION)}


def _since(version: int, tag: int) -> None:
    """Refuse a message stamped with a version that did not have it yet."""
    name, first = _SINCE[tag]
    if version < first:
        raise ProtocolError(f"{name} is not part of protocol {version}")


def check_event(event: Event) -> None:
    """Raise ProtocolError when ``event`` cannot travel (e.g. a body over the bound)."""
    _event(_event_wire(event), PROTOCOL_VERSION, newer=False)


def _parse(frame: object) -> Message:
    if not isinstance(frame, list) or len(frame) < 2:
        raise _fail("message", "must be an array [version, type, ...]", frame)
    version = _int(frame[0], "protocol version", 0, MAX_VERSION_NUMBER)
    tag = frame[1] if type(frame[1]) is int else None  # not True, not 1.0
    newer = version > PROTOCOL_VERSION
    if tag == _HELLO:  # layout frozen across versions; release and schema appended in 5
        says = _says_release(version)
        fields = _fields(frame[2:], "Hello", 7 if says else 5, newer)
        cluster, node, vector, wall_ms, reply = fields[:5]
        release, schema = fields[5:] if says else ("", 0)
        if type(reply) is not bool:
            raise _fail("Hello reply", "must be a boolean", reply)
        return Hello(version, _text(cluster, "cluster", MAX_CLUSTER_CHARS),
                     _node_id(node, "node"), _vector(vector), _int(wall_ms, "wall_ms"), reply,
                     _text(release, "Hello release", MAX_RELEASE_CHARS),
                     _int(schema, "Hello schema", 0, MAX_VERSION_NUMBER))
    if tag == _BYE:  # layout frozen across versions
        node, reason = _fields(frame[2:], "Bye", 2, newer)
        return Bye(_node_id(node, "node"), _text(reason, "Bye reason", MAX_REASON_CHARS))
    refusal = version_refusal(version)
    if refusal is not None:
        raise ProtocolError(refusal)
    if tag == _VECTOR:
        fields = _fields(frame[2:], "Vector", min(version, 3) + 2, newer)
        # Protocol 1 had neither flag, protocol 2 only ``erpnext``.
        erpnext = fields[3] if version >= 2 else False
        forwarding = fields[4] if version >= 3 else False
        for name, flag in (("erpnext", erpnext), ("forwarding", forwarding)):
            if type(flag) is not bool:
                raise _fail(f"Vector {name}", "must be a boolean", flag)
        return Vector(_node_id(fields[0], "node"), _vector(fields[1]),
                      _int(fields[2], "wall_ms"), erpnext, forwarding)
    if tag == _PULL:
        node, origin, first, last = _fields(frame[2:], "Pull", 4, newer)
        first, last = _int(first, "Pull first", 1), _int(last, "Pull last", 1)
        if last < first or last - first >= MAX_BATCH_EVENTS:
            raise ProtocolError(f"Pull {first}..{last} must be 1..{MAX_BATCH_EVENTS} events")
        return Pull(_node_id(node, "node"), _node_id(origin, "Pull origin"), first, last)
    if tag == _EVENTS:
        node, events = _fields(frame[2:], "Events", 2, newer)
        if not isinstance(events, list) or len(events) > MAX_BATCH_EVENTS:
            raise _fail("Events", f"must hold an array of at most {MAX_BATCH_EVENTS}", events)
        return Events(_node_id(node, "node"), tuple(_event(e, version, newer)
                                                          for e in events))
    if tag == _ASK:
        _since(version, tag)
        node, ask_id, invoice, rows, holds = _fields(frame[2:], "ReturnAsk", 5, newer)
        return ReturnAsk(_node_id(node, "node"), _ask_id(ask_id), _name(invoice, "invoice"),
                         _rows(rows), _int(holds, "ReturnAsk holds"))
    if tag == _ANSWER:
        _since(version, tag)
        node, ask_id, granted, reason = _fields(frame[2:], "ReturnAnswer", 4, newer)
        if type(granted) is not bool:
            raise _fail("ReturnAnswer granted", "must be a boolean", granted)
        return ReturnAnswer(_node_id(node, "node"), _ask_id(ask_id), granted,
                            _text(reason, "ReturnAnswer reason", MAX_REASON_CHARS))
    if tag == _SALE_ASK:
        _since(version, tag)
        node, ask_id, invoice = _fields(frame[2:], "SaleAsk", 3, newer)
        return SaleAsk(_node_id(node, "node"), _ask_id(ask_id), _name(invoice, "invoice"))
    if tag == _SALE_ANSWER:
        _since(version, tag)
        node, ask_id, event, reason = _fields(frame[2:], "SaleAnswer", 4, newer)
        reason = _text(reason, "SaleAnswer reason", MAX_REASON_CHARS)
        if (event is None) == (not reason):  # the event, or why not: exactly one
            raise _fail("SaleAnswer", "must carry either its event or a reason",
                        [event, reason])
        return SaleAnswer(_node_id(node, "node"), _ask_id(ask_id),
                          None if event is None else _event(event, version, newer), reason)
    raise _fail("message type", "is unknown", frame[1])


def _ask_id(value: object) -> str:
    if not isinstance(value, str) or not ASK_ID.fullmatch(value):
        raise _fail("ask_id", f"must be 1-{MAX_ASK_ID_CHARS} of [A-Za-z0-9_-]", value)
    return value


# --- encode / decode ----------------------------------------------------------------------


def _event_wire(e: Event) -> list[Any]:
    return [e.origin, e.seq, e.hlc, e.wall_us, e.kind, e.body, e.prev_hash, e.hash, e.sig]


def _wire(msg: Message) -> list[Any]:
    v = PROTOCOL_VERSION
    if isinstance(msg, Hello):
        said = [msg.release, msg.schema] if _says_release(msg.proto) else []
        if not said and (msg.release or msg.schema):  # it would arrive without them
            raise ProtocolError(f"a protocol {msg.proto} Hello cannot say release or schema")
        return [msg.proto, _HELLO, msg.cluster, msg.node, dict(msg.vector), msg.wall_ms,
                msg.reply, *said]
    if isinstance(msg, Vector):
        return [v, _VECTOR, msg.node, dict(msg.vector), msg.wall_ms, msg.erpnext,
                msg.forwarding]
    if isinstance(msg, Pull):
        return [v, _PULL, msg.node, msg.origin, msg.first, msg.last]
    if isinstance(msg, Events):
        return [v, _EVENTS, msg.node, [_event_wire(e) for e in msg.events]]
    if isinstance(msg, Bye):
        return [v, _BYE, msg.node, msg.reason]
    if isinstance(msg, ReturnAsk):
        rows = ({row: _qty_text(qty) for row, qty in msg.rows.items()}
                if isinstance(msg.rows, Mapping) else msg.rows)
        return [v, _ASK, msg.node, msg.ask_id, msg.invoice, rows, msg.holds]
    if isinstance(msg, ReturnAnswer):
        return [v, _ANSWER, msg.node, msg.ask_id, msg.granted, msg.reason]
    if isinstance(msg, SaleAsk):
        return [v, _SALE_ASK, msg.node, msg.ask_id, msg.invoice]
    if isinstance(msg, SaleAnswer):
        event = msg.event if msg.event is None else _event_wire(msg.event)
        return [v, _SALE_ANSWER, msg.node, msg.ask_id, event, msg.reason]
    raise ProtocolError(f"not a replication message: {type(msg).__name__}")


def _qty_text(qty: object) -> object:
    """A Decimal as plain digits ("2.500", never "2.5E+0"); anything else is left for
    the rules to refuse."""
    return format(qty, "f") if isinstance(qty, Decimal) and qty.is_finite() else qty


def encode(msg: Message) -> bytes:
    """The frame for ``msg``; ProtocolError when a field breaks a rule ``decode`` checks."""
    frame = _wire(msg)
    _parse(frame)
    data: bytes = msgpack.packb(frame, use_bin_type=True)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return data


def _reject_ext(code: int, data: bytes) -> object:
    raise ValueError(f"msgpack extension type {code} is not allowed")


class _Budget:
    """Counts the arrays and maps msgpack builds and stops it past MAX_CONTAINERS, so a
    frame of nested empty arrays cannot make us allocate 64 times its size."""

    def __init__(self) -> None:
        self.left = MAX_CONTAINERS

    def spend(self, container: Any) -> Any:
        self.left -= 1
        if self.left < 0:
            raise ValueError(f"more than {MAX_CONTAINERS} arrays and maps")
        return container

    def limits(self) -> dict[str, Any]:
        return dict(raw=False, use_list=True, strict_map_key=True, ext_hook=_reject_ext,
                    list_hook=self.spend, object_hook=self.spend,
                    max_str_len=MAX_STR_BYTES, max_bin_len=MAX_EVENT_BODY_BYTES,
                    max_array_len=MAX_BATCH_EVENTS, max_map_len=MAX_ORIGINS, max_ext_len=0)


def decode(data: bytes) -> Message:
    """The message in one frame; ProtocolError for anything malformed, never another error."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _fail("frame", "must be bytes", data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"frame of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        frame = msgpack.unpackb(data, **_Budget().limits())
    except Exception as exc:  # msgpack raises ValueError, TypeError, its own errors...
        raise ProtocolError(f"frame is not valid msgpack: {exc}") from exc
    return _parse(frame)


class StreamDecoder:
    """Frames concatenated on a byte stream: ``feed(bytes) -> [Message, ...]``.

    ZeroMQ delivers whole frames (use ``decode``); this is for stream transports and
    for tests that feed bytes one at a time. After a ProtocolError the stream is out of
    sync: drop the connection.
    """

    def __init__(self) -> None:
        self._budget = _Budget()
        self._unpacker = msgpack.Unpacker(max_buffer_size=MAX_MESSAGE_BYTES,
                                          **self._budget.limits())

    def feed(self, data: bytes) -> list[Message]:
        out: list[Message] = []
        try:
            self._unpacker.feed(data)
            for frame in self._unpacker:
                self._budget.left = MAX_CONTAINERS  # the next frame's budget
                out.append(_parse(frame))
        except ProtocolError:
            raise
        except Exception as exc:
            raise ProtocolError(f"stream is not valid msgpack: {exc}") from exc
        return out
