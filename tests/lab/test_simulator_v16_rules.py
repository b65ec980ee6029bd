"""ERPNext 16 rules the recorded session (``test_simulator_recorded_v16``) does not reach,
as 16.12's code has them: an opening with unclosed sales is not cancelled
(``check_poe_is_cancellable``), a closing refuses an invoice listed twice, and each
release has its own closing method (``get_pos_invoices`` on 15, ``get_invoices`` on 16)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from tests.lab.test_simulator import COMPANY, MILK, PROFILE, client_for, invoice, open_shift
from tillmesh.lab.erpnext_simulator import ERPNEXT_15, ERPNEXT_16, ManualClock, Release, Simulator

NOON = datetime(2026, 11, 26, 12, 0)  # site-local; the openings start that morning
MODULE = "erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry"
SHIFT = {"start": "2026-11-26 00:00:00", "end": "2026-11-26 23:59:59",
         "pos_profile": PROFILE}


@pytest.fixture
def v16() -> Iterator[tuple[Simulator, httpx.Client]]:
    with Simulator(seed="demo", job_delay=None, clock=ManualClock(NOON),
                   release=ERPNEXT_16) as sim, client_for(sim) as api:
        yield sim, api


def _sale(api: httpx.Client) -> str:
    r = api.post("/api/resource/Sales Invoice",
                 json=invoice([(MILK, 1)], 1.09, is_created_using_pos=1))
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["name"])


def test_an_opening_with_unclosed_sales_is_not_cancelled(
        v16: tuple[Simulator, httpx.Client]) -> None:
    sim, api = v16
    opening = open_shift(api, sim)
    _sale(api)
    r = api.post("/api/method/frappe.client.cancel",
                 json={"doctype": "POS Opening Entry", "name": opening})
    assert r.status_code == 417
    assert r.json()["exception"].endswith("POS Opening Entry cannot be cancelled as "
                                          "unconsolidated Invoices exists.")
    assert (sim.get("POS Opening Entry", opening) or {})["status"] == "Open"


def test_a_closing_refuses_an_invoice_listed_twice(
        v16: tuple[Simulator, httpx.Client]) -> None:
    sim, api = v16
    opening = open_shift(api, sim)
    sale = _sale(api)
    row = {"sales_invoice": sale, "posting_date": "2026-11-26", "grand_total": 1.09,
           "customer": "Walk-in Customer"}
    r = api.post("/api/resource/POS Closing Entry", json={
        "pos_opening_entry": opening, "company": COMPANY, "pos_profile": PROFILE,
        "user": sim.user, "period_start_date": "2026-11-26 08:00:00",
        "period_end_date": "2026-11-26 23:59:59", "sales_invoices": [row, row]})
    assert r.status_code == 417
    assert r.json()["exception"].endswith(
        f"['<strong>{sale}</strong> is added multiple times on rows: <strong>[1, 2]"
        "</strong>']")


@pytest.mark.parametrize(("release", "gone", "kept"), [
    (ERPNEXT_15, "get_invoices", "get_pos_invoices"),
    (ERPNEXT_16, "get_pos_invoices", "get_invoices")])
def test_each_release_has_its_closing_method(release: Release, gone: str, kept: str) -> None:
    with Simulator(seed="demo", job_delay=None, clock=ManualClock(NOON),
                   release=release) as sim, client_for(sim) as api:
        params = {**SHIFT, "user": sim.user}
        missing = api.get(f"/api/method/{MODULE}.{gone}", params=params)
        assert api.get(f"/api/method/{MODULE}.{kept}", params=params).status_code == 200
    assert missing.status_code == 417
    assert missing.json()["exception"] == (
        f"frappe.exceptions.ValidationError: Failed to get method for command {MODULE}.{gone}"
        f" with module '{MODULE}' has no attribute '{gone}'")
