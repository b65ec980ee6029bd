"""The CurveZMQ Ironhouse transport on 127.0.0.1: exchange, refusal, revocation,
attribution by key, restart, clean close, and the one-way latency on loopback."""

from __future__ import annotations

import asyncio
import functools
import logging
import statistics
import time
from collections.abc import Awaitable

import pytest
import zmq
import zmq.asyncio

from tests import waits
from tillmesh.replication.const import MAX_MESSAGE_BYTES
from tillmesh.replication.transport import (
    ZAP_DOMAIN,
    ZAP_VERSION,
    Transport,
    TransportError,
    TransportState,
    fingerprint,
    new_keypair,
    zap_reply,
)

LOOPBACK = "tcp://127.0.0.1:0"
WAIT_S = 5.0  # seconds; loopback handshakes take milliseconds
QUIET_S = 0.5  # seconds we watch for a message that must not arrive


def run(coro: Awaitable[object], timeout: float = 20.0) -> object:
    async def bounded() -> object:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


until = functools.partial(waits.until, timeout_s=WAIT_S)


class Peer:
    """A transport plus its inbox of ``(sender, data)``."""

    def __init__(self, node_id: str, keys: tuple[bytes, bytes] | None = None,
                 bind: str = LOOPBACK) -> None:
        self.id = node_id
        self.public, self.secret = keys or new_keypair()
        self.inbox: list[tuple[str, bytes]] = []
        self.t = Transport(node_id, self.public, self.secret, bind, self._received)

    def _received(self, sender: str, data: bytes) -> None:
        self.inbox.append((sender, data))

    async def expect(self, sender: str, data: bytes) -> None:
        await until(lambda: (sender, data) in self.inbox)


def members(*peers: Peer) -> dict[str, bytes]:
    return {p.id: p.public for p in peers}


async def mesh(*peers: Peer) -> None:
    """Start every peer, admit all of them everywhere and dial every pair."""
    for p in peers:
        p.t.set_members(members(*peers))
        await p.t.start()
    for p in peers:
        for q in peers:
            if q is not p:
                assert p.t.connect(q.id, q.t.endpoint, q.public)
    def meshed() -> bool:
        return all(p.t.connected() == {q.id for q in peers} - {p.id} for p in peers)

    await until(meshed)


async def close(*peers: Peer) -> None:
    for p in peers:
        await p.t.close()


def test_two_transports_exchange_both_ways() -> None:
    async def scenario() -> None:
        a, b = Peer("C01"), Peer("C02")
        await mesh(a, b)
        assert a.t.endpoint.startswith("tcp://127.0.0.1:") and a.t.port > 0
        assert await a.t.send("C02", b"hello B")
        assert await b.t.send("C01", b"hello A")
        await b.expect("C01", b"hello B")
        await a.expect("C02", b"hello A")
        await close(a, b)

    run(scenario())


def test_three_transports_exchange_in_every_direction() -> None:
    async def scenario() -> None:
        peers = [Peer(f"C0{i}") for i in (1, 2, 3)]
        await mesh(*peers)
        for p in peers:
            for q in peers:
                if q is not p:
                    assert await p.t.send(q.id, f"{p.id}->{q.id}".encode())
        for p in peers:
            for q in peers:
                if q is not p:
                    await q.expect(p.id, f"{p.id}->{q.id}".encode())
        assert all(len(p.inbox) == 2 for p in peers)
        await close(*peers)

    run(scenario())


def test_a_key_that_is_not_a_member_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        a, stranger = Peer("C01"), Peer("C09")
        a.t.set_members(members(a))  # the stranger is not enrolled here
        stranger.t.set_members(members(a, stranger))  # but it knows our key
        await a.t.start()
        await stranger.t.start()
        assert stranger.t.connect("C01", a.t.endpoint, a.public)
        await stranger.t.send("C01", b"let me in")  # queued; never accepted
        await asyncio.sleep(QUIET_S)
        assert a.inbox == []
        assert stranger.t.connected() == set()
        await close(a, stranger)

    with caplog.at_level(logging.INFO, logger="tillmesh.replication.transport"):
        run(scenario())
    assert "refused a peer connection from 127.0.0.1" in caplog.text
    assert "it refused our key" in caplog.text


