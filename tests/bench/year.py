"""A store's year as a benchmark: a busy supermarket's history written straight into a
counter's store, and what the counter costs at the end of it next to a fresh store.

    ./dev.sh bench --only year [--days 365]      (not part of the default ``./dev.sh bench``)

``Year`` writes the history into a counter's data dir (C01's, which ``tillmesh run``
starts on): the store as ``tillmesh init --demo`` makes it, bulk items up to
``Shape.items``, the other counters enrolled through ``invite_create`` and ``enrol``, and
then day by day each counter's shift: the cashier logs in and opens it, sells, a
supervisor logs in for cash out and returns (~1 % of sales: some of other counters'
sales, agreed with their counter; some partial), the cashier closes it. The forwarder
(C01) acks every document in ERPNext's order (``outbox.due``), and after the closings
consolidate the pull records Bin (``stock.base``, every item, as the pull does when the
consolidated shifts change). Logins, shifts, cash moves and returns go through the API
methods themselves (``Node.call``); sales, the bulk, through the functions
``sale_submit`` uses (``sale.price``, ``check_payments``, ``sale_body``), from a pool of
priced carts (``Shape.carts``) that a share of fresh carts keeps renewing. One
``EventLog`` plays every counter in turn (``Year.playing``): each event is chained and
signed by its own origin, and the store ends as each counter's store would in a store
whose replication never lagged.

The table (``run``) is made by parts, each a function of the ``Run`` (both stores, their
probes) that returns its rows, in ``PARTS``: generation, size on disk, the SQLite VM
steps of each hot path (``flat``: structural, asserted in CI by
tests/node/test_flat_hot_paths.py), the hot paths through a real ``tillmesh run`` on the
history's store and on a fresh one (median and p99), join of a new counter, rebuild (a
store that never ran its nightly job); the nightly job with the default policy, which
keeps two fiscal years live, so nothing of a year moves, but brings the checkpoint to
what ERPNext holds, and join and rebuild again after it (a store as it runs); then the
archive (``archiving.run`` with the live window cut to the history's last ``keep_days``
days) and ``tillmesh archive verify``, the files and biggest tables after it, and join,
rebuild and the hot paths again on the archived store.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import functools
import gc
import itertools
import json
import math
import os
import pickle
import random
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import zmq
from sqlalchemy.orm import Session

from tests.bench.table import median_p99_ms
from tests.nodekit import run_now
from tests.proc import Nodes, free_port, ok, tillmesh
from tillmesh.lab.demo_data import POS_PROFILE, WAREHOUSE, bulk_items, demo_master_docs
from tillmesh.node.api import Node
from tillmesh.node.api import _inputs as inputs
from tillmesh.node.api._agreement import decide, lend
from tillmesh.node.api.auth import user_body
from tillmesh.node.api.checkout import _make_line
from tillmesh.node.api.cluster import enrol
from tillmesh.node.api.dispatch import METHODS
from tillmesh.node.domain.cart import Cart, Line
from tillmesh.node.domain.const import PIN_MIN_DIGITS
from tillmesh.node.domain.credentials import SecretKind, new_credential
from tillmesh.node.domain.roles import Role
from tillmesh.node.domain.sale import Tender, check_payments, price, sale_body
from tillmesh.node.domain.totals import InvoiceTotals, amount_due
from tillmesh.node.erpnext._forwarder import Forwarder
from tillmesh.node.erpnext._mapping import stock_bodies
from tillmesh.node.erpnext._settings import ErpNextSettings
from tillmesh.node.erpnext.const import FORWARD_BATCH
from tillmesh.node.errors import CashOutBeyondDrawer
from tillmesh.node.membership.invite import decode
from tillmesh.node.membership.join import Enrolment
from tillmesh.node.membership.keys import Keypair, create_keypair_file
from tillmesh.node.membership.trust import Gate
from tillmesh.node.ops import archiving
from tillmesh.node.ops.config import CONFIG_NAME, Config, load
from tillmesh.node.projections import catalog, outbox, projection_tables
from tillmesh.node.projections.counters import ENROLLED
from tillmesh.node.projections.deliveries import ACKED
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.projections.outbox import CLOSING, Due
from tillmesh.node.projections.stock import BASE
from tillmesh.node.projections.users import USER_UPSERTED
from tillmesh.node.store import create_key_file, open_engine, read_key_file
from tillmesh.node.store._engine import archive_path, connect_store
from tillmesh.node.store.checkpoint import checkpoint_path
from tillmesh.node.store.event_codec import Event, make_event, unpack_body
from tillmesh.node.store.event_log import EventLog, Transaction
from tillmesh.replication.asks import Ask
from tillmesh.replication.protocol import ReturnAnswer, ReturnAsk, SaleAnswer, SaleAsk
from tillmesh.replication.signing import Signer
from tillmesh.replication.stores import EventLogStore

Row = tuple[str, str, str, str]
# What ``Year.save`` keeps of the generator (with the clock, the counters' cashiers and
# the store's version vector).
KEPT = ("shape", "rng", "first_day", "tally", "day", "sold", "returned", "bin",
        "consolidated", "carts", "_lines", "items", "weights", "keypairs")
# The forwarder plans FORWARD_BATCH documents at a time; acking up to ACK_ROUND of what is
# due at once gives the same acks in the same order, in fewer reads of the outbox.
ACK_ROUND = 100 * FORWARD_BATCH
FORWARDER = "C01"  # the elected forwarder: the lowest counter that reaches ERPNext
ADMIN, SUPERVISOR, CASHIER = "admin", "supervisor", "cashier"
PINS = {ADMIN: "1234", SUPERVISOR: "2222", CASHIER: "1111"}  # the demo store's
COUNT_PIN = "1111"  # every counter's own cashier's
# Sales per hour of the day (local time), relative: a supermarket's afternoon peak.
HOURS = {8: 4, 9: 6, 10: 7, 11: 8, 12: 9, 13: 7, 14: 6, 15: 7, 16: 9, 17: 11, 18: 11,
         19: 8, 20: 4}
OPEN_AT, CLOSE_AT = (7, 30), (21, 0)
FLOAT = Decimal("150.00")
BIN_START = Decimal(100_000)  # of every item: a year's sales leave it positive (restocking
#                               is not what this measures; negative stock would be flagged)


@dataclass(frozen=True)
class Shape:
    """What a store's day looks like."""

    counters: int = 6
    sales_per_day: int = 8000  # over all counters
    items: int = 100_000  # in the catalogue (demo items and bulk ones)
    max_lines: int = 30  # lines of the biggest cart; most are small (``Year._picks``)
    return_share: float = 0.01  # of sales, returned on a later visit or the same day
    cash_moves: int = 3  # per shift: a float top-up and two pick-ups to the safe
    carts: int = 4000  # priced carts kept to draw sales from
    fresh_share: float = 0.05  # of sales priced from a new cart (replacing one of the pool)
    stock_readings: bool = True  # the pull reads Bin once the day's closings consolidated


STORE = Shape()  # the supermarket of issue 14
SMALL = Shape(counters=3, sales_per_day=300, items=3000, carts=200)  # CI-sized


