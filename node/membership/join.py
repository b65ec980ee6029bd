"""The join handshake over ZeroMQ: the inviting counter's listener and the new counter's
request. CurveZMQ encrypts both ways; the listener accepts any client key (the new
counter is not a member yet) but does nothing without a valid one-time invite secret.

The listener has a ZeroMQ context of its own, so the replication transport's key check
(ZAP, members only) does not apply to it, and nothing but a join request is served here.

Anyone on the network can reach this port, so the listener assumes nothing of what it
receives (:func:`parse_request` checks the type and size of every field, pure) and
survives anything: a frame above ``MAX_JOIN_RECEIVE_BYTES`` costs its sender the
connection, any other message gets an answer. Every refusal is logged in one line with
its reason and the sender's address; on the wire it is the one generic :data:`REFUSED`,
so a caller without the invite's secret learns nothing (not even which counter ids
exist). Only a caller that proved it holds a valid invite hears why
(:class:`HolderRefused`: its counter id is taken, say). Requests are handled one at a
time, ``JOIN_REQUEST_SPACING_S`` apart at least.

A short invite code (``invite``) is turned into the full code it stands for on the new
counter, before anything is sent: :func:`find_inviter` takes the inviting counter's key,
join endpoint and cluster from its mDNS record, the one whose key the code names; the
code's token then goes where the full code's secret would.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack
import zmq
import zmq.asyncio

from tillmesh.node.errors import (
    ApiError,
    ConfigError,
    NodeUnavailable,
    NotFoundError,
    TillmeshError,
    ValidationError,
)
from tillmesh.node.membership.const import (
    FIND_INVITER_S,
    INVITE_MAX_MINUTES,
    INVITE_SECRET_BYTES,
    JOIN_HANDSHAKE_S,
    JOIN_REQUEST_SPACING_S,
    JOIN_TIMEOUT_S,
    MAX_CLUSTER_CHARS,
    MAX_ENDPOINT_CHARS,
    MAX_JOIN_RECEIVE_BYTES,
    MAX_JOIN_REQUEST_BYTES,
    SHORT_TOKEN_BYTES,
    SNAPSHOT_FIRST_TIMEOUT_S,
)
from tillmesh.node.membership.invite import InviteCode, ShortCode
from tillmesh.node.membership.keys import Keypair
from tillmesh.node.store.const import TICKET_BYTES
from tillmesh.replication.signing import PUBLIC_BYTES

if TYPE_CHECKING:
    from tillmesh.replication.discovery import PeerFound

log = logging.getLogger("tillmesh.join")

REFUSED = ("the invite was not accepted (used, expired, for another store or mistyped): "
           "make a new one with `tillmesh invite`; the inviting counter's log says why")

_NODE_ID = re.compile(r"[A-Za-z0-9]{1,8}")
_Z85_KEY = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")  # CurveZMQ, 32 bytes
_HOST_CHARS = MAX_ENDPOINT_CHARS - len("tcp://:65535")
_ENDPOINT = re.compile(rf"tcp://[0-9A-Za-z.\-:\[\]]{{1,{_HOST_CHARS}}}:[0-9]{{1,5}}")
_CLUSTER = re.compile(f"[!-~]{{1,{MAX_CLUSTER_CHARS}}}")  # printable, no spaces
_TICKET = re.compile(f"[0-9a-f]{{{2 * TICKET_BYTES}}}")
_MAX_OFFSET = (1 << 63) - 1  # bytes; the largest file offset ``seek`` takes


class HolderRefused(ValidationError):
    """A refusal told in full on the wire: the caller proved it holds a valid invite."""


@dataclass(frozen=True)
class Enrolment:
    """A new counter presents the invite's secret (or its short code's token), the id it
    wants and its key."""

    secret: bytes = field(repr=False)
    node: str
    public_key: str  # z85
    cluster: str
    signing_key: bytes  # Ed25519: every replica checks its events with it
    endpoint: str | None = None  # where it takes replication (a hint for the others)


@dataclass(frozen=True)
class SnapshotAsk:
    """A counter enrolled a moment ago asks for a part of its snapshot."""

    ticket: str
    offset: int


JoinRequest = Enrolment | SnapshotAsk


def parse_request(payload: bytes) -> JoinRequest:
    """The request in ``payload``; ValidationError saying what is wrong otherwise."""
    if len(payload) > MAX_JOIN_REQUEST_BYTES:
        raise ValidationError(f"{len(payload)} bytes, above the {MAX_JOIN_REQUEST_BYTES} of a "
                              "join request")
    try:
        data = msgpack.unpackb(payload, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValidationError(f"not msgpack ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"a {type(data).__name__}, not a map")
    if data.get("op") == "snapshot":
        _keys(data, {"op", "ticket", "offset"})
        return SnapshotAsk(_text(data, "ticket", _TICKET),
                           _int(data, "offset", 0, _MAX_OFFSET))
    _keys(data, {"secret", "node", "public_key", "cluster", "signing_key"},
          frozenset({"endpoint"}))
    secret_size = (SHORT_TOKEN_BYTES if isinstance(data["secret"], bytes)
                   and len(data["secret"]) == SHORT_TOKEN_BYTES else INVITE_SECRET_BYTES)
    return Enrolment(_bytes(data, "secret", secret_size),
                     _text(data, "node", _NODE_ID), _text(data, "public_key", _Z85_KEY),
                     _text(data, "cluster", _CLUSTER), _bytes(data, "signing_key", PUBLIC_BYTES),
                     None if data.get("endpoint") is None
                     else _text(data, "endpoint", _ENDPOINT))


def _keys(data: dict[Any, Any], required: set[str], optional: frozenset[str] = frozenset(),
          ) -> None:
    missing, unknown = required - data.keys(), data.keys() - required - optional
    if missing or unknown:
        raise ValidationError(f"fields missing {sorted(missing)}, unknown "
                              f"{sorted(repr(k)[:20] for k in unknown)[:5]}")


def _bytes(data: dict[str, Any], key: str, size: int) -> bytes:
    value = data[key]
    if type(value) is not bytes or len(value) != size:
        raise ValidationError(f"{key}: {size} bytes expected, got {_what(value)}")
    return value


def _text(data: dict[str, Any], key: str, shape: re.Pattern[str]) -> str:
    value = data[key]
    if type(value) is not str or not shape.fullmatch(value):
        raise ValidationError(f"{key}: {_what(value)} does not match {shape.pattern}")
    return value


def _int(data: dict[str, Any], key: str, low: int, high: int) -> int:
    value = data[key]
    if type(value) is not int or not low <= value <= high:
        raise ValidationError(f"{key}: {_what(value)} is not an integer {low}..{high}")
    return value


def _what(value: object) -> str:
    """A value as a log line may quote it: its type, and its size or a short repr."""
    if isinstance(value, str | bytes | list | dict):
        return f"{type(value).__name__} of {len(value)}"
    return f"{type(value).__name__} {repr(value)[:20]}"


class JoinListener:
    """Serves join requests with ``handle(request) -> reply`` (the node's enrol)."""

    def __init__(self, endpoint: str, keypair: Keypair, handle: Any) -> None:
        self.endpoint = endpoint
        self._ctx = zmq.asyncio.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, MAX_JOIN_RECEIVE_BYTES)
        self._sock.setsockopt(zmq.HANDSHAKE_IVL, int(JOIN_HANDSHAKE_S * 1000))
        self._sock.curve_server = True
        self._sock.curve_publickey = keypair.public
        self._sock.curve_secretkey = keypair.secret
        self._handle = handle
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            self._sock.bind(self.endpoint)
        except zmq.ZMQError as exc:
            self._ctx.destroy(linger=0)
            raise ApiError(f"cannot listen for joining counters on {self.endpoint}: {exc}"
                           ) from exc
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._task = asyncio.get_running_loop().create_task(self._serve())
        self._task.add_done_callback(_stopped)

    async def _serve(self) -> None:
        while True:
            frames = await self._sock.recv_multipart(copy=False)
            started = time.monotonic()
            try:
                reply = msgpack.packb(await self._answer(frames))
            except Exception:  # a bug must cost one request, never the listener
                log.exception("join request from %s failed", _peer(frames[-1]))
                reply = msgpack.packb({"ok": False, "error": REFUSED})
            with contextlib.suppress(zmq.ZMQError):  # the sender is gone: nothing to answer
                await self._sock.send_multipart([frames[0].bytes, b"", reply])
            await asyncio.sleep(started + JOIN_REQUEST_SPACING_S - time.monotonic())

    async def _answer(self, frames: list[zmq.Frame]) -> dict[str, Any]:
        request: JoinRequest | None = None
        try:
            if len(frames) != 3 or frames[1].bytes:
                raise ValidationError(f"{len(frames) - 1} message parts, not an empty "
                                      "delimiter and a request")
            request = parse_request(frames[2].bytes)
            answer = self._handle(request)
            if inspect.isawaitable(answer):
                answer = await answer
            return {"ok": True, **answer}
        except TillmeshError as exc:
            log.warning("join refused from %s (%s): %s", _peer(frames[-1]), _about(request),
                        exc.message)
            told = exc.message if isinstance(exc, HolderRefused) else REFUSED
            return {"ok": False, "error": told}

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._ctx.destroy(linger=0)


