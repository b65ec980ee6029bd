"""Every counter says its release and store schema in its Hello (protocol 5), so each one
shows what the others run; a protocol-4 counter still reads that Hello (a newer peer's
appended fields), and a protocol-4 Hello still reads here, saying nothing of its release.
(The real previous release, built from git, is in tests/node/ops/test_upgrade.py.)"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillmesh.replication.const import (
    MAX_RELEASE_CHARS,
    PROTOCOL_VERSION,
    RELEASE_PROTOCOL_VERSION,
    VERSION_WINDOW,
)
from tillmesh.replication.protocol import Hello, ProtocolError, decode, encode
from tillmesh.replication.stores import MemoryStore
from tillmesh.replication.sync import PeerState, Replicator

V = PROTOCOL_VERSION
T0 = 1_700_000_000_000
releases = st.text(min_size=0, max_size=MAX_RELEASE_CHARS)
schemas = st.integers(0, 2**16 - 1)


def frame(*fields: object) -> bytes:
    return msgpack.packb(list(fields), use_bin_type=True)


@given(st.integers(max(RELEASE_PROTOCOL_VERSION, V - VERSION_WINDOW), V + VERSION_WINDOW),
       releases, schemas, st.booleans())
def test_a_hello_says_release_and_schema_and_they_arrive(proto, release, schema, reply):
    hello = Hello(proto, "shop", "C01", {"C01": 3}, T0, reply, release, schema)
    assert decode(encode(hello)) == hello


def test_the_new_fields_come_after_the_layout_every_older_node_reads():
    wire = msgpack.unpackb(encode(Hello(V, "shop", "C01", {"C01": 3}, T0, True, "0.2.0", 1)))
    # A protocol-4 node reads the first five fields of a newer peer's Hello and ignores
    # the rest (its decoder takes a newer version's appended fields).
    assert wire[:7] == [V, 1, "shop", "C01", {"C01": 3}, T0, True]
    assert wire[7:] == ["0.2.0", 1]


def test_an_older_peers_hello_reads_without_release_or_schema():
    hello = decode(frame(V - 1, 1, "shop", "C01", {}, T0, False))
    assert (hello.proto, hello.release, hello.schema) == (V - 1, "", 0)
    with pytest.raises(ProtocolError, match="cannot say release or schema"):
        encode(Hello(V - 1, "shop", "C01", {}, T0, release="0.1.0"))


def test_a_hello_too_new_to_talk_to_is_still_read_to_say_why():
    hello = decode(frame(V + 2, 1, "shop", "C01", {}, T0, False))  # whatever it appends
    assert hello.proto == V + 2 and hello.release == ""


@pytest.mark.parametrize(("fields", "why"), [
    (("shop", "C01", {}, T0, False), "must have 7 fields"),
    (("shop", "C01", {}, T0, False, 2, 1), "Hello release must be a string"),
    (("shop", "C01", {}, T0, False, "x" * (MAX_RELEASE_CHARS + 1), 1), "Hello release"),
    (("shop", "C01", {}, T0, False, "0.2.0", -1), "Hello schema must be within"),
    (("shop", "C01", {}, T0, False, "0.2.0", "1"), "Hello schema must be an integer"),
])
def test_a_current_hello_must_say_them_well(fields, why):
    with pytest.raises(ProtocolError, match=why):
        decode(frame(V, 1, *fields))


def greet(a: Replicator, b: Replicator) -> None:
    """Deliver the Hellos between a and b (encoded, as on the wire) until none is left."""
    out = [(a.node_id, m) for _, m in a.connected(b.node_id, T0)]
    out += [(b.node_id, m) for _, m in b.connected(a.node_id, T0)]
    while out:
        src, msg = out.pop(0)
        dst = b if src == a.node_id else a
        out += [(dst.node_id, m) for _, m in dst.received(src, decode(encode(msg)), T0)
                if isinstance(m, Hello)]


def test_each_side_shows_the_release_protocol_and_schema_the_other_said():
    a = Replicator(MemoryStore(), "C01", "shop", release="0.2.0", schema=1)
    b = Replicator(MemoryStore(), "C02", "shop", release="0.1.0", schema=1)
    greet(a, b)
    (seen_by_a,) = a.peers()
    assert seen_by_a.state is PeerState.READY
    assert (seen_by_a.proto, seen_by_a.release, seen_by_a.schema) == (V, "0.1.0", 1)
    assert (b.peers()[0].proto, b.peers()[0].release) == (V, "0.2.0")


def test_a_protocol_4_peer_is_ready_and_shown_without_a_release():
    a = Replicator(MemoryStore(), "C01", "shop", release="0.2.0", schema=1)
    a.connected("C02", T0)
    out = a.received("C02", decode(frame(V - 1, 1, "shop", "C02", {}, T0, False)), T0)
    assert isinstance(out[0][1], Hello) and out[0][1].reply and out[0][1].release == "0.2.0"
    (peer,) = a.peers()
    assert (peer.state, peer.proto, peer.release, peer.schema) == (PeerState.READY, V - 1,
                                                                   "", 0)
