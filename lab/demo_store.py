"""``tillmesh demo --counters N``: a whole store on this machine, and a scripted day.

N counters, each a ``tillmesh run`` process with its own encrypted store (loopback, no
mDNS, no root), and the ERPNext simulator in this process. C01 is made with the demo
catalog; the others join it with an invite code, as IT adds a counter. The day:

1. every counter opens a shift and sells;
2. C02 takes back part of a sale of C01 (the customer came back to another till);
3. the last counter is cut off (IT pauses its replication) and every counter sells on;
   the link comes back and the store agrees (how long that took is measured);
4. a supervisor on C02 closes C01's shift;
5. ERPNext goes down, every counter sells on, ERPNext comes back;
6. the other shifts close, and the counters deliver everything.

Then the counters stop, and the report compares what every answer promised with what each
counter holds and what reached ERPNext: lost, duplicated and divergent must all be 0.
Each counter's log is ``C0n-run.log`` in the demo's folder, which is removed at the end
unless ``keep`` is set.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tillmesh.lab.demo_data import POS_PROFILE, demo_master_docs
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.lab.processes import CounterProcess, network, tillmesh
from tillmesh.node.api.client import DEFAULT_TIMEOUT_S, Client
from tillmesh.node.erpnext import ErpNextClient, ErpNextSettings, save_settings, setup
from tillmesh.node.errors import TillmeshError
from tillmesh.node.ops.config import load
from tillmesh.node.projections import projection_tables
from tillmesh.node.store import open_engine, read_key_file
from tillmesh.node.store.tables import table_digest

ADMIN, SUPERVISOR, CASHIER = ("admin", "1234"), ("supervisor", "2222"), ("cashier", "1111")
COMMAND_TIMEOUT_S = 120.0  # seconds for `tillmesh init` or `join` (PIN hashing, snapshot)
AGREE_S = 60.0  # seconds for the counters to hold the same events (well under 1 s idle)
DELIVER_S = 120.0  # seconds for everything to reach ERPNext once it is back
NOTICE_S = 20.0  # seconds for a forwarder to find ERPNext down
POLL_S = 0.1  # seconds between two looks at the counters while waiting
WATCHED_S = 5.0  # seconds between the day's steps when the app is open (default)
SALES_PER_STEP = 3  # sales per counter in each selling step of the day
OPENING_CASH = "100.00"
INVOICE, OPENING, CLOSING = "POS Invoice", "POS Opening Entry", "POS Closing Entry"
ORIGIN_FIELD = "tillmesh_origin_event"  # names the event an ERPNext document came from

Say = Callable[[str], None]


@dataclass
class Till:
    """One counter of the demo: its process and its staff's logged-in clients (an answer
    not come within ``timeout_s`` is NodeUnavailable)."""

    name: str
    counter: CounterProcess
    timeout_s: float = DEFAULT_TIMEOUT_S
    clients: dict[str, Client] = field(default_factory=dict)

    def as_user(self, user: tuple[str, str]) -> Client:
        if user[0] not in self.clients:
            client = Client(self.counter.endpoint, timeout=self.timeout_s)
            client.login(*user)
            self.clients[user[0]] = client
        return self.clients[user[0]]

    def logout(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()


@dataclass
class Report:
    sold: dict[str, list[str]]  # per counter, the invoices its answers named (returns too)
    erpnext: dict[str, int]  # documents by kind
    lost: list[str]
    duplicated: list[str]
    divergent: list[str]
    compared: int  # projection tables compared between the counters, and their events
    agreed_after_heal_s: float
    undelivered: list[str]

    @property
    def whole(self) -> bool:
        return not (self.lost or self.duplicated or self.divergent or self.undelivered)

    def lines(self) -> list[str]:
        out = ["", "The day's report", ""]
        out += [f"  {name}: {len(invoices)} sales and returns" for name, invoices in
                sorted(self.sold.items())]
        out += ["", "  ERPNext holds: " + ", ".join(f"{n} {kind}" for kind, n in
                                                    self.erpnext.items()), ""]
        out += [f"  lost:        {len(self.lost)}", f"  duplicated:  {len(self.duplicated)}",
                f"  divergent:   {len(self.divergent)} (of {self.compared} tables and the"
                " events, on every counter)",
                f"  undelivered: {len(self.undelivered)}",
                f"  the store agreed {self.agreed_after_heal_s:.2f} s after the heal"]
        for title, items in (("lost", self.lost), ("duplicated", self.duplicated),
                             ("divergent", self.divergent),
                             ("undelivered", self.undelivered)):
            out += [f"  {title}: {item}" for item in items[:20]]
        return out


class DemoStore:
    """The simulator and ``counters`` counters, made in a new folder and started."""

    def __init__(self, counters: int, say: Say, *, keep: bool = False, pace_s: float = 0.0,
                 seed: int = 16) -> None:
        if not 2 <= counters <= 9:
            raise ValueError("a demo store has 2 to 9 counters")
        self.root = Path(tempfile.mkdtemp(prefix="tmdemo", dir="/tmp"))  # short: IPC paths
        self.say = say
        self.keep = keep
        self.pace_s = pace_s  # seconds after each step of the day, for someone watching
        self.rng = random.Random(seed)
        self.simulator = Simulator(seed="demo")
        self.tills = [Till(f"C{n:02d}", CounterProcess(self.root / f"C{n:02d}"))
                      for n in range(1, counters + 1)]
        self.sold: dict[str, list[str]] = {t.name: [] for t in self.tills}
        self.codes = barcodes()

    # --- the store ---------------------------------------------------------------------------

    def __enter__(self) -> DemoStore:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        url = self.simulator.start()
        with ErpNextClient(url, self.simulator.api_key, self.simulator.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)
        self.say(f"ERPNext simulator at {url}")
        first = self.tills[0]
        _run(tillmesh("--data-dir", str(first.counter.data_dir), "init", "--node", first.name,
                      "--demo", *network()), ADMIN[1])
        self._link_to_erpnext(first)
        first.counter.start()
        self.say(f"{first.name} made with the demo catalog and started")
        for till in self.tills[1:]:
            code = first.as_user(ADMIN).call("invite_create")["code"]
            _run(tillmesh("--data-dir", str(till.counter.data_dir), "join", "--node",
                          till.name, *network()), code)
            self._link_to_erpnext(till)
            till.counter.start()
            self.say(f"{till.name} joined with an invite code and started")
        self.agree()

    def _link_to_erpnext(self, till: Till) -> None:
        save_settings(load(till.counter.data_dir), ErpNextSettings(
            self.simulator.url, self.simulator.api_key, self.simulator.api_secret,
            POS_PROFILE, verify=False))  # the simulator: plain http on 127.0.0.1

    def close(self) -> None:
        for till in self.tills:
            till.logout()
            till.counter.stop()
        self.simulator.stop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- what the staff do -------------------------------------------------------------------

    def sell(self, till: Till, count: int = SALES_PER_STEP) -> None:
        client = till.as_user(CASHIER)
        for _ in range(count):
            cart = client.cart_new()["cart_id"]
            due = "0"
            for code in self.rng.sample(self.codes, self.rng.randint(1, 4)):
                due = client.cart_scan(cart, code)["due"]
            answer = client.sale_submit(cart, [{"mode_of_payment": "Cash", "amount": due}])
            self.sold[till.name].append(str(answer["invoice"]))

    def open_shifts(self) -> None:
        for till in self.tills:
            till.as_user(CASHIER).shift_open({"Cash": OPENING_CASH})

    def return_elsewhere(self, at: Till, sale: str) -> None:
        """Part of ``sale`` taken back at another counter, a supervisor approving."""
        client = at.as_user(CASHIER)
        row = client.invoice_get(sale)["items"][0]["name"]
        answer = client.call("return_create", invoice=sale, lines=[{"row": row, "qty": "1"}],
                             approver={"user": SUPERVISOR[0], "pin": SUPERVISOR[1]})
        self.sold[at.name].append(str(answer["invoice"]))

    def close_shift(self, at: Till, of: Till, short: Decimal = Decimal(0)) -> None:
        """``of``'s shift closed from ``at`` by a supervisor, counted ``short`` under."""
        shift = of.as_user(CASHIER).shift_current()["shift"]
        client = at.as_user(SUPERVISOR)
        modes = [m["name"] for m in client.status()["modes_of_payment"]]
        expected = client.shift_report(shift)["report"]["expected"]
        counted = {**dict.fromkeys(modes, "0"), **expected}
        counted["Cash"] = str(Decimal(counted["Cash"]) - short)
        client.shift_close(shift, counted)

    def cut_off(self, till: Till, paused: bool) -> None:
        till.as_user(ADMIN).call("replication_pause", paused=paused)

    # --- waiting on the store ----------------------------------------------------------------

    def vectors(self) -> list[dict[str, int]]:
        return [dict(t.as_user(ADMIN).status()["vector"]) for t in self.tills]

    def agree(self, deadline_s: float = AGREE_S) -> float:
        """Seconds until every counter holds the same events."""
        return until(lambda: alike(self.vectors()), deadline_s,
                     "the counters did not come to hold the same events")

    def delivered(self) -> bool:
        states = [t.as_user(ADMIN).call("erpnext_status") for t in self.tills]
        return all(s["pending"] == 0 and s["failed"] == 0 and s["late"] == 0 for s in states)

    # --- the day -----------------------------------------------------------------------------

    def step(self, line: str) -> None:
        self.say(line)
        time.sleep(self.pace_s)

    def day(self, opened: Callable[[], None] = lambda: None) -> float:
        """The day; the seconds the store took to agree after the heal. ``opened`` is
        called once every shift is open (someone at the app logs in then)."""
        first, second, last = self.tills[0], self.tills[1], self.tills[-1]
        self.open_shifts()
        opened()
        for till in self.tills:
            self.sell(till)
        self.step(f"shifts open, {self._count()} sales so far")
        self.agree()
        self.return_elsewhere(second, self.sold[first.name][0])
        self.step(f"{second.name} took back part of {self.sold[first.name][0]}")

        self.cut_off(last, True)
        self.step(f"{last.name} is cut off; every counter sells on")
        for till in self.tills:
            self.sell(till)
        self.cut_off(last, False)
        healed = self.agree()
        self.step(f"{last.name} is back: the store agreed in {healed:.2f} s, "
                 f"{self._count()} sales so far")

        self.close_shift(second, first)
        self.step(f"a supervisor on {second.name} closed {first.name}'s shift")

        self.simulator.faults.down = True
        self.step("ERPNext is down; every counter sells on")
        for till in self.tills[1:]:
            self.sell(till)
        until(lambda: any(t.as_user(ADMIN).call("erpnext_status")["reachable"] is False
                           for t in self.tills), NOTICE_S, "no counter found ERPNext down")
        self.simulator.faults.down = False
        self.step("ERPNext is back")
        for till in self.tills[1:]:
            self.close_shift(till, till, short=Decimal("0.50") if till is last else Decimal(0))
        self.agree()
        took = until(self.delivered, DELIVER_S, "the counters did not deliver everything")
        self.step(f"every shift closed; everything delivered {took:.1f} s after the last close")
        return healed

    def _count(self) -> int:
        return sum(len(v) for v in self.sold.values())

    # --- the report ----------------------------------------------------------------------------

    def report(self, healed: float) -> Report:
        """What the day left, read from the counters and ERPNext; the counters stop."""
        answered = [i for invoices in self.sold.values() for i in invoices]
        lost = [f"{i} missing on {t.name}" for t in self.tills for i in answered
                if not holds(t.as_user(CASHIER), i)]
        held_by_erpnext = books(answered, self.simulator.docs, [t.name for t in self.tills])
        # ERPNext stops first: its answers (acks, stock readings) are events too, and the
        # counters must be compared holding the same ones.
        self.simulator.stop()
        self.agree()
        for till in self.tills:
            till.logout()
            till.counter.stop()
        return Report(dict(self.sold), held_by_erpnext.counts, lost + held_by_erpnext.lost,
                      held_by_erpnext.duplicated,
                      divergent({t.name: digests(t.counter.data_dir) for t in self.tills}),
                      len(projection_tables()), healed, held_by_erpnext.undelivered)