def _stopped(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the join listener stopped: new counters cannot join until a restart",
                  exc_info=task.exception())


def _peer(frame: zmq.Frame) -> str:
    try:
        return str(frame.get("Peer-Address"))
    except zmq.ZMQError:
        return "an unknown address"


def _about(request: JoinRequest | None) -> str:
    if isinstance(request, Enrolment):
        return f"enrolment of {request.node}"
    if isinstance(request, SnapshotAsk):
        return f"snapshot part at {request.offset}"
    return "malformed"


def _dealer(ctx: zmq.Context[Any], code: InviteCode, keypair: Keypair) -> zmq.Socket[Any]:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.curve_serverkey = code.issuer_key.encode()
    sock.curve_publickey = keypair.public
    sock.curve_secretkey = keypair.secret
    sock.connect(code.join_endpoint)
    return sock


def _ask(sock: zmq.Socket[Any], code: InviteCode, request: dict[str, Any],
         timeout: float) -> dict[str, Any]:
    sock.send_multipart([b"", msgpack.packb(request)])
    if not sock.poll(int(timeout * 1000)):
        raise NodeUnavailable(f"counter {code.issuer} at {code.join_endpoint} did not "
                              f"answer within {timeout:.0f} s: is it running and reachable?")
    reply = msgpack.unpackb(sock.recv_multipart()[-1], raw=False)
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else "malformed answer"
        raise ValidationError(f"counter {code.issuer} refused: {error}")
    return reply


