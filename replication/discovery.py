"""Finding peer counters: mDNS (python-zeroconf) and static peers. A hint, never trust.

A record says where a counter *claims* to listen; nothing here authenticates anyone. The
transport's Ironhouse handshake does: the node dials a found endpoint only with the key
that counter enrolled with, so a forged record costs one failed handshake, no more.

Record (DNS-SD): type ``_tillmesh._tcp.local.``, instance ``<cluster>-<node>``, SRV port =
the transport's bound port, A/AAAA = the addresses given (default: the chosen interfaces,
else every non-loopback IPv4 address of this host), TXT ``cluster``, ``node``, ``proto``
(protocol version, decimal) and ``key`` (``replication.transport.fingerprint`` of the
public key); and, from releases that take short invite codes, ``pk`` (the whole public
key, z85, whose fingerprint ``key`` must be) and ``join`` (the port of the join
listener on the same host). A counter joining with a short code finds the counter that
invited it among these records with :func:`find` (any cluster: it has none yet).

``on_change`` gets, one at a time and in order, on the loop: :class:`PeerFound` when a
valid record of our cluster appears or changes (endpoint, proto or key) and
:class:`PeerLost` when it goes (goodbye packet or TTL expiry). Our own record and other
clusters are ignored quietly; a malformed record is dropped with a log line and never
raises. At most MAX_TRACKED names are followed, so a flood of records cannot grow memory.

Static peers (networks without multicast): ``"host:port"`` or ``"NODE@host:port"``, each
reported once at start as ``PeerFound(static=True)`` with node ``NODE`` or the placeholder
``static:host:port`` (who is there is learnt from the protocol's Hello); they are never
lost. ``mdns=False`` turns mDNS off entirely (no socket is opened).

mDNS port: 5353 in production. python-zeroconf 0.154 has no port setting: the constant is
imported by value into several modules, some compiled with Cython. An ``mdns_port`` other
than 5353 (tests, a lab host running several clusters) therefore patches, process-wide and
only while such a Discovery runs: ``zeroconf._utils.net._MDNS_PORT`` (respond sockets), the
``port`` default of ``zeroconf._utils.net.new_socket`` (listen socket), the ``port``
default of ``Zeroconf.async_send`` (probes, announcements, answers, goodbyes),
``zeroconf._core._MDNS_PORT`` and ``zeroconf._handlers.query_handler._MDNS_PORT`` (else
each query from that port looks like a legacy unicast query and is answered by unicast).
The browser and the resolver take the port as an argument (their compiled defaults cannot
be patched). The patch checks what it replaces and raises DiscoveryError if zeroconf has
changed; two different ports in one process are refused as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import ipaddress
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ifaddr
import zeroconf
import zeroconf._core as zc_core
import zeroconf._handlers.query_handler as zc_query
import zeroconf._utils.net as zc_net
from zeroconf import InterfaceChoice, NonUniqueNameException, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from tillmesh.replication.const import MAX_VERSION_NUMBER
from tillmesh.replication.transport import fingerprint

__all__ = [
    "FIND_TRACKED",
    "MDNS_PORT",
    "SERVICE_TYPE",
    "Change",
    "Discovery",
    "DiscoveryError",
    "DiscoveryState",
    "MalformedRecord",
    "PeerFound",
    "PeerLost",
    "find",
    "instance_name",
    "parse_record",
    "parse_static_peer",
]

log = logging.getLogger(__name__)

SERVICE_TYPE = "_tillmesh._tcp.local."
MDNS_PORT = 5353  # RFC 6762
RESOLVE_TIMEOUT_MS = 3_000  # ms (zeroconf's unit); a live responder answers in well under 1 s
REGISTER_TIMEOUT_S = 10.0  # s; probing and announcing take ~1.5 s on a quiet LAN
CLOSE_TIMEOUT_S = 5.0  # s; goodbye packets and socket teardown; past it we log and go on
MAX_LABEL_CHARS = 63  # RFC 1035: "<cluster>-<node>" is one DNS label
MAX_TRACKED = 256  # service names followed at once: a store has tens of counters, this
#   stops a hostile LAN host from making us resolve and remember millions
_ID_RE = re.compile(r"[A-Za-z0-9]{1,32}")  # cluster and node ids; no "-", the separator
_KEY_RE = re.compile(r"[0-9a-f]{16}")  # transport.fingerprint
_PK_RE = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")  # z85 of 32 bytes
FIND_TRACKED = 1024  # records `find` resolves at most: a store's LAN has tens
_PROTO_RE = re.compile(r"[0-9]{1,5}")
_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_TXT_FIELDS = ("cluster", "node", "proto", "key")


class DiscoveryError(Exception):
    """Discovery cannot do what was asked: a bad setting, no usable mDNS socket, another
    counter announcing our name, or a zeroconf whose internals the port patch does not
    know."""


class MalformedRecord(DiscoveryError):
    """An mDNS record that is not a valid Tillmesh record (dropped with a log line)."""


class DiscoveryState(enum.Enum):
    UNSTARTED = "unstarted"
    RUNNING = "running"
    CLOSED = "closed"


@dataclass(frozen=True)
class PeerFound:
    node: str
    cluster: str
    proto: int | None  # None for a static peer: its Hello tells
    key_fingerprint: str | None  # None for a static peer
    endpoint: str  # "tcp://host:port"
    static: bool = False
    public_key: str | None = None  # TXT ``pk`` (z85), checked against ``key_fingerprint``
    join_endpoint: str | None = None  # "tcp://host:join-port" from TXT ``join``


@dataclass(frozen=True)
class PeerLost:
    node: str


Change = PeerFound | PeerLost
OnChange = Callable[[Change], Awaitable[None] | None]


# ----------------------------------------------------------------------- pure helpers


def instance_name(cluster: str, node: str) -> str:
    return f"{cluster}-{node}.{SERVICE_TYPE}"


def _endpoint(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def _usable(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return None if ip.is_unspecified or ip.is_multicast else ip


def parse_record(name: str, properties: Mapping[bytes, bytes | None],
                 addresses: Sequence[str], port: int | None) -> PeerFound:
    """The peer a resolved record announces; raises MalformedRecord. Pure."""
    fields: dict[str, str] = {}
    for field in _TXT_FIELDS:
        raw = properties.get(field.encode())
        if raw is None:
            raise MalformedRecord(f"TXT has no {field}")
        try:
            fields[field] = raw.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedRecord(f"TXT {field} is not ASCII") from None
    cluster, node, proto, key = (fields[f] for f in _TXT_FIELDS)
    for field, pattern in (("cluster", _ID_RE), ("node", _ID_RE), ("proto", _PROTO_RE),
                           ("key", _KEY_RE)):
        if not pattern.fullmatch(fields[field]):
            raise MalformedRecord(f"TXT {field} {fields[field][:40]!r} is malformed")
    if int(proto) > MAX_VERSION_NUMBER:
        raise MalformedRecord(f"TXT proto {proto} is out of range")
    if name.lower() != instance_name(cluster, node).lower():
        raise MalformedRecord(f"its name does not match its TXT ({cluster}-{node})")
    if port is None or not 1 <= port <= 65535:
        raise MalformedRecord(f"port {port} is out of range")
    usable = [ip for ip in map(_usable, addresses) if ip is not None]
    if not usable:
        raise MalformedRecord("no usable address")
    best = str(min(usable, key=lambda ip: ip.version))  # IPv4 first: it works on every LAN
    public_key, join_port = _inviter_fields(properties, key)
    return PeerFound(node, cluster, int(proto), key, _endpoint(best, port),
                     public_key=public_key,
                     join_endpoint=None if join_port is None else _endpoint(best, join_port))


def _inviter_fields(properties: Mapping[bytes, bytes | None], key: str,
                    ) -> tuple[str | None, int | None]:
    """TXT ``pk`` and ``join``, each optional (earlier releases send neither)."""
    pk, join = properties.get(b"pk"), properties.get(b"join")
    public_key = join_port = None
    if pk is not None:
        text = pk.decode("ascii", errors="replace")
        if not _PK_RE.fullmatch(text) or fingerprint(text) != key:
            raise MalformedRecord("TXT pk is malformed or does not match its key")
        public_key = text
    if join is not None:
        if not (_PROTO_RE.fullmatch(join.decode("ascii", errors="replace"))
                and 1 <= int(join) <= 65535):
            raise MalformedRecord(f"TXT join {join[:10]!r} is not a port")
        join_port = int(join)
    return public_key, join_port


def parse_static_peer(entry: str, cluster: str) -> PeerFound:
    """``"host:port"`` or ``"NODE@host:port"`` (IPv6 in brackets); raises DiscoveryError."""
    node, sep, address = entry.strip().rpartition("@")
    host, _, port_text = address.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    ip = _usable(host)
    valid_host = (ip.version == 6) == bracketed if ip else (
        not bracketed and _HOST_RE.fullmatch(host) is not None)
    if not (valid_host and port_text.isdigit() and 1 <= int(port_text) <= 65535) or (
        sep and not _ID_RE.fullmatch(node)
    ):
        raise DiscoveryError(f"static peer {entry!r}: write it as host:port or NODE@host:port")
    port = int(port_text)
    name = node if sep else f"static:{host}:{port}"
    return PeerFound(name, cluster, None, None, _endpoint(host, port), static=True)


def _local_addresses(interfaces: Sequence[str] | None) -> list[str]:
    """What to announce when no address is given: the chosen interfaces, else every
    non-loopback IPv4 address of this host (loopback only if there is nothing else)."""
    if interfaces:
        return list(interfaces)
    found = {str(ip.ip) for adapter in ifaddr.get_adapters() for ip in adapter.ips
             if ip.is_IPv4}
    outside = sorted(a for a in found if not ipaddress.ip_address(a).is_loopback)
    return outside or ["127.0.0.1"]


# ------------------------------------------------------------------ the mDNS port patch


class _PortPatch:
    """Process-wide, counted use of a non-default mDNS port (see the module docstring)."""

    def __init__(self) -> None:
        self._users: Counter[int] = Counter()
        self._saved: list[tuple[object, str, object]] = []

    def acquire(self, port: int) -> None:
        busy = [p for p in self._users if p != port]
        if busy:
            raise DiscoveryError(f"mDNS port {busy[0]} is in use in this process; one "
                                 f"port per process, so {port} cannot be used as well")
        if port != MDNS_PORT and not self._users[port]:
            self._apply(port)
        self._users[port] += 1

    def release(self, port: int) -> None:
        self._users[port] -= 1
        if self._users[port] > 0:
            return
        del self._users[port]
        for target, attribute, value in reversed(self._saved):
            setattr(target, attribute, value)
        self._saved = []

    def _apply(self, port: int) -> None:
        new_socket, async_send = zc_net.new_socket, zc_core.Zeroconf.async_send
        socket_defaults, send_defaults = new_socket.__defaults__, async_send.__defaults__
        if not (
            zc_net._MDNS_PORT == zc_core._MDNS_PORT == zc_query._MDNS_PORT == MDNS_PORT
            and socket_defaults and socket_defaults[0] == MDNS_PORT
            and send_defaults and len(send_defaults) == 4 and send_defaults[1] == MDNS_PORT
        ):
            raise DiscoveryError(f"zeroconf {zeroconf.__version__} is not laid out as the "
                                 f"mDNS port patch expects; only port {MDNS_PORT} works")
        changes: list[tuple[object, str, object]] = [
            (zc_net, "_MDNS_PORT", port),
            (zc_core, "_MDNS_PORT", port),
            (zc_query, "_MDNS_PORT", port),
            (new_socket, "__defaults__", (port, *socket_defaults[1:])),
            (async_send, "__defaults__", (send_defaults[0], port, *send_defaults[2:])),
        ]
        self._saved = [(target, attr, getattr(target, attr)) for target, attr, _ in changes]
        for target, attribute, value in changes:
            setattr(target, attribute, value)
        log.info("mDNS runs on port %d in this process (not %d)", port, MDNS_PORT)


_PORT_PATCH = _PortPatch()


# ---------------------------------------------------------------------------- discovery


class Discovery:
    """Announce this counter and report peers (see the module docstring). Every method
    runs on the event loop that called :meth:`start`."""

    def __init__(
        self,
        cluster: str,
        node: str,
        proto: int,
        key_fingerprint: str,
        port: int,
        *,
        on_change: OnChange,
        addresses: Sequence[str] | None = None,
        interfaces: Sequence[str] | None = None,
        static_peers: Sequence[str] = (),
        mdns: bool = True,
        mdns_port: int = MDNS_PORT,
        public_key: str | None = None,
        join_port: int | None = None,
    ) -> None:
        for what, value, pattern in (("cluster", cluster, _ID_RE), ("node", node, _ID_RE),
                                     ("key fingerprint", key_fingerprint, _KEY_RE)):
            if not pattern.fullmatch(value):
                raise DiscoveryError(f"{what} {value!r} cannot be announced")
        if public_key is not None and (not _PK_RE.fullmatch(public_key)
                                       or fingerprint(public_key) != key_fingerprint):
            raise DiscoveryError("the public key does not match its fingerprint")
        if join_port is not None and not 1 <= join_port <= 65535:
            raise DiscoveryError(f"join port {join_port} is out of range")
        for what, number, low, high in (("proto", proto, 0, MAX_VERSION_NUMBER),
                                        ("port", port, 1, 65535),
                                        ("mdns_port", mdns_port, 1, 65535)):
            if not low <= number <= high:
                raise DiscoveryError(f"{what} {number} is out of range")
        if len(f"{cluster}-{node}") > MAX_LABEL_CHARS:
            raise DiscoveryError(f"{cluster}-{node} is longer than a DNS label")
        self.cluster, self.node, self.name = cluster, node, instance_name(cluster, node)
        self._txt = {"cluster": cluster, "node": node, "proto": str(proto),
                     "key": key_fingerprint}
        if public_key is not None:
            self._txt["pk"] = public_key
        if join_port is not None:
            self._txt["join"] = str(join_port)
        self._port = port
        self._on_change = on_change
        self._addresses = list(addresses) if addresses else None
        for address in self._addresses or ():
            if _usable(address) is None:
                raise DiscoveryError(f"cannot announce address {address!r}")
        self._interfaces = list(interfaces) if interfaces else None
        self._static = [parse_static_peer(entry, cluster) for entry in static_peers]
        self._mdns, self._mdns_port = mdns, mdns_port
        self._patched = False
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._found: dict[str, PeerFound] = {}  # by lower-cased service name
        self._resolving: dict[str, asyncio.Task[None]] = {}
        self._changes: asyncio.Queue[Change] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._full_logged = False
        self.state = DiscoveryState.UNSTARTED

    def peers(self) -> dict[str, PeerFound]:
        """What is known now: static peers and valid mDNS records, by node."""
        return {p.node: p for p in [*self._static, *self._found.values()]}

    async def start(self) -> None:
        """Report static peers, then (with mDNS) browse and announce this counter."""
        if self.state is not DiscoveryState.UNSTARTED:
            raise DiscoveryError(f"discovery is {self.state.value}")
        self.state = DiscoveryState.RUNNING
        self._spawn(self._deliver(), "deliver")
        for peer in self._static:
            self._changes.put_nowait(peer)
        if not self._mdns:
            log.info("mDNS is off; static peers only (%d)", len(self._static))
            return
        try:
            await self._start_mdns()
        except BaseException:
            await self.close()
            raise

    async def _start_mdns(self) -> None:
        _PORT_PATCH.acquire(self._mdns_port)
        self._patched = True
        interfaces = self._interfaces or InterfaceChoice.All
        addresses = self._addresses or _local_addresses(self._interfaces)
        try:
            self._zc = AsyncZeroconf(interfaces=interfaces)
            self._browser = AsyncServiceBrowser(self._zc.zeroconf, SERVICE_TYPE,
                                                handlers=[self._on_service],
                                                port=self._mdns_port)
            info = AsyncServiceInfo(SERVICE_TYPE, self.name, port=self._port,
                                    properties=self._txt, parsed_addresses=addresses,
                                    server=f"{self.cluster}-{self.node}.local.")
            announced = await self._zc.async_register_service(info)
            await asyncio.wait_for(announced, REGISTER_TIMEOUT_S)
        except NonUniqueNameException as exc:
            raise DiscoveryError(f"another counter already announces itself as {self.node} "
                                 f"of cluster {self.cluster} on this network") from exc
        except (OSError, zeroconf.Error, TimeoutError) as exc:
            raise DiscoveryError(f"mDNS cannot start: {exc or type(exc).__name__}") from exc
        log.info("announced %s on mDNS port %d at %s port %d", self.name, self._mdns_port,
                 ", ".join(addresses), self._port)

    async def close(self) -> None:
        """Withdraw our record (goodbye packets) and stop; idempotent. Changes not yet
        delivered are dropped."""
        if self.state is DiscoveryState.CLOSED:
            return
        self.state = DiscoveryState.CLOSED
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            if self._browser is not None:
                await self._browser.async_cancel()
            if self._zc is not None:
                await asyncio.wait_for(self._zc.async_close(), CLOSE_TIMEOUT_S)
        except (OSError, zeroconf.Error, TimeoutError) as exc:
            log.warning("mDNS did not close cleanly: %s", exc or type(exc).__name__)
        finally:
            self._browser = self._zc = None
            if self._patched:
                self._patched = False
                _PORT_PATCH.release(self._mdns_port)

    async def __aenter__(self) -> Discovery:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- internals

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"tillmesh-discovery-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_service(self, zeroconf: zeroconf.Zeroconf, service_type: str, name: str,
                    state_change: ServiceStateChange) -> None:
        """zeroconf's browser callback (keyword arguments, on the loop)."""
        key = name.lower()
        if key == self.name.lower() or self.state is not DiscoveryState.RUNNING:
            return
        pending = self._resolving.pop(key, None)
        if pending is not None:
            pending.cancel()
        if state_change is ServiceStateChange.Removed:
            gone = self._found.pop(key, None)
            if gone is not None:
                log.info("mDNS: %s left (%s)", gone.node, gone.endpoint)
                self._changes.put_nowait(PeerLost(gone.node))
            return
        if key not in self._found and len(self._found) + len(self._resolving) >= MAX_TRACKED:
            if not self._full_logged:
                self._full_logged = True
                log.warning("mDNS: following %d services already; ignoring more", MAX_TRACKED)
            return
        self._resolving[key] = self._spawn(self._resolve(key, name), "resolve")

    async def _resolve(self, key: str, name: str) -> None:
        assert self._zc is not None
        try:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            answered = await info.async_request(self._zc.zeroconf, RESOLVE_TIMEOUT_MS,
                                                port=self._mdns_port)
            peer = None
            if answered:
                peer = parse_record(name, info.properties, info.parsed_addresses(), info.port)
        except Exception as exc:  # MalformedRecord, or anything a hostile record provokes
            log.warning("mDNS: ignored the record %r: %s", name[:100], exc)
            return
        finally:
            if self._resolving.get(key) is asyncio.current_task():
                del self._resolving[key]
        if peer is None:
            log.debug("mDNS: %r did not answer", name[:100])
        elif peer.cluster == self.cluster and self._found.get(key) != peer:
            self._found[key] = peer  # (our own name never gets here: _on_service skips it)
            log.info("mDNS: found %s at %s (key %s)", peer.node, peer.endpoint,
                     peer.key_fingerprint)
            self._changes.put_nowait(peer)

    async def _deliver(self) -> None:
        while True:
            change = await self._changes.get()
            try:
                result = self._on_change(change)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a handler bug must not stop discovery
                log.exception("the discovery handler failed on %r", change)



