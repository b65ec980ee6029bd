"""The simulator as ERPNext 16.12 answers where it was recorded to differ from 15
(``shared/erpnext/NOTES-v16.md``, ``recorded/erpnext-16.12-requests.jsonl``): its
release, POS Settings' invoice type, closings that list ``pos_invoices`` (a v15 body is
kept with none), one Open opening per POS Profile and per user, a sale refused once the
newest opening is from an earlier day, the closing posted at the server's now, and Sales
Invoice mode refusing POS Invoices."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.lab.test_simulator import COMPANY, MILK, PROFILE, client_for, invoice, open_shift
from tillmesh.lab.erpnext_simulator import ERPNEXT_15, ERPNEXT_16, ManualClock, Simulator

NOON = datetime(2026, 11, 26, 12, 0)  # site-local; the openings below start that morning
POS_INVOICE_MODE = replace(ERPNEXT_16, invoice_type="POS Invoice")  # an upgraded site


@pytest.fixture
def v16() -> Iterator[tuple[Simulator, httpx.Client, ManualClock]]:
    clock = ManualClock(NOON)
    with Simulator(seed="demo", job_delay=None, clock=clock,
                   release=POS_INVOICE_MODE) as sim, client_for(sim) as api:
        yield sim, api, clock


def _error(r: httpx.Response) -> str:
    return str(r.json().get("exception", ""))


def _closing(sim: Simulator, opening: str, names: list[str], field: str) -> dict[str, Any]:
    docs = [sim.get("POS Invoice", n) or {} for n in names]
    return {"pos_opening_entry": opening, "company": COMPANY, "pos_profile": PROFILE,
            "user": sim.user, "period_start_date": "2026-11-26 08:00:00",
            "period_end_date": "2026-11-26 23:59:59", "posting_date": "2026-11-26",
            "posting_time": "23:59:59",
            field: [{"pos_invoice": d["name"], "posting_date": d["posting_date"],
                     "grand_total": d["grand_total"], "customer": d["customer"],
                     "is_return": d["is_return"]} for d in docs],
            "payment_reconciliation": [{"mode_of_payment": "Cash", "opening_amount": 100,
                                        "expected_amount": 100, "closing_amount": 100}]}


@pytest.mark.parametrize(("release", "versions", "invoice_type"), [
    (ERPNEXT_15, ("15.72.4", "15.71.1"), None),
    (ERPNEXT_16, ("16.13.0", "16.12.0"), "Sales Invoice"),
    (POS_INVOICE_MODE, ("16.13.0", "16.12.0"), "POS Invoice")])
def test_the_site_says_its_release_and_invoice_type(
        release: Any, versions: tuple[str, str], invoice_type: str | None) -> None:
    with Simulator(seed="demo", job_delay=None, release=release) as sim, \
            client_for(sim) as api:
        said = api.get("/api/method/frappe.utils.change_log.get_versions").json()["message"]
        settings = api.get("/api/resource/POS Settings/POS Settings")
    assert (said["frappe"]["version"], said["erpnext"]["version"]) == versions
    if invoice_type is None:  # ERPNext 15's POS Settings have no invoice type
        assert "invoice_type" not in settings.json().get("data", {})
    else:
        assert settings.json()["data"]["invoice_type"] == invoice_type


def test_a_v15_closing_body_is_kept_with_no_invoices_and_pos_invoices_consolidate(
        v16: tuple[Simulator, httpx.Client, ManualClock]) -> None:
    """Recorded: "B closing entry, v15 body (pos_transactions)" answered 200 with
    ``pos_invoices: []``; the PUT with ``pos_invoices`` listed them and the submit
    consolidated. The closing is posted at the server's now, not at the time sent."""
    sim, api, clock = v16
    opening = open_shift(api, sim, period_start_date="2026-11-26 08:00:00")
    sale = api.post("/api/resource/POS Invoice", json=invoice([(MILK, 2)], 2.18))
    assert sale.status_code == 200, sale.text
    name = sale.json()["data"]["name"]
    draft = api.post("/api/resource/POS Closing Entry",
                     json=_closing(sim, opening, [name], "pos_transactions"))
    assert draft.status_code == 200, draft.text
    held = draft.json()["data"]
    assert held["pos_invoices"] == [] and "pos_transactions" not in held
    clock.set(datetime(2026, 11, 27, 0, 42, 9))
    fixed = api.put(f"/api/resource/POS Closing Entry/{held['name']}",
                    json={"pos_invoices": _closing(sim, opening, [name], "x")["x"]})
    assert [r["pos_invoice"] for r in fixed.json()["data"]["pos_invoices"]] == [name]
    posted = fixed.json()["data"]
    assert (posted["posting_date"], posted["posting_time"].split(".")[0].zfill(8)) \
        == ("2026-11-27", "00:42:09")
    done = api.put(f"/api/resource/POS Closing Entry/{held['name']}", json={"docstatus": 1})
    assert done.status_code == 200, done.text
    assert done.json()["data"]["status"] == "Submitted"
    assert (sim.get("POS Invoice", name) or {}).get("consolidated_invoice")


def test_one_open_opening_per_profile_and_per_user(
        v16: tuple[Simulator, httpx.Client, ManualClock]) -> None:
    sim, api, _ = v16
    open_shift(api, sim, period_start_date="2026-11-26 08:00:00")
    again = api.post("/api/resource/POS Opening Entry", json={
        "company": COMPANY, "pos_profile": PROFILE, "user": sim.user,
        "period_start_date": "2026-11-26 09:00:00", "posting_date": "2026-11-26",
        "balance_details": [{"mode_of_payment": "Cash", "opening_amount": 0}], "docstatus": 1})
    assert again.status_code == 417
    assert _error(again).endswith(f"<strong>{PROFILE}</strong> is open. Close the POS or"
                                  " cancel the existing POS Opening Entry to create a new"
                                  " POS Opening Entry.")


def test_a_sale_is_refused_once_the_newest_opening_is_from_an_earlier_day(
        v16: tuple[Simulator, httpx.Client, ManualClock]) -> None:
    """Recorded: "D POS Invoice (backdated to yesterday) against yesterday's opening
    entry" — whatever the sale's own posting date says."""
    sim, api, clock = v16
    opening = open_shift(api, sim, period_start_date="2026-11-26 08:00:00")
    ok = api.post("/api/resource/POS Invoice", json=invoice([(MILK, 1)], 1.09))
    assert ok.status_code == 200, ok.text
    clock.set(datetime(2026, 11, 27, 0, 5))
    late = api.post("/api/resource/POS Invoice", json=invoice(
        [(MILK, 1)], 1.09, set_posting_time=1, posting_date="2026-11-26",
        posting_time="23:50:00"))
    assert late.status_code == 417
    assert _error(late).endswith(f"POS Opening Entry - {opening} is outdated. Please close"
                                 " the POS and create a new POS Opening Entry.")


def test_sales_invoice_mode_refuses_a_pos_invoice() -> None:
    clock = ManualClock(NOON)
    with Simulator(seed="demo", job_delay=None, clock=clock, release=ERPNEXT_16) as sim, \
            client_for(sim) as api:
        open_shift(api, sim, period_start_date="2026-11-26 08:00:00")
        r = api.post("/api/resource/POS Invoice", json=invoice([(MILK, 1)], 1.09))
    assert r.status_code == 417
    assert _error(r).endswith("Sales Invoice mode is activated in POS. Please create Sales"
                              " Invoice instead.")
