"""Exactly one counter forwards to ERPNext soon after any heal, restart or kill, whatever
each counter chose before (issue 10.5), with real `tillmesh run` counters C01-C03 on
127.0.0.1 linked to one ERPNext simulator process. Forwarders are counted every
SAMPLE_S; every sale made meanwhile reaches ERPNext once.

Who forwards is read from the ``peers`` view of the running counters: a counter forwards
when a peer that hears it (ready and live) got ``forwarding`` in its last Vector. That is
what the election acts on, and reading it elects nothing: ``erpnext_status`` names the
forwarder too, but asking it runs the election there and then, so polling it five times a
second would make a counter give up or take the role sooner than its forwarder's own
look (every FORWARD_IDLE_S) does. It is read once a window is over, to check that every
counter names the same forwarder.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from tests.clusterkit import admin, cashier, converge, invite, join
from tests.proc import NodeProcess, Nodes, network, ok, sell_one, short_tmp, tillmesh
from tillmesh.lab.demo_data import demo_master_docs
from tillmesh.node.erpnext import ErpNextClient
from tillmesh.node.erpnext.const import FORWARD_IDLE_S
from tillmesh.replication.const import (
    ELECTION_SETTLE_MS,
    HEARTBEAT_MS,
    HELLO_RETRY_MS,
    PEER_TIMEOUT_MS,
)

pytestmark = pytest.mark.slow

CODE = next(doc["barcodes"][0]["barcode"] for doctype, doc in demo_master_docs()
            if doctype == "Item" and doc.get("barcodes") and not doc.get("disabled")
            and doc["stock_uom"] == "Nos")
NAMES = ("C01", "C02", "C03")
INVOICE = "POS Invoice"

SAMPLE_S = 0.2  # seconds between two counts of the forwarders
HEARTBEAT_S = HEARTBEAT_MS / 1000  # a Vector (with `forwarding`) reaches each peer this often
PEER_TIMEOUT_S = PEER_TIMEOUT_MS / 1000  # a silent peer stops counting after this
SETTLE_S = ELECTION_SETTLE_MS / 1000  # a restarted counter elects nobody for this long
HELLO_RETRY_S = HELLO_RETRY_MS / 1000  # an unanswered Hello is sent again after this
# A loaded 2-core machine (other tests, three counters, the simulator) delays a tick or a
# forwarder's look by this much at most; on an idle one every figure is well under 2 s.
LOAD_SLACK_S = 3.0
# After a heal the counters hear each other's Vectors within a heartbeat; the higher of
# two forwarders gives the role up at its next look at the election (FORWARD_IDLE_S at
# most) and says so in its next Vector (at once, RELAY_VECTOR_MS).
ONE_AGAIN_S = HEARTBEAT_S + FORWARD_IDLE_S + LOAD_SLACK_S
# The first election once ERPNext is set up: a counter that started less than SETTLE_S
# ago elects nobody yet; each forwarder checks it reaches ERPNext, looks at the election a
# FORWARD_IDLE_S later, its peers hear it within a heartbeat, and a counter that elected
# itself before hearing C01 gives the role up at its next look.
STEADY_S = SETTLE_S + 2 * FORWARD_IDLE_S + HEARTBEAT_S + LOAD_SLACK_S
# A stopped or killed forwarder is replaced once its peers no longer count it: a SIGTERM'd
# counter says Bye, so at once; a killed one when they find its connection gone as they
# dial it again (every REDIAL_S) or, at the latest, when it has been silent PEER_TIMEOUT_S.
# Then the next candidate takes the role at its next look at the election.
TAKEOVER_S = PEER_TIMEOUT_S + FORWARD_IDLE_S + HEARTBEAT_S + LOAD_SLACK_S
# Each side of a partition stops hearing the other after PEER_TIMEOUT_S; then C02 takes
# the role on its side at its next look.
SPLIT_S = TAKEOVER_S
HOLD_S = 10.0  # seconds the count must stay one after a heal
STEADY_HOLD_S = 2.0  # seconds it must stay one once ERPNext is set up (nothing changes)
# After a restart: the counter elects nobody for SETTLE_S after it starts, its links come
# up within a second, and three heartbeats later a wrong choice would have shown.
HOLD_RESTART_S = SETTLE_S + 3 * HEARTBEAT_S + LOAD_SLACK_S
# A restarted counter is greeted and heard both ways within a Hello retry and a heartbeat
# (0.2 s measured on loopback).
LINKED_S = HELLO_RETRY_S + HEARTBEAT_S + LOAD_SLACK_S
DELIVERED_S = 30.0  # seconds for a sale to reach ERPNext (the forwarder sends within ~1 s)
SIM_START_S = 30.0  # seconds for the simulator process to print its URL and keys

FIGURES: dict[str, float] = {}  # measured seconds, printed by the last test


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the watch began
    forwarding: frozenset[str]  # counters a live peer heard say they forward
    linked: bool  # every running counter hears every other one (ready and live)


@dataclass
class Site:
    url: str
    key: str
    secret: str

    def client(self) -> ErpNextClient:
        return ErpNextClient(self.url, self.key, self.secret)


@dataclass
class Store:
    nodes: Nodes
    procs: dict[str, NodeProcess]  # every counter, running or not
    site: Site
    sold: list[str] = field(default_factory=list)  # invoices of every sale, in order
    set_up_at: float = 0.0  # monotonic time the last `erpnext setup` returned

    def running(self) -> dict[str, NodeProcess]:
        return {name: p for name, p in self.procs.items() if p.running}

    def sell(self, name: str, count: int = 1) -> list[str]:
        with cashier(self.procs[name]) as c:
            made = [sell_one(c, CODE)["invoice"] for _ in range(count)]
        self.sold += made
        return made

    def setup(self, proc: NodeProcess) -> str:
        """``tillmesh erpnext setup`` for ``proc``, pointing at the simulator."""
        return ok(tillmesh(proc.data_dir, "erpnext", "setup", "--url", self.site.url,
                           "--key", self.site.key, "--secret", self.site.secret,
                           "--insecure"))  # the simulator: plain http on 127.0.0.1

    def restart(self, name: str) -> NodeProcess:
        self.procs[name] = self.nodes.start(self.procs[name].data_dir)
        return self.procs[name]


# --- the simulator, as a process of its own -----------------------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    logs = short_tmp()
    with open(logs / "simulator.err", "wb") as err:
        sim = subprocess.Popen(
            [sys.executable, "-m", "tillmesh.lab.erpnext_simulator", "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            lines: dict[str, str] = {}
            reader = threading.Thread(target=_read_keys, args=(sim, lines), daemon=True)
            reader.start()
            reader.join(SIM_START_S)
            assert {"url", "key", "secret"} <= set(lines), (
                f"the simulator did not start: {(logs / 'simulator.err').read_text()}")
            yield Site(lines["url"], lines["key"], lines["secret"])
        finally:
            sim.terminate()
            try:
                sim.wait(10)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
            if sim.stdout is not None:
                sim.stdout.close()
            for path in logs.iterdir():
                path.unlink()
            logs.rmdir()


def _read_keys(sim: subprocess.Popen[str], lines: dict[str, str]) -> None:
    assert sim.stdout is not None
    for _ in range(4):  # url, key, secret, user
        name, _, value = sim.stdout.readline().partition(":")
        lines[name.strip()] = value.strip()


# --- three counters, linked to it -----------------------------------------------------------




@pytest.fixture(scope="module")
def store(site: Site) -> Iterator[Store]:
    with Nodes() as nodes:
        first = nodes.start(nodes.init(*network(), node="C01"))
        procs = {"C01": first}
        for name in NAMES[1:]:
            procs[name] = nodes.start(join(nodes, invite(first), name))
        for proc in procs.values():
            with cashier(proc) as c:
                if c.shift_current() is None:
                    c.shift_open({"Cash": "0"})
        converge(list(procs.values()))
        linked = Store(nodes, procs, site)
        for name in NAMES:  # sold before ERPNext is set up: sent once it is
            linked.sell(name)
        began = time.monotonic()
        # On running counters (`setup` takes effect without a restart). C01 first: it makes
        # the custom fields (three setups at once race to create them, and the losers exit
        # 1), and the lowest counter links first, so it is the one that must win. C02 and
        # C03 then together: either may look at the election before hearing C01 forwards.
        said = [linked.setup(procs["C01"])]
        with ThreadPoolExecutor(2) as pool:
            said += pool.map(linked.setup, (procs["C02"], procs["C03"]))
        for words in said:
            assert "the running counter forwards with these settings now" in words, words
        linked.set_up_at = time.monotonic()
        FIGURES["setup"] = linked.set_up_at - began
        yield linked


# --- counting forwarders --------------------------------------------------------------------


def sample(store: Store, began: float) -> Sample:
    """Who forwards as the running counters hear it, and whether they all hear each other."""
    running = store.running()
    forwarding: set[str] = set()
    linked = True
    for name, proc in running.items():
        with proc.client() as c:
            views = {p["node"]: p for p in c.call("peers")}
        for other in running:
            view = views.get(other)
            if other != name and not (view and view["state"] == "ready" and view["live"]):
                linked = False
        forwarding |= {node for node, p in views.items()
                       if p["state"] == "ready" and p["live"] and p["forwarding"]}
    return Sample(time.monotonic() - began, frozenset(forwarding), linked)


def show(samples: list[Sample]) -> str:
    """The changes of a timeline, for a failure message."""
    lines, last = [], None
    for s in samples:
        if (s.forwarding, s.linked) != last:
            last = s.forwarding, s.linked
            lines.append(f"  {s.at:6.2f} s  {sorted(s.forwarding)}"
                         f"{'' if s.linked else '  (not all linked)'}")
    return "\n".join(lines)


def await_(store: Store, wanted: Callable[[Sample], bool], deadline_s: float, what: str,
            began: float | None = None) -> Sample:
    """The first sample that is ``wanted``, timed from ``began`` (default: now); fails with
    the timeline after ``deadline_s``."""
    began = time.monotonic() if began is None else began
    samples: list[Sample] = []
    while True:
        s = sample(store, began)
        samples.append(s)
        if wanted(s):
            return s
        if s.at > deadline_s:
            raise AssertionError(f"{what}: not within {deadline_s:.1f} s; forwarders seen:\n"
                                 f"{show(samples)}")
        time.sleep(SAMPLE_S)


def watch(store: Store, seconds: float) -> list[Sample]:
    """A sample every SAMPLE_S for ``seconds``."""
    began = time.monotonic()
    samples = [sample(store, began)]
    while samples[-1].at < seconds:
        time.sleep(SAMPLE_S)
        samples.append(sample(store, began))
    return samples


def only(name: str) -> Callable[[Sample], bool]:
    """Every running counter hears every other, and ``name`` alone forwards."""
    return lambda s: s.linked and s.forwarding == {name}


def named_by_all(store: Store) -> set[str | None]:
    """The forwarder each running counter names in ``erpnext_status`` (elects once)."""
    names = set()
    for proc in store.running().values():
        with proc.client() as c:
            names.add(c.call("erpnext_status")["forwarder"])
    return names


def hold(store: Store, name: str, seconds: float, what: str) -> list[Sample]:
    """``name`` alone forwards for ``seconds``, and every counter names it."""
    samples = watch(store, seconds)
    wrong = [s for s in samples if s.forwarding != {name}]
    assert not wrong, f"{what}: not {name} alone at every sample:\n{show(samples)}"
    assert named_by_all(store) == {name}
    return samples


def await_delivered(store: Store, invoices: list[str], deadline_s: float = DELIVERED_S
                    ) -> None:
    deadline = time.monotonic() + deadline_s
    with store.site.client() as erp:
        while True:
            there = {d["name"] for d in erp.get_list(
                INVOICE, filters=[["name", "in", invoices]], page_length=0)}
            if there >= set(invoices):
                return
            assert time.monotonic() < deadline, f"not in ERPNext: {set(invoices) - there}"
            time.sleep(SAMPLE_S)


# --- the tests -------------------------------------------------------------------------------


def test_once_erpnext_is_set_up_the_lowest_counter_alone_forwards(store):
    FIGURES["steady"] = await_(store, only("C01"), STEADY_S, "C01 alone forwards",
                               began=store.set_up_at).at
    hold(store, "C01", STEADY_HOLD_S, "steady state")
    await_delivered(store, store.sold)  # what was sold before the link, sent once there
    print(f"\nC01 alone forwards {FIGURES['steady']:.1f} s after the last `erpnext setup`"
          f" (setting up three counters took {FIGURES['setup']:.1f} s)")


def test_after_a_partition_heals_one_forwarder_is_left(store):
    await_(store, only("C01"), STEADY_S, "C01 alone forwards before the partition")
    with admin(store.procs["C01"]) as c:
        c.call("replication_pause", paused=True)
    cut = time.monotonic()
    try:
        # C02 and C03 stop hearing C01; C02 takes the role on their side.
        FIGURES["split"] = await_(store, lambda s: "C02" in s.forwarding, SPLIT_S,
                                  "C02 forwards on its side of the partition", began=cut).at
        # Both sides forward: what each sells now reaches ERPNext while still cut off.
        sold = store.sell("C01") + store.sell("C02")
        await_delivered(store, sold)
        with store.procs["C01"].client() as c:
            assert c.call("erpnext_status")["forwarder"] == "C01"  # still, on its side
    finally:
        with admin(store.procs["C01"]) as c:
            c.call("replication_pause", paused=False)
    healed = time.monotonic()
    FIGURES["heal"] = await_(store, only("C01"), ONE_AGAIN_S,
                             "one forwarder after the heal", began=healed).at
    hold(store, "C01", HOLD_S, "after the heal")
    converge(list(store.procs.values()))
    print(f"\nafter a partition: C02 forwarded too {FIGURES['split']:.1f} s after the cut;"
          f" one forwarder (C01) again {FIGURES['heal']:.1f} s after the heal,"
          f" held {HOLD_S:.0f} s")


def test_the_lowest_counter_restarted_does_not_take_the_role_back(store):
    await_(store, only("C01"), STEADY_S, "C01 alone forwards before its restart")
    store.sell("C01")
    assert store.procs["C01"].stop() == 0  # SIGTERM: a clean stop
    stopped = time.monotonic()
    FIGURES["takeover_stop"] = await_(store, only("C02"), TAKEOVER_S,
                                      "C02 takes over from the stopped C01", began=stopped).at
    store.sell("C02")
    store.sell("C03")
    store.restart("C01")
    samples = watch(store, HOLD_RESTART_S)
    assert all(s.forwarding == {"C02"} for s in samples), (
        f"C02 alone forwards while C01 comes back:\n{show(samples)}")
    assert any(s.linked for s in samples), f"C01 not linked again:\n{show(samples)}"
    FIGURES["relinked"] = next(s.at for s in samples if s.linked)
    assert named_by_all(store) == {"C02"}
    assert FIGURES["relinked"] < LINKED_S
    store.sell("C01")
    print(f"\nC01 stopped: C02 forwards {FIGURES['takeover_stop']:.1f} s later; C01"
          f" restarted: linked again in {FIGURES['relinked']:.1f} s, C02 alone forwarded"
          f" all {HOLD_RESTART_S:.0f} s (0 samples otherwise)")


def test_a_killed_forwarder_is_replaced_and_does_not_take_the_role_back(store):
    # After the test above it is C02, killed with C01 standing by; alone it is C01.
    [gone] = await_(store, lambda s: s.linked and len(s.forwarding) == 1, TAKEOVER_S,
                    "one forwarder before the kill").forwarding
    heir = min(set(NAMES) - {gone})  # the lowest counter left takes the role
    store.sell(gone, 3)  # maybe in flight when it dies
    assert store.procs[gone].kill() != 0  # SIGKILL: no Bye
    killed = time.monotonic()
    FIGURES["takeover_kill"] = await_(store, only(heir), TAKEOVER_S,
                                      f"{heir} takes over from the killed {gone}", began=killed).at
    store.sell(max(set(NAMES) - {gone}))
    store.restart(gone)
    samples = watch(store, HOLD_RESTART_S)
    assert all(s.forwarding == {heir} for s in samples), (
        f"{heir} alone forwards while {gone} comes back:\n{show(samples)}")
    assert any(s.linked for s in samples), f"{gone} not linked again:\n{show(samples)}"
    assert next(s.at for s in samples if s.linked) < LINKED_S
    assert named_by_all(store) == {heir}
    store.sell(gone)
    print(f"\n{gone} killed: {heir} forwards {FIGURES['takeover_kill']:.1f} s later; {gone}"
          f" restarted: {heir} alone forwarded all {HOLD_RESTART_S:.0f} s")


def test_every_sale_reached_erpnext_once(store):
    await_delivered(store, store.sold)
    procs = list(store.running().values())
    converge(procs)
    deadline = time.monotonic() + DELIVERED_S
    for proc in procs:  # every counter knows all of it delivered (acks replicate)
        with proc.client() as c:
            while (status := c.call("erpnext_status"))["pending"]:
                assert time.monotonic() < deadline, status
                time.sleep(SAMPLE_S)
            assert status["failed"] == 0, status
    with store.site.client() as erp:
        names = [d["name"] for d in erp.get_list(INVOICE, page_length=0)]
    assert sorted(names) == sorted(store.sold)  # each once, and nothing else
    figures = ", ".join(f"{k} {v:.1f} s" for k, v in FIGURES.items())
    print(f"\n{len(store.sold)} sales, each in ERPNext once; one forwarder: {figures}")

