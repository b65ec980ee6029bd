"""ZeroMQ transport between counters: "Harmony" sockets with CurveZMQ Ironhouse (asyncio).

Shape ("Harmony", ZeroMQ guide ch. 8): one ROUTER per node for input, one DEALER per peer
for output (answers go out through our DEALER, never back through our ROUTER). A message
is one opaque frame of at most MAX_MESSAGE_BYTES; this module never looks inside it.

Security (Ironhouse):

* Every socket is CURVE. The ROUTER is a CURVE server with this node's keypair. A DEALER
  is a CURVE client with this node's keypair and the peer's public key as server key, so
  it completes a handshake only with the holder of that key's secret.
* Each Transport has its own zmq context and so its own ZAP handler on
  ``inproc://zeromq.zap.01`` (a small REP loop; :func:`zap_reply` is its pure core). It
  accepts a CURVE client only if its public key is in the current member set
  (:meth:`Transport.set_members`). ``ZAP_ENFORCE_DOMAIN`` is on, so without a running
  handler libzmq refuses every client instead of accepting any key.
* Attribution: the handler answers ``User-Id`` = the client's z85 public key, and libzmq
  attaches it as metadata to every frame that arrives over that connection. The reader
  maps that key through the *current* member set to a node id. Nothing the message says,
  nor the ZeroMQ routing id (which a peer may choose), is trusted.
* Revocation: ZAP runs once per connection, at its handshake, and libzmq cannot cut one
  peer off a ROUTER, so a connection made before a revoke survives it. ``set_members``
  therefore closes our DEALER to a removed member (after up to PARTING_LINGER_MS for what
  is queued to it: the revocation we just pushed, so it learns why), makes ZAP refuse its
  new handshakes, makes the reader drop (and log) every message that still arrives with
  its key, and re-opens the ROUTER: every peer reconnects and handshakes again, so the
  removed one is refused at once and knows it (``refusing``) instead of talking for ever
  on an old connection that nobody answers.
* DEALERs set no routing id (the ROUTER picks a random one) and ROUTER_HANDOVER is off,
  so no peer can squat on or take over another peer's routing slot.

Flow: sending never waits. A DEALER queues up to SNDHWM messages, also while its
handshake is still under way (so the engine's Hello, sent right after ``connect``, goes out
the moment the peer accepts us); :meth:`Transport.send` returns False when the peer was
never dialled or its queue is full. A dropped message is fine: anti-entropy retries.
:meth:`Transport.connected` tells which DEALERs have a live, authenticated connection.
Input: the reader awaits ``on_message`` for each message in turn, so a slow handler slows
reading, RCVHWM fills and TCP pushes back on the senders; hand work off quickly.

Keys are z85 text (40 bytes); key *files* belong to the node (``node/membership/keys.py``), this
module has pure helpers only. :class:`Transport` runs on the loop that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import inspect
import itertools
import logging
import struct
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils import z85
from zmq.utils.monitor import parse_monitor_message

from tillmesh.replication.const import MAX_MESSAGE_BYTES

__all__ = [
    "MessageHandler",
    "Transport",
    "TransportError",
    "TransportState",
    "fingerprint",
    "new_keypair",
    "zap_reply",
]

log = logging.getLogger(__name__)

# MAX_MESSAGE_BYTES (replication.const) is also our MAXMSGSIZE: libzmq drops a connection
# that sends a bigger frame, so a member cannot make us buffer more than that per message.
SEND_HWM = 1000  # messages queued per peer before send() says False; with anti-entropy
#   batches of a few KiB that is a few MiB, and a peer that far behind catches up by pull
RECV_HWM = 100  # messages buffered per inbound connection before TCP pushes back: the
#   reader drains at once unless the handler is slow, and 100 x MAX_MESSAGE_BYTES bounds
#   what one misbehaving member can make us hold
HEARTBEAT_IVL_MS = 2_000  # ms; ZMTP PING interval, finds a peer whose TCP went half-open
HEARTBEAT_TIMEOUT_MS = 6_000  # ms; no traffic for this long (3 pings) drops the connection
HEARTBEAT_TTL_MS = 6_000  # ms; asks the remote side to drop us after this much silence
HANDSHAKE_IVL_MS = 5_000  # ms; a CURVE handshake not done by then is dropped (slowloris)
# s; a key not (yet) a member waits this long for a member list on its way (a joining
# counter's, ``expect_members``) before it is refused: well inside HANDSHAKE_IVL_MS.
MEMBERS_AWAITED_S = 3.0
RECONNECT_IVL_MS = 250  # ms; first retry after a lost connection: a restarted till is
#   back within a second
RECONNECT_IVL_MAX_MS = 5_000  # ms; backoff ceiling for a peer that stays away
PARTING_LINGER_MS = 2_000  # ms; what is queued to a member that leaves still goes out
REBIND_TRIES = 40  # the old listener goes away in libzmq's own thread: retry the bind
REBIND_WAIT_S = 0.05  # between tries (2 s in all)
ZAP_ENDPOINT = "inproc://zeromq.zap.01"  # fixed by ZeroMQ RFC 27 (ZAP)
ZAP_DOMAIN = b"tillmesh"  # our ROUTER's ZAP domain; requests for another one are refused
ZAP_VERSION = b"1.0"  # RFC 27
KEY_Z85_BYTES = 40  # a CurveZMQ key as z85 text (32 raw bytes)
FINGERPRINT_HEX = 16  # hex digits of sha256(z85 public key): 64 bits, for mDNS TXT and logs
DROP_LOG_EVERY = 1000  # messages; after the first, every n-th drop per key is logged
MAX_REFUSALS_LOGGED = 256  # (address, key) pairs logged at warning when refused; the
#   rest at debug, so a client hammering us cannot flood the log
_MONITOR_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_DISCONNECTED
)
_KEY_ERRORS = (ValueError, KeyError, struct.error)

MessageHandler = Callable[[str, bytes], Awaitable[None] | None]


class TransportError(Exception):
    """A transport operation failed: a bad key or endpoint, a bind that failed, a call
    outside the lifecycle, an oversized message. zmq errors never leave this module."""


class TransportState(enum.Enum):
    UNSTARTED = "unstarted"
    RUNNING = "running"
    CLOSED = "closed"


# ----------------------------------------------------------------------- pure helpers


def new_keypair() -> tuple[bytes, bytes]:
    """A fresh CurveZMQ keypair ``(public, secret)``, both z85 (40 bytes)."""
    try:
        public, secret = zmq.curve_keypair()
    except zmq.ZMQError as exc:
        raise TransportError(f"this libzmq cannot make CurveZMQ keys: {exc}") from exc
    return public, secret


def _z85_key(key: bytes | str, what: str) -> bytes:
    """``key`` as canonical z85 bytes; raises TransportError if it is not a CurveZMQ key."""
    text = key.encode("ascii", "replace") if isinstance(key, str) else bytes(key)
    if len(text) != KEY_Z85_BYTES:
        raise TransportError(f"{what} must be {KEY_Z85_BYTES} z85 characters, not {len(text)}")
    try:
        canonical = z85.encode(z85.decode(text)) == text
    except _KEY_ERRORS:
        canonical = False
    if not canonical:
        raise TransportError(f"{what} is not a z85-encoded key")
    return text


def fingerprint(public_key: bytes | str) -> str:
    """Short, stable name of a public key (mDNS TXT ``key``, logs, ``tillmesh peers``):
    the first 16 hex digits of sha256 of its 40-byte z85 text."""
    return _short_hash(_z85_key(public_key, "the public key"))


def _short_hash(z85_key: bytes) -> str:
    return hashlib.sha256(z85_key).hexdigest()[:FINGERPRINT_HEX]


def zap_reply(request: Sequence[bytes], node_by_key: Mapping[bytes, str]) -> tuple[
    list[bytes], str | None, str
]:
    """The ZAP (RFC 27) reply to one request: ``(frames, node or None, reason)``. Pure.

    Accepted: version 1.0, our domain, mechanism CURVE with one 32-byte key that belongs
    to a member. The reply's User-Id is the key in z85; the reader maps it to a node id.
    """
    request_id = request[1] if len(request) > 1 else b""

    def refuse(reason: str) -> tuple[list[bytes], None, str]:
        return [ZAP_VERSION, request_id, b"400", reason.encode(), b"", b""], None, reason

    if len(request) < 6 or request[0] != ZAP_VERSION:
        return refuse("malformed ZAP request")
    domain, mechanism, credentials = request[2], request[5], request[6:]
    if domain != ZAP_DOMAIN:
        return refuse("wrong ZAP domain")
    if mechanism != b"CURVE" or len(credentials) != 1 or len(credentials[0]) != 32:
        return refuse("not a CURVE client")
    key = z85.encode(credentials[0])
    node = node_by_key.get(key)
    if node is None:
        return refuse("not a member")
    return [ZAP_VERSION, request_id, b"200", b"OK", key, b""], node, "OK"


# ------------------------------------------------------------------------ the transport


@dataclass(eq=False)
class _Peer:
    node_id: str
    endpoint: str
    server_key: bytes
    socket: zmq.asyncio.Socket
    monitor: zmq.asyncio.Socket
    connected: bool = False
    failing: bool = False  # a failed handshake was logged; quiet until one succeeds


class Transport:
    """One node's ROUTER plus a DEALER per peer (see the module docstring)."""

    def __init__(
        self,
        node_id: str,
        public_key: bytes,
        secret_key: bytes,
        bind: str,
        on_message: MessageHandler,
    ) -> None:
        self.node_id = node_id
        self._public = _z85_key(public_key, "this node's public key")
        self._secret = _z85_key(secret_key, "this node's secret key")
        self._bind = bind
        self._on_message = on_message
        self._ctx: zmq.asyncio.Context | None = None
        self._router: zmq.asyncio.Socket | None = None
        self._zap: zmq.asyncio.Socket | None = None
        self._endpoint: str | None = None
        self._members: dict[str, bytes] = {}
        self._node_by_key: dict[bytes, str] = {}
        self._expected: asyncio.Event | None = None  # set when the awaited members come
        self._peers: dict[str, _Peer] = {}
        # peers whose last handshake failed on our key (ZAP): kept across a redial, which
        # is a new socket but the same answer until the peer gives another
        self._refused_by: set[str] = set()
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._reopening = asyncio.Lock()  # one re-bind at a time
        self._drops: Counter[bytes] = Counter()
        self._refusals_logged: set[tuple[bytes, bytes]] = set()
        self._monitor_ids = itertools.count(1)
        self.state = TransportState.UNSTARTED

    # --- lifecycle

    async def start(self) -> None:
        """Start the ZAP handler, then bind the ROUTER (never the other way round)."""
        if self.state is not TransportState.UNSTARTED:
            raise TransportError(f"the transport is {self.state.value}")
        self._ctx = zmq.asyncio.Context()
        try:
            self._zap = self._ctx.socket(zmq.REP)
            self._zap.setsockopt(zmq.LINGER, 0)
            self._zap.bind(ZAP_ENDPOINT)
            self._router = self._listen(self._bind)
            last = self._router.getsockopt(zmq.LAST_ENDPOINT)
            self._endpoint = last.decode() if isinstance(last, bytes) else str(last)
        except zmq.ZMQError as exc:
            self._release()
            self.state = TransportState.CLOSED
            raise TransportError(f"cannot listen for peers at {self._bind}: {exc}") from exc
        self.state = TransportState.RUNNING
        self._spawn(self._serve_zap(), "zap")
        self._reader = self._spawn(self._read(self._router), "reader")
        log.info("replication transport of %s listening on %s (key %s)",
                 self.node_id, self._endpoint, fingerprint(self._public))

    async def close(self) -> None:
        """Close every socket and end every task; idempotent. Unsent messages are dropped."""
        if self.state is TransportState.CLOSED:
            return
        self.state = TransportState.CLOSED
        for peer_id in list(self._peers):
            self._drop_peer(peer_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._release()
        log.info("replication transport of %s closed", self.node_id)

    async def __aenter__(self) -> Transport:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def endpoint(self) -> str:
        """The endpoint actually bound, e.g. ``tcp://127.0.0.1:43117`` for port 0."""
        if self._endpoint is None:
            raise TransportError("the transport is not listening")
        return self._endpoint

    @property
    def port(self) -> int:
        """The TCP port actually bound (what discovery announces)."""
        return int(self.endpoint.rsplit(":", 1)[1])

    # --- membership and peers

    def set_members(self, members: Mapping[str, bytes | str]) -> None:
        """Replace the member set ``{node_id: public key (z85)}`` (enrolment, revocation).

        A bad key, or a key listed for two nodes, admits nobody and is logged. Our DEALER
        to a node that left (or whose key changed) is closed; its messages are dropped.
        """
        keys: dict[str, bytes] = {}
        for node, key in members.items():
            try:
                keys[node] = _z85_key(key, f"the key of member {node}")
            except TransportError as exc:
                log.error("ignoring member %s: %s", node, exc)
        shared = {k for k, n in Counter(keys.values()).items() if n > 1}
        for node in [n for n, k in keys.items() if k in shared]:
            log.error("member %s shares its key with another node; accepting neither", node)
            del keys[node]
        for node in self._members.keys() - keys.keys():
            log.info("%s is no longer a member: its messages will be dropped", node)
        left = set(self._members.values()) - set(keys.values())
        self._members = keys
        self._node_by_key = {key: node for node, key in keys.items()}
        for key in [k for k in self._drops if k in self._node_by_key]:
            del self._drops[key]
        for peer_id, peer in list(self._peers.items()):
            if keys.get(peer_id) != peer.server_key:
                log.info("closing our connection to %s: no longer a member", peer_id)
                self._drop_peer(peer_id, linger_ms=PARTING_LINGER_MS)
                self._refused_by.discard(peer_id)
        if left and self.state is TransportState.RUNNING:
            self._spawn(self._reopen(), "reopen")
        if self._expected is not None:
            self._expected.set()
            self._expected = None

    def expect_members(self) -> None:
        """The member list is on its way (a joining counter's, from the inviting counter,
        while the others already dial it): until ``set_members`` brings it, a handshake
        from a key not listed waits for it, at most ``MEMBERS_AWAITED_S``, instead of
        being refused (and logged as a refusal) a moment too early."""
        self._expected = asyncio.Event()

    def connect(self, peer_id: str, endpoint: str, peer_public_key: bytes | str) -> bool:
        """Dial a member; True when this call (re)dialled it, so the caller greets it.

        Idempotent: the same endpoint again is a no-op (False); a new endpoint replaces the
        old connection (True). Also False, with a log line, for ourselves, a non-member, or
        a key other than the member's enrolled one (a stale or spoofed discovery hint).
        """
        self._require_running()
        key = _z85_key(peer_public_key, f"the public key of {peer_id}")
        if peer_id == self.node_id:
            return False
        if self._members.get(peer_id) != key:
            why = "not a member" if peer_id not in self._members else "not its enrolled key"
            log.warning("not dialing %s at %s: %s", peer_id, endpoint, why)
            return False
        current = self._peers.get(peer_id)
        if current is not None:
            if current.endpoint == endpoint:
                return False
            log.info("%s moved from %s to %s; reconnecting", peer_id, current.endpoint, endpoint)
            self._drop_peer(peer_id)
        self._peers[peer_id] = peer = self._dial(peer_id, endpoint, key)
        self._watchers[peer_id] = self._spawn(self._watch(peer), f"watch-{peer_id}")
        return True

    def disconnect(self, peer_id: str) -> None:
        """Close our DEALER to ``peer_id`` (idempotent); its inbound connection stays."""
        self._drop_peer(peer_id)

    def connected(self) -> set[str]:
        """Peers whose DEALER has a live, authenticated connection right now."""
        return {peer_id for peer_id, peer in self._peers.items() if peer.connected}

    def refusing(self) -> set[str]:
        """Peers that answer but refused our key at their last handshake: they do not
        count this node as a member (it was revoked, or they have not heard of it yet)."""
        return self._refused_by & self._peers.keys()

    async def send(self, peer_id: str, data: bytes) -> bool:
        """Queue ``data`` for ``peer_id`` without waiting. False if the peer was never
        dialled (or was disconnected) or its queue is full: the message was dropped."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise TransportError(f"a {len(data)}-byte message exceeds {MAX_MESSAGE_BYTES}")
        peer = self._peers.get(peer_id)
        if peer is None or self.state is not TransportState.RUNNING:
            return False
        try:
            await peer.socket.send(data, flags=zmq.NOBLOCK)
        except zmq.Again:
            return False  # SNDHWM reached
        except zmq.ZMQError as exc:
            log.warning("sending to %s failed: %s", peer_id, exc)
            return False
        return True

    # --- internals

    def _require_running(self) -> None:
        if self.state is not TransportState.RUNNING:
            raise TransportError(f"the transport is {self.state.value}")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"tillmesh-transport-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("transport task %s stopped", task.get_name(), exc_info=task.exception())

    @staticmethod
    def _tune(sock: zmq.asyncio.Socket) -> None:
        for option, value in (
            (zmq.LINGER, 0),
            (zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES),
            (zmq.SNDHWM, SEND_HWM),
            (zmq.RCVHWM, RECV_HWM),
            (zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS),
            (zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS),
            (zmq.HEARTBEAT_TTL, HEARTBEAT_TTL_MS),
            (zmq.HANDSHAKE_IVL, HANDSHAKE_IVL_MS),
            (zmq.RECONNECT_IVL, RECONNECT_IVL_MS),
            (zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS),
        ):
            sock.setsockopt(option, value)

    def _dial(self, peer_id: str, endpoint: str, key: bytes) -> _Peer:
        assert self._ctx is not None
        sock = self._ctx.socket(zmq.DEALER)
        monitor: zmq.asyncio.Socket | None = None
        try:
            self._tune(sock)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, self._public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, self._secret)
            sock.setsockopt(zmq.CURVE_SERVERKEY, key)
            address = f"inproc://tillmesh-monitor-{next(self._monitor_ids)}"
            monitor = sock.get_monitor_socket(_MONITOR_EVENTS, address)
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            if monitor is not None:
                monitor.close(linger=0)
            sock.close(linger=0)
            raise TransportError(f"cannot dial {peer_id} at {endpoint}: {exc}") from exc
        return _Peer(peer_id, endpoint, key, sock, monitor)

    def _drop_peer(self, peer_id: str, linger_ms: int = 0) -> None:
        peer = self._peers.pop(peer_id, None)
        watcher = self._watchers.pop(peer_id, None)
        if watcher is not None:
            watcher.cancel()
        if peer is None:
            return
        with contextlib.suppress(zmq.ZMQError):  # the socket is going away anyway
            peer.socket.disable_monitor()
        peer.monitor.close(linger=0)
        peer.socket.close(linger=linger_ms)

    def _release(self) -> None:
        for sock in (self._router, self._zap):
            if sock is not None:
                sock.close(linger=0)
        self._router = self._zap = None
        if self._ctx is not None:
            self._ctx.destroy(linger=0)
            self._ctx = None

    async def _watch(self, peer: _Peer) -> None:
        """Follow one DEALER's connection state through its socket monitor."""
        while True:
            try:
                event = parse_monitor_message(await peer.monitor.recv_multipart())["event"]
            except zmq.ZMQError:
                return
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                peer.connected, peer.failing = True, False
                self._refused_by.discard(peer.node_id)
                log.info("connected to %s at %s", peer.node_id, peer.endpoint)
            elif event == zmq.EVENT_DISCONNECTED:
                if peer.connected:
                    log.info("lost the connection to %s at %s", peer.node_id, peer.endpoint)
                peer.connected = False
            else:
                refused = event == zmq.EVENT_HANDSHAKE_FAILED_AUTH
                if refused:
                    self._refused_by.add(peer.node_id)
                else:
                    self._refused_by.discard(peer.node_id)
                if not peer.failing:
                    peer.failing = True
                    why = ("it refused our key (is this counter enrolled there?)"
                           if refused else "wrong server key, or not a Tillmesh node")
                    log.warning("handshake with %s at %s failed: %s", peer.node_id,
                                peer.endpoint, why)

    async def _serve_zap(self) -> None:
        assert self._zap is not None
        zap = self._zap
        while True:
            try:
                request = await zap.recv_multipart()
                reply, node, reason = zap_reply(request, self._node_by_key)
                if node is None and self._expected is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._expected.wait(), MEMBERS_AWAITED_S)
                    reply, node, reason = zap_reply(request, self._node_by_key)
                await zap.send_multipart(reply)
            except zmq.ZMQError as exc:
                raise TransportError(f"the ZAP handler failed: {exc}") from exc
            if node is None:
                self._log_refusal(request, reason)

    def _log_refusal(self, request: list[bytes], reason: str) -> None:
        address = request[3] if len(request) > 3 else b""
        key = request[6] if len(request) > 6 else b""
        first = (address, key) not in self._refusals_logged
        if first and len(self._refusals_logged) < MAX_REFUSALS_LOGGED:
            self._refusals_logged.add((address, key))
        who = _short_hash(z85.encode(key)) if len(key) == 32 else "-"
        log.log(logging.WARNING if first else logging.DEBUG, "refused a peer connection "
                "from %s (key %s): %s", address.decode(errors="replace")[:64], who, reason)

    def _listen(self, endpoint: str) -> zmq.asyncio.Socket:
        """Our ROUTER, a CURVE server whose clients ZAP checks, bound to ``endpoint``."""
        assert self._ctx is not None
        router = self._ctx.socket(zmq.ROUTER)
        try:
            self._tune(router)
            router.setsockopt(zmq.CURVE_SERVER, 1)
            router.setsockopt(zmq.CURVE_PUBLICKEY, self._public)
            router.setsockopt(zmq.CURVE_SECRETKEY, self._secret)
            router.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
            router.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
            router.bind(endpoint)
        except zmq.ZMQError:
            router.close(linger=0)
            raise
        return router

    async def _reopen(self) -> None:
        """Drop every inbound connection by re-binding the ROUTER on the same endpoint: a
        member that left is refused when it reconnects (libzmq cannot drop one peer)."""
        async with self._reopening:
            if self._reader is not None:
                self._reader.cancel()
                await asyncio.gather(self._reader, return_exceptions=True)
            if self._router is not None:
                self._router.close(linger=0)
                self._router = None
            failure: zmq.ZMQError | None = None
            for _ in range(REBIND_TRIES):
                if self.state is not TransportState.RUNNING:
                    return
                try:
                    self._router = self._listen(self.endpoint)
                except zmq.ZMQError as exc:
                    failure = exc
                    await asyncio.sleep(REBIND_WAIT_S)
                    continue
                self._reader = self._spawn(self._read(self._router), "reader")
                log.info("re-opened %s: every peer handshakes again", self.endpoint)
                return
            raise TransportError(f"cannot listen for peers at {self.endpoint} again: {failure}")

    async def _read(self, router: zmq.asyncio.Socket) -> None:
        while True:
            try:
                frames = await router.recv_multipart(copy=False)
            except zmq.ZMQError as exc:
                raise TransportError(f"receiving on {self._endpoint} failed: {exc}") from exc
            node = self._sender_of(frames)
            if node is not None:
                await self._deliver(node, frames[-1].bytes)

    def _sender_of(self, frames: list[zmq.Frame]) -> str | None:
        """The member that sent ``frames``, from the key ZAP authenticated; else None."""
        if len(frames) != 2:  # routing id + one payload frame
            log.warning("dropped a %d-part peer message (one part expected)", len(frames) - 1)
            return None
        try:
            user_id = frames[1].get("User-Id")
        except zmq.ZMQError:
            log.warning("dropped a peer message without an authenticated key")
            return None
        key = str(user_id).encode("ascii", "replace")
        node = self._node_by_key.get(key)
        if node is None:
            self._drops[key] += 1
            count = self._drops[key]
            if count == 1 or count % DROP_LOG_EVERY == 0:
                who = _short_hash(key)
                log.warning("dropped %d message(s) from key %s: not a member (revoked?)",
                            count, who)
            return None
        return node

    async def _deliver(self, node: str, data: bytes) -> None:
        try:
            result = self._on_message(node, data)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:  # a handler bug must not stop the transport
            log.exception("the message handler failed on %d bytes from %s", len(data), node)