async def find(match: Callable[[PeerFound], bool], timeout_s: float, *,
               interfaces: Sequence[str] | None = None, mdns_port: int = MDNS_PORT,
               ) -> PeerFound | None:
    """The first valid record, of any cluster, that ``match`` accepts, heard within
    ``timeout_s``; None if none came. Announces nothing (a joining counter's search for
    the counter that invited it); malformed records are skipped with a log line."""
    loop = asyncio.get_running_loop()
    found: asyncio.Future[PeerFound] = loop.create_future()
    seen: set[str] = set()
    tasks: set[asyncio.Task[None]] = set()
    zc: AsyncZeroconf | None = None

    async def resolve(name: str) -> None:
        assert zc is not None
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        try:
            if not await info.async_request(zc.zeroconf, RESOLVE_TIMEOUT_MS, port=mdns_port):
                return
            peer = parse_record(name, info.properties, info.parsed_addresses(), info.port)
        except Exception as exc:  # MalformedRecord, or anything a hostile record provokes
            log.warning("mDNS: ignored the record %r: %s", name[:100], exc)
            return
        if match(peer) and not found.done():
            found.set_result(peer)

    def on_service(zeroconf: zeroconf.Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        if (state_change is ServiceStateChange.Removed or name.lower() in seen
                or len(seen) >= FIND_TRACKED):
            return
        seen.add(name.lower())
        task = loop.create_task(resolve(name), name="tillmesh-discovery-find")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    _PORT_PATCH.acquire(mdns_port)
    try:
        zc = AsyncZeroconf(interfaces=list(interfaces) if interfaces else InterfaceChoice.All)
        browser = AsyncServiceBrowser(zc.zeroconf, SERVICE_TYPE, handlers=[on_service],
                                      port=mdns_port)
        try:
            return await asyncio.wait_for(asyncio.shield(found), timeout_s)
        except TimeoutError:
            return None
        finally:
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await browser.async_cancel()
    except (OSError, zeroconf.Error) as exc:
        raise DiscoveryError(f"mDNS cannot start: {exc or type(exc).__name__}") from exc
    finally:
        if zc is not None:
            with contextlib.suppress(OSError, zeroconf.Error, TimeoutError):
                await asyncio.wait_for(zc.async_close(), CLOSE_TIMEOUT_S)
        _PORT_PATCH.release(mdns_port)
