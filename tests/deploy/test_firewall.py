"""install.sh --open-firewall and uninstall.sh against a real nftables ruleset, inside a
network namespace the test makes (and removes): the host's firewall is never touched.

The namespace's `inet filter` input chain drops everything but the answers to
connections already made, as a locked-down counter's would. Before: the store's ports
cannot be reached, even on the namespace's loopback. After `open_ports 1` (twice: it adds
each rule once) they can; uninstall's `close_ports` takes exactly those rules away again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.test_install import INSTALL, UNINSTALL
from tillmesh.node.ops.const import JOIN_PORT, REPLICATION_PORT

TIMEOUT_S = 30.0
MDNS_PORT = 5353

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"),
    reason="needs root, ip (iproute2) and nft (nftables) for a network namespace")

# Inside the namespace: listen on each port, then try to reach it (TCP connect, UDP echo).
REACH = f"""
import json, socket
seen = {{}}
for port in ({REPLICATION_PORT}, {JOIN_PORT}):
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", port)); server.listen()
        client.settimeout(1.0)
        try:
            client.connect(("127.0.0.1", port)); seen[f"{{port}}/tcp"] = True
        except OSError:
            seen[f"{{port}}/tcp"] = False
with socket.socket(type=socket.SOCK_DGRAM) as server, \\
        socket.socket(type=socket.SOCK_DGRAM) as client:
    server.bind(("127.0.0.1", {MDNS_PORT})); server.settimeout(1.0)
    client.sendto(b"x", ("127.0.0.1", {MDNS_PORT}))
    try:
        seen["{MDNS_PORT}/udp"] = server.recv(8) == b"x"
    except OSError:
        seen["{MDNS_PORT}/udp"] = False
print(json.dumps(seen))
"""


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"tmfw{uuid.uuid4().hex[:8]}"
    made = run("ip", "netns", "add", name)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
    try:
        for command in ("ip link set lo up", "nft add table inet filter",
                        "nft add chain inet filter input "
                        "{ type filter hook input priority 0 ; policy drop ; }",
                        "nft add rule inet filter input ct state established,related accept"):
            done = run("ip", "netns", "exec", name, *command.split())
            assert done.returncode == 0, done.stderr
        yield name
    finally:
        run("ip", "netns", "del", name)


def inside(name: str, script: str) -> subprocess.CompletedProcess[str]:
    return run("ip", "netns", "exec", name, "bash", "-c", script)


def reachable(name: str) -> dict[str, bool]:
    done = run("ip", "netns", "exec", name, "python3", "-", stdin=REACH)
    assert done.returncode == 0, done.stderr
    seen: dict[str, bool] = json.loads(done.stdout)
    return seen


def tagged_rules(name: str) -> list[str]:
    chain = inside(name, "nft list chain inet filter input").stdout
    return [line.strip() for line in chain.splitlines() if 'comment "tillmesh' in line]


def test_open_firewall_opens_the_stores_ports_once_and_uninstall_closes_them(namespace):
    ports = {f"{REPLICATION_PORT}/tcp", f"{JOIN_PORT}/tcp", f"{MDNS_PORT}/udp"}
    assert reachable(namespace) == dict.fromkeys(ports, False)

    for _ in range(2):  # a second run adds nothing
        opened = inside(namespace, f'source "{INSTALL}" && open_ports 1')
        assert opened.returncode == 0, opened.stderr
        assert "nftables: accepted in inet filter input" in opened.stdout
    assert len(tagged_rules(namespace)) == 3
    assert reachable(namespace) == dict.fromkeys(ports, True)

    closed = inside(namespace, f'source "{UNINSTALL}" && close_ports')
    assert closed.returncode == 0, closed.stderr
    assert tagged_rules(namespace) == []
    assert reachable(namespace) == dict.fromkeys(ports, False)


def test_without_open_firewall_the_ports_are_listed_and_nothing_is_opened(namespace):
    listed = inside(namespace, f'source "{INSTALL}" && open_ports 0')
    assert listed.returncode == 0, listed.stderr
    for port in (f"{REPLICATION_PORT}/tcp", f"{JOIN_PORT}/tcp", f"{MDNS_PORT}/udp"):
        assert port in listed.stdout
    assert tagged_rules(namespace) == []
