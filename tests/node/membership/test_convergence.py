"""Replication converges: real nodes (SQLCipher EventLogs, real projections) selling over a
simulated network that drops, duplicates, reorders and partitions frames, with crashes.

A Hypothesis ``RuleBasedStateMachine`` drives 3-4 counters and a plain-Python model of
what the cashiers were told (acknowledged sales, returns, closes). After "heal and
quiesce" every replica holds the same events and the same projection tables, and the
sales, stock and shift state equal the model. Invariants live in ``check_*`` functions
that the machine and the explicit step tests share.

A return of another counter's sale asks that counter directly while their link is up,
and goes ahead unconfirmed (a supervisor accepting the risk) while it is cut: only then
may a sale be over-returned.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher, Type
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)
from sqlalchemy import select

from tests.node.store.test_rebuild import dump
from tests.nodekit import (
    MASTER,
    MODIFIED,
    PROFILE,
    USERS,
    DirectLink,
    FakeClock,
    Till,
    approver,
    make_node,
    sync,
)
from tests.replication.invariants import check_pulls as check_pull_ranges
from tillmesh.node.api.dispatch import new_node
from tillmesh.node.errors import TillmeshError
from tillmesh.node.ops.config import Config
from tillmesh.node.projections import refunds
from tillmesh.node.projections.ledger import NANO, SaleRow, ShiftRow, StockDeltaRow
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.store import open_engine, read_key_file
from tillmesh.node.store.event_codec import unpack_body
from tillmesh.node.store.event_log import EventLog
from tillmesh.replication.const import HEARTBEAT_MS, PULL_TIMEOUT_MS, REGREET_MS
from tillmesh.replication.protocol import ProtocolError, decode, encode
from tillmesh.replication.stores import EventLogStore
from tillmesh.replication.sync import Replicator

CLUSTER = "shop"
BATCH = 6  # small, so catching up always takes several bounded pulls
T0 = 1_800_000_000_000
CODES = {"4000000000044": "WINE", "4000000000082": "BOOK"}
ACTS = ("sell", "sell", "sell", "give back", "cash in", "close", "open")  # sales most often

_TEMPLATES: dict[str, Path] = {}


# Test-only argon2id cost: every login and supervisor PIN still goes through the real
# check, in well under a millisecond instead of ~25 ms (verify uses the hash's own cost).
_CHEAP = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1, type=Type.ID)


def template(node_id: str) -> Path:
    """A seeded node directory, made once per session and copied for every replica."""
    if node_id not in _TEMPLATES:
        root = Path(tempfile.mkdtemp(prefix="tmconv", dir="/tmp"))
        atexit.register(shutil.rmtree, root, True)
        path = root / node_id
        log = make_node(path, node_id, FakeClock(), seeded=False).log
        with log.transaction() as tx:  # what nodekit.seed records, with cheap hashes
            for user, (role, pin) in USERS.items():
                tx.append("user.upserted", {"user": user, "full_name": user.title(),
                                            "role": role, "secret_kind": "pin",
                                            "secret_hash": _CHEAP.hash(pin), "disabled": False})
            for doctype, doc in MASTER:
                tx.append("master.upserted", upserted_body(doctype, doc, MODIFIED))
        log.engine.dispose()
        _TEMPLATES[node_id] = path
    return _TEMPLATES[node_id]


class Replica:
    """One counter: its node on disk, its Replicator in memory, cached logins."""

    def __init__(self, node_id: str, root: Path) -> None:
        self.id = node_id
        self.dir = root / node_id
        shutil.copytree(template(node_id), self.dir)
        self.clock = FakeClock()
        self.open()

    def open(self) -> None:
        config = Config(data_dir=self.dir, node_id=self.id, pos_profile=PROFILE)
        log = EventLog(open_engine(config.db_path, read_key_file(config.key_path)), self.id,
                       clock=self.clock)
        self.node = new_node(config, log, clock=self.clock)
        self.repl = Replicator(EventLogStore(log), self.id, CLUSTER, batch=BATCH,
                               max_inflight=2)
        self.tills: dict[str, Till] = {}
        self.pushed = log.vector().get(self.id, 0)

    @property
    def log(self) -> EventLog:
        return self.node.log

    def till(self, user: str) -> Till:
        if user not in self.tills:
            self.tills[user] = Till(self.node, user)
        return self.tills[user]

    def crash(self) -> None:
        """Lose everything in memory; the files stay (as after a power cut)."""
        self.log.engine.dispose()
        self.open()

    def close(self) -> None:
        self.log.engine.dispose()


@dataclass
class Model:
    """What the cashiers were told, in the order they were told it."""

    sales: dict[str, tuple[str, int, bool]] = field(default_factory=dict)  # inv -> origin,seq
    sold: Counter[str] = field(default_factory=Counter)  # item -> units sold
    returned: Counter[str] = field(default_factory=Counter)
    first_item: dict[str, str] = field(default_factory=dict)  # invoice -> item of row 1
    opened: dict[str, str] = field(default_factory=dict)  # shift -> counter
    # shift -> its closings as ((hlc, origin) of the shift.closed event, covers)
    closes: dict[str, list[tuple[tuple[int, str], dict[str, int]]]] = field(
        default_factory=dict)


class Cluster:
    """Replicas plus the simulated network: frames are bytes in one in-flight list."""

    def __init__(self, ids: list[str], links: set[frozenset[str]]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tmconv", dir="/tmp"))
        self.replicas = {i: Replica(i, self.root) for i in ids}
        self.links = links
        self.cut: set[frozenset[str]] = set()
        self.wire()
        self.flight: list[tuple[str, str, bytes]] = []
        self.checked: dict[tuple[str, str], int] = {}  # (replica, origin) -> seq verified
        self.now = T0
        self.model = Model()
        for link in sorted(links, key=sorted):
            a, b = sorted(link)
            self.send(a, self.replicas[a].repl.connected(b, self.now))
            self.send(b, self.replicas[b].repl.connected(a, self.now))

    def wire(self) -> None:
        """Each counter asks a sale's counter directly while their link is up (the
        nodes are new after a crash, so this runs again then)."""
        for r in self.replicas.values():
            others = {i: x.node for i, x in self.replicas.items() if i != r.id}
            r.node.owners = DirectLink(r.node, others, lambda owner, me=r.id: (
                frozenset((me, owner)) in self.links - self.cut))

    def send(self, src: str, out: list[tuple[str, Any]]) -> None:
        for dst, msg in out:
            assert frozenset((src, dst)) in self.links, f"{src} talks to unlinked {dst}"
            if frozenset((src, dst)) not in self.cut:
                self.flight.append((src, dst, encode(msg)))

    def deliver(self, i: int) -> None:
        src, dst, data = self.flight.pop(i)
        if frozenset((src, dst)) in self.cut:
            return
        try:
            msg = decode(data)
        except ProtocolError:
            return  # the transport drops a malformed frame (with a log line)
        self.send(dst, self.replicas[dst].repl.received(src, msg, self.now))

    def tick(self, ms: int) -> None:
        self.now += ms
        for r in self.replicas.values():
            self.send(r.id, r.repl.tick(self.now))

    def flush(self, r: Replica) -> None:
        """Push the node's new local events (what the daemon does after each write)."""
        head = r.log.vector().get(r.id, 0)
        self.send(r.id, r.repl.local_events(r.log.range(r.id, r.pushed + 1, head), self.now))
        r.pushed = head

    def call(self, r: Replica, user: str, method: str, **params: Any) -> Any:
        """``method`` as ``user`` at ``r``; None when the node refuses it."""
        return self.act(r, lambda: r.till(user)(method, **params))

    def act(self, r: Replica, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except TillmeshError:
            return None
        finally:
            self.flush(r)

    def crash(self, r: Replica, peers_notice: bool) -> None:
        r.crash()
        self.wire()
        for link in self.links:
            if r.id in link:
                (other,) = link - {r.id}
                self.send(r.id, r.repl.connected(other, self.now))
                if peers_notice:
                    self.send(other, self.replicas[other].repl.connected(r.id, self.now))

    def quiesce(self, max_rounds: int = 40) -> None:
        """Heal, deliver everything, tick until every replica holds the same events
        (a link refused by a corrupted Hello needs one REGREET_MS to be greeted again)."""
        self.cut.clear()
        for _ in range(max_rounds + REGREET_MS // HEARTBEAT_MS):
            self._drain()
            vectors = {tuple(sorted(r.log.vector().items())) for r in self.replicas.values()}
            if len(vectors) == 1 and not any(r.repl.pulls() for r in self.replicas.values()):
                break
            self.tick(HEARTBEAT_MS)
        else:
            held = [r.log.vector() for r in self.replicas.values()]
            raise AssertionError(f"no convergence: {held}")
        self.tick(HEARTBEAT_MS)  # then quiet: heartbeats (and re-greetings) only, no answers
        assert {type(decode(f)).__name__ for _, _, f in self.flight} <= {"Vector", "Hello"}
        self._drain()

    def _drain(self) -> None:
        steps = 0
        while self.flight:
            self.deliver(0)
            steps += 1
            assert steps < 50_000, "message storm"

    def close(self) -> None:
        for r in self.replicas.values():
            r.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the cashiers' actions, recorded in the model when acknowledged ----------------------

    def open_shift(self, r: Replica) -> None:
        opened = self.call(r, "ann", "shift_open", opening={"Cash": "100"})
        if opened is not None:
            self.model.opened[opened["shift"]] = r.id

    def sell(self, r: Replica, codes: list[str]) -> None:
        sale = self.act(r, lambda: r.till("ann").sell(*codes))
        if sale is not None:
            origin, seq = sale["event"].split(":")
            self.model.sales[sale["invoice"]] = (origin, int(seq), False)
            self.model.sold.update(CODES[c] for c in codes)
            self.model.first_item[sale["invoice"]] = CODES[codes[0]]

    def return_first_row(self, r: Replica, pick: int, origin: str | None = None) -> None:
        """Give back one unit of the first row of a sale ``r`` holds (of ``origin``)."""
        have = r.log.vector()
        held = [inv for inv, (o, seq, is_return) in sorted(self.model.sales.items())
                if not is_return and have.get(o, 0) >= seq and origin in (None, o)]
        if not held:
            return
        invoice = held[pick % len(held)]
        done = self.call(r, "ann", "return_create", invoice=invoice, approver=approver("sup"),
                         lines=[{"row": f"{invoice}-1", "qty": "1"}], unconfirmed=True)
        for other in self.replicas.values():  # the sale's counter may have made a promise
            self.flush(other)
        if done is not None:
            origin, seq = done["event"].split(":")
            self.model.sales[done["invoice"]] = (origin, int(seq), True)
            self.model.returned[self.model.first_item[invoice]] += 1

    def close_shift(self, r: Replica, pick: int, counter: str | None = None) -> None:
        """The supervisor at ``r`` closes one of the open shifts ``r`` knows of."""
        shifts = [s["shift"] for s in self.call(r, "sup", "shift_list", status="open") or []
                  if counter in (None, s["counter"])]
        if shifts:
            shift, before = shifts[pick % len(shifts)], r.log.vector()[r.id]
            done = self.call(r, "sup", "shift_close", shift_id=shift,
                             counted={"Cash": "0", "Card": "0"})
            if done is not None:  # closed here, perhaps again (another counter, cut off)
                (event,) = [e for e in r.log.range(r.id, before + 1, r.log.vector()[r.id])
                            if e.kind == "shift.closed"]
                self.model.closes.setdefault(shift, []).append(
                    ((event.hlc, event.origin), done["covers"]))


# --- invariants (shared by the machine and the step tests) ----------------------------------


def check_prefixes(c: Cluster) -> None:
    """Whatever a replica holds of an origin is a prefix of that origin's own chain (the
    head event equal to the owner's implies the whole chain is, by the hashes)."""
    for r in c.replicas.values():
        for origin, seq in r.log.vector().items():
            owner = c.replicas[origin].log
            assert seq <= owner.vector().get(origin, 0)
            if c.checked.get((r.id, origin)) != seq:
                assert r.log.range(origin, seq, seq) == owner.range(origin, seq, seq)
                c.checked[(r.id, origin)] = seq


def check_pulls(c: Cluster) -> None:
    for r in c.replicas.values():
        check_pull_ranges(r.repl.pulls(), batch=BATCH, per_peer=2)


def check_converged(c: Cluster) -> None:
    """After quiesce: same events, same projections, and the model's sales and stock."""
    replicas = list(c.replicas.values())
    events = [[(e.origin, e.seq, e.hash) for e in r.log.events()] for r in replicas]
    assert all(e == events[0] for e in events)
    dumps = [dump(r.log) for r in replicas]
    for r, d in zip(replicas[1:], dumps[1:], strict=True):
        for table in d:
            assert d[table] == dumps[0][table], f"{table} differs on {r.id}"
    m = c.model
    with replicas[0].log.reading() as s:
        sales = {row.invoice: (row.origin, row.seq, row.is_return) for row in s.scalars(
            select(SaleRow))}
        assert sales == m.sales
        stock: Counter[str] = Counter()
        for row in s.scalars(select(StockDeltaRow)):
            stock[row.item_code] += row.qty_nano
        for item in set(m.sold) | set(stock):
            assert Decimal(stock[item]) == -(m.sold[item] - m.returned[item]) * NANO, item
        # Agreed returns alone never refund twice: a sale is over-returned only where a
        # return went ahead without its counter (cut off).
        unconfirmed = {u.against for u in refunds.unconfirmed_returns(s)}
        assert {o.against for o in refunds.over_returns(s)} <= unconfirmed
        shifts = {row.shift: row for row in s.scalars(select(ShiftRow))}
        assert {k: row.counter for k, row in shifts.items()} == m.opened
        assert {k for k, row in shifts.items() if row.status == "closed"} == set(m.closes)
        for shift, closings in m.closes.items():
            _, covers = min(closings)  # of closings made apart, the earliest stands
            assert unpack_body(shifts[shift].covers or b"\x80") == covers
            for sale in s.scalars(select(SaleRow).where(SaleRow.shift == shift)):
                assert sale.late == (sale.seq > covers.get(sale.origin, 0)), sale.invoice


# --- the machine ---------------------------------------------------------------------------


class Replication(RuleBasedStateMachine):
    replicas = Bundle("replicas")

    def __init__(self) -> None:
        super().__init__()
        self.c: Cluster | None = None

    @initialize(target=replicas, n=st.integers(3, 4), mesh=st.booleans())
    def start(self, n: int, mesh: bool) -> Any:
        ids = [f"C0{i}" for i in range(1, n + 1)]
        links = ({frozenset((a, b)) for a in ids for b in ids if a < b} if mesh
                 else {frozenset(p) for p in zip(ids, ids[1:], strict=False)})
        self.c = Cluster(ids, links)
        for r in self.c.replicas.values():  # every run has something to replicate
            self.c.open_shift(r)
            self.c.sell(r, ["4000000000044"])
        return multiple(*ids)

    @property
    def cluster(self) -> Cluster:
        assert self.c is not None
        return self.c

    def r(self, node_id: str) -> Replica:
        return self.cluster.replicas[node_id]

    @rule(r=replicas, codes=st.lists(st.sampled_from(sorted(CODES)), min_size=1, max_size=3))
    def sell(self, r: str, codes: list[str]) -> None:
        self.cluster.sell(self.r(r), codes)

    @rule(r=replicas, acts=st.lists(st.sampled_from(ACTS), min_size=1, max_size=4),
          codes=st.lists(st.sampled_from(sorted(CODES)), min_size=1, max_size=3),
          pick=st.integers(0, 20))
    def work(self, r: str, acts: list[str], codes: list[str], pick: int) -> None:
        """A cashier (or the supervisor) does a few things at counter ``r``."""
        c, replica = self.cluster, self.r(r)
        for act in acts:
            if act == "sell":
                c.sell(replica, codes)
            elif act == "give back":
                c.return_first_row(replica, pick)
            elif act == "cash in":
                c.call(replica, "ann", "cash_move", direction="in", amount="5", reason="coins")
            elif act == "close":
                c.close_shift(replica, pick)
            else:
                c.open_shift(replica)

    @rule(owner=replicas, at=replicas, pick=st.integers(0, 20))
    def give_back_elsewhere(self, owner: str, at: str, pick: int) -> None:
        """A customer brings a sale of ``owner`` back to counter ``at``, which has heard
        of it by some path (its events are copied over, whatever the cuts)."""
        if owner != at:
            sync(self.r(owner).log, self.r(at).log)
            self.cluster.return_first_row(self.r(at), pick, origin=owner)

    @rule(data=st.data(), count=st.integers(1, 30))
    def deliver(self, data: st.DataObject, count: int) -> None:
        c = self.cluster
        for _ in range(count):
            if not c.flight:
                return
            c.deliver(data.draw(st.integers(0, len(c.flight) - 1)))  # any order

    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        if self.cluster.flight:
            self.cluster.flight.pop(data.draw(st.integers(0, len(self.cluster.flight) - 1)))

    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        flight = self.cluster.flight
        if flight:
            flight.append(flight[data.draw(st.integers(0, len(flight) - 1))])

    @rule(data=st.data())
    def partition(self, data: st.DataObject) -> None:
        links = sorted(sorted(link) for link in self.cluster.links)
        self.cluster.cut.add(frozenset(data.draw(st.sampled_from(links))))

    @rule(data=st.data(), byte=st.integers(0, 255))
    def corrupt(self, data: st.DataObject, byte: int) -> None:
        """A frame changed in flight: refused by decode, or (inside an opaque body or a
        hash) decoded and then refused by the hash chain."""
        flight = self.cluster.flight
        if flight:
            i = data.draw(st.integers(0, len(flight) - 1))
            src, dst, frame = flight[i]
            at = data.draw(st.integers(0, len(frame) - 1))
            flight[i] = (src, dst, frame[:at] + bytes([byte]) + frame[at + 1:])

    @rule()
    def heal(self) -> None:
        self.cluster.cut.clear()

    @rule(ms=st.sampled_from([100, HEARTBEAT_MS, PULL_TIMEOUT_MS]))
    def tick(self, ms: int) -> None:
        self.cluster.tick(ms)

    @rule(r=replicas, peers_notice=st.booleans())
    def crash(self, r: str, peers_notice: bool) -> None:
        self.cluster.crash(self.r(r), peers_notice)

    @invariant()
    def held_events_are_true_prefixes(self) -> None:
        if self.c is not None:
            check_prefixes(self.c)
            check_pulls(self.c)

    def teardown(self) -> None:
        if self.c is None:
            return
        try:
            self.c.quiesce()
            check_converged(self.c)
        finally:
            self.c.close()


Replication.TestCase.settings = settings(
    max_examples=30, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestReplication = Replication.TestCase


# --- explicit step tests (shrunk failures and scenarios worth keeping) -----------------------


def _cluster(n: int = 3, mesh: bool = False) -> Cluster:
    ids = [f"C0{i}" for i in range(1, n + 1)]
    links = ({frozenset((a, b)) for a in ids for b in ids if a < b} if mesh
             else {frozenset(p) for p in zip(ids, ids[1:], strict=False)})
    return Cluster(ids, links)


def test_a_line_of_counters_selling_through_partitions_and_crashes_converges():
    c = _cluster(3)
    try:
        a, b, z = (c.replicas[i] for i in ("C01", "C02", "C03"))
        for r in (a, b, z):
            c.open_shift(r)
        c.sell(a, ["4000000000044", "4000000000082"])
        c.cut.add(frozenset(("C02", "C03")))
        c.sell(z, ["4000000000082"])
        for _ in range(40):
            if c.flight:
                c.deliver(len(c.flight) - 1)  # newest first
        c.crash(b, peers_notice=False)
        c.return_first_row(b, 0)  # b holds a's sale: a return at another counter
        c.close_shift(b, 0, counter="C01")  # the supervisor closes a's shift at b
        c.sell(a, ["4000000000044"])  # a has not heard: a late sale
        c.quiesce()
        check_converged(c)  # includes: late exactly when the close does not cover it
        assert len(c.model.sales) == 4 and list(c.model.closes) == ["C01-SH-000001"]
        with z.log.reading() as s:
            assert [r.late for r in s.scalars(select(SaleRow).where(
                SaleRow.origin == "C01").order_by(SaleRow.seq))] == [False, True]
    finally:
        c.close()


def test_catching_up_a_crashed_counter_resumes_from_what_it_holds():
    c = _cluster(2)
    try:
        a, b = c.replicas["C01"], c.replicas["C02"]
        c.open_shift(a)
        for _ in range(4):
            c.sell(a, ["4000000000082"])
        c.flight.clear()  # pushes lost
        c.tick(HEARTBEAT_MS)
        for _ in range(6):  # part-way through b's catch-up
            if c.flight:
                c.deliver(0)
        held = b.log.vector().get("C01", 0)
        c.crash(b, peers_notice=True)
        assert b.log.vector().get("C01", 0) == held  # what was applied was durable
        c.quiesce()
        check_converged(c)
    finally:
        c.close()


def test_two_counters_closing_the_same_shift_concurrently_converge():
    c = _cluster(2)
    try:
        a, b = c.replicas["C01"], c.replicas["C02"]
        c.open_shift(a)
        c.sell(a, ["4000000000044"])
        c.quiesce()
        c.cut.add(frozenset(("C01", "C02")))
        c.sell(a, ["4000000000082"])  # b never hears of it before closing
        c.close_shift(b, 0, counter="C01")
        c.close_shift(a, 0)
        assert [len(v) for v in c.model.closes.values()] == [2]
        c.quiesce()
        check_converged(c)  # the earliest closing stands everywhere; late flags follow it
    finally:
        c.close()