@dataclass(frozen=True)
class Books:
    """What ERPNext holds of the store's answers."""

    counts: dict[str, int]  # documents by kind
    lost: list[str]  # answered, not in ERPNext
    duplicated: list[str]  # answered twice, or one event booked twice
    undelivered: list[str]  # a shift opened in ERPNext and not closed, a counter never closed


def books(answered: list[str], docs: Callable[[str], list[dict[str, Any]]],
          counters: list[str]) -> Books:
    """``answered``: every invoice number an answer named (sales and returns);
    ``docs(doctype)``: ERPNext's documents of that doctype."""
    invoices = docs(INVOICE)
    names = Counter(str(d["name"]) for d in invoices)
    origins = Counter(str(d.get(ORIGIN_FIELD)) for d in invoices)
    closings = [d for d in docs(CLOSING) if d.get("docstatus") == 1]
    closed = {str(c.get("pos_opening_entry")) for c in closings}
    openings = docs(OPENING)
    return Books(
        {"POS Invoices": len(invoices),
         "returns": sum(1 for d in invoices if d.get("is_return")),
         "consolidated": sum(1 for d in invoices if d.get("status") == "Consolidated"),
         "openings": len(openings), "closings": len(closings)},
        [f"{i} not in ERPNext" for i in answered if i not in names],
        [f"invoice {i} answered {n} times" for i, n in Counter(answered).items() if n > 1]
        + [f"{o} in ERPNext {n} times" for o, n in origins.items() if n > 1],
        [f"shift {o['name']} opened in ERPNext, never closed" for o in openings
         if str(o["name"]) not in closed]
        + [f"{d['name']} in ERPNext, not consolidated ({d.get('status')})" for d in invoices
           if d.get("status") != "Consolidated"]
        + [f"no shift of {c} closed in ERPNext" for c in counters
           if not any(name.startswith(c) for name in closed)])


