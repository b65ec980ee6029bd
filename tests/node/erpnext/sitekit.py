"""A real or simulated ERPNext site for the end-to-end tests (contract, store day).

``open_site("simulator")`` starts the simulator; ``open_site("erpnext")`` uses the real
site named by TILLMESH_ERPNEXT_URL, _KEY, _SECRET and _POS_PROFILE (and _TIMEZONE when it
is not Europe/Berlin), or skips. Documents are read back with ErpNextClient, never from
the simulator's insides, so the same assertions hold for both.
"""


from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from tests.lab.recorded.pricing_store import make
from tests.nodekit import USERS, FakeClock, Till, make_node
from tillmesh.lab.erpnext_simulator import ERPNEXT_15, ERPNEXT_16, Simulator, Throttle
from tillmesh.node.api import Node
from tillmesh.node.domain.credentials import SecretKind, new_credential
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.erpnext import (
    Check,
    Direct,
    ErpNextClient,
    ErpNextSettings,
    PullReport,
    pull,
    setup,
)
from tillmesh.node.erpnext._forwarder import Forwarder, consolidated_shifts
from tillmesh.node.erpnext._pull_job import unclosed_of
from tillmesh.node.erpnext._site_release import V15, Capabilities, Release, capabilities
from tillmesh.node.erpnext.const import PER_SALE, PER_SHIFT
from tillmesh.node.errors import NotFoundError
from tillmesh.node.projections import catalog, deliveries, stock
from tillmesh.node.projections.master_data import get_doc

D = Decimal
ENV = "TILLMESH_ERPNEXT_"
CLOSE_TIMEOUT_S = 120.0  # after the last send: a real site merges 10+ invoices in a job
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
    simulator: Simulator | None = None  # None for a real ERPNext
    per_shift: bool = False  # the store delivers a consolidated Sales Invoice per shift
    release: Release | None = None  # what the site said it runs

    def get(self, doctype: str, name: str) -> dict[str, Any]:
        return self.client.get_doc(doctype, name, missing_ok=True) or {}

    @property
    def sale_doctype(self) -> str:
        """What the site books a POS sale as: a POS Invoice, or a Sales Invoice (16)."""
        return self.caps.sale_doctype

    def sale(self, invoice: str) -> dict[str, Any]:
        """ERPNext's copy of a sale or return of the counter's, as the site books it."""
        return self.get(self.sale_doctype, invoice)

    def closed(self, doc: dict[str, Any]) -> bool:
        """Whether a closing took ``doc`` (a ``sale``): consolidated into a Sales
        Invoice, or, in ERPNext 16's Sales Invoice mode, listed by a submitted closing."""
        if self.caps.consolidates:
            return (doc.get("docstatus"), doc.get("status")) == (1, "Consolidated")
        closing = doc.get("pos_closing_entry")
        return doc.get("docstatus") == 1 and bool(closing) and \
            self.get("POS Closing Entry", str(closing)).get("status") == "Submitted"

    @property
    def caps(self) -> Capabilities:
        return V15 if self.release is None else capabilities(self.release)

    def opening_of(self, closing: str) -> dict[str, Any]:
        """The POS Opening Entry a closing closed: its shift's own on ERPNext 15, the one
        the forwarder keeps open for the store on 16 (``_sessions``)."""
        return self.get("POS Opening Entry",
                        str(self.get("POS Closing Entry", closing).get("pos_opening_entry")))

    def listed(self, closing: str) -> list[str]:
        """The invoices a closing lists, in the release's table."""
        caps = self.caps
        return [str(r[caps.closing_link]) for r in
                self.get("POS Closing Entry", closing).get(caps.closing_rows) or []]

    def count(self, doctype: str, name: str) -> int:
        return len(self.client.get_list(doctype, filters=[["name", "=", name]], page_length=0))

    def forwarder(self, node: Node, transport: httpx.BaseTransport | None = None) -> Forwarder:
        # The simulator (or a lab site the environment names) over plain http is set up
        # --insecure, as its operator would have to.
        settings = ErpNextSettings(self.url, self.key, self.secret, self.pos_profile,
                                   verify=urlsplit(self.url).scheme != "http",
                                   delivery=PER_SHIFT if self.per_shift else PER_SALE)
        return Forwarder(node, settings, client=lambda: settings.client(transport=transport))


# The simulated releases by kind: ERPNext 15, and 16 in either POS invoice mode (a site
# upgraded from 15 stays in POS Invoice mode; a new one is in Sales Invoice mode).
SIMULATED = {"simulator": ERPNEXT_15,
             "simulator-16": replace(ERPNEXT_16, invoice_type="POS Invoice"),
             "simulator-16-si": replace(ERPNEXT_16, invoice_type="Sales Invoice")}