class SimClock:
    """The history's time: set forward by the generator, a microsecond more per call (as
    tests' FakeClock), never backwards."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def set(self, when: datetime) -> None:
        self.now = max(self.now, when)


@dataclass
class Counter:
    node: Node
    signer: Signer
    cashier: str
    token: str = ""  # the cashier's session of the day
    supervisor: str = ""  # the supervisor's session of the day
    shift: str = ""  # the open shift


@dataclass(frozen=True)
class Sold:
    """A sale kept for a later return: its invoice, counter and returnable rows."""

    invoice: str
    origin: str
    day: int
    rows: tuple[str, ...]  # rows sold per piece (a whole unit can come back)


@dataclass
class Tally:
    """What the history's days wrote, and in how long (the store's making apart)."""

    events: int = 0
    seconds: float = 0.0
    sales: int = 0
    returns: int = 0
    founded: tuple[int, float] = (0, 0.0)  # events and seconds of the catalogue and counters


@dataclass(frozen=True)
class Template:
    """A priced and paid cart, and its ``sale.submitted`` body to ``restamp`` for each
    sale of it."""

    cart: Cart
    tenders: list[Tender]
    totals: InvoiceTotals
    body: dict[str, Any]


Moment = Callable[["Transaction"], object]  # one thing done at a counter, in the hour's
#                                            transaction
PROTO = "PROTO"  # invoice and shift of a template's body until a sale restamps it


def _apart(fn: Callable[..., object], *args: Any) -> Moment:
    """A moment that makes its own transaction (an API call: a savepoint in the hour's)."""
    return lambda tx: fn(*args)


def restamp(body: dict[str, Any], *, invoice: str, shift: str, cashier: str,
            posted_at: datetime) -> dict[str, Any]:
    """``body`` (``sale_body``'s) as ``sale_body`` makes it for another invoice, shift,
    cashier and time: pricing a cart again for every sale would cost ten times more
    (tests/node/test_flat_hot_paths.py checks the two agree)."""
    return {**body, "invoice": invoice, "shift": shift, "cashier": cashier,
            "posted_at": posted_at.isoformat(),
            "posting_date": posted_at.date().isoformat(),
            "posting_time": posted_at.time().isoformat(timespec="microseconds"),
            "items": [{**item, "name": f"{invoice}-{item['idx']}"} for item in body["items"]]}


class OwnNumbers(Node):
    """A counter numbering its invoices and shifts from its own count, as in its own store:
    here one store (C01's, which ``tillmesh run`` goes on with) plays every counter, and a
    count shared by all would give each series numbers six apart (``delivered_for_good``
    would then need a row per invoice)."""

    def next_number(self, session: Session, key: str) -> int:
        own = key if self.node_id == FORWARDER else f"{key} {self.node_id}"
        return super().next_number(session, own)


class Owners:
    """Other counters asked about their sales' returns, in process (the ask and the
    promise as replication carries them), each answering as itself."""

    def __init__(self, year: Year, asker: str) -> None:
        self.year, self.asker = year, asker

    def unreachable(self, owner: str, kind: type[Ask] = ReturnAsk) -> str | None:
        return None if owner in self.year.counters else f"{owner} is not a counter here"

    async def ask(self, owner: str, ask: ReturnAsk) -> ReturnAnswer | None:
        with self.year.playing(owner):
            return decide(self.year.counters[owner].node, self.asker, ask)

    async def fetch(self, owner: str, ask: SaleAsk) -> SaleAnswer | None:
        return lend(self.year.counters[owner].node, self.asker, ask)


class Year:
    """A counter's data dir being filled with a store's history (see the module)."""

    def __init__(self, data_dir: Path, shape: Shape = STORE, *, days: int, seed: int = 14,
                 start: date | None = None) -> None:
        self.shape, self.data_dir, self.rng = shape, data_dir, random.Random(seed)
        tz = Config(data_dir=data_dir).tz
        first = start or (datetime.now(tz).date() - timedelta(days=days + 1))
        self.first_day = first
        self.clock = SimClock(datetime(first.year, first.month, first.day, 6, 0, tzinfo=tz))
        self.tally = Tally()
        self.day = 0
        self.sold: list[Sold] = []  # returnable sales of the last weeks, in time order
        self._today = 0
        self.returned: set[str] = set()
        self.bin: dict[str, Decimal] = {}  # ERPNext's Bin per item, as the pull reads it
        self.consolidated: list[str] = []  # closings acked so far
        self.carts: list[Template] = []
        self._lines: dict[str, Line] = {}
        self.keypairs: dict[str, Keypair] = {}  # each counter's (C02's on are only here)
        self.saved: dict[str, int] = {}  # the store's version vector at the last ``save``
        started = time.perf_counter()
        self.config, self.log, keypair = self._found()
        self.counters = {FORWARDER: self._counter(FORWARDER, keypair, CASHIER)}
        self._enrol_others()
        self._catalogue()
        with self.log.reading() as s:
            self.context = self.counters[FORWARDER].node.context(s)  # every counter's
        # A new connection for the days: the driver's statement cache, once full, keeps its
        # most used statements (the founding's) for good and drops each new one at the next
        # miss, so the days' statements were prepared again at every use (a fifth of a day).
        self.log.engine.dispose()
        self.tally.founded = (sum(self.log.vector().values()), time.perf_counter() - started)

    # --- the store's making ---------------------------------------------------------------

    def _found(self) -> tuple[Config, EventLog, Keypair]:
        """The data dir and first events of ``tillmesh init --demo``
        (``provisioning.initialise``), stamped at the history's first morning."""
        config = Config(data_dir=self.data_dir, node_id=FORWARDER, pos_profile=POS_PROFILE,
                        cluster=f"{self.rng.getrandbits(48):012x}",
                        min_pin_digits_supervisor=PIN_MIN_DIGITS,
                        listen="tcp://127.0.0.1:0", join_listen="tcp://127.0.0.1:0",
                        advertise="127.0.0.1", mdns=False)
        self.data_dir.mkdir(parents=True, mode=0o700)
        keypair = create_keypair_file(config.node_key_path)
        log = EventLog(open_engine(config.db_path, create_key_file(config.key_path)),
                       FORWARDER, clock=self.clock, signer=keypair.signer)
        (self.data_dir / CONFIG_NAME).write_text(config.to_toml())
        with log.transaction() as tx:
            tx.append(ENROLLED, {"node": FORWARDER, "public_key": keypair.public.decode(),
                                 "signing_key": keypair.signer.public, "by": ADMIN,
                                 "cluster": config.cluster, "endpoint": None})
            for user, role in ((ADMIN, Role.ADMIN), (SUPERVISOR, Role.SUPERVISOR),
                               (CASHIER, Role.CASHIER)):
                self._user(tx, user, role, PINS[user])
        return config, log, keypair

    def _user(self, tx: Any, user: str, role: Role, pin: str) -> None:
        cred = new_credential(SecretKind.PIN, pin, role, PIN_MIN_DIGITS)
        tx.append(USER_UPSERTED, {**user_body(user, user.title(), role, cred.kind.value,
                                              cred.secret_hash), "by": ADMIN})

    def _counter(self, node_id: str, keypair: Keypair, cashier: str) -> Counter:
        # Sessions last the whole simulated day: the cashier does not log in at every scan.
        config = replace(self.config, node_id=node_id, idle_lock_minutes=24 * 60,
                         session_hours=24)
        node = OwnNumbers(config, self.log, METHODS, clock=self.clock, keypair=keypair)
        counter = Counter(node, keypair.signer, cashier)
        self.keypairs[node_id] = keypair
        counter.node.owners = Owners(self, node_id)
        return counter

    def _enrol_others(self) -> None:
        """C02… join as ``tillmesh join`` enrols them: an admin's invite on C01, then the
        enrolment with the new counter's keys (made here, kept in memory)."""
        first = self.counters[FORWARDER].node
        first.join_endpoint = first.replication_endpoint = "tcp://127.0.0.1:9"  # not dialled
        admin = self.login(first, ADMIN)
        for k in range(2, self.shape.counters + 1):
            node_id = f"C{k:02d}"
            code = decode(first.call("invite_create", {}, admin)["code"])
            public, secret = zmq.curve_keypair()
            keypair = Keypair(public, secret, Signer.generate().seed)
            enrol(first, Enrolment(code.secret, node_id, public.decode(), self.config.cluster,
                                   keypair.signer.public))
            cashier = f"cashier-{node_id.lower()}"
            with self.log.transaction() as tx:
                self._user(tx, cashier, Role.CASHIER, COUNT_PIN)
            self.counters[node_id] = self._counter(node_id, keypair, cashier)
        shutil.rmtree(self.data_dir / "snapshots", ignore_errors=True)  # enrol's tickets

    def _catalogue(self) -> None:
        """The demo store's master data and bulk items up to ``Shape.items``, as the pull
        records them, and Bin's first reading."""
        demo = demo_master_docs()
        bulk = bulk_items(self.shape.items - sum(d == "Item" for d, _ in demo))
        docs = itertools.chain(demo, bulk)
        priced: set[str] = set()  # item|uom with a price
        sellable: dict[str, tuple[str, str | None]] = {}  # item -> (stock UOM, barcode)
        while chunk := list(itertools.islice(docs, 5000)):
            with self.log.transaction() as tx:
                for doctype, doc in chunk:
                    tx.append("master.upserted", upserted_body(doctype, doc))
                    if doctype == "Item" and not doc.get("disabled"):
                        codes = doc.get("barcodes") or [{}]
                        sellable[doc["item_code"]] = (doc["stock_uom"],
                                                      codes[0].get("barcode"))
                    elif doctype == "Item Price":
                        priced.add(f"{doc['item_code']}|{doc['uom']}")
        self.bin = {item: BIN_START for item in sellable}
        self._stock([])
        # A store's best sellers: popularity by rank ~ 1/rank^0.8 (the top item ~2 % of lines).
        items = sorted(i for i, (uom, _) in sellable.items() if f"{i}|{uom}" in priced)
        self.rng.shuffle(items)
        self.items = [(i, *sellable[i]) for i in items]
        self.weights = list(itertools.accumulate(1 / (r + 1) ** 0.8 for r in range(len(items))))

    def login(self, node: Node, user: str) -> str:
        pin = PINS.get(user, COUNT_PIN)
        with self.playing(node.node_id):
            return str(node.call("login", {"user": user, "pin": pin})["token"])

    @contextmanager
    def playing(self, node_id: str) -> Iterator[None]:
        """The log records as ``node_id`` (its id and signing key) inside the block."""
        log = self.log
        before = log.origin, log.signer
        log.origin, log.signer = node_id, self.counters[node_id].signer
        try:
            yield
        finally:
            log.origin, log.signer = before

    # --- a history written over several runs -----------------------------------------------

    def save(self, path: Path) -> None:
        """What the generator holds between days (the store holds the rest), so that a
        later run goes on after the last whole day (``resume``): a year takes longer
        than one sitting."""
        state = {name: getattr(self, name) for name in KEPT}
        state |= {"now": self.clock.now, "vector": self.log.vector(),
                  "cashiers": {node: c.cashier for node, c in self.counters.items()}}
        part = path.with_name(path.name + ".part")
        part.write_bytes(pickle.dumps(state))
        self.saved = state["vector"]
        os.replace(part, path)  # a run killed while saving keeps the last whole state

    @classmethod
    def resume(cls, data_dir: Path, path: Path, shape: Shape) -> Year:
        """The generator as ``save`` left it, on the store in ``data_dir``;
        ``Year.saved``: the store's version vector then (it must not have gone on if
        more days are to be written)."""
        state = pickle.loads(path.read_bytes())
        if state["shape"] != shape:
            raise SystemExit(f"{path} was written for {state['shape']}, not {shape}")
        year = cls.__new__(cls)
        for name in KEPT:
            setattr(year, name, state[name])
        year.data_dir, year.saved = data_dir, state["vector"]
        year.clock, year._today = SimClock(state["now"]), len(year.sold)
        year.config = load(data_dir)
        year.log = EventLog(open_engine(year.config.db_path,
                                        read_key_file(year.config.key_path)),
                            FORWARDER, clock=year.clock, signer=year.keypairs[FORWARDER].signer)
        year.counters = {node: year._counter(node, year.keypairs[node], cashier)
                         for node, cashier in state["cashiers"].items()}
        with year.log.reading() as s:
            year.context = year.counters[FORWARDER].node.context(s)
        return year

    # --- a day of trading -------------------------------------------------------------------

    def at(self, hour: int, minute: int = 0, second: float = 0) -> datetime:
        day = self.first_day + timedelta(days=self.day)
        return datetime(day.year, day.month, day.day, hour, minute,
                        tzinfo=self.clock.now.tzinfo) + timedelta(seconds=second)

    def trade(self, days: int, progress: Callable[[Year], None] | None = None) -> None:
        """``days`` more days of the store's history."""
        try:
            for _ in range(days):
                # What is held from day to day (catalogue, carts, sales kept for returns)
                # out of the collector's sight: its full collections were 7 % of a day.
                gc.freeze()
                started, before = time.perf_counter(), sum(self.log.vector().values())
                self._one_day()
                self.day += 1
                self.tally.events += sum(self.log.vector().values()) - before
                self.tally.seconds += time.perf_counter() - started
                if progress is not None:
                    progress(self)
        finally:
            gc.unfreeze()

    def _one_day(self) -> None:
        self._today = len(self.sold)  # where today's sales start in ``sold``
        counters = list(self.counters.values())
        for n, c in enumerate(counters):
            self.clock.set(self.at(*OPEN_AT, second=60 * n))
            self.open_shift(c)
        self.forward()
        for _, moments in itertools.groupby(self._moments(counters), lambda m: m[0].hour):
            # An hour of the store in one transaction (the API's own ones are savepoints in
            # it); sales append in it straight (nothing listens to this log). In a savepoint
            # open all hour, each statement's end walked that savepoint's journal, every page
            # the hour had changed (a fifth of a day).
            with self.log.batch(), self.log.reading() as session:
                tx = Transaction(self.log, session)
                for when, what in moments:
                    self.clock.set(when)
                    what(tx)
            self.forward()
        for n, c in enumerate(counters):
            self.clock.set(self.at(*CLOSE_AT, second=120 * n))
            self.close_shift(c)
        self.clock.set(self.at(22, 0))
        self.forward()
        if self.shape.stock_readings:
            self.clock.set(self.at(22, 5))
            self._stock(self.consolidated)
        self.sold = [s for s in self.sold if self.day - s.day < 28]  # four weeks back

    def open_shift(self, c: Counter) -> None:
        """The cashier logs in and opens the shift; the supervisor logs in too."""
        c.token, c.supervisor = self.login(c.node, c.cashier), self.login(c.node, SUPERVISOR)
        with self.playing(c.node.node_id):
            c.shift = c.node.call("shift_open", {"opening": {"Cash": str(FLOAT)}},
                                  c.token)["shift"]

    def close_shift(self, c: Counter) -> None:
        """The cashier counts the drawer as the X report expects it and closes."""
        with self.playing(c.node.node_id):
            expected = c.node.call("shift_report", {}, c.token)["report"]["expected"]
            counted = {mode: expected.get(mode, "0") for mode in self.context.modes}
            c.node.call("shift_close", {"shift_id": c.shift, "counted": counted}, c.token)

    def _moments(self, counters: list[Counter]) -> list[tuple[datetime, Moment]]:
        """The day at the counters between opening and closing, in time order."""
        shape, rng = self.shape, self.rng
        hours, weights = list(HOURS), list(HOURS.values())

        def during(hour: int) -> datetime:
            return self.at(hour, second=rng.uniform(0, 3600))

        moments: list[tuple[datetime, int, Moment]] = []
        for k, c in enumerate(counters):
            sales = rng.choices(hours, weights, k=shape.sales_per_day // len(counters))
            moments += [(during(h), k, functools.partial(self._sell, c)) for h in sales]
            moments += [(during(10 + 4 * m), k, _apart(self._cash, c, m))
                        for m in range(shape.cash_moves)]
            moments.append((during(13), k, _apart(self._relief, c)))
        for _ in range(round(shape.sales_per_day * shape.return_share)):
            k = rng.randrange(len(counters))
            moments.append((during(rng.choice(hours)), k, _apart(self._return, counters[k])))
        moments.sort(key=lambda m: (m[0], m[1]))
        return [(when, what) for when, _, what in moments]

    # --- what happens at a counter ------------------------------------------------------------

    def _sell(self, c: Counter, tx: Transaction) -> None:
        """A sale as ``sale_submit`` records it (``checkout.submit``), from a priced cart."""
        node = c.node
        with self.playing(node.node_id):
            now = node.clock().astimezone(node.config.tz)
            invoice = inputs.invoice_number(node, tx.session, now)
            body = restamp(self._template(c).body, invoice=invoice, shift=c.shift,
                           cashier=c.cashier, posted_at=now)
            tx.append("sale.submitted", body)
        for item in body["items"]:
            self.bin[item["item_code"]] -= Decimal(item["stock_qty"])
        self.tally.sales += 1
        rows = tuple(i["name"] for i in body["items"] if Decimal(i["qty"]) >= 1
                     and i["uom"] != "Kg")
        if rows:
            self.sold.append(Sold(invoice, node.node_id, self.day, rows))

    def _template(self, c: Counter) -> Template:
        """One of the pool's carts, or (``fresh_share``, and until the pool is full) a new
        one that takes a random one's place."""
        shape, rng = self.shape, self.rng
        if len(self.carts) >= shape.carts and rng.random() >= shape.fresh_share:
            return rng.choice(self.carts)
        with self.log.reading() as s:
            lines = [self._line(s, *item) for item in self._picks()]
        template = self._priced(c, lines, self._tender)
        if len(self.carts) < shape.carts:
            self.carts.append(template)
        else:
            self.carts[rng.randrange(len(self.carts))] = template
        return template

    def _cart(self, c: Counter, lines: list[Line]) -> Cart:
        return Cart(cart_id="year", cashier=c.cashier, customer=self.context.customer,
                    lines=tuple(lines))

    def _tender(self, due: Decimal) -> Tender:
        """A card for ``due``, or cash: the next note up, or exact."""
        rng = self.rng
        if rng.random() < 0.45:
            return Tender("Card", due)
        step = rng.choice((Decimal("0.01"), Decimal(5), Decimal(10), Decimal(20)))
        return Tender("Cash", max(due, (due / step).to_integral_value(
            rounding="ROUND_CEILING") * step))

    def _priced(self, c: Counter, lines: list[Line],
                pay: Callable[[Decimal], Tender]) -> Template:
        """The cart priced and paid (``pay``: the tender for what is due) as
        ``checkout._priced`` does it, as a template."""
        cart = self._cart(c, lines)
        due = amount_due(price(cart, self.context))
        tender = pay(due)
        paid = check_payments([tender], self.context, due)
        totals = price(cart, self.context, paid)
        return Template(cart, [tender], totals, sale_body(
            cart=cart, totals=totals, tenders=[tender], ctx=self.context, invoice=PROTO,
            shift=PROTO, cashier=c.cashier, posted_at=self.clock.now))

    def _picks(self) -> list[tuple[str, str, str | None]]:
        """A cart's items: 1..max_lines lines, most carts small (mean ~6), best sellers
        most often, no item twice."""
        rng = self.rng
        count = min(self.shape.max_lines, 1 + int(rng.expovariate(1 / 5)))
        picked: dict[str, tuple[str, str, str | None]] = {}
        total = self.weights[-1]
        while len(picked) < min(count, len(self.items)):
            item = self.items[bisect.bisect(self.weights, rng.random() * total)]
            picked[item[0]] = item
        return list(picked.values())

    def _line(self, s: Any, item: str, uom: str, barcode: str | None,
              qty: Decimal | None = None) -> Line:
        """A line of ``item`` as the cart's scan makes it (``checkout._make_line``), of
        ``qty`` or, by default, a random one: weighed, or mostly one piece."""
        line = self._lines.get(item)
        if line is None:
            line = self._lines[item] = _make_line(s, self.context, item, Decimal(1), None,
                                                  barcode)
        rng = self.rng
        if qty is None and uom == "Kg":
            return replace(line, qty=Decimal(rng.randrange(150, 1800)) / 1000, weighed=True)
        if qty is None:
            qty = Decimal(1 if rng.random() < 0.85 else rng.choice((2, 2, 3, 4, 6)))
        return replace(line, qty=qty)

    def sales_of(self, c: Counter, picks: list[tuple[str, str, str | None]],
                 count: int) -> list[Event]:
        """``count`` sales of one piece of each of ``picks`` at ``c``, chained and signed
        as ``c`` records them but not recorded here: what ``c`` sends its peers."""
        origin = c.node.node_id
        with self.log.reading() as s:
            template = self._priced(c, [self._line(s, *p, qty=Decimal(1)) for p in picks],
                                    lambda due: Tender("Cash", Decimal(1000)))
        seq = self.log.vector().get(origin, 0)
        prev = self.log.range(origin, seq, seq)[0].hash
        events = []
        for n in range(seq + 1, seq + 1 + count):
            now = self.clock().astimezone(c.node.config.tz)
            with self.log.transaction(durable=False) as tx:
                invoice = inputs.invoice_number(c.node, tx.session, now)
            body = restamp(template.body, invoice=invoice, shift=c.shift, cashier=c.cashier,
                           posted_at=now)
            stamp = self.log.hlc.now(int(now.timestamp() * 1000))
            event = c.signer.sign(make_event(origin, n, stamp, now, "sale.submitted", body,
                                             prev))
            events.append(event)
            prev = event.hash
        return events

    def _cash(self, c: Counter, m: int) -> None:
        """A float top-up by the cashier, later pick-ups to the safe by a supervisor."""
        params = ({"direction": "in", "amount": "50.00", "reason": "change for the float"}
                  if m == 0 else {"direction": "out", "amount": "300.00",
                                  "reason": "pick-up to the safe"})
        # A slow morning: less in the drawer than the pick-up, which waits.
        with self.playing(c.node.node_id), contextlib.suppress(CashOutBeyondDrawer):
            c.node.call("cash_move", params, c.token if m == 0 else c.supervisor)

    def _return(self, c: Counter) -> None:
        """A customer brings something back: a sale of the last weeks (any counter's) or
        of this shift, whole or one piece of one row."""
        rng, earlier = self.rng, self._today  # self.sold[:earlier]: before today
        today = [s for s in self.sold[max(earlier, len(self.sold) - 200):]
                 if s.origin == c.node.node_id]
        pool = (today if rng.random() < 0.3 or not earlier
                else [self.sold[rng.randrange(earlier)] for _ in range(5)])
        choices = [s for s in pool[-5:] if s.invoice not in self.returned]
        if not choices:
            return
        sale = rng.choice(choices)
        self.returned.add(sale.invoice)
        lines = None if rng.random() < 0.6 else [{"row": rng.choice(sale.rows), "qty": "1"}]
        with self.playing(c.node.node_id):
            done = run_now(c.node.call("return_create", {"invoice": sale.invoice,
                                                         "lines": lines}, c.supervisor))
        origin, seq = str(done["event"]).split(":")
        for event in self.log.range(origin, int(seq), int(seq)):
            for item in unpack_body(event.body)["items"]:
                self.bin[item["item_code"]] -= Decimal(item["stock_qty"])  # negative: back
        self.tally.returns += 1

    def _relief(self, c: Counter) -> None:
        """The cashier back from the break logs in again."""
        c.token = self.login(c.node, c.cashier)

    # --- the forwarder and the pull ---------------------------------------------------------

    def forward(self) -> None:
        """What the forwarder's cycles deliver with an ERPNext that keeps up: every
        document due, in ERPNext's order, acked (its ``forward.acked`` as
        ``Forwarder._record`` records it)."""
        with self.playing(FORWARDER):
            while True:
                with self.log.reading() as s:
                    due, _ = outbox.due(s, ACK_ROUND)
                if not due:
                    return
                at = self.clock().astimezone(UTC).isoformat()
                with self.log.transaction() as tx:
                    for item in due:
                        tx.append(ACKED, ack_body(item, at))
                self.consolidated += [d.name for d in due if d.doctype == CLOSING]

    def _stock(self, consolidated: list[str]) -> None:
        """Bin as the pull records it: every item, with the closings it includes."""
        at = self.clock().astimezone(UTC).isoformat()
        with self.playing(FORWARDER), self.log.transaction() as tx:
            for body in stock_bodies(WAREHOUSE, self.bin, consolidated, at):
                tx.append(BASE, body)


HOT_PATHS = ("forwarder cycle, nothing due", "scan", "search_items", "cart_new",
             "cart_scan", "cart_get", "sale_submit", "replication batch",
             "forwarder plan, two shifts closed",
             # what the till's screens ask again and again
             "status", "shift_list", "invoice_list")
PROBE_EVENTS = 20  # events of another counter in the replication batch probed


def probe(year: Year) -> dict[str, collections.Counter[str]]:
    """The SQLite VM steps, per statement, of each hot path now (``HOT_PATHS``), on the
    same inputs at any point of the history: C02's cashier sells three best sellers
    (scanned, searched, paid) and looks at the screens that poll, C01 receives a batch of
    C03's sales and runs a forwarder cycle with nothing due. The probe's own shifts are
    closed and planned (what the forwarder's every cycle plans then), then forwarded."""
    steps, first = Steps(year.log), year.counters[FORWARDER]
    seller, sender = year.counters["C02"], year.counters["C03"]
    picks = [i for i in year.items if i[1] == "Nos" and i[2]][:3]
    out: dict[str, collections.Counter[str]] = {}

    def measure(name: str, work: Callable[..., Any], *args: Any) -> Any:
        with steps.counting() as per:
            result = work(*args)
        out[name] = per  # of the last call, when there are several
        return result

    def call(method: str, **params: Any) -> Any:
        return measure(method, lambda: run_now(seller.node.call(method, params,
                                                                seller.token)))

    year.clock.set(year.clock.now + timedelta(minutes=10))
    with year.log.reading() as s:
        first.node.context(s)  # cached by every running counter: not a cost of the cycle
    settings = ErpNextSettings("https://erpnext.invalid", "key", "secret", POS_PROFILE)
    forwarder = Forwarder(first.node, settings, client=cast(Any, None))  # sends nothing
    measure(HOT_PATHS[0], asyncio.run, forwarder.cycle())
    for c in (seller, sender):
        year.open_shift(c)
    with year.playing(seller.node.node_id):
        with year.log.reading() as s:
            name = catalog.get_item(s, picks[0][0]).item_name
        call("scan", code=picks[0][2])
        call("search_items", text=name)
        cart = call("cart_new")["cart_id"]
        for _, _, code in picks:
            view = call("cart_scan", cart_id=cart, code=code)
        call("cart_get", cart_id=cart)
        call("sale_submit", cart_id=cart,
             payments=[{"mode_of_payment": "Card", "amount": view["due"]}])
        call("status")
        call("shift_list", status="open")
        call("invoice_list")
    events = year.sales_of(sender, picks, PROBE_EVENTS)
    store = EventLogStore(year.log, Gate(year.log, first.node.config.max_clock_ahead_s,
                                         year.clock))
    with year.log.batch():  # as replication's drain
        assert measure("replication batch", lambda: store.receive(events)) == len(events)
    for c in (seller, sender):
        year.close_shift(c)
    with year.log.reading() as s:  # what each cycle plans until their closings are in
        measure("forwarder plan, two shifts closed", outbox.due, s, FORWARD_BATCH)
    year.forward()
    return out


class Steps:
    """SQLite VM steps run on a store's one connection, per statement: the progress
    handler counts every step (``set_progress_handler(…, 1)``), the trace callback says
    which statement they belong to. A statement's steps grow with the rows it reads, not
    with its B-trees' depth: a seek is one step."""

    def __init__(self, log: EventLog) -> None:
        pooled = log.engine.raw_connection()  # the engine's one connection (StaticPool)
        self._conn: Any = pooled.driver_connection
        pooled.close()

    @contextmanager
    def counting(self) -> Iterator[collections.Counter[str]]:
        per: collections.Counter[str] = collections.Counter()
        current = ["(before the first statement)"]

        def step() -> int:
            per[current[0]] += 1
            return 0  # go on

        def trace(sql: str) -> None:
            current[0] = _LITERALS.sub("?", sql)

        self._conn.set_trace_callback(trace)
        self._conn.set_progress_handler(step, 1)
        try:
            yield per
        finally:
            self._conn.set_progress_handler(None, 1)
            self._conn.set_trace_callback(None)


_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+\b|X'[0-9A-Fa-f]*'")


def ack_body(item: Due, at: str) -> dict[str, Any]:
    """A ``forward.acked`` as the forwarder records one ERPNext took under its name
    (``Forwarder._record`` of ``_deliver``'s fields); a closing names its event."""
    event = {"event": f"{item.origin}:{item.seq}"} if item.doctype == CLOSING else {}
    return {"doctype": item.doctype, "name": item.name, "by": FORWARDER, "at": at,
            "erpnext_name": item.name, **event}


# --- the table: one function a row (or a few) -----------------------------------------------

API_SALES = 300  # sales through a real ``tillmesh run`` per store measured
LATENCY = ("scan", "search_items", "cart_scan", "sale_submit")
KEEP_DAYS = 7  # days of the history the live store keeps after the archive part
AFTER = " after archive"  # the label of the parts measured again on the archived store
NIGHTLY = " with the nightly checkpoint"  # the label of those measured after the nightly job
BACKFILL_DEADLINE_S = 3 * 3600  # a joined counter fetching a year's history: hours at most
POLL_S = 0.5  # how often the benchmark asks the joined counter whether its history is whole
BIGGEST = 6  # tables listed after the archive
BACKFILLED = "C11"  # the counter joined from the checkpoint that then fetches the history


@dataclass(frozen=True)
class Archived:
    """What the archive part did: its run, the events in the live store before and after
    it, and what ``tillmesh archive verify`` said."""

    moved: archiving.Moved
    live: tuple[int, int]
    verified: str


@dataclass
class Run:
    """What the parts of the table measure: a store after ``days`` days of history and a
    fresh one (same catalogue and counters, no history), both stopped, and their probes
    (``probe``, taken right after writing them)."""

    nodes: Nodes
    home: Path  # where the run keeps its stores (``Kept``) and joined counters
    days: int
    fresh: Year
    year: Year
    api_sales: int = API_SALES
    keep_days: int = KEEP_DAYS
    steps: dict[str, dict[str, collections.Counter[str]]] = field(default_factory=dict)
    latency: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    archived: Archived | None = None
    replayed: dict[str, int] = field(default_factory=dict)  # by ``rebuild``, per label
    joined: dict[str, Path] = field(default_factory=dict)  # by ``join``: counter -> data dir
    done: dict[str, list[Row]] = field(default_factory=dict)  # each part's rows, by name


RUN_KEPT = ("steps", "latency", "archived", "replayed", "joined", "done")  # ``Kept.keep``


Part = Callable[[Run], list[Row]]


def run(days: int, shape: Shape = STORE, parts: list[Part] | None = None,
        api_sales: int = API_SALES, keep_days: int = KEEP_DAYS,
        without: frozenset[str] = frozenset(), home: Path | None = None,
        stop_after_s: float = math.inf) -> list[Row] | None:
    """Write the stores, then every part of the table (``PARTS``) but those named in
    ``without`` in turn, printing each part's rows as it ends: a year's run takes hours,
    and what it measured is kept in its log even if a later part fails.

    With ``home`` (``--year-dir``) the stores and what the parts measured stay there, and
    a run stops once ``stop_after_s`` have passed, at the end of a day or of a part: run
    again with the same ``home``, it goes on from there (the rows of the parts done are
    printed again). None when it stopped before the end."""
    deadline = time.monotonic() + stop_after_s
    with Nodes() as nodes:
        kept = Kept(home or nodes.tmp())
        fresh, year = kept.year("fresh", shape, 0), kept.year("year", shape, days)
        if year.day < days and year.log.vector() != year.saved:
            raise SystemExit(f"{year.data_dir} went on after day {year.day} (a run stopped"
                             " mid-day): write the history again in a new --year-dir")
        while year.day < days:
            if time.monotonic() + 2 * year.tally.seconds / max(year.day, 1) > deadline:
                print(f"  stopped after day {year.day} of {days}: run again with the same"
                      f" --year-dir {kept.home} to go on", flush=True)
                return None
            year.trade(1, _progress)
            kept.save(year)
        r = kept.run(nodes, days, fresh, year, api_sales, keep_days)
        if not r.steps:
            for label, y in (("fresh", fresh), ("year", year)):
                r.steps[label] = probe(y)
                kept.save(y)
            kept.keep(r)
        for y in (fresh, year):
            y.log.engine.dispose()  # stopped: a real counter runs on it next
        rows: list[Row] = []
        for part in parts or PARTS:
            if part.__name__ in without:
                continue
            done = r.done.get(part.__name__)
            if done is None:
                if time.monotonic() > deadline:
                    print(f"  stopped before {part.__name__}: run again with the same"
                          f" --year-dir {kept.home} to go on", flush=True)
                    return None
                start = time.perf_counter()
                done = r.done[part.__name__] = part(r)
                kept.keep(r)
                print(f"  [{part.__name__}, {time.perf_counter() - start:.0f} s]"
                      + "".join(f"\n    {' | '.join(row)}" for row in done), flush=True)
            rows += done
        return rows


class Kept:
    """Where a run keeps its two stores (``fresh/d``, ``year/d``), each generator's state
    (``Year.save``) and what the parts measured (``run.state``): a temporary directory,
    or one a later run goes on in."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)

    def year(self, label: str, shape: Shape, days: int) -> Year:
        """The store ``label``, made for ``days`` of history, or as a run left it."""
        state, data_dir = self.home / f"{label}.state", self.home / label / "d"
        if state.exists():
            return Year.resume(data_dir, state, shape)
        shutil.rmtree(data_dir.parent, ignore_errors=True)  # a making that did not finish
        data_dir.parent.mkdir()
        year = Year(data_dir, shape, days=days)
        self.save(year)
        return year

    def save(self, year: Year) -> None:
        year.save(self.home / f"{year.data_dir.parent.name}.state")

    def run(self, nodes: Nodes, days: int, fresh: Year, year: Year, api_sales: int,
            keep_days: int) -> Run:
        r = Run(nodes, self.home, days, fresh, year, api_sales, keep_days)
        saved = self.home / "run.state"
        if saved.exists():
            for name, value in pickle.loads(saved.read_bytes()).items():
                setattr(r, name, value)
        return r

    def keep(self, r: Run) -> None:
        part = self.home / "run.state.part"
        part.write_bytes(pickle.dumps({name: getattr(r, name) for name in RUN_KEPT}))
        os.replace(part, self.home / "run.state")


def _progress(year: Year) -> None:
    if year.day % 10 == 0 or year.day == 1:
        t = year.tally
        print(f"  day {year.day}: {t.sales:,} sales, {t.events:,} events in {t.seconds / 60:.1f}"
              f" min ({t.events / t.seconds:,.0f} events/s)", flush=True)


def generation(r: Run) -> list[Row]:
    t, shape = r.year.tally, r.year.shape
    events, seconds = t.founded
    return [(f"write the store: {shape.items:,} items, {shape.counters} counters",
             "catalogue, users, enrolments", f"{events:,} events in {seconds:.0f} s",
             f"{events / seconds:,.0f} events/s"),
            (f"write {r.days} days: {shape.sales_per_day:,} sales/day and the rest",
             f"{t.sales:,} sales, {t.returns:,} returns",
             f"{t.events:,} events in {t.seconds / 60:.1f} min",
             f"{t.events / max(t.seconds, 1e-9):,.0f} events/s")]


def store_size(data_dir: Path) -> int:
    """Bytes of a counter's store on disk: the database and its WAL."""
    return file_size(Config(data_dir=data_dir).db_path)


def file_size(db: Path) -> int:
    """Bytes of an SQLite file and its WAL."""
    return sum(f.stat().st_size for f in (db, db.with_name(db.name + "-wal")) if f.exists())


@contextmanager
def connected(data_dir: Path) -> Iterator[Any]:
    """A DB-API connection to a stopped counter's store, its archive attached."""
    config = Config(data_dir=data_dir)
    conn = connect_store(config.db_path, read_key_file(config.key_path))
    try:
        yield conn
    finally:
        conn.close()


def live_events(data_dir: Path) -> int:
    """Events in a counter's live store (not those in its archive)."""
    with connected(data_dir) as conn:
        return int(conn.execute("SELECT count(*) FROM main.events").fetchone()[0])


def size(r: Run) -> list[Row]:
    events = sum(r.year.log.vector().values())
    rows = []
    for label, y in (("fresh store", r.fresh), (f"after {r.days} days", r.year)):
        held = sum(y.log.vector().values())
        rows.append((f"store on disk per counter (db + wal), {label}", f"{held:,} events",
                     f"{store_size(y.data_dir) / 2**30:.2f} GiB",
                     f"{store_size(y.data_dir) / max(events, 1) / 1024:.2f} KiB/event"
                     if y is r.year else ""))
    return rows


def hot_paths(r: Run, after: str = "") -> list[Row]:
    """The hot paths through a real ``tillmesh run`` on each store: a cashier sells
    ``Run.api_sales`` sales of three best sellers, scanned, after a look-up by barcode and
    a search, and closes the shift; median and p99 of each call's wall time, the year's
    next to the fresh one's (measured again each time: the machine's load varies)."""
    fresh_key, year_key = f"fresh{after}", f"year{after}"
    for label, y in ((fresh_key, r.fresh), (year_key, r.year)):
        r.latency[label] = _latency(r.nodes, y, r.api_sales)
    fresh_s, year_s = r.latency[fresh_key], r.latency[year_key]
    rows = [(f"tillmesh run{after}: start until the API answers", "1 start",
             f"fresh: {fresh_s['start'][0]:.1f} s", f"day {r.days}: {year_s['start'][0]:.1f} s")]
    for op in LATENCY:
        fresh, year = median_p99_ms(fresh_s[op]), median_p99_ms(year_s[op])
        rows.append((f"{op} via API (tillmesh run){after}", f"{len(year_s[op])} calls",
                     f"fresh: median {fresh[0]:.2f} / p99 {fresh[1]:.2f} ms",
                     f"day {r.days}: median {year[0]:.2f} / p99 {year[1]:.2f} ms"
                     f" ({100 * (year[1] / fresh[1] - 1):+.0f} % p99)"))
    return rows


def _latency(nodes: Nodes, y: Year, sales: int) -> dict[str, list[float]]:
    started = time.perf_counter()
    proc = nodes.start(y.data_dir, deadline_s=600)  # opening a big store reads its heads
    samples: dict[str, list[float]] = {op: [] for op in LATENCY}
    samples["start"] = [time.perf_counter() - started]
    picks = [code for _, uom, code in y.items if uom == "Nos" and code][:50]

    def timed(op: str, call: Callable[..., Any], *args: Any, **params: Any) -> Any:
        start = time.perf_counter()
        answer = call(*args, **params)
        samples[op].append(time.perf_counter() - start)
        return answer

    try:
        with proc.client(timeout=30) as c:
            c.login(CASHIER, PINS[CASHIER])
            shift = c.shift_open({"Cash": str(FLOAT)})["shift"]
            rng = random.Random(3)
            for _ in range(sales):
                codes = rng.sample(picks, 3)
                timed("scan", c.call, "scan", code=codes[0])
                timed("search_items", c.call, "search_items", text=codes[1][:6])
                cart = c.cart_new()["cart_id"]
                for code in codes:
                    view = timed("cart_scan", c.cart_scan, cart, code)
                timed("sale_submit", c.sale_submit, cart,
                      [{"mode_of_payment": "Card", "amount": view["due"]}])
            # Closed as counted, so that the store can be measured again.
            expected = c.shift_report()["report"]["expected"]
            c.shift_close(shift, {mode: expected.get(mode, "0") for mode in y.context.modes})
    finally:
        proc.stop()
    return samples


def flat(r: Run) -> list[Row]:
    """The structural figure: SQLite VM steps of each hot path, the same call on the fresh
    store and at the end of the history (``probe``)."""
    return [(f"VM steps: {op}", "one call" if op != "replication batch"
             else f"{PROBE_EVENTS} events", f"fresh: {sum(r.steps['fresh'][op].values()):,}",
             f"day {r.days}: {sum(r.steps['year'][op].values()):,}") for op in HOT_PATHS]


def join(r: Run, node: str = "C09", after: str = "") -> list[Row]:
    """A new counter joins the year's store (``tillmesh join``: the snapshot, then what
    replication brings), from a running C01."""
    events = live_events(r.year.data_dir)
    proc = r.nodes.start(r.year.data_dir, deadline_s=600)
    try:
        with proc.client(timeout=60) as c:
            c.login(ADMIN, PINS[ADMIN])
            code = c.call("invite_create")["code"]
        joined = r.home / "joined" / node / "d"
        shutil.rmtree(joined.parent, ignore_errors=True)  # a join that did not finish
        joined.parent.mkdir(parents=True)
        start = time.perf_counter()
        result = tillmesh(joined, "join", "--node", node, "--listen",
                          f"tcp://127.0.0.1:{free_port()}", "--join-listen",
                          f"tcp://127.0.0.1:{free_port()}", "--advertise", "127.0.0.1",
                          "--no-mdns", stdin=code + "\n", timeout=3600)
        seconds = time.perf_counter() - start
    finally:
        proc.stop()
    assert result.returncode == 0, result.stderr
    copied, size_ = live_events(joined), store_size(joined)
    if node == BACKFILLED:
        r.joined[node] = joined
    else:  # a year's copy is as big as the store: the disk holds few of them
        shutil.rmtree(joined.parent)
    return [(f"join a new counter{after} (tillmesh join, snapshot)",
             f"{size_ / 2**30:.2f} GiB store", f"{seconds:.1f} s",
             f"{copied:,} of {events:,} live events" + (" and the checkpoint" if after
                                                        else f", {events / seconds:,.0f}/s"))]


def rebuild(r: Run, after: str = "") -> list[Row]:
    """``tillmesh rebuild`` of the year's store: every projection from every event, or,
    once archived, from the checkpoint and the live events."""
    start = time.perf_counter()
    result = tillmesh(r.year.data_dir, "rebuild", timeout=6 * 3600)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    count = r.replayed[after] = int(result.stdout.split(" from ")[1].split()[0])
    return [(f"rebuild{after}: {count:,} events replayed (tillmesh rebuild)", "1 run",
             f"{seconds:.1f} s", "from the checkpoint" if after
             else f"{count / seconds:,.0f} events/s")]


def nightly(r: Run) -> list[Row]:
    """The node's nightly job as a store runs it by default (``archiving.run`` with the
    default policy: two fiscal years stay live, so nothing of the history moves). It
    brings the checkpoint to what ERPNext holds, which a joining counter and ``rebuild``
    then start from: the store's every night but its first, which the parts before this
    one measure."""
    y = r.year
    moved = archiving.run(y.config, datetime.now(UTC), y.counters[FORWARDER].signer)
    assert moved.events == 0 and moved.checkpoint
    held = sum(moved.checkpoint.values())
    return [("nightly job, default policy (tillmesh archive run: the checkpoint, no event"
             " moves)", f"checkpoint at {held:,} events", f"{moved.seconds:.1f} s",
             f"{held / moved.seconds:,.0f} events/s (the first night: every event)")]


def join_nightly(r: Run) -> list[Row]:
    return join(r, "C12", NIGHTLY)


def rebuild_nightly(r: Run) -> list[Row]:
    return rebuild(r, NIGHTLY)


def archive(r: Run) -> list[Row]:
    """``archiving.run`` (what ``tillmesh archive run`` and the node's nightly run do) on
    the stopped year store, keeping the history's last ``Run.keep_days`` days live, then
    ``tillmesh archive verify``."""
    y = r.year
    day = y.first_day + timedelta(days=r.days - r.keep_days)  # the first day kept
    cut = datetime(day.year, day.month, day.day, tzinfo=y.config.tz)
    before = live_events(y.data_dir)
    moved = archiving.run(y.config, datetime.now(UTC), y.counters[FORWARDER].signer, cut)
    after = live_events(y.data_dir)
    start = time.perf_counter()
    result = tillmesh(y.data_dir, "archive", "verify", timeout=6 * 3600)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    r.archived = Archived(moved, (before, after), result.stdout)
    with connected(y.data_dir) as conn:
        held = int(conn.execute("SELECT count(*) FROM archive.events").fetchone()[0])
    # A run cut (a sitting's end) is finished by the next, which moves only the rest.
    finished = "" if held == moved.events else f" ({held:,} in the archive: it finished a cut run)"
    return [(f"archive the events before {cut:%Y-%m-%d} (the last {r.keep_days} days stay)",
             f"{moved.events:,} events, {moved.segments} segments{finished}",
             f"{moved.seconds:.1f} s", f"{moved.events / max(moved.seconds, 1e-9):,.0f} events/s"),
            ("tillmesh archive verify (seals, chains, checkpoint)", "1 run",
             f"{seconds:.1f} s", f"{held / seconds:,.0f} events/s"),
            *_vacuumed(y.data_dir, moved.kept_free)]


def _vacuumed(data_dir: Path, kept_free: int) -> list[Row]:
    """``tillmesh archive vacuum``, as the run says to when the store keeps more free
    pages than it gives back at once (archived by a release that gave them back after)."""
    if not kept_free:
        return []
    start = time.perf_counter()
    said = ok(tillmesh(data_dir, "archive", "vacuum", timeout=6 * 3600)).strip()
    return [("tillmesh archive vacuum, as the run said (free pages a release before left)",
             f"{kept_free / 2**30:.2f} GiB free", f"{time.perf_counter() - start:.1f} s", said)]


def size_after_archive(r: Run) -> list[Row]:
    """The three files after the archive, and the live store's biggest tables: what is
    left in it that grows with history."""
    data_dir, db = r.year.data_dir, Config(data_dir=r.year.data_dir).db_path
    with connected(data_dir) as conn:
        live = int(conn.execute("SELECT count(*) FROM main.events").fetchone()[0])
        archived = int(conn.execute("SELECT count(*) FROM archive.events").fetchone()[0])
        page = int(conn.execute("PRAGMA main.page_size").fetchone()[0])
        pages = int(conn.execute("PRAGMA main.page_count").fetchone()[0])
        free = int(conn.execute("PRAGMA main.freelist_count").fetchone()[0])
        tables = table_bytes(conn)
    used = (pages - free) * page
    live_bytes, archive_bytes = store_size(data_dir), file_size(archive_path(db))
    # Deleted events leave free pages, which later events reuse: the file keeps its size.
    rows = [(f"live store{AFTER} (db + wal)", f"{live:,} events held live",
             f"{live_bytes / 2**30:.2f} GiB, {free * page / 2**30:.2f} GiB of it free pages",
             f"{live_bytes / max(live, 1) / 1024:.2f} KiB/event held live"
             f" ({used / max(live, 1) / 1024:.2f} KiB in used pages)"),
            ("archive file", f"{archived:,} events", f"{archive_bytes / 2**30:.2f} GiB",
             f"{archive_bytes / archived / 1024:.2f} KiB/event archived" if archived else ""),
            ("checkpoint file", "the projection tables at what ERPNext holds",
             f"{file_size(checkpoint_path(db)) / 2**30:.2f} GiB", "")]
    for name, count, size_ in sorted(tables, key=lambda t: -t[2])[:BIGGEST]:
        rows.append((f"  table {name} (estimate: its cells' bytes, no index)",
                     f"{count:,} rows", f"{size_ / 2**20:,.0f} MiB",
                     f"{100 * size_ / used:.0f} % of the live store's used pages"))
    return rows


def table_bytes(conn: Any) -> list[tuple[str, int, int]]:
    """(table, rows, bytes) of the live events and every projection table; bytes are the
    sum of each cell's length as a blob (SQLCipher has no ``dbstat``): an estimate without
    indexes and page overhead."""
    out = []
    for name in ["events", *(t.name for t in projection_tables())]:
        cols = [c[1] for c in conn.execute(f"PRAGMA main.table_info({name})")]
        cells = " + ".join(f'coalesce(sum(length(CAST("{c}" AS BLOB))), 0)' for c in cols)
        count, size_ = conn.execute(f"SELECT count(*), {cells} FROM main.{name}").fetchone()
        out.append((name, int(count), int(size_)))
    return out


def join_after_archive(r: Run) -> list[Row]:
    """C01 set to ``join_from_checkpoint = false``: the snapshot carries the checkpoint and
    every live event, not the archive."""
    _configure(r.year.data_dir, join_from_checkpoint=False)
    return join(r, "C10", f"{AFTER}, with every live event")


def join_from_checkpoint(r: Run) -> list[Row]:
    """As a counter invites by default: the snapshot carries the checkpoint and only the
    events after it, not the live events the checkpoint holds."""
    _configure(r.year.data_dir, join_from_checkpoint=True)
    return join(r, BACKFILLED, f"{AFTER}, from the checkpoint")


def _said(data_dir: Path) -> dict[str, Any]:
    """``tillmesh status`` of a stopped counter."""
    return cast(dict[str, Any], json.loads(ok(tillmesh(data_dir, "status", timeout=600))))


def _configure(data_dir: Path, **settings: Any) -> None:
    (data_dir / CONFIG_NAME).write_text(replace(load(data_dir), **settings).to_toml())


def history_backfill(r: Run) -> list[Row]:
    """The counter that joined from the checkpoint (C11) runs beside C01 and fetches the
    events before the checkpoint from it (history backfill) until its status shows no
    ``history_from``; then ``tillmesh archive verify`` on it checks them from event 1."""
    joined = r.joined[BACKFILLED]
    waiting = _said(joined)["history_from"]  # what IT reads with `tillmesh status`
    assert waiting, "the counter joined from the checkpoint should lack the history before it"
    port = free_port()  # C01 listens where C11 dials it (no mDNS here)
    _configure(r.year.data_dir, listen=f"tcp://127.0.0.1:{port}")
    _configure(joined, peers=[f"C01@127.0.0.1:{port}"])
    source = r.nodes.start(r.year.data_dir, deadline_s=600)
    try:
        start = time.perf_counter()
        proc = r.nodes.start(joined, deadline_s=600)
        try:
            with proc.client(timeout=60) as c:
                c.login(ADMIN, PINS[ADMIN])
                while c.call("status")["history_from"]:
                    assert time.perf_counter() - start < BACKFILL_DEADLINE_S, waiting
                    time.sleep(POLL_S)
            seconds = time.perf_counter() - start
        finally:
            proc.stop()
    finally:
        source.stop()
    assert _said(joined)["history_from"] == {}
    result = tillmesh(joined, "archive", "verify", timeout=3600)
    assert result.returncode == 0 and "history:" not in result.stdout, result.stdout
    with connected(joined) as conn:
        fetched = int(conn.execute("SELECT count(*) FROM archive.events").fetchone()[0])
    return [("history backfill of the counter joined from the checkpoint (its start to"
             " whole; archive verify after)", f"{fetched:,} events, {len(waiting)} counters",
             f"{seconds:.1f} s", f"{fetched / seconds:,.0f} events/s")]


def rebuild_after_archive(r: Run) -> list[Row]:
    return rebuild(r, AFTER)


def hot_paths_after_archive(r: Run) -> list[Row]:
    return hot_paths(r, AFTER)


PARTS: list[Part] = [generation, size, flat, hot_paths, join, rebuild, nightly, join_nightly,
                     rebuild_nightly, archive,
                     size_after_archive, join_after_archive, join_from_checkpoint,
                     history_backfill, rebuild_after_archive,
                     hot_paths_after_archive]