def test_a_member_that_dials_a_joining_counter_before_it_knows_the_members_is_let_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A joining counter knows the inviting counter only, until its answer names the
    others; a member that heard of the enrolment first and dials at once is let in when
    that answer comes, not refused (the refusal was printed by `tillmesh join`)."""
    async def scenario() -> None:
        joiner, member = Peer("C03"), Peer("C02")
        joiner.t.set_members(members(joiner))
        joiner.t.expect_members()
        member.t.set_members(members(joiner, member))
        await joiner.t.start()
        await member.t.start()
        assert member.t.connect("C03", joiner.t.endpoint, joiner.public)
        await member.t.send("C03", b"welcome")
        await asyncio.sleep(0.2)  # its handshake waits at the joiner
        joiner.t.set_members(members(joiner, member))  # the inviting counter's answer
        await joiner.expect("C02", b"welcome")
        await close(joiner, member)

    with caplog.at_level(logging.INFO, logger="tillmesh.replication.transport"):
        run(scenario())
    assert "refused" not in caplog.text


def test_a_stranger_is_still_refused_by_a_counter_waiting_for_its_members(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tillmesh.replication.transport.MEMBERS_AWAITED_S", 0.2)

    async def scenario() -> None:
        joiner, stranger = Peer("C03"), Peer("C09")
        joiner.t.set_members(members(joiner))
        joiner.t.expect_members()  # and the list never comes
        stranger.t.set_members(members(joiner, stranger))
        await joiner.t.start()
        await stranger.t.start()
        assert stranger.t.connect("C03", joiner.t.endpoint, joiner.public)
        await stranger.t.send("C03", b"let me in")
        await until(lambda: "it refused our key" in caplog.text)
        assert joiner.inbox == []
        await close(joiner, stranger)

    with caplog.at_level(logging.INFO, logger="tillmesh.replication.transport"):
        run(scenario())
    assert "refused a peer connection from 127.0.0.1" in caplog.text


def test_revoking_a_member_tells_it_then_cuts_it_off_and_it_knows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        a, b = Peer("C01"), Peer("C02")
        await mesh(a, b)
        assert await b.t.send("C01", b"before")
        await a.expect("C02", b"before")

        # What A queued to C02 just before revoking it (the revocation) still reaches it.
        assert await a.t.send("C02", b"you are revoked")
        a.t.set_members(members(a))  # C02 revoked
        assert a.t.connected() == set()
        assert not await a.t.send("C02", b"to a revoked node")
        await b.expect("C01", b"you are revoked")
        # Its connection was authenticated before the revoke, and libzmq cannot drop one
        # peer: A re-opens its listener, so C02 handshakes again and is refused. It knows
        # (refusing), rather than talking on an old connection nobody answers.
        await until(lambda: b.t.refusing() == {"C01"})
        assert b.t.connected() == set()
        # Dialled afresh (a redial), it is still known to refuse us until it answers
        # otherwise: a new socket is not a new answer.
        b.t.disconnect("C01")
        assert b.t.connect("C01", a.t.endpoint, a.public)
        assert b.t.refusing() == {"C01"}
        await b.t.send("C01", b"after")
        await asyncio.sleep(QUIET_S)
        assert a.inbox == [("C02", b"before")]
        # Enrolled again (say, after a mistaken revoke): heard again.
        a.t.set_members(members(a, b))
        b.t.disconnect("C01")
        assert b.t.connect("C01", a.t.endpoint, a.public)
        await until(lambda: b.t.connected() == {"C01"})
        assert await b.t.send("C01", b"welcome back")
        await a.expect("C02", b"welcome back")
        await close(a, b)

    with caplog.at_level(logging.INFO, logger="tillmesh.replication.transport"):
        run(scenario())
    assert "closing our connection to C02: no longer a member" in caplog.text
    assert "every peer handshakes again" in caplog.text


def test_a_member_that_stays_reconnects_after_another_is_revoked() -> None:
    async def scenario() -> None:
        a, b, c = Peer("C01"), Peer("C02"), Peer("C03")
        await mesh(a, b, c)
        a.t.set_members(members(a, b))  # C03 revoked on C01: C02 is dropped too, briefly
        await until(lambda: c.t.refusing() == {"C01"})
        await until(lambda: b.t.connected() == {"C01", "C03"})
        assert await b.t.send("C01", b"still here")
        await a.expect("C02", b"still here")
        assert b.t.refusing() == set()
        await close(a, b, c)

    run(scenario())


def test_attribution_comes_from_the_key_not_from_the_message() -> None:
    """A member that picks another member's routing id, or writes another name into its
    message, is still heard as itself; a multi-part message is dropped."""

    async def scenario() -> None:
        a, b, c = Peer("C01"), Peer("C02"), Peer("C03")
        await mesh(a, b)
        a.t.set_members(members(a, b, c))
        ctx = zmq.asyncio.Context()
        liar = ctx.socket(zmq.DEALER)
        liar.setsockopt(zmq.LINGER, 0)
        liar.setsockopt(zmq.ROUTING_ID, b"C02")
        liar.curve_publickey, liar.curve_secretkey = c.public, c.secret
        liar.curve_serverkey = a.public
        liar.connect(a.t.endpoint)
        await liar.send(b"I am C02")
        await liar.send_multipart([b"C02", b"two parts"])
        await liar.send(b"last")
        await a.expect("C03", b"last")
        assert ("C03", b"I am C02") in a.inbox
        assert not any(sender == "C02" for sender, _ in a.inbox)
        assert not any(data == b"two parts" for _, data in a.inbox)
        # The real C02 is unaffected by the routing-id squatter.
        assert await b.t.send("C01", b"really C02")
        await a.expect("C02", b"really C02")
        liar.close(linger=0)
        ctx.term()
        await close(a, b)

    run(scenario())


def test_a_peer_restarting_on_the_same_endpoint_is_reconnected() -> None:
    async def scenario() -> None:
        a, b = Peer("C01"), Peer("C02")
        await mesh(a, b)
        endpoint = b.t.endpoint
        await b.t.close()
        await until(lambda: a.t.connected() == set())

        b2 = Peer("C02", keys=(b.public, b.secret), bind=endpoint)
        b2.t.set_members(members(a, b2))
        await b2.t.start()
        assert b2.t.endpoint == endpoint
        assert b2.t.connect("C01", a.t.endpoint, a.public)
        await until(lambda: a.t.connected() == {"C02"} and b2.t.connected() == {"C01"})
        assert not a.t.connect("C02", endpoint, b.public)  # same endpoint: nothing to do
        assert await a.t.send("C02", b"welcome back")
        assert await b2.t.send("C01", b"thanks")
        await b2.expect("C01", b"welcome back")
        await a.expect("C02", b"thanks")
        await close(a, b2)

    run(scenario())


def test_send_and_connect_refuse_what_they_cannot_do() -> None:
    async def scenario() -> None:
        a, b = Peer("C01"), Peer("C02")
        await mesh(a, b)
        assert not await a.t.send("C07", b"nobody there")
        with pytest.raises(TransportError, match="exceeds"):
            await a.t.send("C02", bytes(MAX_MESSAGE_BYTES + 1))
        assert not a.t.connect("C07", b.t.endpoint, new_keypair()[0])  # not a member
        assert not a.t.connect("C02", b.t.endpoint, new_keypair()[0])  # not its key
        assert not a.t.connect("C01", a.t.endpoint, a.public)  # ourselves
        with pytest.raises(TransportError):
            a.t.connect("C02", b.t.endpoint, b"not a key")
        with pytest.raises(TransportError, match="cannot dial"):
            a.t.connect("C02", "tcp://nowhere", b.public)
        # A new endpoint replaces the connection (and says so).
        assert a.t.connect("C02", b.t.endpoint.replace("127.0.0.1", "localhost"), b.public)
        await until(lambda: a.t.connected() == {"C02"})
        a.t.disconnect("C02")
        a.t.disconnect("C02")
        assert not await a.t.send("C02", b"gone")
        await close(a, b)

    run(scenario())


def test_bind_failure_and_lifecycle_errors_are_transport_errors() -> None:
    async def scenario() -> None:
        a = Peer("C01")
        await a.t.start()
        with pytest.raises(TransportError, match="is running"):
            await a.t.start()
        clash = Peer("C02", bind=a.t.endpoint)
        with pytest.raises(TransportError, match="cannot listen"):
            await clash.t.start()
        assert clash.t.state is TransportState.CLOSED
        await a.t.close()
        with pytest.raises(TransportError, match="closed"):
            a.t.connect("C02", "tcp://127.0.0.1:1", clash.public)
        with pytest.raises(TransportError, match="not listening"):
            _ = Peer("C03").t.endpoint

    run(scenario())


def test_close_is_clean() -> None:
    async def scenario() -> None:
        before = asyncio.all_tasks()
        a, b = Peer("C01"), Peer("C02")
        await mesh(a, b)
        assert await a.t.send("C02", b"x")
        assert len(asyncio.all_tasks() - before) == 6  # per transport: ZAP, reader, 1 watcher
        ctx, router = a.t._ctx, a.t._router
        await close(a, b)
        await a.t.close()  # idempotent
        assert a.t.state is TransportState.CLOSED
        assert ctx is not None and ctx.closed and router is not None and router.closed
        assert a.t.connected() == set() and not await a.t.send("C02", b"y")
        assert asyncio.all_tasks() == before

    run(scenario())


def test_a_failing_handler_does_not_stop_the_reader(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        a, b = Peer("C01"), Peer("C02")

        async def flaky(sender: str, data: bytes) -> None:
            if data == b"boom":
                raise RuntimeError("handler bug")
            a.inbox.append((sender, data))

        a.t._on_message = flaky
        await mesh(a, b)
        await b.t.send("C01", b"boom")
        await b.t.send("C01", b"fine")
        await a.expect("C02", b"fine")
        await close(a, b)

    run(scenario())
    assert "the message handler failed on 4 bytes from C02" in caplog.text


def test_bad_member_keys_admit_nobody(caplog: pytest.LogCaptureFixture) -> None:
    a, b = Peer("C01"), Peer("C02")
    a.t.set_members({"C01": a.public, "C02": b"garbage", "C03": b.public, "C04": b.public})
    assert a.t._members == {"C01": a.public}
    assert "ignoring member C02" in caplog.text
    assert "shares its key" in caplog.text


# ---------------------------------------------------------------------------- pure parts


def test_keys_and_fingerprints() -> None:
    public, secret = new_keypair()
    assert len(public) == len(secret) == 40 and public != secret
    fp = fingerprint(public)
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fingerprint(public.decode()) == fp != fingerprint(new_keypair()[0])
    for bad in (b"", b"short", b"~" * 40, public[:-1] + b" "):
        with pytest.raises(TransportError):
            fingerprint(bad)


def test_zap_reply_admits_member_keys_only() -> None:
    public, _ = new_keypair()
    raw = zmq.utils.z85.decode(public)
    node_by_key = {public: "C02"}
    request = [ZAP_VERSION, b"7", ZAP_DOMAIN, b"127.0.0.1", b"", b"CURVE", raw]
    reply, node, reason = zap_reply(request, node_by_key)
    assert (reply, node, reason) == ([ZAP_VERSION, b"7", b"200", b"OK", public, b""], "C02", "OK")

    def refused(req: list[bytes]) -> str:
        frames, who, why = zap_reply(req, node_by_key)
        assert frames[2] == b"400" and frames[4] == b"" and who is None
        return why

    assert refused(request[:-1] + [zmq.utils.z85.decode(new_keypair()[0])]) == "not a member"
    assert refused([ZAP_VERSION, b"7", b"other", *request[3:]]) == "wrong ZAP domain"
    assert refused([*request[:5], b"PLAIN", b"user", b"pass"]) == "not a CURVE client"
    assert refused([*request[:6], b"short"]) == "not a CURVE client"
    assert refused([b"2.0", *request[1:]]) == "malformed ZAP request"
    assert refused([]) == "malformed ZAP request"


# --------------------------------------------------------------------------- measurement

LATENCY_MESSAGES = 2000


def test_one_way_latency_on_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    """One message in flight at a time; send-to-handler time on one clock."""

    async def scenario() -> list[float]:
        a, b = Peer("C01"), Peer("C02")
        arrived = asyncio.Event()
        stamps: list[int] = []

        def on_message(sender: str, data: bytes) -> None:
            stamps.append(time.perf_counter_ns())
            arrived.set()

        b.t._on_message = on_message
        await mesh(a, b)
        payload = bytes(200)  # about one Vector message
        latencies = []
        for _ in range(LATENCY_MESSAGES):
            arrived.clear()
            sent = time.perf_counter_ns()
            assert await a.t.send("C02", payload)
            await arrived.wait()
            latencies.append((stamps[-1] - sent) / 1000)
        await close(a, b)
        return latencies

    latencies = sorted(run(scenario(), timeout=60))  # type: ignore[call-overload]
    median = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    with capsys.disabled():
        print(f"\none-way latency over {len(latencies)} messages on loopback: "
              f"median {median:.0f} us, p99 {p99:.0f} us, max {latencies[-1]:.0f} us")
    assert median < 20_000  # us; generous for a loaded CI machine
