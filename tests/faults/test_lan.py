"""The fault suite's hosts: each fault does what it says to real traffic between two hosts
(numbered UDP datagrams, or a TCP transfer timed by its receiver), heal undoes it, and
closing leaves nothing behind."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.faults import lan
from tests.faults.lan import Host, Lan

pytestmark = pytest.mark.skipif(lan.unavailable() is not None,
                                reason=f"{lan.unavailable()}: cannot make hosts here")

PORT = 9419
DATAGRAMS = 200
WAIT_S = 10.0  # the longest any helper process may take

# Counts the numbered datagrams it receives until its stdin closes, then those still on the
# way (0.1 s of quiet), never past its deadline; prints {number: times}.
RECEIVE = """
import json, select, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
counts = {}
deadline = time.monotonic() + float(sys.argv[2])
while (left := deadline - time.monotonic()) > 0:
    ready = select.select([s, sys.stdin], [], [], left)[0]
    if s in ready:
        n = int(s.recv(64)); counts[n] = counts.get(n, 0) + 1
    elif ready:
        break
s.settimeout(0.1)
while time.monotonic() < deadline:
    try:
        n = int(s.recv(64)); counts[n] = counts.get(n, 0) + 1
    except TimeoutError:
        break
print(json.dumps(counts), flush=True)
"""

SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(int(sys.argv[3])):
    s.sendto(str(n).encode(), (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.0002)
"""

# Times one TCP transfer from its first accepted connection to the sender's close.
TCP_RECEIVE = """
import socket, sys, time
s = socket.create_server(("0.0.0.0", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
c, _ = s.accept()
c.settimeout(float(sys.argv[2]))
start, got = time.monotonic(), 0
while data := c.recv(65536):
    got += len(data)
print(got, time.monotonic() - start, flush=True)
"""

TCP_SEND = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[4])) as s:
    s.sendall(b"x" * int(sys.argv[3]))