def divergent(held: dict[str, dict[str, str]]) -> list[str]:
    """Of each counter's table digests (the projections and the events), those that differ
    from the first counter's: each table is a function of the events, so every counter's
    must be alike once they hold the same events."""
    first = next(iter(held.values()))
    return [f"{table} differs on {name}" for name, digests in held.items()
            for table in sorted(digests.keys() | first.keys())
            if digests.get(table) != first.get(table)]


def digests(data_dir: Path) -> dict[str, str]:
    """Each projection table's digest, and the events', in a stopped counter's store."""
    config = load(data_dir)
    engine = open_engine(config.db_path, read_key_file(config.key_path))
    try:
        with engine.connect() as conn:
            cursor: Any = conn.connection.driver_connection
            out = {t.name: table_digest(cursor, t) for t in projection_tables()}
            events = cursor.execute("SELECT origin, seq, hash FROM events ORDER BY origin, seq")
            out["events"] = hashlib.sha256(repr(events.fetchall()).encode()).hexdigest()
            return out
    finally:
        engine.dispose()


def holds(client: Client, invoice: str) -> bool:
    """Whether the counter of ``client`` holds ``invoice``."""
    try:
        client.invoice_get(invoice)
    except TillmeshError:
        return False
    return True


def alike(vectors: list[dict[str, int]]) -> bool:
    """Whether every counter holds the same events."""
    return all(v == vectors[0] for v in vectors)


