"""Hosts of a test's own: a Linux network namespace each, joined by veth pairs to a bridge
that lives in a namespace of its own, every address inside them (10.77.0.0/24), mDNS
over the bridge. Faults are nftables rules on the bridge: a cut between two groups of
hosts (both ways), or random loss. Needs root and iproute2 and nftables; everything made
is removed on exit, also after a failure."""

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


def unavailable() -> str | None:
    """Why hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = [p for p in ("ip", "nft") if shutil.which(p) is None]
    return f"needs {', '.join(missing)}" if missing else None


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
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
        _run("ip", "link", "add", inner, "type", "veth", "peer", "name", outer)
        _run("ip", "link", "set", inner, "netns", host.netns)
        _run("ip", "link", "set", outer, "netns", self.bridge)
        self._in_bridge("ip", "link", "set", outer, "master", "br0")
        self._in_bridge("ip", "link", "set", outer, "up")
        for command in (("ip", "addr", "add", f"{host.address}/24", "dev", inner),
                        ("ip", "link", "set", inner, "up"), ("ip", "link", "set", "lo", "up"),
                        ("ip", "route", "add", "224.0.0.0/4", "dev", inner)):  # mDNS
            _run(*host.prefix(), *command)
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

    def lose(self, percent: int) -> None:
        """Drop ``percent`` % of every packet the bridge forwards, at random."""
        self._in_bridge("nft", "add", "rule", "bridge", TABLE, "forward", "numgen", "random",
                        "mod", "100", "lt", str(percent), "drop")

    def heal(self) -> None:
        self._in_bridge("nft", "flush", "chain", "bridge", TABLE, "forward")

    def close(self) -> None:
        for netns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True,
                           timeout=COMMAND_TIMEOUT_S, check=False)
        self._made.clear()

    def _netns(self, name: str) -> None:
        _run("ip", "netns", "add", name)
        self._made.append(name)

    def _in_bridge(self, *command: str) -> None:
        _run("ip", "netns", "exec", self.bridge, *command)
