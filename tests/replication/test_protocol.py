"""The replication wire codec: round trips, every validation rule, fuzzing, byte streams."""

from __future__ import annotations

import tracemalloc
from decimal import Decimal

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tillmesh.replication.const import (
    MAX_ASK_ROWS,
    MAX_BATCH_EVENTS,
    MAX_EVENT_BODY_BYTES,
    MAX_INT64,
    MAX_MESSAGE_BYTES,
    MAX_ORIGINS,
    PROTOCOL_VERSION,
    SALE_PROTOCOL_VERSION,
)
from tillmesh.replication.event import GENESIS, Event, chain_hash
from tillmesh.replication.protocol import (
    Bye,
    Events,
    Hello,
    Message,
    ProtocolError,
    Pull,
    ReturnAnswer,
    ReturnAsk,
    SaleAnswer,
    SaleAsk,
    StreamDecoder,
    Vector,
    compatible,
    decode,
    encode,
    version_refusal,
)

H = b"\x11" * 32
V = PROTOCOL_VERSION

node_ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                   min_size=1, max_size=8)
int64 = st.integers(0, MAX_INT64)
seqs = st.integers(1, MAX_INT64)
vectors = st.dictionaries(node_ids, int64, max_size=8)
hashes = st.binary(min_size=32, max_size=32)
kinds = st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z_:-]{1,12}){0,2}", fullmatch=True)
events = st.builds(Event, node_ids, seqs, int64, int64, kinds, st.binary(max_size=64),
                   hashes, hashes, st.sampled_from([b"", b"s" * 64]))
reasons = st.text(min_size=1, max_size=512)
names = st.text(min_size=1, max_size=140)
ask_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
# Positive quantities with at most 15 integer digits and 9 decimals, as ERPNext keeps them.
quantities = st.builds(lambda n, places: Decimal(n).scaleb(-places),
                       st.integers(1, 10**15 - 1), st.integers(0, 9))
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Hello, st.integers(0, 2**16 - 1), st.text(max_size=64), node_ids, vectors,
              int64, st.booleans()),
    st.builds(Vector, node_ids, vectors, int64),
    seqs.flatmap(lambda first: st.builds(
        Pull, node_ids, node_ids, st.just(first),
        st.integers(first, min(first + MAX_BATCH_EVENTS - 1, MAX_INT64)))),
    st.builds(Events, node_ids, st.lists(events, max_size=5).map(tuple)),
    st.builds(Bye, node_ids, st.text(max_size=512)),
    st.builds(ReturnAsk, node_ids, ask_ids, names,
              st.dictionaries(names, quantities, min_size=1, max_size=5), int64),
    st.builds(ReturnAnswer, node_ids, ask_ids, st.booleans(), st.text(max_size=512)),
    st.builds(SaleAsk, node_ids, ask_ids, names),
    st.builds(SaleAnswer, node_ids, ask_ids, events),  # the sale's event, signed or not
    st.builds(SaleAnswer, node_ids, ask_ids, st.none(), reasons),  # or why not
)


def event(seq: int = 1, origin: str = "C01", body: bytes = b"\x80") -> Event:
    return Event(origin, seq, 7, 8, "sale.submitted", body, GENESIS,
                 chain_hash(GENESIS, origin, seq, 7, 8, "sale.submitted", body))


def wire_event(**changes: object) -> list[object]:
    fields = dict(origin="C01", seq=1, hlc=7, wall_us=8, kind="x.y", body=b"", prev=H, hash=H,
                  sig=b"")
    fields.update(changes)
    return list(fields.values())


def frame(*fields: object) -> bytes:
    return msgpack.packb(list(fields), use_bin_type=True)


# --- round trips ------------------------------------------------------------------------


@given(messages)
def test_every_message_round_trips(msg: Message):
    assert decode(encode(msg)) == msg