def until(done: Callable[[], bool], deadline_s: float, failure: str) -> float:
    """Seconds until ``done()``; TimeoutError naming ``failure`` after ``deadline_s``."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > deadline_s:
            raise TimeoutError(f"{failure} within {deadline_s:.0f} s")
        time.sleep(POLL_S)
    return time.monotonic() - start


def _run(command: list[str], stdin: str) -> None:
    result = subprocess.run(command, input=stdin + "\n", capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:])} failed: {result.stderr.strip()}")


def barcodes() -> list[str]:
    """EAN-13 codes of enabled demo items sold per piece."""
    priced = {doc["item_code"] for doctype, doc in demo_master_docs()
              if doctype == "Item Price" and doc["uom"] == "Nos"}
    return [row["barcode"] for doctype, doc in demo_master_docs()
            if doctype == "Item" and not doc["disabled"] and doc["item_code"] in priced
            for row in doc["barcodes"] if len(row["barcode"]) == 13 and row.get("uom") == "Nos"]


@contextmanager
def app(till: Till) -> Iterator[subprocess.Popen[bytes]]:
    """The cashier's app of ``till`` in a window, for as long as the block runs."""
    with open(till.counter.data_dir.parent / f"{till.name}-ui.log", "ab") as log:
        proc = subprocess.Popen(tillmesh("--data-dir", str(till.counter.data_dir), "ui",
                                         "--windowed"), stdout=log, stderr=log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()


def run(counters: int, *, headless: bool, keep: bool, say: Say,
        pace_s: float = WATCHED_S) -> int:
    """The demo, with the app of the last counter open unless ``headless``: 0 when the
    day's report finds nothing lost, duplicated or divergent and everything delivered, 1
    otherwise. With the app, ``pace_s`` between the day's steps, and three times that to
    log in first."""
    with DemoStore(counters, say, keep=keep, pace_s=0.0 if headless else pace_s) as store:
        if headless:
            healed = store.day()
        else:
            watched = store.tills[-1]  # the counter that is cut off, then sells on
            def log_in() -> None:
                say(f"the app of {watched.name} is open: log in as cashier (PIN 1111)")
                time.sleep(pace_s * 3)

            with app(watched) as window:
                healed = store.day(opened=log_in)
                say("close the app's window to see the day's report")
                window.wait()
        report = store.report(healed)
        for line in report.lines():
            say(line)
        if keep:
            say(f"the counters' folders and logs are in {store.root}")
        return 0 if report.whole else 1
