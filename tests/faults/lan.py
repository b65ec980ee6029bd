"""Hosts of a test's own: a Linux network namespace each, joined by veth pairs to a bridge
that lives in a namespace of its own, every address inside them (10.77.0.0/24), mDNS
over the bridge. Faults are nftables rules on the bridge: a cut between two groups of
hosts (both ways), loss one way between two hosts, random loss, duplicated packets; and a
slow link (a token bucket on every bridge port). Needs root and iproute2 and nftables;
everything made is removed on exit, also after a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

SUBNET = "10.77.0"
COMMAND_TIMEOUT_S = 10.0
TABLE = "tmfaults"  # the bridge's nftables table; its chain is emptied to heal
# The bridge family cannot duplicate ("dup": unsupported family), the netdev family can: a
# table of that family hooks the egress of every bridge port while packets are duplicated.
# A copy re-enters the hook it was made in, so the original and the copy are marked first
# (unmarked, every packet arrived 4 times: the kernel stops the recursion only there).
DUPLICATED = "0x7e"


def unavailable() -> str | None:
    """Why hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = [p for p in ("ip", "nft") if shutil.which(p) is None]
    return f"needs {', '.join(missing)}" if missing else None


def command(*args: str, timeout_s: float = COMMAND_TIMEOUT_S) -> None:
    """Run ``args``; its error output in the exception if it fails."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    address: str

    def prefix(self) -> tuple[str, ...]:
        """What runs a command on this host."""
        return ("ip", "netns", "exec", self.netns)


class Lan:
    def __init__(self) -> None:
        self.tag = f"tmf{uuid.uuid4().hex[:5]}"
        self.bridge = f"{self.tag}br"
        self.hosts: dict[str, Host] = {}
        self._made: list[str] = []
        self._ports: list[str] = []  # the bridge's ends of the hosts' links
        self._duplicating: int | None = None  # percent
        self._slow: tuple[str, ...] = ()  # the token bucket on every port, or none

    def __enter__(self) -> Lan:
        try:
            self._netns(self.bridge)
            self._in_bridge("ip", "link", "add", "br0", "type", "bridge")
            self._in_bridge("ip", "link", "set", "br0", "up")
            self._in_bridge("nft", "add", "table", "bridge", TABLE)
            self._in_bridge("nft", "add", "chain", "bridge", TABLE, "forward",
                            "{ type filter hook forward priority 0 ; }")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def host(self, name: str) -> Host:
        """A new host on the bridge, at the next address."""
        number = len(self.hosts) + 1
        host = Host(name, f"{self.tag}{name.lower()}", f"{SUBNET}.{number}")
        inner, outer = f"{self.tag}i{number}", f"{self.tag}o{number}"
        self._netns(host.netns)
        # made in the bridge's namespace, never in ours: nothing to leave behind there
        self._in_bridge("ip", "link", "add", outer, "type", "veth", "peer", "name", inner,
                        "netns", host.netns)
        self._ports.append(outer)
        if self._slow:
            self._in_bridge("tc", "qdisc", "replace", "dev", outer, "root", *self._slow)
        if self._duplicating is not None:
            self._duplicate_on_ports()
        self._in_bridge("ip", "link", "set", outer, "master", "br0")
        self._in_bridge("ip", "link", "set", outer, "up")
        for args in (("ip", "addr", "add", f"{host.address}/24", "dev", inner),
                     ("ip", "link", "set", inner, "up"), ("ip", "link", "set", "lo", "up"),
                     ("ip", "route", "add", "224.0.0.0/4", "dev", inner)):  # mDNS
            command(*host.prefix(), *args)
        self.hosts[name] = host
        return host

    def cut(self, side: Iterable[str], other: Iterable[str]) -> None:
        """No packet between a host of ``side`` and a host of ``other``, either way."""
        for a in side:
            for b in other:
                for src, dst in ((a, b), (b, a)):
                    self._in_bridge("nft", "add", "rule", "bridge", TABLE, "forward", "ip",
                                    "saddr", self.hosts[src].address, "ip", "daddr",
                                    self.hosts[dst].address, "drop")

    def one_way(self, src: str, dst: str, percent: int = 100) -> None:
        """Drop ``percent`` % of the packets from ``src`` to ``dst`` (100: all), at random;
        from ``dst`` to ``src`` all pass: ``src`` hears ``dst`` but is not heard. IPv4 only,
        like ``cut``: ARP still passes, so each side still finds the other's address."""
        self._in_bridge("nft", "add", "rule", "bridge", TABLE, "forward", "ip", "saddr",
                        self.hosts[src].address, "ip", "daddr", self.hosts[dst].address,
                        *_chance(percent), "drop")

    def lose(self, percent: int) -> None:
        """Drop ``percent`` % of every packet the bridge forwards, at random."""
        self._in_bridge("nft", "add", "rule", "bridge", TABLE, "forward", *_chance(percent),
                        "drop")

    def duplicate(self, percent: int) -> None:
        """Deliver ``percent`` % of the packets the bridge forwards twice, at random, the copy
        and the original back to back (one copy at most); for every host, also those made
        later. Packets a cut or a loss drops are not copied. A later call replaces this one's
        percent."""
        _chance(percent)
        self._duplicating = percent
        self._duplicate_on_ports()

    def slow(self, rate_kbit: int, queue_ms: int = 200) -> None:
        """A slow link: every host receives at most ``rate_kbit`` kbit/s (a token bucket on
        its bridge port, a burst of 10 ms or two frames), also hosts made later; sending is
        slowed by the receiver's bucket. No fixed delay (netem is not in every kernel, and
        a tbf cannot delay): a packet waits in the queue up to ``queue_ms`` while the link
        is busy, then is dropped; an idle link delays a packet only by its size / rate. A
        later call replaces this one."""
        if rate_kbit <= 0 or queue_ms <= 0:
            raise ValueError(f"slow({rate_kbit}, {queue_ms}): both must be positive")
        burst = max(2 * 1514, rate_kbit * 1000 // 8 // 100)
        self._slow = ("tbf", "rate", f"{rate_kbit}kbit", "burst", str(burst), "latency",
                      f"{queue_ms}ms")
        for port in self._ports:
            self._in_bridge("tc", "qdisc", "replace", "dev", port, "root", *self._slow)

    def heal(self) -> None:
        """No fault left: every rule, the duplication and the slow link removed."""
        self._in_bridge("nft", "flush", "chain", "bridge", TABLE, "forward")
        self._duplicating = None
        self._duplicate_on_ports()
        if self._slow:
            self._slow = ()
            for port in self._ports:
                self._in_bridge("tc", "qdisc", "del", "dev", port, "root")

    def close(self) -> None:
        for netns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True,
                           timeout=COMMAND_TIMEOUT_S, check=False)
        self._made.clear()

    def _netns(self, name: str) -> None:
        command("ip", "netns", "add", name)
        self._made.append(name)

    def _in_bridge(self, *args: str) -> None:
        command("ip", "netns", "exec", self.bridge, *args)

    def _duplicate_on_ports(self) -> None:
        """The netdev table made anew (in one transaction) for the duplication in force on
        every port, or removed if there is none: adding it first makes deleting it safe."""
        script = [f"add table netdev {TABLE}", f"delete table netdev {TABLE}"]
        if self._duplicating is not None:
            script += [f"add table netdev {TABLE}", f"add chain netdev {TABLE} duplicate",
                       f"add rule netdev {TABLE} duplicate meta mark != {DUPLICATED} "
                       f"{' '.join(_chance(self._duplicating))} meta mark set {DUPLICATED} "
                       "dup to meta oif"]
            for port in self._ports:
                script += [f'add chain netdev {TABLE} {port} {{ type filter hook egress '
                           f'device "{port}" priority 0 ; }}',
                           f"add rule netdev {TABLE} {port} jump duplicate"]
        self._in_bridge("nft", "; ".join(script))


def _chance(percent: int) -> tuple[str, ...]:
    """What makes an nftables rule match ``percent`` % of packets at random (nft refuses
    ``numgen random mod 100 lt 100``: all is no condition)."""
    if not 0 <= percent <= 100:
        raise ValueError(f"{percent} %: not between 0 and 100")
    return ("numgen", "random", "mod", "100", "lt", str(percent)) if percent < 100 else ()