def test_one_of_each_round_trips_with_real_events():
    for msg in (Hello(V, "store-7", "C01", {"C01": 3, "C02": 0}, 1_700_000_000_000),
                Hello(V, "", "C01", {}, 0, reply=True),
                Vector("C02", {"C01": 2**63 - 1}, 5),
                Pull("C03", "C01", 1, MAX_BATCH_EVENTS),
                Events("C01", (event(), event(2))), Events("C01"),
                Bye("C01", "node stopping"),
                ReturnAsk("C02", "C02-5f1c9a0e2b7d4c11", "C01-2026-000042",
                          {"C01-2026-000042-1": Decimal("1.000"),
                           "C01-2026-000042-2": Decimal("0.125")}, 57),
                ReturnAnswer("C01", "C02-5f1c9a0e2b7d4c11", True),
                ReturnAnswer("C01", "C02-5f1c9a0e2b7d4c11", False, "returned already"),
                SaleAsk("C09", "C09-5f1c9a0e2b7d4c11", "C01-2024-000042"),
                SaleAnswer("C01", "C09-5f1c9a0e2b7d4c11", event(42)),
                SaleAnswer("C01", "C09-5f1c9a0e2b7d4c11", None, "No invoice on this counter")):
        assert decode(encode(msg)) == msg
        assert decode(bytearray(encode(msg))) == msg


