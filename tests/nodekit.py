"""A small store for node tests: a few items with known prices, taxes and users."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tillmesh.node.api import Node
from tillmesh.node.api._agreement import decide, lend
from tillmesh.node.api.dispatch import new_node
from tillmesh.node.domain.credentials import Credential, SecretKind, new_credential
from tillmesh.node.membership.keys import create_keypair_file
from tillmesh.node.ops.config import Config
from tillmesh.node.projections._registry import projection_tables
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_log import EventLog
from tillmesh.replication.asks import Ask
from tillmesh.replication.protocol import ReturnAnswer, ReturnAsk, SaleAnswer, SaleAsk

MODIFIED = "2026-11-01 09:00:00.000000"
NEWER = "2026-11-02 09:00:00.000000"  # master data saved in ERPNext after the seed's
PROFILE = "Test POS"

USERS = {"admin": ("admin", "1234"), "sup": ("supervisor", "2222"),
         "ann": ("cashier", "1111"), "bob": ("cashier", "3333")}


def item(code: str, name: str, uom: str = "Nos", barcode: str | None = None,
         tax: str | None = None, uoms: tuple[tuple[str, int], ...] = ()) -> dict[str, Any]:
    return {"name": code, "item_code": code, "item_name": name, "item_group": "Products",
            "stock_uom": uom, "disabled": 0, "is_stock_item": 1,
            "barcodes": [{"barcode": barcode, "barcode_type": "EAN"}] if barcode else [],
            "uoms": [{"uom": uom, "conversion_factor": 1}]
            + [{"uom": u, "conversion_factor": f} for u, f in uoms],
            "taxes": [{"item_tax_template": tax}] if tax else []}


def price(code: str, rate: str, uom: str = "Nos") -> dict[str, Any]:
    return {"name": f"P-{code}-{uom}", "item_code": code, "uom": uom,
            "price_list": "Standard Selling", "price_list_rate": rate}


MASTER: list[tuple[str, dict[str, Any]]] = [
    ("UOM", {"name": "Nos", "must_be_whole_number": 1}),
    ("UOM", {"name": "Box", "must_be_whole_number": 1}),
    ("UOM", {"name": "Kg", "must_be_whole_number": 0}),
    ("Item", item("WINE", "Red Wine 0.75l", barcode="4000000000044", uoms=(("Box", 6),))),
    ("Item", item("BOOK", "Paperback Book", barcode="4000000000082", tax="VAT 7%")),
    ("Item", item("APPLE", "Apples", uom="Kg", tax="VAT 7%")),
    ("Item", {**item("GONE", "Discontinued"), "disabled": 1}),
    ("Item Price", price("WINE", "19.99")),
    ("Item Price", price("BOOK", "12.95")),
    ("Item Price", price("APPLE", "2.49", "Kg")),
    ("Item Price", price("GONE", "1.00")),
    ("Item Tax Template", {"name": "VAT 7%", "taxes": [{"tax_type": "VAT 19%", "tax_rate": 7}]}),
    ("Sales Taxes and Charges Template", {"name": "DE VAT incl", "taxes": [
        {"idx": 1, "charge_type": "On Net Total", "account_head": "VAT 19%",
         "description": "VAT", "rate": 19, "included_in_print_rate": 1}]}),
    ("Mode of Payment", {"name": "Cash", "type": "Cash",
                         "accounts": [{"company": "Test Co", "default_account": "Cash - T"}]}),
    ("Mode of Payment", {"name": "Card", "type": "Bank",
                         "accounts": [{"company": "Test Co", "default_account": "Bank - T"}]}),
    ("POS Profile", {"name": PROFILE, "company": "Test Co", "warehouse": "Stores - T",
                     "selling_price_list": "Standard Selling", "currency": "EUR",
                     "taxes_and_charges": "DE VAT incl", "customer": "Walk-in Customer",
                     "apply_discount_on": "Grand Total", "allow_partial_payment": 0,
                     "payments": [{"mode_of_payment": "Cash", "default": 1},
                                  {"mode_of_payment": "Card", "default": 0}]}),
    ("Customer", {"name": "Walk-in Customer", "customer_name": "Walk-in Customer",
                  "disabled": 0}),
]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@cache
def _credential(pin: str) -> Credential:
    # One hash per PIN for every node a test makes: each node seeds the same users, and a
    # user whose hash changes (a new PIN, as far as a node can tell) loses their sessions.
    return new_credential(SecretKind.PIN, pin)


def seed(log: EventLog) -> None:
    with log.transaction() as tx:
        for user, (role, pin) in USERS.items():
            cred = _credential(pin)
            tx.append("user.upserted", {"user": user, "full_name": user.title(), "role": role,
                                        "secret_kind": cred.kind.value,
                                        "secret_hash": cred.secret_hash, "disabled": False})
        for doctype, doc in MASTER:
            tx.append("master.upserted", upserted_body(doctype, doc, MODIFIED))


CLUSTER = "c0ffee000001"


def make_node(tmp: Path, node_id: str = "C01", clock: FakeClock | None = None,
              seeded: bool = True, profile: str = PROFILE, **settings: Any) -> Node:
    config = Config(data_dir=tmp, node_id=node_id, pos_profile=profile, cluster=CLUSTER,
                    **settings)
    engine = open_engine(config.db_path, create_key_file(config.key_path))
    keypair = create_keypair_file(config.node_key_path)
    clock = clock or FakeClock()
    log = EventLog(engine, node_id, clock=clock)
    with log.transaction() as tx:
        tx.append("node.enrolled", {"node": node_id, "public_key": keypair.public.decode(),
                                    "cluster": CLUSTER})
    if seeded:
        seed(log)
    return new_node(config, log, clock=clock, keypair=keypair)


class Till:
    """A logged-in cashier at a node: ``till("cart_add", cart_id=..., ...)``."""

    def __init__(self, node: Node, user: str) -> None:
        self.node = node
        self.user = user
        self.token = node.call("login", {"user": user, "pin": USERS[user][1]})["token"]

    def __call__(self, method: str, **params: Any) -> Any:
        return run_now(self.node.call(method, params, self.token))

    def sell(self, *codes: str, pay: str | None = None, mode: str = "Cash") -> dict[str, Any]:
        cart = self("cart_new")["cart_id"]
        for code in codes:
            self("cart_scan", cart_id=cart, code=code)
        due = self("cart_get", cart_id=cart)["due"]
        return self("sale_submit", cart_id=cart,
                    payments=[{"mode_of_payment": mode, "amount": pay or due}])


def run_now(result: Any) -> Any:
    """An in-process call's result: an ``async`` method (``return_create``) is driven to
    its end here. It must not wait for anything: the sale is this counter's own, or its
    counter answers through a ``DirectLink`` (a daemon awaits such calls on its loop)."""
    if not inspect.iscoroutine(result):
        return result
    try:
        result.send(None)
    except StopIteration as done:
        return done.value
    result.close()
    raise AssertionError("an in-process call waited for something: run it in a daemon")


class DirectLink:
    """The other in-process counters, asked directly as replication would carry the ask
    (``link(c01, c02)``); ``up(owner)`` says whether ``owner`` can be reached now."""

    def __init__(self, node: Node, peers: Mapping[str, Node],
                 up: Callable[[str], bool] = lambda owner: True) -> None:
        self.node, self.peers, self.up = node, dict(peers), up

    def unreachable(self, owner: str, kind: type[Ask] = ReturnAsk) -> str | None:
        return None if owner in self.peers and self.up(owner) else f"{owner} is not connected"

    async def ask(self, owner: str, ask: ReturnAsk) -> ReturnAnswer | None:
        return decide(self.peers[owner], self.node.node_id, ask)

    async def fetch(self, owner: str, ask: SaleAsk) -> SaleAnswer | None:
        return lend(self.peers[owner], self.node.node_id, ask)


def link(*nodes: Node) -> None:
    """Every node asks the others directly about their sales (replication, in process)."""
    for node in nodes:
        node.owners = DirectLink(node, {n.node_id: n for n in nodes if n is not node})


def pull_newer(node: Node, docs: Iterable[tuple[str, dict[str, Any]]],
               modified: str = NEWER) -> None:
    """What a pull of these documents, saved in ERPNext after the seed's, writes."""
    with node.log.transaction() as tx:
        for doctype, doc in docs:
            tx.append("master.upserted", upserted_body(doctype, doc, modified))


def till_with_shift(node: Node, user: str = "ann") -> Till:
    """``user`` logged in at ``node``, with a shift open (100.00 cash)."""
    till = Till(node, user)
    till("shift_open", opening={"Cash": "100.00", "Card": "0"})
    return till


def approver(user: str) -> dict[str, str]:
    return {"user": user, "pin": USERS[user][1]}


def sync(src: EventLog, dst: EventLog) -> None:
    """Copy every event ``dst`` lacks from ``src`` (what replication will do)."""
    have = dst.vector()
    with dst.transaction() as tx:
        for origin, seq in src.vector().items():
            for event in src.range(origin, have.get(origin, 0) + 1, seq):
                tx.receive(event)


def dump(log: EventLog) -> dict[str, list[tuple]]:
    with log.reading() as s:
        out = {}
        for table in projection_tables():
            keys = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in s.execute(select(table).order_by(*keys))]
        return out