def request_join(code: InviteCode, node_id: str, keypair: Keypair, endpoint: str | None = None,
                 timeout: float = JOIN_TIMEOUT_S) -> dict[str, Any]:
    """Present the invite to the inviting counter; its answer, or a clear error."""
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        return _ask(_dealer(ctx, code, keypair), code, {
            "secret": code.secret, "node": node_id, "public_key": keypair.public.decode(),
            "cluster": code.cluster, "signing_key": keypair.signer.public,
            "endpoint": endpoint}, timeout)
    finally:
        ctx.destroy(linger=0)


def fetch_snapshot(code: InviteCode, keypair: Keypair, ticket: str, dest: Path,
                   progress: Callable[[int, int], None], timeout: float = JOIN_TIMEOUT_S,
                   ) -> int:
    """Download the snapshot the enrolment answer named into ``dest`` (0600); its size."""
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock = _dealer(ctx, code, keypair)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            offset, size = 0, None
            while size is None or offset < size:
                reply = _ask(sock, code, {"op": "snapshot", "ticket": ticket, "offset": offset},
                             SNAPSHOT_FIRST_TIMEOUT_S if size is None else timeout)
                data, size = bytes(reply["data"]), int(reply["size"])
                if not data and offset < size:
                    raise ValidationError("the snapshot ended early")
                out.write(data)
                offset += len(data)
                progress(offset, size)
            out.flush()
            os.fsync(out.fileno())
        return offset
    finally:
        ctx.destroy(linger=0)


async def find_inviter(short: ShortCode, *, interfaces: list[str] | None = None,
                       mdns_port: int, timeout_s: float) -> InviteCode:
    """The invite a short code stands for: the counter on this network whose announced
    key the code names (``invite``), its join endpoint and cluster. Its expiry is known
    only to that counter, which checks it; here it is the longest an invite lasts."""
    from tillmesh.replication.discovery import DiscoveryError, find

    def named(peer: PeerFound) -> bool:
        return (peer.public_key is not None and peer.join_endpoint is not None
                and short.names(peer.public_key))

    try:
        peer = await find(named, timeout_s, interfaces=interfaces, mdns_port=mdns_port)
    except DiscoveryError as exc:
        raise ConfigError(f"cannot look for the inviting counter on mDNS: {exc}: use the "
                          "full invite code") from exc
    if peer is None:
        raise NotFoundError(
            f"no counter on this network answered to this short code within {timeout_s:.0f} "
            "s: check the code (a typo matches no counter), that the inviting counter runs "
            "on this network, or use the full invite code (the QR code)")
    assert peer.public_key is not None and peer.join_endpoint is not None  # named()
    return InviteCode(peer.cluster, peer.node, peer.join_endpoint, peer.public_key,
                      short.token, datetime.now(UTC) + timedelta(minutes=INVITE_MAX_MINUTES))


def full_code(short: ShortCode, *, mdns: bool, interfaces: list[str] | None, mdns_port: int,
              say: Callable[[str], None], timeout_s: float = FIND_INVITER_S) -> str:
    """The full invite code a short code stands for (``find_inviter``), for ``join``;
    ``say`` tells the person waiting that the search is on."""
    if not mdns:
        raise ValidationError("a short invite code is found on mDNS, which is off here "
                              "(--no-mdns): use the full invite code")
    say("looking for the inviting counter on this network …")
    return asyncio.run(find_inviter(short, interfaces=interfaces, mdns_port=mdns_port,
                                    timeout_s=timeout_s)).encode()