def test_a_full_batch_of_the_largest_bodies_that_fit_travels():
    big = tuple(event(i, body=b"x" * (MAX_MESSAGE_BYTES // 16 - 300)) for i in range(1, 16))
    assert decode(encode(Events("C01", big))).events == big


# --- versions -----------------------------------------------------------------------------


@pytest.mark.parametrize(("ours", "theirs", "ok"), [
    (1, 1, True), (1, 2, True), (1, 0, False), (1, 3, False),  # 0 never existed
    (5, 4, True), (5, 6, True), (5, 3, False), (5, 7, False), (5, 5, True),
])
def test_peers_one_version_apart_talk_and_two_apart_are_refused(ours, theirs, ok):
    assert compatible(theirs, ours) is ok
    assert (version_refusal(theirs, ours) is None) is ok


def test_the_refusal_says_who_should_upgrade():
    assert "upgrade this node" in version_refusal(7, 5)
    assert "upgrade the peer" in version_refusal(3, 5)
    assert "accepts 4..6" in version_refusal(3, 5)
    assert not compatible(True) and not compatible(1.0) and not compatible("1")


def test_hello_and_bye_decode_from_any_version_so_refusals_can_be_explained():
    hello = decode(frame(9, 1, "s", "C01", {}, 1, False, "a future field"))
    assert isinstance(hello, Hello) and hello.proto == 9 and not compatible(hello.proto)
    assert decode(frame(9, 5, "C01", "bye", "future")) == Bye("C01", "bye")


def test_other_messages_from_an_incompatible_version_are_refused_with_the_reason():
    with pytest.raises(ProtocolError, match=f"speaks replication protocol {V + 2}"):
        decode(frame(V + 2, 2, "C01", {}, 1, True))


def test_a_newer_peer_may_append_fields_an_older_node_ignores():
    assert decode(frame(V + 1, 2, "C01", {"C01": 1}, 1, True, False, "new")) == Vector(
        "C01", {"C01": 1}, 1, erpnext=True)
    got = decode(frame(V + 1, 4, "C01", [wire_event() + ["new"]]))
    assert isinstance(got, Events) and got.events[0].seq == 1
    with pytest.raises(ProtocolError, match="must have 5 fields"):
        decode(frame(V, 2, "C01", {"C01": 1}, 1, True, False, "new"))  # same version: exact
    with pytest.raises(ProtocolError, match="must have 9 fields"):
        decode(frame(V, 4, "C01", [wire_event() + ["new"]]))


def test_events_carry_their_signature_from_protocol_4():
    signed = decode(frame(V, 4, "C01", [wire_event(sig=b"s" * 64)]))
    assert isinstance(signed, Events) and signed.events[0].sig == b"s" * 64
    older = decode(frame(V, 4, "C01", [wire_event()]))  # recorded before signatures: none
    assert isinstance(older, Events) and older.events[0].sig == b""
    with pytest.raises(ProtocolError, match="event signature must be empty or 64 bytes"):
        decode(frame(V, 4, "C01", [wire_event(sig=b"s" * 63)]))


# --- every validation rule ------------------------------------------------------------------

BAD = [
    ("not an array", msgpack.packb({"type": 1}), "must be an array"),
    ("empty array", frame(), "must be an array"),
    ("version not int", frame("1", 2, "C01", {}, 1), "protocol version must be an integer"),
    ("version bool", frame(True, 2, "C01", {}, 1), "must be an integer"),
    ("version negative", frame(-1, 2, "C01", {}, 1), "within"),
    ("version huge", frame(2**20, 1, "s", "C01", {}, 1, False), "within"),
    ("unknown type", frame(V, 10, "C01"), "message type is unknown"),
    ("type as bool", frame(V, True, "s", "C01", {}, 1, False), "message type is unknown"),
    ("type as str", frame(V, "hello"), "message type is unknown"),
    ("too few fields", frame(V, 3, "C01", "C01", 1), "must have 4 fields"),
    ("node with dash", frame(V, 2, "C-01", {}, 1, True, False), "node must be 1-8 ASCII"),
    ("node too long", frame(V, 2, "C01234567", {}, 1, True, False), "node must be 1-8"),
    ("node empty", frame(V, 2, "", {}, 1, True, False), "node must be 1-8"),
    ("node non-ascii digit", frame(V, 2, "C\u0663", {}, 1, True, False), "node must be 1-8 ASCII"),
    ("node newline", frame(V, 2, "C01\n", {}, 1, True, False), "node must be"),
    ("node as bytes", frame(V, 2, b"C01", {}, 1, True, False), "node must be"),
    ("vector not a map", frame(V, 2, "C01", [["C01", 1]], 1, True, False), "vector must be a map"),
    ("vector bad origin", frame(V, 2, "C01", {"C 1": 1}, 1, True, False), "vector origin"),
    ("vector seq negative", frame(V, 2, "C01", {"C01": -1}, 1, True, False), "vector seq of C01"),
    ("vector seq too big", frame(V, 2, "C01", {"C01": 2**63}, 1, True, False), "vector seq of C01"),
    ("vector seq float", frame(V, 2, "C01", {"C01": 1.0}, 1, True, False), "must be an integer"),
    ("vector int key", msgpack.packb([V, 2, "C01", {1: 1}, 1]), "not valid msgpack"),
    ("vector too many", frame(V, 2, "C01", {f"N{i}": 1 for i in range(MAX_ORIGINS + 1)}, 1, True),
     "not valid msgpack"),  # msgpack's max_map_len stops it before it is built
    ("wall negative", frame(V, 2, "C01", {}, -5, True, False), "wall_ms must be within"),
    ("wall float", frame(V, 2, "C01", {}, 1.5, True, False), "wall_ms must be an integer"),
    ("hello cluster long", frame(V, 1, "x" * 65, "C01", {}, 1, False, "0.1.0", 1), "cluster"),
    ("hello cluster int", frame(V, 1, 7, "C01", {}, 1, False, "0.1.0", 1), "cluster"),
    ("hello reply int", frame(V, 1, "s", "C01", {}, 1, 1, "0.1.0", 1),
     "reply must be a boolean"),
    ("pull last < first", frame(V, 3, "C01", "C02", 5, 4), "Pull 5..4 must be"),
    ("pull span too big", frame(V, 3, "C01", "C02", 1, MAX_BATCH_EVENTS + 1), "must be 1.."),
    ("pull first zero", frame(V, 3, "C01", "C02", 0, 3), "Pull first must be within 1"),
    ("pull bad origin", frame(V, 3, "C01", "*", 1, 3), "Pull origin"),
    ("events not a list", frame(V, 4, "C01", {}), "Events must hold an array"),
    ("event not a list", frame(V, 4, "C01", ["x"]), "event must be an array"),
    ("event seq zero", frame(V, 4, "C01", [wire_event(seq=0)]), "event seq must be within 1"),
    ("event seq 2**63", frame(V, 4, "C01", [wire_event(seq=2**63)]), "event seq"),
    ("event hlc negative", frame(V, 4, "C01", [wire_event(hlc=-1)]), "event hlc"),
    ("event wall float", frame(V, 4, "C01", [wire_event(wall_us=1.0)]), "event wall_us"),
    ("event bad origin", frame(V, 4, "C01", [wire_event(origin="é")]), "event origin"),
    ("event kind empty", frame(V, 4, "C01", [wire_event(kind="")]), "event kind"),
    ("event kind space", frame(V, 4, "C01", [wire_event(kind="a b")]), "event kind"),
    ("event kind long", frame(V, 4, "C01", [wire_event(kind="k" * 65)]), "event kind"),
    ("event body str", frame(V, 4, "C01", [wire_event(body="text")]), "event body"),
    ("event short hash", frame(V, 4, "C01", [wire_event(hash=b"\x00" * 31)]),
     "event hash must be 32 bytes"),
    ("event long prev", frame(V, 4, "C01", [wire_event(prev=b"\x00" * 33)]),
     "event prev_hash must be 32 bytes"),
    ("event hash str", frame(V, 4, "C01", [wire_event(hash="0" * 32)]), "must be binary"),
    ("ask rows empty", frame(V, 6, "C02", "a1", "C01-1", {}, 0), "non-empty map"),
    ("ask rows a list", frame(V, 6, "C02", "a1", "C01-1", [["r", "1"]], 0), "non-empty map"),
    ("ask qty number", frame(V, 6, "C02", "a1", "C01-1", {"r": 1}, 0), "positive decimal"),
    ("ask qty zero", frame(V, 6, "C02", "a1", "C01-1", {"r": "0.000"}, 0), "positive"),
    ("ask qty negative", frame(V, 6, "C02", "a1", "C01-1", {"r": "-1"}, 0), "positive"),
    ("ask qty exponent", frame(V, 6, "C02", "a1", "C01-1", {"r": "1E+2"}, 0), "decimal"),
    ("ask qty nan", frame(V, 6, "C02", "a1", "C01-1", {"r": "NaN"}, 0), "decimal"),
    ("ask qty 10 places", frame(V, 6, "C02", "a1", "C01-1", {"r": "0.0000000001"}, 0),
     "at most 9 decimals"),
    ("ask qty 16 digits", frame(V, 6, "C02", "a1", "C01-1", {"r": "1" * 16}, 0), "decimal"),
    ("ask row empty", frame(V, 6, "C02", "a1", "C01-1", {"": "1"}, 0), "row must not be"),
    ("ask row long", frame(V, 6, "C02", "a1", "C01-1", {"r" * 141: "1"}, 0), "ReturnAsk row"),
    ("ask invoice empty", frame(V, 6, "C02", "a1", "", {"r": "1"}, 0), "invoice must not"),
    ("ask invoice int", frame(V, 6, "C02", "a1", 7, {"r": "1"}, 0), "invoice must be"),
    ("ask id space", frame(V, 6, "C02", "a 1", "C01-1", {"r": "1"}, 0), "ask_id must be"),
    ("ask id long", frame(V, 6, "C02", "a" * 65, "C01-1", {"r": "1"}, 0), "ask_id must be"),
    ("ask holds negative", frame(V, 6, "C02", "a1", "C01-1", {"r": "1"}, -1), "holds"),
    ("ask too few fields", frame(V, 6, "C02", "a1", "C01-1", {"r": "1"}), "must have 5"),
    ("ask from protocol 2", frame(2, 6, "C02", "a1", "C01-1", {"r": "1"}, 0),
     "speaks replication protocol 2"),
    ("answer granted int", frame(V, 7, "C01", "a1", 1, ""), "granted must be a boolean"),
    ("answer reason long", frame(V, 7, "C01", "a1", False, "r" * 513), "reason"),
    ("answer from protocol 2", frame(2, 7, "C01", "a1", True, ""),
     "speaks replication protocol 2"),
    ("sale ask invoice empty", frame(V, 8, "C09", "a1", ""), "invoice must not be empty"),
    ("sale ask invoice bytes", frame(V, 8, "C09", "a1", b"C01-1"), "invoice must be"),
    ("sale ask id space", frame(V, 8, "C09", "a 1", "C01-1"), "ask_id must be"),
    ("sale ask too few fields", frame(V, 8, "C09", "a1"), "SaleAsk must have 3"),
    ("sale ask from protocol 4", frame(SALE_PROTOCOL_VERSION - 1, 8, "C09", "a1", "C01-1"),
     f"SaleAsk is not part of protocol {SALE_PROTOCOL_VERSION - 1}"),
    ("sale answer neither", frame(V, 9, "C01", "a1", None, ""), "either its event or a reason"),
    ("sale answer both", frame(V, 9, "C01", "a1", wire_event(), "why"),
     "either its event or a reason"),
    ("sale answer event a map", frame(V, 9, "C01", "a1", {"seq": 1}, ""), "event must be an array"),
    ("sale answer short hash", frame(V, 9, "C01", "a1", wire_event(hash=b"\x00" * 31), ""),
     "event hash must be 32 bytes"),
    ("sale answer bad sig", frame(V, 9, "C01", "a1", wire_event(sig=b"s" * 63), ""),
     "event signature must be empty or 64 bytes"),
    ("sale answer reason long", frame(V, 9, "C01", "a1", None, "r" * 513), "SaleAnswer reason"),
    ("sale answer reason int", frame(V, 9, "C01", "a1", None, 7), "SaleAnswer reason"),
    ("sale answer too few", frame(V, 9, "C01", "a1", None), "SaleAnswer must have 4"),
    ("sale answer from protocol 4", frame(SALE_PROTOCOL_VERSION - 1, 9, "C01", "a1", None, "x"),
     f"SaleAnswer is not part of protocol {SALE_PROTOCOL_VERSION - 1}"),
    ("bye reason int", frame(V, 5, "C01", 3), "Bye reason"),
    ("bye reason long", frame(V, 5, "C01", "r" * 513), "Bye reason"),
    ("trailing bytes", frame(V, 5, "C01", "r") + b"\x00", "not valid msgpack"),
    ("ext type", frame(V, 5, "C01", msgpack.ExtType(1, b"x")), "not valid msgpack"),
    ("timestamp", msgpack.packb([V, 5, "C01", msgpack.Timestamp(1)]), "not valid msgpack"),
    ("invalid utf-8", b"\x94\x01\x05\xa3C01\xa1\xff", "not valid msgpack"),
    ("garbage", b"\xc1", "not valid msgpack"),
    ("empty", b"", "not valid msgpack"),
]


@pytest.mark.parametrize(("data", "match"), [(d, m) for _, d, m in BAD], ids=[b[0] for b in BAD])
def test_each_rule_is_a_protocol_error_naming_it(data: bytes, match: str):
    with pytest.raises(ProtocolError, match=match):
        decode(data)


def test_an_ask_names_at_most_so_many_rows():
    rows = {f"C01-2026-000042-{i}": "1" for i in range(MAX_ASK_ROWS + 1)}
    with pytest.raises(ProtocolError, match=f"more than {MAX_ASK_ROWS}"):
        decode(frame(V, 6, "C02", "a1", "C01-2026-000042", rows, 0))
    with pytest.raises(ProtocolError, match="positive decimal"):
        encode(ReturnAsk("C02", "a1", "C01-1", {"r": Decimal("NaN")}, 0))
    with pytest.raises(ProtocolError, match="positive"):
        encode(ReturnAsk("C02", "a1", "C01-1", {"r": Decimal("-2")}, 0))


def test_a_newer_peer_may_append_fields_to_an_ask_and_its_answer():
    ask = decode(frame(V + 1, 6, "C02", "a1", "C01-1", {"r": "2.5"}, 3, "new"))
    assert ask == ReturnAsk("C02", "a1", "C01-1", {"r": Decimal("2.5")}, 3)
    assert decode(frame(V + 1, 7, "C01", "a1", True, "", "new")) == ReturnAnswer(
        "C01", "a1", True)
    assert encode(ask) == frame(V, 6, "C02", "a1", "C01-1", {"r": "2.5"}, 3)  # plain digits


def test_a_newer_peer_may_append_fields_to_a_sale_ask_its_answer_and_the_event():
    assert decode(frame(V + 1, 8, "C09", "a1", "C01-1", "new")) == SaleAsk("C09", "a1", "C01-1")
    got = decode(frame(V + 1, 9, "C01", "a1", wire_event(sig=b"s" * 64) + ["new"], "", "new"))
    assert isinstance(got, SaleAnswer) and got.event is not None
    assert (got.event.seq, got.event.sig, got.reason) == (1, b"s" * 64, "")
    with pytest.raises(ProtocolError, match="SaleAsk must have 3 fields"):
        decode(frame(V, 8, "C09", "a1", "C01-1", "new"))  # same version: exact


def test_a_sale_answer_carries_the_event_as_events_do():
    sale = event(42, body=b"\x81\xa7invoice\xafC01-2024-000042")
    wire = msgpack.unpackb(encode(SaleAnswer("C01", "a1", sale)))
    assert wire[4] == msgpack.unpackb(encode(Events("C01", (sale,))))[3][0]
    with pytest.raises(ProtocolError, match="either its event or a reason"):
        encode(SaleAnswer("C01", "a1", sale, "and a reason"))
    with pytest.raises(ProtocolError, match="event body must be at most"):
        encode(SaleAnswer("C01", "a1", event(body=b"x" * (MAX_EVENT_BODY_BYTES + 1))))


def test_events_batches_and_bodies_are_bounded():
    with pytest.raises(ProtocolError, match="not valid msgpack"):  # max_array_len
        decode(frame(V, 4, "C01", [wire_event(seq=i + 1) for i in range(MAX_BATCH_EVENTS + 1)]))
    with pytest.raises(ProtocolError, match="not valid msgpack"):  # max_bin_len
        decode(frame(V, 4, "C01", [wire_event(body=b"x" * (MAX_EVENT_BODY_BYTES + 1))]))
    with pytest.raises(ProtocolError, match="event body must be at most"):
        encode(Events("C01", (event(body=b"x" * (MAX_EVENT_BODY_BYTES + 1)),)))
    with pytest.raises(ProtocolError, match="Events must hold an array of at most"):
        encode(Events("C01", tuple(event(i) for i in range(1, MAX_BATCH_EVENTS + 2))))


def test_the_frame_size_is_bounded_both_ways():
    with pytest.raises(ProtocolError, match="exceeds"):
        decode(b"\x00" * (MAX_MESSAGE_BYTES + 1))
    huge = tuple(event(i, body=b"x" * MAX_EVENT_BODY_BYTES) for i in range(1, 18))
    with pytest.raises(ProtocolError, match="exceeds"):
        encode(Events("C01", huge))


def test_encode_refuses_what_decode_would_refuse():
    for bad in (Vector("C-1", {}, 1), Pull("C01", "C02", 3, 2), Bye("C01", "x" * 600),
                Hello(V, "s", "C01", {"C01": -1}, 1), Vector("C01", {}, True)):
        with pytest.raises(ProtocolError):
            encode(bad)
    with pytest.raises(ProtocolError, match="not a replication message"):
        encode("hello")  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="frame must be bytes"):
        decode("hello")  # type: ignore[arg-type]


# --- fuzzing ------------------------------------------------------------------------------


def _decodes_or_refuses(data: bytes) -> None:
    try:
        msg = decode(data)
    except ProtocolError:
        return
    assert decode(encode(msg)) == msg  # whatever is accepted is a well-formed message


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_protocol_error(data: bytes):
    _decodes_or_refuses(data)


plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text(max_size=10) | st.binary(max_size=40) | node_ids,
    lambda inner: st.lists(inner, max_size=9)
    | st.dictionaries(st.text(max_size=8) | node_ids, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200)
@given(st.integers(-1, 6), st.integers(0, 10), st.lists(plain, max_size=8))
def test_arbitrary_msgpack_structures_only_ever_raise_protocol_error(version, tag, fields):
    _decodes_or_refuses(msgpack.packb([version, tag, *fields], use_bin_type=True))


def _paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [path]
    if isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    return out


@settings(max_examples=300)
@given(messages, st.data())
def test_a_valid_frame_with_any_one_part_replaced_only_ever_raises_protocol_error(msg, data):
    tree = msgpack.unpackb(encode(msg), raw=False)
    path = data.draw(st.sampled_from(_paths(tree)[1:]))
    *parents, last = path
    node = tree
    for key in parents:
        node = node[key]
    node[last] = data.draw(plain)
    _decodes_or_refuses(msgpack.packb(tree, use_bin_type=True))


@settings(max_examples=200)
@given(plain)
def test_arbitrary_msgpack_values_only_ever_raise_protocol_error(value):
    _decodes_or_refuses(msgpack.packb(value, use_bin_type=True))


@settings(max_examples=300)
@given(messages, st.data())
def test_a_corrupted_byte_in_a_valid_frame_only_ever_raises_protocol_error(msg, data):
    raw = bytearray(encode(msg))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    _decodes_or_refuses(bytes(raw))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_every_truncated_frame_is_a_protocol_error(msg: Message):
    data = encode(msg)
    for end in range(len(data)):
        with pytest.raises(ProtocolError):
            decode(data[:end])


@settings(max_examples=100)
@given(st.lists(messages, max_size=4))
def test_a_stream_fed_one_byte_at_a_time_yields_each_message_once_complete(msgs):
    stream = StreamDecoder()
    out: list[Message] = []
    for msg in msgs:
        data = encode(msg)
        for i in range(len(data)):
            got = stream.feed(data[i:i + 1])
            assert got == ([] if i < len(data) - 1 else [msg])
            out += got
    assert out == msgs
    assert StreamDecoder().feed(b"".join(encode(m) for m in msgs)) == msgs


def test_a_stream_refuses_garbage_and_oversized_input():
    with pytest.raises(ProtocolError):
        StreamDecoder().feed(frame(V, 10, "C01"))
    with pytest.raises(ProtocolError):
        StreamDecoder().feed(b"\xc1")
    stream, fed = StreamDecoder(), 0
    with pytest.raises(ProtocolError):  # a 4 GiB string: refused once the buffer is full
        stream.feed(b"\xdb\xff\xff\xff\xff")
        while fed <= MAX_MESSAGE_BYTES:
            stream.feed(b"x" * 2**20)
            fed += 2**20
    assert fed <= MAX_MESSAGE_BYTES


def test_a_frame_of_nested_empty_arrays_is_refused_without_building_it():
    inner = b"\xdc\x03\xe8" + b"\x90" * 1000  # an array of 1000 empty arrays
    bomb = b"\x94\x01\x04\xa3C01\xdc\x03\xe8" + inner * 1000  # 1 MB: a million lists
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="more than .* arrays and maps"):
            decode(bomb)
        with pytest.raises(ProtocolError, match="more than .* arrays and maps"):
            StreamDecoder().feed(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**20  # building it would take ~64 MiB


def test_the_container_budget_is_per_frame_on_a_stream():
    full = Events("C01", tuple(event(i) for i in range(1, MAX_BATCH_EVENTS + 1)))
    data = encode(full)
    stream = StreamDecoder()
    assert stream.feed(data + data[:1000]) == [full]
    assert stream.feed(data[1000:]) == [full]


def test_a_vector_carries_the_flags_of_its_protocol_version():
    with pytest.raises(ProtocolError, match=f"accepts {V - 1}..{V + 1}"):  # two back: refused
        decode(frame(V - 2, 2, "C01", {"C01": 1}, 5, True))
    assert decode(frame(V - 1, 2, "C01", {"C01": 1}, 5, True, False)) == Vector(
        "C01", {"C01": 1}, 5, erpnext=True, forwarding=False)
    for erpnext in (True, False):
        for forwarding in (True, False):
            got = decode(encode(Vector("C01", {}, 5, erpnext, forwarding)))
            assert (got.erpnext, got.forwarding) == (erpnext, forwarding)
    with pytest.raises(ProtocolError, match="erpnext must be a boolean"):
        decode(frame(V - 1, 2, "C01", {}, 5, 1, False))
    with pytest.raises(ProtocolError, match="forwarding must be a boolean"):
        decode(frame(V - 1, 2, "C01", {}, 5, True, 1))
