"""Contract tests (issue 4, point 9): setup, pull, open, sell, return, oversell, close and
duplicate delivery, end to end: against the ERPNext simulator always, and against a real
ERPNext 15 when TILLMESH_ERPNEXT_URL, _KEY, _SECRET and _POS_PROFILE are set (and
_TIMEZONE, the site's time zone, when it is not Europe/Berlin).

Documents are read back with ErpNextClient, never from the simulator's insides, so the same
assertions hold for both. The tests share the site as a real one is shared: every counter
has a random id, so its names never collide with an earlier run's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.nodekit import USERS, FakeClock, Till, approver, make_node
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.api import Node
from tillmesh.node.domain.credentials import SecretKind, new_credential
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.erpnext import (
    Check,
    Direct,
    ErpNextClient,
    ErpNextDuplicate,
    ErpNextSettings,
    PullReport,
    pull,
    setup,
)
from tillmesh.node.erpnext import _documents as documents
from tillmesh.node.erpnext._forwarder import Forwarder, consolidated_shifts
from tillmesh.node.errors import ErpNextValidation, NotFoundError
from tillmesh.node.projections import catalog, deliveries, stock
from tillmesh.node.projections.deliveries import Delivery
from tillmesh.node.projections.master_data import get_doc
from tillmesh.node.projections.outbox import CLOSING, INVOICE, OPENING
from tillmesh.node.store.event_codec import unpack_body

D = Decimal
ENV = "TILLMESH_ERPNEXT_"
CLOSE_TIMEOUT_S = 120.0  # a real site consolidates 10+ invoices in a background job
AVAILABILITY = "erpnext.accounts.doctype.pos_invoice.pos_invoice.get_stock_availability"


@dataclass
class Site:
    url: str
    key: str
    secret: str
    pos_profile: str
    timezone: str  # the site's: the counter dates what it sends in it
    client: ErpNextClient  # reads documents back, as the API user
    checks: list[Check]  # what setup reported when the module began

    def get(self, doctype: str, name: str) -> dict[str, Any]:
        return self.client.get_doc(doctype, name, missing_ok=True) or {}

    def count(self, doctype: str, name: str) -> int:
        return len(self.client.get_list(doctype, filters=[["name", "=", name]], page_length=0))

    def forwarder(self, node: Node, transport: httpx.BaseTransport | None = None) -> Forwarder:
        settings = ErpNextSettings(self.url, self.key, self.secret, self.pos_profile)
        return Forwarder(node, settings, client=lambda: settings.client(transport=transport))


@pytest.fixture(scope="module", params=["simulator", "erpnext"])
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    names = ("URL", "KEY", "SECRET", "POS_PROFILE")
    url, key, secret, profile = (os.environ.get(ENV + name, "") for name in names)
    sim = Simulator(seed="demo") if request.param == "simulator" else None
    if sim is not None:
        url, key, secret, profile = sim.start(), sim.api_key, sim.api_secret, "Demo POS"
    elif not (url and key and secret and profile):
        pytest.skip(f"no real ERPNext: set {', '.join(ENV + n for n in names)}")
    timezone = (sim is None and os.environ.get(ENV + "TIMEZONE")) or "Europe/Berlin"
    try:
        with ErpNextClient(url, key, secret) as client:
            checks: list[Check] = []
            setup(client, profile, checks.append)
            yield Site(url, key, secret, profile, timezone, client, checks)
    finally:
        if sim is not None:
            sim.stop()


class WallClock(FakeClock):
    """Real time (ERPNext checks dates against its own clock), never the same twice."""

    def __call__(self) -> datetime:
        self.now = max(datetime.now(UTC), self.now + timedelta(microseconds=1))
        return self.now


def blank_counter(site: Site, tmp: Path) -> Node:
    """A fresh counter with an id of its own and the test users; nothing pulled yet."""
    node_id = "T" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(5))
    node = make_node(tmp / node_id, node_id, clock=WallClock(), seeded=False,
                     profile=site.pos_profile, timezone=site.timezone)
    with node.log.transaction() as tx:
        for user, (role, pin) in USERS.items():
            cred = new_credential(SecretKind.PIN, pin)
            tx.append("user.upserted", {"user": user, "full_name": user.title(), "role": role,
                                        "secret_kind": cred.kind.value,
                                        "secret_hash": cred.secret_hash, "disabled": False})
    return node


def pull_into(site: Site, node: Node) -> PullReport:
    return pull(site.client, Direct(node.log), site.pos_profile,
                consolidated=lambda: consolidated_shifts(site.client, site.pos_profile))


@pytest.fixture
def counter(site: Site, tmp_path: Path) -> Node:
    node = blank_counter(site, tmp_path)
    assert pull_into(site, node).errors == []
    return node


def context(node: Node) -> PosContext:
    with node.read() as s:
        return node.context(s)


def sellable(node: Node, n: int, more_than: int = 2) -> list[str]:
    """The first ``n`` plain items with a price and more than ``more_than`` in stock."""
    found: list[str] = []
    with node.read() as s:
        ctx = node.context(s)
        for item in s.scalars(select(catalog.CatalogItem).order_by("item_code")):
            doc = get_doc(s, "Item", item.item_code) or {}
            if (item.disabled or not item.is_stock_item
                    or any(doc.get(f) for f in ("has_batch_no", "has_serial_no", "has_variants"))
                    or stock.on_hand(s, item.item_code, ctx.warehouse).on_hand <= more_than):
                continue
            with contextlib.suppress(NotFoundError):
                if catalog.price_for(s, item.item_code, item.stock_uom, ctx.price_list) > 0:
                    found.append(item.item_code)
            if len(found) == n:
                return found
    pytest.skip(f"ERPNext has fewer than {n} priced items with more than {more_than} in stock")


def sell(till: Till, *lines: tuple[str, int]) -> dict[str, Any]:
    cart = till("cart_new")["cart_id"]
    for code, qty in lines:
        till("cart_add", cart_id=cart, item_code=code, qty=str(qty))
    due = till("cart_get", cart_id=cart)["due"]
    return till("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": context(till.node).cash_mode, "amount": due}])


def close(till: Till, shift: str) -> None:
    expected = till("shift_report", shift_id=shift)["report"]["expected"]
    till("shift_close", shift_id=shift, counted=expected)


class Writes(httpx.HTTPTransport):
    """The real transport, noting every request but the GETs."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.sent.append(f"{request.method} {request.url.path}")
        return super().handle_request(request)


