"""Adding a counter in one short step (issue 13, point 6): a 16-character invite code a
person types, which names the inviting counter's key without giving anyone on the LAN a
target to match ahead of time, the full code still working, a guesser stopped after a
few tries, and a successful join that prints no refusal on the way."""

from __future__ import annotations

import asyncio
import re

import msgpack
import pytest
import zmq
from hypothesis import given
from hypothesis import strategies as st

from tests.clusterkit import admin
from tests.nodekit import Till, make_node
from tests.proc import Nodes, free_udp_port, ok, one_clear_line, tillmesh
from tests.replication.test_discovery import loopback_only  # noqa: F401 (autouse: TTL 0)
from tillmesh.node.api.cluster import enrol
from tillmesh.node.errors import AuthError, NotFoundError, ValidationError
from tillmesh.node.membership import invite
from tillmesh.node.membership.const import (
    SHORT_MISSES_ALLOWED,
    SHORT_TAG_BYTES,
    SHORT_TOKEN_BYTES,
)
from tillmesh.node.membership.join import Enrolment, find_inviter, parse_request
from tillmesh.node.membership.keys import create_keypair_file
from tillmesh.node.projections import counters
from tillmesh.replication.discovery import (
    Discovery,
    DiscoveryError,
    MalformedRecord,
    parse_record,
)
from tillmesh.replication.transport import fingerprint

KEY_A, KEY_B = zmq.curve_keypair()[0].decode(), zmq.curve_keypair()[0].decode()
tokens = st.binary(min_size=SHORT_TOKEN_BYTES, max_size=SHORT_TOKEN_BYTES)


@given(tokens)
def test_a_short_code_is_four_groups_of_four_and_names_only_its_counter(token):
    text = invite.short_code(token, KEY_A)
    assert [len(group) for group in text.split("-")] == [4, 4, 4, 4]
    parsed = invite.parse_short(text)
    assert parsed is not None and parsed.token == token
    assert parsed.names(KEY_A) and not parsed.names(KEY_B)
    # as a person types it: lower case, spaces, O for 0 and l for 1
    typed = text.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert invite.parse_short(typed) == parsed


@given(tokens, st.integers(0, 15), st.integers(1, 31))
def test_a_mistyped_character_matches_no_counter(token, where, shift):
    chars = invite.short_code(token, KEY_A).replace("-", "")
    wrong = invite.CROCKFORD[(invite.CROCKFORD.index(chars[where]) + shift) % 32]
    typo = invite.parse_short(chars[:where] + wrong + chars[where + 1:])
    # a typo in the token or the tag breaks the tag (2^-40 of a chance otherwise):
    # the joining counter finds no counter and sends nothing
    assert typo is not None and not typo.names(KEY_A)


def test_a_full_code_or_noise_is_not_a_short_code():
    assert invite.parse_short("TM1-" + "A" * 170) is None
    assert invite.parse_short("ABCD-EFGH-JKMN-PQR") is None  # 15 characters
    assert invite.parse_short("ABCD-EFGH-JKMN-PQRU") is None  # U is not Crockford base32


def test_the_join_listener_takes_a_short_token_and_nothing_between():
    body = {"node": "C04", "public_key": KEY_A, "cluster": "abc", "signing_key": b"k" * 32}
    for size in (SHORT_TOKEN_BYTES, 16):
        request = parse_request(msgpack.packb({**body, "secret": b"s" * size}))
        assert isinstance(request, Enrolment) and len(request.secret) == size
    for size in (0, SHORT_TOKEN_BYTES + SHORT_TAG_BYTES, 15):
        with pytest.raises(ValidationError, match="secret"):
            parse_request(msgpack.packb({**body, "secret": b"s" * size}))


@pytest.fixture
def issuer(tmp_path):
    return make_node(tmp_path / "a", "C01", join_listen="tcp://127.0.0.1:7611",
                     listen="tcp://127.0.0.1:7610")


def _enrolment(node, tmp_path, secret, name="C04"):
    pair = create_keypair_file(tmp_path / f"k-{name}")
    return Enrolment(secret, name, pair.public.decode(), node.config.cluster,
                     pair.signer.public)


def test_a_short_code_enrols_once_and_uses_up_its_invite(issuer, tmp_path):
    answer = Till(issuer, "admin")("invite_create")
    short = invite.parse_short(answer["short"])
    assert short is not None and short.names(issuer.keypair.public.decode())
    enrol(issuer, _enrolment(issuer, tmp_path, short.token))
    with issuer.log.reading() as s:
        assert counters.is_member(s, "C04")
    full = invite.decode(answer["code"])  # the same invite: its full code is used too
    with pytest.raises(AuthError, match="used already"):
        enrol(issuer, _enrolment(issuer, tmp_path, full.secret, "C05"))


def test_a_guesser_closes_the_short_codes_and_the_full_code_still_works(issuer, tmp_path):
    answer = Till(issuer, "admin")("invite_create")
    short = invite.parse_short(answer["short"])
    assert short is not None
    for guess in range(SHORT_MISSES_ALLOWED):
        wrong = (int.from_bytes(short.token) ^ (guess + 1)).to_bytes(SHORT_TOKEN_BYTES)
        with pytest.raises(invite.UnknownShortCode):
            enrol(issuer, _enrolment(issuer, tmp_path, wrong, f"C{10 + guess}"))
    with pytest.raises(invite.UnknownShortCode):  # the right one, too late
        enrol(issuer, _enrolment(issuer, tmp_path, short.token, "C04"))
    enrol(issuer, _enrolment(issuer, tmp_path, invite.decode(answer["code"]).secret, "C05"))
    fresh = invite.parse_short(Till(issuer, "admin")("invite_create")["short"])
    assert fresh is not None  # a new invite opens a new short code
    enrol(issuer, _enrolment(issuer, tmp_path, fresh.token, "C06"))