"""


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[Lan, Host, Host]]:
    with Lan() as made:
        yield made, made.host("A"), made.host("B")


@pytest.fixture
def two(hosts: tuple[Lan, Host, Host]) -> Iterator[tuple[Lan, Host, Host]]:
    yield hosts
    hosts[0].heal()


def _started(host: Host, code: str, *args: str) -> subprocess.Popen[str]:
    """A helper on ``host``, once it says it is ready (its socket is bound)."""
    process = subprocess.Popen([*host.prefix(), sys.executable, "-c", code, *args],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if not select.select([process.stdout], [], [], WAIT_S)[0] or \
            process.stdout.readline().strip() != "ready":
        process.kill()
        process.wait()
        raise AssertionError(f"no helper ready on {host.name}")
    return process


def _finished(process: subprocess.Popen[str]) -> str:
    try:
        out, _ = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, out
    return out


def _datagrams(src: Host, dst: Host) -> Counter[int]:
    """How many times each of ``DATAGRAMS`` numbered datagrams from src reached dst."""
    receiver = _started(dst, RECEIVE, str(PORT), str(WAIT_S))
    try:
        subprocess.run([*src.prefix(), sys.executable, "-c", SEND, dst.address, str(PORT),
                        str(DATAGRAMS)], check=True, timeout=WAIT_S)
    finally:
        out = _finished(receiver)
    return Counter({int(n): times for n, times in json.loads(out).items()})


def _transfer_s(src: Host, dst: Host, size: int) -> float:
    """Seconds ``size`` bytes take over TCP from src to dst, as the receiver sees it."""
    receiver = _started(dst, TCP_RECEIVE, str(PORT), str(WAIT_S))
    try:
        subprocess.run([*src.prefix(), sys.executable, "-c", TCP_SEND, dst.address, str(PORT),
                        str(size), str(WAIT_S)], check=True, timeout=WAIT_S)
    finally:
        got, seconds = _finished(receiver).split()
    assert int(got) == size
    return float(seconds)


def _all_once(counts: Counter[int]) -> bool:
    return counts == Counter(range(DATAGRAMS))


def test_a_cut_drops_both_ways_a_loss_some_and_heal_undoes_both(
        two: tuple[Lan, Host, Host]) -> None:
    net, a, b = two
    assert _all_once(_datagrams(a, b))
    net.cut(["A"], ["B"])
    assert not _datagrams(a, b) and not _datagrams(b, a)
    net.heal()
    assert _all_once(_datagrams(b, a))
    net.lose(50)
    assert 0.2 * DATAGRAMS < sum(_datagrams(a, b).values()) < 0.8 * DATAGRAMS
    net.heal()
    assert _all_once(_datagrams(a, b))


def test_one_way_drops_from_one_host_to_the_other_only(two: tuple[Lan, Host, Host]) -> None:
    net, a, b = two
    net.one_way("A", "B")
    assert not _datagrams(a, b)
    assert _all_once(_datagrams(b, a))
    net.heal()
    net.one_way("A", "B", 50)
    arrived = _datagrams(a, b)
    assert 0.2 * DATAGRAMS < len(arrived) < 0.8 * DATAGRAMS and max(arrived.values()) == 1
    assert _all_once(_datagrams(b, a))
    net.heal()
    assert _all_once(_datagrams(a, b))


def test_duplicate_delivers_some_packets_twice_and_none_more(
        two: tuple[Lan, Host, Host]) -> None:
    net, a, b = two
    net.duplicate(50)
    for src, dst in ((a, b), (b, a)):
        arrived = _datagrams(src, dst)
        assert set(arrived) == set(range(DATAGRAMS)), "nothing lost"
        twice = sum(1 for times in arrived.values() if times == 2)
        assert 0.2 * DATAGRAMS < twice < 0.8 * DATAGRAMS and max(arrived.values()) == 2
    net.duplicate(100)
    assert _datagrams(a, b) == Counter({n: 2 for n in range(DATAGRAMS)})
    net.cut(["A"], ["B"])
    assert not _datagrams(a, b), "what a cut drops is not copied"
    net.heal()
    assert _all_once(_datagrams(a, b))


def test_slow_makes_a_transfer_take_about_its_size_over_the_rate(
        two: tuple[Lan, Host, Host]) -> None:
    net, a, b = two
    size, rate_kbit = 128 * 1024, 2000
    at_rate_s = size * 8 / (rate_kbit * 1000)  # 0.52 s
    fast_s = _transfer_s(a, b, size)
    net.slow(rate_kbit)
    slow_s = _transfer_s(a, b, size)
    net.heal()
    healed_s = _transfer_s(a, b, size)
    assert 0.8 * at_rate_s < slow_s < 4 * at_rate_s, (fast_s, slow_s)
    assert slow_s > 5 * max(fast_s, healed_s), (fast_s, slow_s, healed_s)


def test_a_host_made_later_gets_the_faults_in_force_and_closing_leaves_nothing() -> None:
    with Lan() as net:
        a = net.host("A")
        net.duplicate(100)
        net.slow(100_000)
        b = net.host("B")
        assert _datagrams(a, b) == Counter({n: 2 for n in range(DATAGRAMS)})
        buckets = _run("ip", "netns", "exec", net.bridge, "tc", "qdisc", "show")
        assert buckets.count("qdisc tbf") == 2, buckets
        made = net.tag
        assert any(made in name for name in _netns())
    assert not [name for name in _netns() if made in name]
    assert made not in _run("ip", "link", "show")


def test_a_failure_inside_still_removes_everything() -> None:
    with pytest.raises(RuntimeError, match="no such host"), Lan() as net:
        net.host("A")
        made = net.tag
        raise RuntimeError("no such host")
    assert not [name for name in _netns() if made in name]


def _netns() -> list[str]:
    return [line.split()[0] for line in _run("ip", "netns", "list").splitlines() if line]


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True,
                          timeout=WAIT_S).stdout