def drain(fwd: Forwarder) -> int:
    """Cycles until nothing is due and no consolidation runs; how many were sent."""
    async def go() -> int:
        deadline, total = time.monotonic() + CLOSE_TIMEOUT_S, 0
        while True:
            sent = await fwd.cycle()
            waiting, total = bool(fwd._recheck), total + sent  # waiting: a Queued closing
            fwd._recheck.clear()
            if not sent and not waiting:
                return total
            assert time.monotonic() < deadline, "ERPNext did not consolidate in time"
            await asyncio.sleep(2.0 if waiting else 0)
    try:
        return asyncio.run(go())
    finally:
        fwd.close()


def delivery(node: Node, doctype: str, name: str) -> deliveries.State:
    with node.read() as s:
        state = deliveries.get(s, doctype, name)
    assert state is not None, f"no delivery of {doctype} {name} recorded"
    return state


# --- the scenarios ---------------------------------------------------------------------


def test_setup_finds_everything_and_the_custom_fields(site: Site) -> None:
    assert all(c.ok for c in site.checks), [c.line() for c in site.checks]
    again: list[Check] = []  # a second run finds the fields there
    assert setup(site.client, site.pos_profile, again.append), [c.line() for c in again]
    assert any(c.what.startswith("custom field") for c in again)


def test_a_pull_fills_catalog_profile_modes_and_stock(site: Site, tmp_path: Path) -> None:
    counter = blank_counter(site, tmp_path)
    report = pull_into(site, counter)
    assert report.errors == [] and report.emitted > 0
    items = site.client.get_list("Item", page_length=0)
    with counter.read() as s:
        ctx = counter.context(s)
        assert ctx.profile == site.pos_profile and ctx.company and ctx.warehouse
        assert ctx.modes and all(m.account for m in ctx.modes.values())
        assert s.scalar(select(func.count()).select_from(catalog.CatalogItem)) == len(items)
        price = s.scalars(select(catalog.CatalogPrice).where(
            catalog.CatalogPrice.price_list == ctx.price_list)).first()
        assert price is not None, "no Item Price in the profile's price list"
        assert s.scalars(select(stock.StockBaseRow).where(
            stock.StockBaseRow.warehouse == ctx.warehouse)).first(), "no stock base"
    erp_price = site.get("Item Price", price.name)
    assert (erp_price["item_code"], D(str(erp_price["price_list_rate"]))) == (
        price.item_code, price.price_list_rate)
    assert sellable(counter, 2)