@pytest.fixture
def mdns_port() -> int:
    return free_udp_port()  # never 5353: nothing here hears a real responder


def test_the_joining_counter_finds_the_counter_its_code_names(mdns_port):
    token = b"\x01\x02\x03\x04\x05"
    text = invite.short_code(token, KEY_A)
    short = invite.parse_short(text)
    typo = invite.parse_short(text[:-1] + ("X" if text[-1] != "X" else "Y"))
    assert short is not None and typo is not None

    def counter(cluster: str, node: str, key: str, port: int) -> Discovery:
        return Discovery(cluster, node, 1, fingerprint(key), port, on_change=lambda c: None,
                         addresses=["127.0.0.1"], interfaces=["127.0.0.1"],
                         mdns_port=mdns_port, public_key=key, join_port=port + 1)

    async def scenario() -> None:
        # another store's counter, and a record without a key (an earlier release)
        others = [counter("bbbbbbbbbbbb", "C01", KEY_B, 7700),
                  Discovery("aaaaaaaaaaaa", "C02", 1, fingerprint(KEY_B), 7702,
                            on_change=lambda c: None, addresses=["127.0.0.1"],
                            interfaces=["127.0.0.1"], mdns_port=mdns_port)]
        inviter = counter("aaaaaaaaaaaa", "C07", KEY_A, 7710)
        try:
            await asyncio.gather(*(d.start() for d in (*others, inviter)))
            code = await find_inviter(short, interfaces=["127.0.0.1"], mdns_port=mdns_port,
                                      timeout_s=10)
            assert (code.cluster, code.issuer, code.issuer_key, code.join_endpoint,
                    code.secret) == ("aaaaaaaaaaaa", "C07", KEY_A, "tcp://127.0.0.1:7711",
                                     token)
            with pytest.raises(NotFoundError, match="check the code"):
                await find_inviter(typo, interfaces=["127.0.0.1"], mdns_port=mdns_port,
                                   timeout_s=2)
        finally:
            for d in (*others, inviter):
                await d.close()

    asyncio.run(asyncio.wait_for(scenario(), 40))


def test_a_counter_joins_a_store_of_two_with_the_short_code_and_no_refusal_is_printed():
    """C01 and C02 run; C03 joins with the short code `tillmesh invite` printed (expiry
    in the store's zone, to the minute), typed in lower case, found over mDNS (127.0.0.1,
    an isolated port). No refusal is printed: neither by a member that has not yet heard
    of C03, nor of one by C03."""
    mdns = ("--listen", "tcp://127.0.0.1:0", "--join-listen", "tcp://127.0.0.1:0",
            "--advertise", "127.0.0.1", "--mdns-interface", "127.0.0.1",
            "--mdns-port", str(free_udp_port()))
    with Nodes() as nodes:
        first_dir = nodes.tmp() / "d"
        ok(tillmesh(first_dir, "init", "--node", "C01", "--demo", "--timezone",
                    "America/New_York", *mdns, stdin="1234\n"))
        first = nodes.start(first_dir)
        with admin(first) as c:
            code = c.call("invite_create")["code"]
        second_dir = nodes.tmp() / "d"
        ok(tillmesh(second_dir, "join", "--node", "C02", *mdns, stdin=code + "\n"))
        nodes.start(second_dir)

        printed = ok(tillmesh(first_dir, "invite", "--user", "admin", stdin="1234\n"))
        assert re.search(r"valid until \d{4}-\d\d-\d\d \d\d:\d\d \(America/New_York\)\n",
                         printed), printed  # the store's time, to the minute
        short = re.search(r"\n    ([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})\n", printed)
        assert short is not None, printed
        joined = tillmesh(nodes.tmp() / "d", "join", "--node", "C03", *mdns,
                          stdin=short[1].lower() + "\n")
        assert joined.returncode == 0, joined.stderr
        assert "joined the store" in joined.stdout
        assert "refused" not in joined.stderr, joined.stderr


def test_a_short_code_without_mdns_is_one_clear_line():
    with Nodes() as nodes:
        result = tillmesh(nodes.tmp() / "d", "join", "--node", "C02", "--no-mdns",
                          stdin="ABCD-EFGH-JKMN-PQRS\n")
        one_clear_line(result, "use the full invite code")



def test_an_mdns_record_carries_the_whole_key_only_if_it_matches_its_fingerprint():
    name = "aaaaaaaaaaaa-C07._tillmesh._tcp.local."
    txt = {b"cluster": b"aaaaaaaaaaaa", b"node": b"C07", b"proto": b"1",
           b"key": fingerprint(KEY_A).encode()}
    plain = parse_record(name, txt, ["127.0.0.1"], 7610)  # an earlier release's record
    assert plain.public_key is None and plain.join_endpoint is None
    full = parse_record(name, {**txt, b"pk": KEY_A.encode(), b"join": b"7611"},
                        ["127.0.0.1"], 7610)
    assert (full.public_key, full.join_endpoint) == (KEY_A, "tcp://127.0.0.1:7611")
    for bad in ({b"pk": KEY_B.encode()}, {b"pk": b"short"}, {b"join": b"70000"},
                {b"join": b"x"}):
        with pytest.raises(MalformedRecord):
            parse_record(name, {**txt, **bad}, ["127.0.0.1"], 7610)
    with pytest.raises(DiscoveryError, match="does not match"):
        Discovery("aaaaaaaaaaaa", "C07", 1, fingerprint(KEY_A), 7610,
                  on_change=lambda c: None, public_key=KEY_B)
