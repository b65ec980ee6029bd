"""mDNS discovery on the loopback interface only, on a non-default mDNS port.

Safety: every Zeroconf here is bound to ``interfaces=["127.0.0.1"]`` (its multicast goes
out through ``lo`` only, IP_MULTICAST_IF = 127.0.0.1), and the ``loopback_only`` fixture
also sets IP_MULTICAST_TTL 0 on every responder socket, so even a misrouted packet could
not leave this host. The port is a free one, never 5353, so nothing here talks to or
hears a real mDNS responder on this machine.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Iterator

import pytest
import zeroconf._core as zc_core
import zeroconf._utils.net as zc_net
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from tests import waits
from tillmesh.lab.processes import free_port
from tillmesh.replication.discovery import (
    MDNS_PORT,
    SERVICE_TYPE,
    Change,
    Discovery,
    DiscoveryError,
    DiscoveryState,
    MalformedRecord,
    PeerFound,
    PeerLost,
    instance_name,
    parse_record,
    parse_static_peer,
)

CLUSTER = "a1b2c3d4e5f6"
KEY_A, KEY_B = "0123456789abcdef", "fedcba9876543210"
FIND_S = 8.0  # seconds; probing + announcing take ~1.5 s on loopback


def run(coro: object, timeout: float = 25.0) -> object:
    async def bounded() -> object:
        return await asyncio.wait_for(coro, timeout)  # type: ignore[arg-type]

    return asyncio.run(bounded())


until = functools.partial(waits.until, timeout_s=FIND_S)


@pytest.fixture
def mdns_port() -> int:
    """A free UDP port on loopback for this test's mDNS (not 5353)."""
    port = free_port(socket.SOCK_DGRAM)
    assert port != MDNS_PORT
    return port


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Multicast TTL 0 on every mDNS responder socket: host-local whatever the route."""
    original = zc_net.set_respond_socket_multicast_options

    def host_local(sock: socket.socket, ip_version: object) -> None:
        original(sock, ip_version)  # type: ignore[arg-type]
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)

    monkeypatch.setattr(zc_net, "set_respond_socket_multicast_options", host_local)
    yield
    # The port patch is undone once the last Discovery using it closed.
    assert zc_net._MDNS_PORT == zc_core._MDNS_PORT == MDNS_PORT
    assert zc_net.new_socket.__defaults__[0] == MDNS_PORT  # type: ignore[index]
    assert zc_core.Zeroconf.async_send.__defaults__[1] == MDNS_PORT  # type: ignore[index]


class Counter:
    def __init__(self, node: str, port: int, mdns_port: int, *, cluster: str = CLUSTER,
                 key: str = KEY_A, **options: object) -> None:
        self.changes: list[Change] = []
        self.d = Discovery(cluster, node, 1, key, port, on_change=self.changes.append,
                           addresses=["127.0.0.1"], interfaces=["127.0.0.1"],
                           mdns_port=mdns_port, **options)  # type: ignore[arg-type]

    def found(self) -> dict[str, PeerFound]:
        return {c.node: c for c in self.changes if isinstance(c, PeerFound)}

    def lost(self) -> set[str]:
        return {c.node for c in self.changes if isinstance(c, PeerLost)}


def assert_loopback_only(zc: AsyncZeroconf, mdns_port: int) -> None:
    engine = zc.zeroconf.engine
    assert engine.senders
    for sender in engine.senders:
        sock = sender.sock
        assert sock.getsockname() == ("127.0.0.1", mdns_port)
        interface = sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
        assert socket.inet_ntoa(interface) == "127.0.0.1"
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 0
    assert all(r.sock.getsockname()[1] == mdns_port for r in engine.readers)


def test_counters_find_each_other_ignore_other_clusters_and_see_leaves(mdns_port: int) -> None:
    async def scenario() -> None:
        a = Counter("C01", 7601, mdns_port, key=KEY_A)
        b = Counter("C02", 7602, mdns_port, key=KEY_B)
        stranger = Counter("C03", 7603, mdns_port, cluster="ffffffffffff")
        try:
            await asyncio.gather(a.d.start(), b.d.start(), stranger.d.start())
            for counter in (a, b, stranger):
                assert counter.d._zc is not None
                assert_loopback_only(counter.d._zc, mdns_port)

            await until(lambda: "C02" in a.found() and "C01" in b.found())
            assert a.found()["C02"] == PeerFound("C02", CLUSTER, 1, KEY_B,
                                                 "tcp://127.0.0.1:7602")
            assert b.found()["C01"] == PeerFound("C01", CLUSTER, 1, KEY_A,
                                                 "tcp://127.0.0.1:7601")
            await asyncio.sleep(0.5)  # every record has been announced by now
            assert set(a.found()) == {"C02"} and set(b.found()) == {"C01"}
            assert set(stranger.found()) == set()  # its own cluster is empty
            assert set(a.d.peers()) == {"C02"}

            await b.d.close()
            await until(lambda: a.lost() == {"C02"})
            assert a.d.peers() == {}
        finally:
            for counter in (a, b, stranger):
                await counter.d.close()

    run(scenario())


def test_malformed_records_are_dropped_and_logged(mdns_port: int,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    good: dict[str, str | bytes] = {"cluster": CLUSTER, "node": "C05", "proto": "1",
                                    "key": KEY_B}
    hostile: dict[str, dict[str, str | bytes]] = {
        "C06": {**good, "node": "C06", "key": "not-a-fingerprint"},
        "C07": {**good, "node": "C07", "proto": "one"},
        "C08": {k: v for k, v in {**good, "node": "C08"}.items() if k != "key"},
        "C09": {**good, "node": "C01"},  # claims another counter under its own name
        "C10": {**good, "node": "C10", "proto": "99999999"},
        "C11": {**good, "node": b"C\xff1"},
    }

    async def scenario() -> None:
        a = Counter("C01", 7601, mdns_port)
        await a.d.start()  # holds the port patch, so the raw Zeroconf below uses it too
        try:
            raw = AsyncZeroconf(interfaces=["127.0.0.1"])
            try:
                await raw.zeroconf.async_wait_for_start()
                assert_loopback_only(raw, mdns_port)
                records = [
                    AsyncServiceInfo(SERVICE_TYPE, instance_name(CLUSTER, name), port=7000 + i,
                                     properties=txt, parsed_addresses=["127.0.0.1"],
                                     server=f"{name}.local.")
                    for i, (name, txt) in enumerate([*hostile.items(), ("C05", good)])]
                announced = await asyncio.gather(*map(raw.async_register_service, records))
                await asyncio.gather(*announced)
                await until(lambda: "C05" in a.found())
                await asyncio.sleep(0.5)
                assert set(a.found()) == {"C05"}
            finally:
                await raw.async_close()
            await until(lambda: a.lost() == {"C05"})  # the hostile ones were never found
        finally:
            await a.d.close()

    with caplog.at_level(logging.WARNING, logger="tillmesh.replication.discovery"):
        run(scenario())
    ignored = [r.getMessage() for r in caplog.records if "ignored the record" in r.getMessage()]
    assert len(ignored) == len(hostile), ignored


def test_static_peers_without_mdns(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Change] = []

    async def handler(change: Change) -> None:
        calls.append(change)
        if len(calls) == 1:
            raise RuntimeError("handler bug")  # must not stop later reports

    async def scenario() -> None:
        d = Discovery(CLUSTER, "C01", 1, KEY_A, 7601, on_change=handler, mdns=False,
                      static_peers=["127.0.0.1:7610", "C02@127.0.0.1:7611", "[::1]:7612",
                                    "till-3.example:7613"])
        await d.start()
        await until(lambda: len(calls) == 4)
        assert d._zc is None  # no mDNS socket at all
        await d.close()
        await d.close()

    run(scenario())
    assert calls == [
        PeerFound("static:127.0.0.1:7610", CLUSTER, None, None, "tcp://127.0.0.1:7610", True),
        PeerFound("C02", CLUSTER, None, None, "tcp://127.0.0.1:7611", True),
        PeerFound("static:::1:7612", CLUSTER, None, None, "tcp://[::1]:7612", True),
        PeerFound("static:till-3.example:7613", CLUSTER, None, None,
                  "tcp://till-3.example:7613", True),
    ]
    assert "the discovery handler failed" in caplog.text


def test_one_mdns_port_per_process(mdns_port: int) -> None:
    async def scenario() -> None:
        a = Counter("C01", 7601, mdns_port)
        await a.d.start()
        try:
            other = Counter("C02", 7602, mdns_port + 1 if mdns_port < 65535 else mdns_port - 1)
            with pytest.raises(DiscoveryError, match="one port per process"):
                await other.d.start()
            assert other.d.state is DiscoveryState.CLOSED
        finally:
            await a.d.close()

    run(scenario())


@pytest.mark.parametrize("entry", ["7610", "host", "host:0", "host:70000", ":7610",
                                   "bad host:7610", "C-2@host:7610", "@host:7610", "::1:7610"])
def test_bad_static_peers_are_refused(entry: str) -> None:
    with pytest.raises(DiscoveryError, match="static peer"):
        parse_static_peer(entry, CLUSTER)


@pytest.mark.parametrize("options", [
    {"cluster": "a-b"}, {"node": ""}, {"cluster": "c" * 32, "node": "n" * 32},
    {"key_fingerprint": "XYZ"}, {"port": 0}, {"proto": -1}, {"mdns_port": 70000},
    {"addresses": ["not-an-ip"]},
])
def test_bad_settings_are_refused(options: dict[str, object]) -> None:
    settings: dict[str, object] = {"cluster": CLUSTER, "node": "C01", "proto": 1,
                                   "key_fingerprint": KEY_A, "port": 7601}
    settings.update(options)
    with pytest.raises(DiscoveryError):
        Discovery(on_change=print, **settings)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- pure parts


def txt(**fields: str | bytes | None) -> dict[bytes, bytes | None]:
    base: dict[str, str | bytes | None] = {"cluster": CLUSTER, "node": "C02", "proto": "1",
                                           "key": KEY_B}
    base.update(fields)
    return {k.encode(): v.encode() if isinstance(v, str) else v for k, v in base.items()}


NAME = instance_name(CLUSTER, "C02")


def test_parse_record_reads_a_valid_record() -> None:
    peer = parse_record(NAME.upper(), txt(), ["fe80::1", "192.168.1.20"], 7610)
    assert peer == PeerFound("C02", CLUSTER, 1, KEY_B, "tcp://192.168.1.20:7610")
    assert parse_record(NAME, txt(), ["fd00::2"], 7610).endpoint == "tcp://[fd00::2]:7610"


@pytest.mark.parametrize(("name", "fields", "addresses", "port", "reason"), [
    (NAME, txt(key=None), ["127.0.0.1"], 7610, "no key"),
    (NAME, txt(node="C\u00e9"), ["127.0.0.1"], 7610, "not ASCII"),
    (NAME, txt(cluster="x" * 33), ["127.0.0.1"], 7610, "cluster"),
    (NAME, txt(proto="1.0"), ["127.0.0.1"], 7610, "proto"),
    (NAME, txt(proto="70000"), ["127.0.0.1"], 7610, "out of range"),
    (NAME, txt(key="0123456789ABCDEF"), ["127.0.0.1"], 7610, "key"),
    (instance_name(CLUSTER, "C03"), txt(), ["127.0.0.1"], 7610, "does not match"),
    (NAME, txt(), ["127.0.0.1"], None, "port"),
    (NAME, txt(), ["127.0.0.1"], 0, "port"),
    (NAME, txt(), ["0.0.0.0", "224.0.0.251", "junk"], 7610, "no usable address"),
])
def test_parse_record_refuses_malformed_records(
    name: str, fields: dict[bytes, bytes | None], addresses: list[str], port: int | None,
    reason: str,
) -> None:
    with pytest.raises(MalformedRecord, match=reason):
        parse_record(name, fields, addresses, port)