@contextlib.contextmanager
def open_site(kind: str, *, per_shift: bool = False,
              throttle: Throttle | None = None) -> Iterator[Site]:
    """The simulator (``kind`` one of SIMULATED, held to a pace by ``throttle``) or the
    real ERPNext the environment names ("erpnext"); set up for per-shift delivery with
    ``per_shift``."""
    names = ("URL", "KEY", "SECRET", "POS_PROFILE")
    url, key, secret, profile = (os.environ.get(ENV + name, "") for name in names)
    sim = Simulator(seed="demo", throttle=throttle, release=SIMULATED[kind]) \
        if kind in SIMULATED else None
    if sim is not None:
        url, key, secret, profile = sim.start(), sim.api_key, sim.api_secret, "Demo POS"
    elif not (url and key and secret and profile):
        pytest.skip(f"no real ERPNext: set {', '.join(ENV + n for n in names)}")
    timezone = (sim is None and os.environ.get(ENV + "TIMEZONE")) or "Europe/Berlin"
    try:
        with ErpNextClient(url, key, secret) as client:
            checks: list[Check] = []
            setup(client, profile, checks.append, per_shift=per_shift)
            yield Site(url, key, secret, profile, timezone, client, checks, sim, per_shift,
                       client.release())
    finally:
        if sim is not None:
            sim.stop()


@contextlib.contextmanager
def pricing_store_site(kind: str, *, per_shift: bool = False
                       ) -> Iterator[tuple[Site, str, date]]:
    """``open_site(kind, per_shift=per_shift)`` with the items of the recorded pricing
    store (``tests/lab/recorded/pricing_store.py``) made once; with its company, and the
    site's date."""
    with open_site(kind, per_shift=per_shift) as opened:
        profile = opened.get("POS Profile", opened.pos_profile)
        today = datetime.now(ZoneInfo(opened.timezone)).date()
        make(opened.client.insert, opened.client.exists, company=profile["company"],
             price_list=profile["selling_price_list"], warehouse=profile["warehouse"],
             today=today)
        yield opened, str(profile["company"]), today


@contextlib.contextmanager
def site_with_rules(kind: str, bodies: Callable[[str, date], list[dict[str, Any]]]
                    ) -> Iterator[Site]:
    """``pricing_store_site(kind)`` with the Pricing Rules ``bodies(company, today)``
    enabled for as long as it is open."""
    with pricing_store_site(kind) as (opened, company, today), \
            rules_enabled(opened.client, bodies(company, today)):
        yield opened


@contextlib.contextmanager
def rules_enabled(client: ErpNextClient, bodies: list[dict[str, Any]]
                  ) -> Iterator[dict[str, dict[str, Any]]]:
    """These Pricing Rules enabled (made once, found again by title), as ERPNext stores
    them, by title; disabled again after (a real site is shared)."""
    enabled = {}
    for body in bodies:
        found = client.get_list("Pricing Rule", filters=[["title", "=", body["title"]]])
        enabled[body["title"]] = client.update("Pricing Rule", found[0]["name"],
                                               {**body, "disable": 0}) \
            if found else client.insert("Pricing Rule", body)
    try:
        yield enabled
    finally:
        for doc in enabled.values():
            client.update("Pricing Rule", doc["name"], {"disable": 1})


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
    settings = ErpNextSettings(site.url, site.key, site.secret, site.pos_profile,
                               verify=urlsplit(site.url).scheme != "http",
                               delivery=PER_SHIFT if site.per_shift else PER_SALE)
    return pull(site.client, Direct(node.log), site.pos_profile,
                consolidated=lambda: consolidated_shifts(site.client, site.pos_profile,
                                                         shift_invoices=site.per_shift),
                unclosed=unclosed_of(site.client, settings))


def pulled_counter(site: Site, tmp: Path) -> Node:
    node = blank_counter(site, tmp)
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
                info = catalog.get_item(s, item.item_code)
                if catalog.price_for(s, info, item.stock_uom, ctx.price_list, on=ctx.today) > 0:
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
    """Count every mode of the profile (a closing must), each as expected."""
    expected = till("shift_report", shift_id=shift)["report"]["expected"]
    till("shift_close", shift_id=shift, counted={**dict.fromkeys(context(till.node).modes, "0"),
                                                 **expected})


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
            for key in fwd._recheck:  # looked at again after the sleep below, by its status
                fwd._recheck[key] = 0
            if not sent and not waiting:
                return total
            if sent:  # a real site's one worker merges big closings one after another
                deadline = time.monotonic() + CLOSE_TIMEOUT_S
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