def test_open_sell_return_close_reaches_erpnext_consolidated(site: Site, counter: Node) -> None:
    first, second = sellable(counter, 2)
    ann = Till(counter, "ann")
    shift = ann("shift_open", opening={context(counter).cash_mode: "100.00"})["shift"]
    sale = sell(ann, (first, 1), (second, 2))
    other = sell(ann, (first, 1))
    ret = ann("return_create", invoice=sale["invoice"], approver=approver("sup"),
              lines=[{"row": f"{sale['invoice']}-2", "qty": "1"}])
    close(ann, shift)
    drain(site.forwarder(counter))

    assert site.get(OPENING, shift).get("status") == "Closed"
    assert site.get(CLOSING, shift).get("status") == "Submitted"
    for answer in (sale, other, ret):
        doc = site.get(INVOICE, answer["invoice"])
        assert (doc.get("status"), doc.get("docstatus")) == ("Consolidated", 1), answer
        assert D(str(doc["grand_total"])) == D(answer["totals"]["grand_total"])
    returned = site.get(INVOICE, ret["invoice"])
    assert (returned["is_return"], returned["return_against"]) == (1, sale["invoice"])
    assert [(i["item_code"], i["pos_invoice_item"], D(str(i["qty"])))
            for i in returned["items"]] == [(second, f"{sale['invoice']}-2", D(-1))]
    for doctype, name in [(OPENING, shift), (CLOSING, shift), (INVOICE, sale["invoice"]),
                          (INVOICE, other["invoice"]), (INVOICE, ret["invoice"])]:
        assert delivery(counter, doctype, name).delivery is Delivery.ACKED


def test_an_oversold_item_waits_in_the_exceptions_queue(site: Site, counter: Node) -> None:
    fine, scarce = sellable(counter, 2)
    ctx = context(counter)
    available = site.client.call_method(AVAILABILITY, {"item_code": scarce,
                                                       "warehouse": ctx.warehouse})[0]
    ann, sup = Till(counter, "ann"), Till(counter, "sup")
    shift = ann("shift_open", opening={ctx.cash_mode: "0"})["shift"]
    ok = sell(ann, (fine, 1))["invoice"]
    over = sell(ann, (scarce, max(int(D(str(available))), 0) + 1))["invoice"]
    close(ann, shift)
    drain(site.forwarder(counter))

    refused = delivery(counter, INVOICE, over)  # forward.failed, in ERPNext's words
    assert refused.delivery is Delivery.FAILED
    assert refused.status == 417 and scarce in (refused.message or "")
    assert [(e["id"], e["message"]) for e in sup("exceptions_list")] == [
        (f"{INVOICE}/{over}", refused.message)]
    assert site.count(INVOICE, over) == 0
    assert site.get(INVOICE, ok).get("docstatus") == 1  # the other sale went
    assert site.count(CLOSING, shift) == 0  # the closing lists the refused sale: it waits
    # Settled outside Tillmesh, the closing goes without it (and leaves the site clean).
    sup("exception_resolve", id=f"{INVOICE}/{over}", note="contract test: oversold")
    drain(site.forwarder(counter))
    assert site.get(CLOSING, shift).get("status") == "Submitted"
    assert site.get(INVOICE, ok).get("status") == "Consolidated"


def test_a_duplicate_delivery_is_refused_and_stored_once(site: Site, counter: Node) -> None:
    (code,) = sellable(counter, 1)
    ann, ctx = Till(counter, "ann"), context(counter)
    shift = ann("shift_open", opening={ctx.cash_mode: "0"})["shift"]
    invoice = sell(ann, (code, 1))["invoice"]
    drain(site.forwarder(counter))
    assert site.count(INVOICE, invoice) == 1
    origin, body = next((e.id, b) for e in counter.log.events() if e.kind == "sale.submitted"
                        and (b := unpack_body(e.body))["invoice"] == invoice)
    doc = documents.pos_invoice(body, origin_event=origin, site=documents.Site(
        company=ctx.company, pos_profile=site.pos_profile, timezone=site.timezone,
        user=str(site.client.call_method("frappe.auth.get_logged_user"))))
    with pytest.raises(ErpNextDuplicate):  # the shift is open: ERPNext answers 409
        site.client.insert(INVOICE, doc)
    assert site.count(INVOICE, invoice) == 1

    close(ann, shift)
    drain(site.forwarder(counter))
    assert site.get(CLOSING, shift).get("status") == "Submitted"
    # ERPNext validates before it looks at the name: after the closing, most likely a 417.
    with pytest.raises((ErpNextDuplicate, ErpNextValidation)):
        site.client.insert(INVOICE, doc)
    assert site.count(INVOICE, invoice) == 1
    assert site.get(INVOICE, invoice).get("status") == "Consolidated"
    writes = Writes()
    assert drain(site.forwarder(counter, writes)) == 0
    assert writes.sent == []  # the forwarder run again sends nothing
