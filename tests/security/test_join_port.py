"""The join port of a real counter, attacked by a stranger who can reach it (anyone on the
network can: CurveZMQ encrypts, but the listener takes any client key). Whatever it
sends, the stranger hears one generic refusal, the counter logs one line about it, and
a real counter still joins afterwards."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from tests.clusterkit import invite, join
from tests.proc import NodeProcess, Nodes, network
from tillmesh.node.membership import invite as invites
from tillmesh.node.membership.const import (
    JOIN_HANDSHAKE_S,
    JOIN_REQUEST_SPACING_S,
    MAX_JOIN_RECEIVE_BYTES,
    MAX_JOIN_REQUEST_BYTES,
)
from tillmesh.node.membership.join import REFUSED

pytestmark = pytest.mark.slow

ANSWER_S = 5.0  # seconds; the listener answers in ms, so silence this long means it died
SHED_S = JOIN_HANDSHAKE_S + 5.0  # seconds until a half-open connection must be closed
REFUSAL = {"ok": False, "error": REFUSED}


@pytest.fixture(scope="module")
def counter() -> Iterator[tuple[Nodes, NodeProcess]]:
    with Nodes() as nodes:
        yield nodes, nodes.start(nodes.init(*network(), node="C01"))


class Stranger:
    """A CurveZMQ client of the join port with a key of its own (not a member's)."""

    def __init__(self, code: invites.InviteCode) -> None:
        self.code = code
        self.public, secret = zmq.curve_keypair()
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.curve_serverkey = code.issuer_key.encode()
        self.sock.curve_publickey = self.public
        self.sock.curve_secretkey = secret
        self.events = self.sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.sock.connect(code.join_endpoint)

    def enrolment(self, **changes: Any) -> dict[str, Any]:
        """A well-formed enrolment with this invite, ``changes`` applied."""
        return {"secret": self.code.secret, "node": "C09", "public_key": self.public.decode(),
                "cluster": self.code.cluster, "signing_key": os.urandom(32), "endpoint": None,
                **changes}

    def send(self, request: object) -> None:
        payload = request if isinstance(request, bytes) else msgpack.packb(request)
        self.sock.send_multipart([b"", payload])

    def answer(self) -> dict[str, Any]:
        assert self.sock.poll(int(ANSWER_S * 1000)), "no answer: the join listener died"
        reply: dict[str, Any] = msgpack.unpackb(self.sock.recv_multipart()[-1], raw=False)
        return reply

    def ask(self, request: object) -> dict[str, Any]:
        self.send(request)
        return self.answer()

    def close(self) -> None:
        self.ctx.destroy(linger=0)


@pytest.fixture
def stranger(counter: tuple[Nodes, NodeProcess]) -> Iterator[Stranger]:
    client = Stranger(invites.decode(invite(counter[1])))
    yield client
    client.close()


def refusals(proc: NodeProcess) -> list[str]:
    return [line for line in proc.err_path.read_text(errors="replace").splitlines()
            if "join refused from" in line]


def test_garbage_and_wrong_types_get_the_generic_refusal_and_one_log_line_each(
        counter: tuple[Nodes, NodeProcess], stranger: Stranger) -> None:
    nodes, proc = counter
    before = len(refusals(proc))
    attacks: list[object] = [
        stranger.enrolment(secret=2**40),  # killed the listener before
        stranger.enrolment(secret="x" * 16),
        stranger.enrolment(node=["C02"]),
        stranger.enrolment(node="C01; DROP"),
        stranger.enrolment(public_key="k" * 39),
        stranger.enrolment(endpoint="tcp://h:1\nforged log line"),
        stranger.enrolment(cluster=None),
        stranger.enrolment(extra=1),
        {"op": "snapshot", "ticket": "0" * 32, "offset": 2**63},  # seek() overflowed
        {"op": "snapshot", "ticket": 7, "offset": 0},
        {1: 2},
        [stranger.code.secret],
        msgpack.ExtType(5, b"x"),
        b"\xc1not msgpack",
        b"\x91" * 2000,  # nested deeper than msgpack's stack
        os.urandom(64),
        msgpack.packb(stranger.enrolment(pad="x" * MAX_JOIN_REQUEST_BYTES)),
    ]
    for attack in attacks:
        assert stranger.ask(attack) == REFUSAL, attack
    stranger.sock.send_multipart([b"no delimiter"])
    assert stranger.answer() == REFUSAL
    stranger.sock.send_multipart([b"", b"two", b"requests"])
    assert stranger.answer() == REFUSAL

    lines = refusals(proc)[before:]
    assert len(lines) == len(attacks) + 2, lines
    assert all("from 127.0.0.1" in line for line in lines), lines
    assert "secret: 16 bytes expected, got int 1099511627776" in lines[0]
    assert f"above the {MAX_JOIN_REQUEST_BYTES} of a join request" in lines[-3]
    assert "Traceback" not in proc.err_path.read_text(errors="replace")
    # The listener lived through it all: a real counter joins.
    join(nodes, invite(proc), "C02")


def test_a_taken_id_is_told_only_to_the_holder_of_the_invite(
        counter: tuple[Nodes, NodeProcess], stranger: Stranger) -> None:
    nodes, proc = counter
    guess = stranger.enrolment(secret=os.urandom(16), node="C01")
    assert stranger.ask(guess) == REFUSAL  # no hint that C01 exists
    assert stranger.ask(stranger.enrolment(node="C01")) == {
        "ok": False, "error": "Counter id C01 is taken in this store: pick another"}
    assert "enrolment of C01): Unknown invite code" in refusals(proc)[-2]
    # Being told cost the holder nothing: the same code enrols another id.
    join(nodes, stranger.code.encode(), "C03")


def test_wrong_secrets_are_answered_slowly_in_bulk(counter: tuple[Nodes, NodeProcess],
                                                   stranger: Stranger) -> None:
    guesses = 40
    started = time.monotonic()
    for _ in range(guesses):  # sent at once: the listener takes them one by one
        stranger.send(stranger.enrolment(secret=os.urandom(16)))
    assert [stranger.answer() for _ in range(guesses)] == [REFUSAL] * guesses
    assert time.monotonic() - started >= (guesses - 1) * JOIN_REQUEST_SPACING_S


def test_a_huge_frame_costs_its_sender_the_connection_and_nothing_else(
        counter: tuple[Nodes, NodeProcess], stranger: Stranger) -> None:
    stranger.send(b"\x00" * (4 * MAX_JOIN_RECEIVE_BYTES))
    assert stranger.events.poll(int(ANSWER_S * 1000)), "the connection was kept"
    assert recv_monitor_message(stranger.events)["event"] == zmq.EVENT_DISCONNECTED
    other = Stranger(stranger.code)
    try:
        assert other.ask(other.enrolment(secret=b"\x00" * 16)) == REFUSAL
    finally:
        other.close()


def _closed_by_peer(sock: socket.socket, deadline_s: float) -> bool:
    """Read until the counter closes the connection (True) or the deadline (False)."""
    deadline = time.monotonic() + deadline_s
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def test_half_open_and_garbage_connections_are_shed_while_joins_go_on(
        counter: tuple[Nodes, NodeProcess], stranger: Stranger) -> None:
    host, port = stranger.code.join_endpoint.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as silent, \
            socket.create_connection((host, int(port))) as noisy:
        noisy.sendall(b"GET / HTTP/1.1\r\nHost: till\r\n\r\n" + bytes(range(256)) * 16)
        assert stranger.ask(stranger.enrolment(secret=b"\x01" * 16)) == REFUSAL
        assert _closed_by_peer(noisy, SHED_S)
        assert _closed_by_peer(silent, SHED_S)
