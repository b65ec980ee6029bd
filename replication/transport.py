"""ZeroMQ "Harmony" transport with CurveZMQ Ironhouse, on asyncio.

One ROUTER per node takes input; one DEALER per peer carries output. Every socket is
CURVE: the ROUTER is a server with this node's keypair, each DEALER a client that knows
its peer's public key. A ZAP handler in this transport's own ZeroMQ context admits a
client only if its key belongs to a current member (enrolled, unrevoked node of this
cluster) and stamps each connection with that member's node id ("User-Id"): a message is
attributed to the key that authenticated it, never to anything it says about itself.

ZAP runs once per connection. When a member is revoked, ``set_members`` closes our
DEALER to it and from then on every message still arriving over its old, already
authenticated connection is dropped (and logged) here; a reconnect is refused by ZAP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator

from replication.const import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

ZAP_DOMAIN = "tillmesh"  # our sockets' ZAP domain, so a stray socket is never admitted
SEND_HWM = 10_000  # messages queued per peer before sends are dropped (anti-entropy retries)
RECV_HWM = 100_000  # messages queued on input before ZeroMQ pushes back on senders
HEARTBEAT_IVL_MS = 1000  # ZMTP ping interval: finds a dead TCP peer without traffic
HEARTBEAT_TIMEOUT_MS = 3000  # no pong for this long: the connection is dropped
RECONNECT_IVL_MS = 100  # first reconnect attempt after a peer went away
RECONNECT_IVL_MAX_MS = 2000  # back-off cap, so a restarted peer is back within 2 s

OnMessage = Callable[[str, bytes], Awaitable[None] | None]


class TransportError(Exception):
    """A socket could not be set up (bad endpoint, address in use)."""


def fingerprint(public_key: bytes) -> str:
    """A short, stable name of a public key (shown in mDNS TXT and `tillmesh peers`)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def new_keypair() -> tuple[bytes, bytes]:
    """A fresh CurveZMQ keypair, z85-encoded (public, secret)."""
    public, secret = zmq.curve_keypair()
    return public, secret


class _Members(AsyncioAuthenticator):
    """ZAP: admit member keys only, and name each connection after its member."""

    def __init__(self, context: zmq.asyncio.Context) -> None:
        super().__init__(context)
        self.by_key: dict[bytes, str] = {}

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self.by_key

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.by_key[zmq.utils.z85.encode(client_public_key)]


class Transport:
    def __init__(self, node_id: str, public_key: bytes, secret_key: bytes, bind: str,
                 on_message: OnMessage) -> None:
        self.node_id = node_id
        self._public, self._secret = public_key, secret_key
        self._bind = bind
        self._on_message = on_message
        self._ctx = zmq.asyncio.Context()  # ZAP applies to this context's sockets only
        self._auth = _Members(self._ctx)
        self._router: zmq.asyncio.Socket | None = None
        self._dealers: dict[str, tuple[str, bytes, zmq.asyncio.Socket]] = {}
        self._members: dict[str, bytes] = {}
        self._task: asyncio.Task[None] | None = None
        self.endpoint = ""

    async def start(self) -> None:
        self._auth.start()
        self._auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=self._auth)
        router = self._ctx.socket(zmq.ROUTER)
        router.curve_server = True
        router.curve_publickey, router.curve_secretkey = self._public, self._secret
        router.zap_domain = ZAP_DOMAIN.encode()
        _common(router)
        router.setsockopt(zmq.RCVHWM, RECV_HWM)
        try:
            router.bind(self._bind)
        except zmq.ZMQError as exc:
            router.close(linger=0)
            self._auth.stop()
            raise TransportError(f"cannot listen for counters on {self._bind}: {exc}") from exc
        self._router = router
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._router is not None
        while True:
            frames = await self._router.recv_multipart(copy=False)
            payload = frames[-1]
            try:
                peer = payload.get("User-Id")
            except zmq.ZMQError:
                continue  # no ZAP identity: cannot happen with CURVE + ZAP, never trusted
            if peer not in self._members:
                log.warning("dropped a message from %s: not a member (revoked?)", peer)
                continue
            try:
                result = self._on_message(peer, payload.bytes)
                if result is not None:
                    await result
            except Exception:  # one bad message must not stop the input
                log.exception("handling a message from %s failed", peer)

    def set_members(self, members: Mapping[str, bytes]) -> None:
        """The nodes whose keys are admitted; DEALERs to nodes no longer listed close."""
        self._members = dict(members)
        self._auth.by_key = {key: node for node, key in members.items()}
        for node in list(self._dealers):
            if node not in self._members:
                self.disconnect(node)

    def connect(self, peer: str, endpoint: str, public_key: bytes) -> bool:
        """Dial ``peer``; False when already dialled there with that key."""
        current = self._dealers.get(peer)
        if current is not None and current[:2] == (endpoint, public_key):
            return False
        self.disconnect(peer)
        sock = self._ctx.socket(zmq.DEALER)
        sock.curve_serverkey = public_key
        sock.curve_publickey, sock.curve_secretkey = self._public, self._secret
        _common(sock)
        sock.setsockopt(zmq.SNDHWM, SEND_HWM)
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            log.warning("cannot dial %s at %s: %s", peer, endpoint, exc)
            return False
        self._dealers[peer] = (endpoint, public_key, sock)
        return True

    def disconnect(self, peer: str) -> None:
        entry = self._dealers.pop(peer, None)
        if entry is not None:
            entry[2].close(linger=0)

    def connected(self) -> set[str]:
        return set(self._dealers)

    async def send(self, peer: str, data: bytes) -> bool:
        """Queue ``data`` for ``peer``; False when not dialled or its queue is full."""
        entry = self._dealers.get(peer)
        if entry is None:
            return False
        try:
            await entry[2].send(data, flags=zmq.NOBLOCK)
        except zmq.Again:
            return False
        except zmq.ZMQError as exc:
            log.warning("send to %s failed: %s", peer, exc)
            return False
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for peer in list(self._dealers):
            self.disconnect(peer)
        if self._router is not None:
            self._router.close(linger=0)
        self._auth.stop()
        self._ctx.destroy(linger=0)


def _common(sock: Any) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
