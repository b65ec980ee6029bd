"""The ERPNext simulator, through HTTP as Tillmesh's client sees it (httpx on 127.0.0.1)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

import tillmesh.lab.erpnext_simulator as simulator
from tests.paths import SHARED_ERPNEXT
from tillmesh.lab import demo_data
from tillmesh.lab.erpnext_simulator import ManualClock, Simulator
from tillmesh.lab.erpnext_simulator._doctypes_v15 import V15_DOCTYPES
from tillmesh.lab.erpnext_simulator._meta import Registry

PROFILE, COMPANY, WAREHOUSE = demo_data.POS_PROFILE, demo_data.COMPANY, demo_data.WAREHOUSE
MILK, WATER, COLA = "DAI-0001", "BEV-0002", "BEV-0004"  # 1.09, 0.59, 0.89 EUR
DOCTYPES_JSON = SHARED_ERPNEXT / "v15-doctypes"
POS = "/api/method/erpnext.accounts.doctype.pos_invoice.pos_invoice."
CLOSING = "/api/method/erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry."
WAIT_S = 5.0  # longest a test waits for a background job


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed="demo", job_delay=None) as s:
        yield s


@pytest.fixture
def api(sim: Simulator) -> Iterator[httpx.Client]:
    with client_for(sim) as c:
        yield c


def client_for(sim: Simulator, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(base_url=sim.url, timeout=timeout,
                        headers={"Authorization": f"token {sim.api_key}:{sim.api_secret}"})


def ls(api: httpx.Client, doctype: str, **params: Any) -> list[dict[str, Any]]:
    encoded = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in params.items()}
    r = api.get(f"/api/resource/{doctype}", params=encoded)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(m) for m in json.loads(body["_server_messages"])]


def open_shift(api: httpx.Client, sim: Simulator, **extra: Any) -> str:
    r = api.post("/api/resource/POS Opening Entry", json={
        "company": COMPANY, "pos_profile": PROFILE, "user": sim.user,
        "period_start_date": "2026-11-26 08:00:00", "posting_date": "2026-11-26",
        "balance_details": [{"mode_of_payment": "Cash", "opening_amount": 100}],
        "docstatus": 1, **extra})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "Open"
    return str(r.json()["data"]["name"])


def invoice(lines: list[tuple[str, float]], paid: float | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "is_pos": 1, "update_stock": 1, "pos_profile": PROFILE, "customer": "Walk-in Customer",
        "items": [{"item_code": code, "qty": qty} for code, qty in lines],
        "payments": [{"mode_of_payment": "Cash", "amount": paid or 0,
                      "account": f"Cash - {demo_data.ABBR}"}],
        "docstatus": 1, **extra}
    if paid is not None:
        body["paid_amount"] = paid
    return body


def sell(api: httpx.Client, lines: list[tuple[str, float]], paid: float,
         **extra: Any) -> dict[str, Any]:
    r = api.post("/api/resource/POS Invoice", json=invoice(lines, paid, **extra))
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


def close_shift(api: httpx.Client, sim: Simulator, opening: str, names: list[str], *,
                name: str | None = None, docstatus: int = 1) -> httpx.Response:
    docs = [sim.get("POS Invoice", n) or {} for n in names]
    body: dict[str, Any] = {
        "pos_opening_entry": opening, "company": COMPANY, "pos_profile": PROFILE,
        "user": sim.user, "period_start_date": "2026-11-26 08:00:00",
        "period_end_date": "2026-11-26 23:59:59", "posting_date": "2026-11-26",
        "posting_time": "23:59:59",
        "pos_transactions": [{"pos_invoice": d["name"], "posting_date": d["posting_date"],
                              "grand_total": d["grand_total"], "customer": d["customer"],
                              "is_return": d["is_return"],
                              "return_against": d.get("return_against")} for d in docs],
        "payment_reconciliation": [{"mode_of_payment": "Cash", "opening_amount": 100,
                                    "expected_amount": 100, "closing_amount": 100}],
        "docstatus": docstatus}
    if name:
        body["name"] = name
    return api.post("/api/resource/POS Closing Entry", json=body)


# -- package surface ----------------------------------------------------------------------
def test_public_names_are_exported() -> None:
    assert set(simulator.__all__) == {"Clock", "Costs", "ERPNEXT_15", "ERPNEXT_16", "Faults",
                                      "LoggedRequest", "ManualClock", "Release", "SEEDS",
                                      "SiteClock", "Simulator", "State", "Throttle"}


def test_compact_doctypes_agree_with_erpnext_json() -> None:
    registry = Registry()
    for path in DOCTYPES_JSON.glob("*.json"):
        spec = json.loads(path.read_text())
        meta = registry.get(spec["name"])
        assert meta is not None and spec["name"] in V15_DOCTYPES
        assert meta.istable == bool(spec.get("istable"))
        assert meta.submittable == bool(spec.get("is_submittable"))
        for f in spec["fields"]:
            if f["fieldtype"] in ("Section Break", "Column Break", "Tab Break", "HTML",
                                  "Button", "Image"):
                assert f["fieldname"] not in meta.fields
                continue
            mine = meta.fields[f["fieldname"]]
            assert mine.reqd == bool(f.get("reqd")), f["fieldname"]
            if f["fieldtype"] in ("Link", "Table"):
                assert (mine.options, mine.label) == (f["options"], f["label"])


# -- auth, lifecycle ----------------------------------------------------------------------
def test_token_auth_as_frappe_answers_it(sim: Simulator) -> None:
    with httpx.Client(base_url=sim.url) as anon:
        missing = anon.get("/api/resource/Item")
        wrong = anon.get("/api/resource/Item", headers={"Authorization": "token a:b"})
        basic = anon.get("/api/resource/Item", auth=(sim.api_key, sim.api_secret))
    assert (missing.status_code, missing.json()["exc_type"]) == (403, "PermissionError")
    assert (wrong.status_code, wrong.json()["exc_type"]) == (401, "AuthenticationError")
    assert basic.status_code == 200
    assert sim.url.startswith("http://127.0.0.1:")


def test_stop_ends_every_thread_and_is_idempotent() -> None:
    before = set(threading.enumerate())
    sim = Simulator(seed="empty", job_delay=0.05)
    with sim, client_for(sim) as c:  # a keep-alive connection stays open until stop
        assert c.get("/api/resource/User").status_code == 200
    sim.stop()
    time.sleep(0.05)
    assert not [t for t in set(threading.enumerate()) - before
                if t.name.startswith("erpnext-sim")]
    with pytest.raises(RuntimeError):
        sim.start()


def test_site_local_timestamps_from_the_clock() -> None:
    clock = ManualClock(datetime(2026, 11, 26, 16, 0))
    sim = Simulator(seed="empty", clock=clock)
    clock.set(datetime(2026, 11, 26, 17, 30, 0, 250))
    doc = sim.put_doc("Customer", {"name": "Zoe", "customer_name": "Zoe"})
    assert doc["modified"] == "2026-11-26 17:30:00.000250"
    again = sim.put_doc("Customer", {"name": "Zoe", "customer_name": "Zoe"})
    assert again["modified"] == "2026-11-26 17:30:00.000251"  # strictly later, same clock
    assert again["creation"] == doc["modified"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}",
                        Simulator(seed="empty").docs("User")[0]["modified"])


# -- lists --------------------------------------------------------------------------------
def test_list_fields_filters_order_and_paging(api: httpx.Client) -> None:
    codes = sorted(d["name"] for dt, d in demo_data.demo_master_docs() if dt == "Item")
    n = len(codes)
    assert len(ls(api, "Item")) == 20  # Frappe's default page
    assert ls(api, "Item", limit_page_length=1) == [{"name": codes[0]}]
    everything = ls(api, "Item", fields=["name", "item_group", "disabled"],
                    limit_page_length=0)
    assert len(everything) == n and everything[0].keys() == {"name", "item_group",
                                                              "disabled"}
    dairy = ls(api, "Item", fields=["name"], filters=[["item_group", "=", "Dairy"],
                                                      ["name", "like", "%-000_"]],
               order_by="name desc", limit_page_length=0)
    assert [d["name"] for d in dairy] == [f"DAI-{i:04d}" for i in range(9, 0, -1)]
    assert ls(api, "Item", filters={"disabled": 1}) == [{"name": demo_data.DISCONTINUED}]
    page2 = ls(api, "Item", order_by="name asc", limit_start=2, limit_page_length=2)
    assert [r["name"] for r in page2] == ["BAK-0003", "BAK-0004"]
    by_barcode = ls(api, "Item", filters=[["Item Barcode", "barcode", "=", "4250100000011"]])
    assert by_barcode == [{"name": MILK}]
    cases = {"in": ([MILK, WATER], 2), "not in": ([MILK], n - 1), "!=": (MILK, n - 1),
             ">": ("FRU-0112", len([c for c in codes if c > "FRU-0112"])),
             "<=": ("BAK-0002", 2), "is": ("set", n)}
    for op, (value, count) in cases.items():
        rows = ls(api, "Item", filters=[["name", op, value]], limit_page_length=0)
        assert len(rows) == count, op
    assert ls(api, "Item Price", fields=["count(name) as n"],
              filters=[["price_list_rate", "between", [1, 2]]])[0]["n"] > 0
    v2 = api.get("/api/v2/document/Item", params={"fields": '["name"]', "limit": 2})
    assert v2.json()["data"] == [{"name": codes[0]}, {"name": codes[1]}]


@pytest.mark.parametrize("length", [1, 7, 50, 1000])
def test_keyset_and_offset_pages_read_each_row_once(sim: Simulator, api: httpx.Client,
                                                    length: int) -> None:
    sim.add_items(120)  # all with one `modified`: the ties query does the work
    expected = sorted((d["modified"], d["name"]) for d in sim.docs("Item"))
    by_offset: list[tuple[str, str]] = []
    while len(by_offset) < len(expected):
        page = ls(api, "Item", fields=["name", "modified"], order_by="modified asc, name asc",
                  limit_start=len(by_offset), limit_page_length=length)
        by_offset += [(r["modified"], r["name"]) for r in page]
    assert by_offset == expected
    last = expected[len(expected) // 2]
    ties = ls(api, "Item", fields=["name"], order_by="name asc", limit_page_length=0,
              filters=[["modified", "=", last[0]], ["name", ">", last[1]]])
    assert [r["name"] for r in ties] == [n for m, n in expected if m == last[0] and n > last[1]]


def test_list_errors_as_recorded(api: httpx.Client) -> None:
    bad_field = api.get("/api/resource/Item", params={"filters": '[["nope","=",1]]'})
    assert bad_field.status_code == 417
    assert bad_field.json()["exception"] == ("frappe.exceptions.DataError: Field not "
                                             "permitted in query: nope")
    bad_json = api.get("/api/resource/Item", params={"filters": '[["name","=",'})
    assert (bad_json.status_code, bad_json.json()["exc_type"]) == (500, "JSONDecodeError")
    assert "_server_messages" not in bad_json.json()
    no_parent = api.get("/api/resource/Item Barcode")
    assert (no_parent.status_code, no_parent.json()["exc_type"]) == (403, "PermissionError")
    unknown = api.get("/api/resource/Sales Order")
    assert (unknown.status_code, unknown.json()["exc_type"]) == (404, "DoesNotExistError")


def test_child_rows_listed_through_their_parent(sim: Simulator, api: httpx.Client) -> None:
    rows = ls(api, "Item Barcode", parent="Item", fields=["parent", "parenttype", "barcode",
                                                           "uom", "modified"],
              order_by="modified asc", limit_page_length=0)
    assert len(rows) == len([b for i in sim.docs("Item") for b in i["barcodes"]])
    milk = next(r for r in rows if r["parent"] == MILK)
    assert milk == {"parent": MILK, "parenttype": "Item", "barcode": "4250100000011",
                    "uom": "Nos", "modified": demo_data.MODIFIED}
    sim.put_doc("Item", {**(sim.get("Item", MILK) or {}), "item_name": "Milk 2"})
    after = ls(api, "Item Barcode", parent="Item", fields=["parent", "modified"],
               filters=[["modified", ">", demo_data.MODIFIED]], order_by="modified asc")
    assert [r["parent"] for r in after] == [MILK]
    assert "barcodes" not in ls(api, "Item", fields=["*"], limit_page_length=1)[0]


def test_modified_delta_after_a_price_change(sim: Simulator, api: httpx.Client) -> None:
    price = ls(api, "Item Price", fields=["name", "price_list_rate", "modified"],
               filters=[["item_code", "=", MILK]])[0]
    sim.put_doc("Item Price", {**(sim.get("Item Price", price["name"]) or {}),
                               "price_list_rate": 1.19})
    delta = ls(api, "Item Price", fields=["name", "price_list_rate", "modified"],
               filters=[["modified", ">", price["modified"]]], order_by="modified asc")
    assert [(d["name"], d["price_list_rate"]) for d in delta] == [(price["name"], 1.19)]
    assert delta[0]["modified"] > price["modified"]


# -- documents ----------------------------------------------------------------------------
def test_get_full_document_and_missing_one(api: httpx.Client) -> None:
    item = api.get(f"/api/resource/Item/{MILK}").json()["data"]
    assert item["barcodes"][0]["parent"] == MILK and item["uoms"][0]["uom"] == "Nos"
    assert item["taxes"][0]["item_tax_template"] == demo_data.VAT_7
    missing = api.get("/api/resource/Item/NOPE")
    assert missing.status_code == 404
    assert missing.json().keys() == {"exc_type", "_server_messages"}
    assert messages(missing.json())[0]["message"] == "Item NOPE not found"
    assert api.get(f"/api/v2/document/Item/{MILK}").json()["data"]["name"] == MILK


def test_insert_checks_mandatory_and_links(api: httpx.Client) -> None:
    r = api.post("/api/resource/Item Price", json={"item_code": MILK, "price_list_rate": 1})
    assert (r.status_code, r.json()["exc_type"]) == (417, "MandatoryError")
    assert [m["message"] for m in messages(r.json())] == [
        "Error: Value missing for Item Price: Price List"]
    r = api.post("/api/resource/Stock Entry", json={
        "stock_entry_type": "Material Receipt", "company": COMPANY,
        "items": [{"qty": 1, "t_warehouse": WAREHOUSE}]})
    assert "Error: <strong>Stock Entry Detail</strong> Row #1: Value missing for: Item Code" \
        in [m["message"] for m in messages(r.json())]
    r = api.post("/api/resource/Customer", json={"customer_name": "Ada",
                                                 "customer_group": "Nobody"})
    assert (r.status_code, r.json()["exc_type"]) == (417, "LinkValidationError")
    assert r.json()["exception"].endswith("Could not find Customer Group: Nobody")


def test_insert_keeps_chosen_names_and_refuses_repeats(api: httpx.Client) -> None:
    body = {"name": "CUST-OFFLINE-7", "customer_name": "Ada", "customer_type": "Individual",
            "offline_id": "ignored", "companies": [{"name": "ROW-1", "company": COMPANY}]}
    first = api.post("/api/resource/Customer", json=body)
    assert first.status_code == 200
    doc = first.json()["data"]
    assert (doc["name"], doc["companies"][0]["name"], doc["owner"]) == (
        "CUST-OFFLINE-7", "ROW-1", "pos@example.com")
    assert "offline_id" not in doc  # unknown keys are silently ignored
    repeat = api.post("/api/resource/Customer", json=body)
    assert repeat.status_code == 409
    assert repeat.json()["exc_type"] == "DuplicateEntryError"
    assert messages(repeat.json()) == [{"message": "Customer <strong>CUST-OFFLINE-7</strong> "
                                        "already exists", "title": "Duplicate Name",
                                        "indicator": "red"}]
    named = api.post("/api/resource/Customer", json={"customer_name": "Ada"}).json()["data"]
    assert named["name"] == "Ada"
    assert api.post("/api/resource/Customer",
                    json={"customer_name": "Ada"}).json()["data"]["name"] == "Ada - 1"


def test_put_delete_and_tombstones(sim: Simulator, api: httpx.Client) -> None:
    price = ls(api, "Item Price", filters=[["item_code", "=", WATER], ["uom", "=", "Nos"]])[0]
    r = api.put(f"/api/resource/Item Price/{price['name']}", json={"price_list_rate": 0.69})
    assert r.json()["data"]["price_list_rate"] == 0.69
    d = api.delete(f"/api/resource/Item Price/{price['name']}")
    assert (d.status_code, d.json()) == (202, {"data": "ok"})
    tombstones = ls(api, "Deleted Document", fields=["deleted_name", "deleted_doctype"])
    assert tombstones == [{"deleted_name": price["name"], "deleted_doctype": "Item Price"}]
    sim.delete_doc("Item", COLA)  # ERPNext drops its prices by SQL: no tombstones for them
    assert not ls(api, "Item Price", filters=[["item_code", "=", COLA]])
    assert len(ls(api, "Deleted Document")) == 2


def test_custom_fields_are_kept_by_documents(api: httpx.Client) -> None:
    r = api.post("/api/resource/Custom Field", json={
        "dt": "POS Invoice", "fieldname": "tillmesh_origin", "label": "Tillmesh Origin",
        "fieldtype": "Data", "insert_after": "remarks"})
    assert r.json()["data"]["name"] == "POS Invoice-tillmesh_origin"
    again = api.post("/api/resource/Custom Field", json={
        "dt": "POS Invoice", "fieldname": "tillmesh_origin", "fieldtype": "Data"})
    assert again.json()["exception"].endswith("A field with the name <strong>tillmesh_origin"
                                              "</strong> already exists in POS Invoice")
    labelled = api.post("/api/resource/Custom Field", json={
        "dt": "Customer", "label": "Loyalty Card", "fieldtype": "Data"}).json()["data"]
    assert labelled["fieldname"] == "custom_loyalty_card"
    c = api.post("/api/resource/Customer", json={"customer_name": "Bo",
                                                 "custom_loyalty_card": "LC-1"})
    assert c.json()["data"]["custom_loyalty_card"] == "LC-1"
    assert ls(api, "Customer", fields=["custom_loyalty_card"],
              filters={"name": "Bo"}) == [{"custom_loyalty_card": "LC-1"}]


def test_stock_entry_moves_bin_and_refuses_negative_stock(sim: Simulator,
                                                          api: httpx.Client) -> None:
    r = api.post("/api/resource/Stock Entry", json={
        "stock_entry_type": "Material Receipt", "company": COMPANY, "docstatus": 1,
        "items": [{"item_code": MILK, "qty": 5, "t_warehouse": WAREHOUSE, "basic_rate": 1}]})
    assert r.json()["data"]["name"].startswith("MAT-STE-")
    bins = ls(api, "Bin", fields=["actual_qty"], filters={"item_code": MILK})
    assert bins == [{"actual_qty": 105.0}]
    issue = api.post("/api/resource/Stock Entry", json={
        "stock_entry_type": "Material Issue", "company": COMPANY, "docstatus": 1,
        "items": [{"item_code": MILK, "qty": 106, "s_warehouse": WAREHOUSE}]})
    assert (issue.status_code, issue.json()["exc_type"]) == (417, "NegativeStockError")
    assert issue.json()["exception"].split(": ", 1)[1].startswith("<strong>1.0</strong> units")


# -- POS Invoice --------------------------------------------------------------------------
def test_invoice_needs_an_open_shift_and_paid_amount(sim: Simulator, api: httpx.Client) -> None:
    r = api.post("/api/resource/POS Invoice", json=invoice([(MILK, 1)], 1.09))
    assert r.status_code == 417
    assert r.json()["exception"] == ("frappe.exceptions.ValidationError: No open POS Opening "
                                     f"Entry found for POS Profile <strong>{PROFILE}</strong>.")
    open_shift(api, sim)
    open_shift(api, sim)  # nothing stops two open shifts on one profile
    r = api.post("/api/resource/POS Invoice", json=invoice([(MILK, 1)], None))
    assert (r.status_code, r.json()["exc_type"]) == (500, "TypeError")
    unknown = api.post("/api/resource/POS Invoice", json=invoice([("NOPE", 1)], 1))
    assert unknown.status_code == 404


def test_invoice_prices_totals_and_kept_rates(sim: Simulator, api: httpx.Client) -> None:
    open_shift(api, sim)
    doc = sell(api, [(MILK, 2), (WATER, 1)], 2.77)
    assert doc["name"].startswith("ACC-PSINV-2026-") and doc["status"] == "Paid"
    assert [(i["rate"], i["amount"]) for i in doc["items"]] == [(1.09, 2.18), (0.59, 0.59)]
    # recorded: a REST insert never gets the POS Profile's taxes_and_charges
    assert doc["grand_total"] == 2.77 and "taxes_and_charges" not in doc
    assert doc["owner"] == sim.user and doc["payments"][0]["type"] == "Cash"
    taxed = sell(api, [(MILK, 2), (WATER, 1)], 2.77, taxes_and_charges=demo_data.SALES_TAXES)
    assert [t["account_head"] for t in taxed["taxes"]] == [demo_data.VAT_ACCOUNT,
                                                           demo_data.VAT_7_ACCOUNT]
    # milk's 7 % posts to the 7 % account, water's 19 % to the 19 % one
    assert [t["tax_amount"] for t in taxed["taxes"]] == [0.1, 0.14]
    assert [i.get("item_tax_template") for i in taxed["items"]] == [demo_data.VAT_7, None]
    assert (taxed["grand_total"], taxed["net_total"]) == (2.77, 2.54)  # milk at 7 %
    own = sell(api, [(MILK, 1)], 1.0, items=[{"item_code": MILK, "qty": 1, "rate": 0.99}])
    row = own["items"][0]
    assert (row["rate"], row["price_list_rate"], row["discount_amount"]) == (0.99, 1.09, 0.1)
    sent = sell(api, [(MILK, 1)], 5.0, grand_total=1.02, net_total=1.02, rounded_total=1.02)
    assert (sent["grand_total"], sent["net_total"], sent["change_amount"]) == (1.09, 1.09, 3.91)


def test_partial_payment_refused_unless_the_profile_allows(sim: Simulator,
                                                          api: httpx.Client) -> None:
    open_shift(api, sim)
    # paid what the client says is the total, not what ERPNext computes it to be
    r = api.post("/api/resource/POS Invoice", json=invoice(
        [(MILK, 1)], 1.0, grand_total=1.0, rounded_total=1.0, name="C01-2026-000009"))
    assert r.status_code == 417
    assert r.json()["exception"] == ("erpnext.accounts.doctype.pos_invoice.pos_invoice."
                                     "PartialPaymentValidationError: Partial Payment in POS "
                                     "Invoice is not allowed.")
    assert sim.get("POS Invoice", "C01-2026-000009") is None
    sim.put_doc("POS Profile", {**(sim.get("POS Profile", PROFILE) or {}),
                                "allow_partial_payment": 1})
    assert api.post("/api/resource/POS Invoice",
                    json=invoice([(MILK, 1)], 1.0)).status_code == 200


def test_stock_check_against_bin_minus_unconsolidated_sales(sim: Simulator,
                                                            api: httpx.Client) -> None:
    open_shift(api, sim)
    sim.set_bin(MILK, WAREHOUSE, 3)
    sell(api, [(MILK, 1)], 1.09)
    r = api.post("/api/resource/POS Invoice", json=invoice([(MILK, 3)], 3.27))
    assert r.status_code == 417
    assert messages(r.json())[0]["message"] == (
        f"Row #1: Stock quantity not enough for Item Code: <strong>{MILK}</strong> under "
        f"warehouse <strong>{WAREHOUSE}</strong>. Available quantity 2.0.")
    draft = api.post("/api/resource/POS Invoice", json=invoice([(MILK, 3)], 3.27, docstatus=0))
    assert draft.json()["data"]["status"] == "Draft"  # checked on submit only
    availability = api.get(POS + "get_stock_availability",
                           params={"item_code": MILK, "warehouse": WAREHOUSE}).json()
    assert availability == {"message": [2.0, True]}


def test_posting_time_is_the_servers_unless_set(sim: Simulator, api: httpx.Client) -> None:
    open_shift(api, sim)
    kept = sell(api, [(MILK, 1)], 1.09, set_posting_time=1, posting_date="2026-11-25",
                posting_time="09:05:00")
    assert (kept["posting_date"], kept["posting_time"]) == ("2026-11-25", "9:05:00")
    ignored = sell(api, [(MILK, 1)], 1.09, posting_date="2026-11-25", posting_time="09:05")
    assert ignored["posting_date"] != "2026-11-25" and ignored["due_date"] == "2026-11-25"


def test_returns_limited_through_pos_invoice_item(sim: Simulator, api: httpx.Client) -> None:
    open_shift(api, sim)
    sale = sell(api, [(MILK, 1)], 1.09, items=[{"name": "C01-1-1", "item_code": MILK,
                                                "qty": 1}])
    assert sale["items"][0]["name"] == "C01-1-1"

    def give_back(qty: float, link: str | None) -> httpx.Response:
        row: dict[str, Any] = {"item_code": MILK, "qty": qty}
        if link:
            row["pos_invoice_item"] = link
        return api.post("/api/resource/POS Invoice", json=invoice(
            [], -1.09 * abs(qty), is_return=1, return_against=sale["name"], items=[row]))

    over = give_back(-2, "C01-1-1")
    assert (over.status_code, over.json()["exc_type"]) == (417, "StockOverReturnError")
    assert messages(over.json())[0]["message"] == (f"Row # 1: Cannot return more than 1.0 "
                                                   f"for Item {MILK}")
    assert give_back(-1, "C01-1-1").json()["data"]["status"] == "Return"
    again = give_back(-1, "C01-1-1")  # recorded (erpnext-15.71-v2.jsonl): nothing left
    assert messages(again.json())[0]["message"] == (f"Row # 1: Cannot return more than 0.0 "
                                                    f"for Item {MILK}")
    unlinked = give_back(-5, None)  # ERPNext accepts it without the row link
    assert unlinked.status_code == 200
    assert messages(unlinked.json())[0]["message"].startswith("Row # 1: Returned Item")
    positive = give_back(1, None)
    assert positive.json()["exception"].endswith(
        f"Please remove item <strong>{MILK}</strong> to complete the return.")
    mapped = api.post(POS + "make_sales_return", json={"source_name": sale["name"]}).json()
    assert mapped["message"]["items"][0]["pos_invoice_item"] == "C01-1-1"
    assert mapped["message"]["is_return"] == 1 and "name" not in mapped["message"]


def test_get_pos_invoices_by_window_profile_and_owner(sim: Simulator,
                                                      api: httpx.Client) -> None:
    open_shift(api, sim)
    sell(api, [(MILK, 1)], 1.09, name="B", set_posting_time=1, posting_date="2026-11-26",
         posting_time="10:00:00")
    sell(api, [(MILK, 1)], 1.09, name="A", set_posting_time=1, posting_date="2026-11-25",
         posting_time="10:00:00")
    window = {"start": "2026-11-26 00:00:00", "end": "2026-11-26 23:59:59",
              "pos_profile": PROFILE, "user": sim.user}
    found = api.get(CLOSING + "get_pos_invoices", params=window).json()["message"]
    assert [d["name"] for d in found] == ["B"] and "items" in found[0]
    wide = api.get(CLOSING + "get_pos_invoices", params={**window, "start": "2026-11-01"})
    assert [d["name"] for d in wide.json()["message"]] == ["A", "B"]
    other = api.get(CLOSING + "get_pos_invoices", params={**window, "user": "x@example.com"})
    assert other.json()["message"] == []


# -- POS Closing Entry --------------------------------------------------------------------
def test_small_closing_consolidates_in_the_request(sim: Simulator, api: httpx.Client) -> None:
    opening = open_shift(api, sim)
    sim.put_doc("Customer", {"name": "Ada", "customer_name": "Ada"})
    names = [sell(api, [(MILK, 2)], 2.18)["name"],
             sell(api, [(WATER, 1)], 0.59, customer="Ada")["name"]]
    ret = api.post("/api/resource/POS Invoice", json=invoice(
        [(MILK, -1)], -1.09, is_return=1, return_against=names[0])).json()["data"]
    r = close_shift(api, sim, opening, [*names, ret["name"]])
    assert r.status_code == 200 and r.json()["data"]["status"] == "Submitted"
    logs = ls(api, "POS Invoice Merge Log", fields=["customer", "consolidated_invoice",
                                                    "consolidated_credit_note"],
              order_by="customer asc")
    assert [log["customer"] for log in logs] == ["Ada", "Walk-in Customer"]
    walk_in = logs[1]
    si = sim.get("Sales Invoice", walk_in["consolidated_invoice"]) or {}
    cn = sim.get("Sales Invoice", walk_in["consolidated_credit_note"]) or {}
    assert (si["grand_total"], si["status"], si["is_consolidated"]) == (
        2.18, "Credit Note Issued", 1)
    assert (cn["grand_total"], cn["return_against"], cn["status"]) == (-1.09, si["name"],
                                                                        "Return")
    assert {(sim.get("POS Invoice", n) or {})["status"] for n in names} == {"Consolidated"}
    assert (sim.get("POS Opening Entry", opening) or {})["status"] == "Closed"
    assert ls(api, "Bin", fields=["actual_qty"], filters={"item_code": MILK}) == [
        {"actual_qty": 99.0}]


def test_closing_with_a_chosen_name_needs_a_draft_first(sim: Simulator,
                                                        api: httpx.Client) -> None:
    opening = open_shift(api, sim)
    names = [sell(api, [(MILK, 1)], 1.09)["name"]]
    r = close_shift(api, sim, opening, names, name="C01-SHIFT-1")
    assert (r.status_code, r.json()["exc_type"]) == (417, "MandatoryError")
    # recorded: the consolidation fails, and ERPNext takes its message out of the answer
    assert r.json()["exception"].endswith("[POS Invoice Merge Log, None]: parent")
    assert "_server_messages" not in r.json()
    assert sim.get("POS Closing Entry", "C01-SHIFT-1") is None
    draft = close_shift(api, sim, opening, names, name="C01-SHIFT-1", docstatus=0)
    assert draft.json()["data"]["status"] == "Draft"
    done = api.put("/api/resource/POS Closing Entry/C01-SHIFT-1", json={"docstatus": 1})
    assert done.json()["data"]["status"] == "Submitted"


def test_closing_refuses_foreign_invoices_and_closed_shifts(sim: Simulator,
                                                            api: httpx.Client) -> None:
    opening = open_shift(api, sim)
    name = sell(api, [(MILK, 1)], 1.09)["name"]
    sim.put_doc("POS Invoice", {**(sim.get("POS Invoice", name) or {}), "owner": "x@y.z"})
    r = close_shift(api, sim, opening, [name])
    assert messages(r.json())[0]["message"] == [
        f"Row #1: POS Invoice isn't created by user <strong>{sim.user}</strong>"]
    sim.put_doc("POS Opening Entry", {**(sim.get("POS Opening Entry", opening) or {}),
                                      "status": "Closed"})
    r = close_shift(api, sim, opening, [name])
    assert messages(r.json())[0]["message"] == "Selected POS Opening Entry should be open."


def test_large_closing_is_queued_then_consolidated_by_the_timer() -> None:
    with Simulator(seed="demo", job_delay=0.05) as sim, client_for(sim) as api:
        opening = open_shift(api, sim)
        names = [sell(api, [(MILK, 1)], 1.09)["name"] for _ in range(10)]
        r = close_shift(api, sim, opening, names)
        assert r.json()["data"]["status"] == "Queued"
        assert messages(r.json())[0]["message"] == ("POS Invoices will be consolidated in a "
                                                    "background process")
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            status = api.get(f"/api/resource/POS Closing Entry/{r.json()['data']['name']}")
            if status.json()["data"]["status"] != "Queued":
                break
            time.sleep(0.02)
        assert status.json()["data"]["status"] == "Submitted"


def move_stock(api: httpx.Client, purpose: str, qty: float, when: str | None = None) -> None:
    side = "s_warehouse" if purpose == "Material Issue" else "t_warehouse"
    at = {"set_posting_time": 1, "posting_date": when[:10], "posting_time": when[11:]} \
        if when else {}
    r = api.post("/api/resource/Stock Entry", json={
        "stock_entry_type": purpose, "company": COMPANY, "docstatus": 1, **at,
        "items": [{"item_code": MILK, "qty": qty, side: WAREHOUSE}]})
    assert r.status_code == 200, r.text


def test_unsorted_backdated_closing_fails_then_retries(sim: Simulator,
                                                       api: httpx.Client) -> None:
    opening = open_shift(api, sim)
    move_stock(api, "Material Issue", 100, "2026-01-01 00:00:00")  # none from then on …
    move_stock(api, "Material Receipt", 10)  # … until now
    names = [sell(api, [(MILK, 1)], 1.09)["name"] for _ in range(9)]
    names.append(sell(api, [(MILK, 1)], 1.09, set_posting_time=1, posting_date="2026-01-02",
                      posting_time="10:00:00")["name"])  # last in the list, booked earlier
    closing = close_shift(api, sim, opening, names).json()["data"]["name"]
    assert sim.run_jobs() == 1
    failed = sim.get("POS Closing Entry", closing) or {}
    assert failed["status"] == "Failed"
    assert failed["error_message"].startswith("<strong>1.0</strong> units of <a href=")
    retry = api.post(f"/api/resource/POS Closing Entry/{closing}",
                     params={"run_method": "retry"})
    assert retry.json().keys() == {"_server_messages"}
    assert (sim.get("POS Closing Entry", closing) or {})["status"] == "Queued"
    move_stock(api, "Material Receipt", 10, "2026-01-01 12:00:00")
    sim.run_jobs()
    assert (sim.get("POS Closing Entry", closing) or {})["status"] == "Submitted"


def test_cancel_closing_reopens_the_shift(sim: Simulator, api: httpx.Client) -> None:
    opening = open_shift(api, sim)
    names = [sell(api, [(MILK, 1)], 1.09)["name"]]
    closing = close_shift(api, sim, opening, names).json()["data"]["name"]
    r = api.post("/api/method/frappe.client.cancel",
                 json={"doctype": "POS Closing Entry", "name": closing})
    assert (r.json()["message"]["docstatus"], r.json()["message"]["status"]) == (2, "Cancelled")
    assert (sim.get("POS Opening Entry", opening) or {})["status"] == "Open"
    assert (sim.get("POS Invoice", names[0]) or {})["status"] == "Paid"
    assert ls(api, "Bin", fields=["actual_qty"], filters={"item_code": MILK}) == [
        {"actual_qty": 100.0}]


# -- faults -------------------------------------------------------------------------------
def test_down_and_slow(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.down = True
    with pytest.raises(httpx.TransportError):
        api.get("/api/resource/Item")
    sim.faults.down = False
    sim.faults.slow_ms = 150
    start = time.monotonic()
    assert api.get("/api/resource/Item").status_code == 200
    assert time.monotonic() - start >= 0.15
    assert sim.requests[-2:] == [simulator.LoggedRequest("GET", "/api/resource/Item", 0),
                                 simulator.LoggedRequest("GET", "/api/resource/Item", 200)]


def test_fail_next_commits_nothing(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.fail_next(2, status=503)
    body = {"customer_name": "Ada"}
    for _ in range(2):
        r = api.post("/api/resource/Customer", json=body)
        assert r.status_code == 503 and "exc_type" in r.json()
    assert sim.get("Customer", "Ada") is None
    assert api.post("/api/resource/Customer", json=body).status_code == 200


def test_rate_limit_with_retry_after(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.only_paths = "POST /api/resource/Customer"
    sim.faults.rate_limit_next(1, retry_after=3)
    assert api.get("/api/resource/Customer").status_code == 200  # not targeted
    r = api.post("/api/resource/Customer", json={"customer_name": "Ada"})
    assert (r.status_code, r.headers["Retry-After"]) == (429, "3")
    assert api.post("/api/resource/Customer", json={"customer_name": "Ada"}).status_code == 200


def test_identical_posts_at_once_create_one_invoice(sim: Simulator, api: httpx.Client) -> None:
    open_shift(api, sim)
    body = invoice([(MILK, 1)], 1.09, name="C01-2026-000007")
    statuses: list[int] = []

    def post() -> None:
        with client_for(sim) as own:
            statuses.append(own.post("/api/resource/POS Invoice", json=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert sorted(statuses) == [200] + [409] * 7


def test_a_repeat_is_validated_before_it_is_found_duplicate(sim: Simulator,
                                                            api: httpx.Client) -> None:
    # Frappe validates, then inserts: a repeat that no longer validates (its shift closed
    # meanwhile) is a 417, not a 409. The forwarder must look the name up.
    opening = open_shift(api, sim)
    body = invoice([(MILK, 1)], 1.09, name="C01-2026-000008")
    assert api.post("/api/resource/POS Invoice", json=body).status_code == 200
    assert close_shift(api, sim, opening, ["C01-2026-000008"]).status_code == 200
    repeat = api.post("/api/resource/POS Invoice", json=body)
    assert (repeat.status_code, repeat.json()["exc_type"]) == (417, "ValidationError")
    assert api.get("/api/resource/POS Invoice/C01-2026-000008").status_code == 200


def test_timeout_after_commit_is_exactly_once_material(sim: Simulator) -> None:
    with client_for(sim, timeout=0.3) as api:
        open_shift(api, sim)
        sim.faults.timeout_after_commit_next(1, hang_s=2.0)
        body = invoice([(MILK, 1)], 1.09, name="C01-2026-000042")
        with pytest.raises(httpx.TimeoutException):
            api.post("/api/resource/POS Invoice", json=body)
        assert (sim.get("POS Invoice", "C01-2026-000042") or {})["docstatus"] == 1
        repeat = api.post("/api/resource/POS Invoice", json=body)
        assert (repeat.status_code, repeat.json()["exc_type"]) == (409, "DuplicateEntryError")


def test_a_simulator_in_its_own_process_withholds_a_booked_answer_on_command() -> None:
    # What the fault suite does to the simulator on a host of its own: the next opening is
    # booked, its answer never comes, and the command line says who was left waiting.
    sim = subprocess.Popen([sys.executable, "-m", "tillmesh.lab.erpnext_simulator",
                            "--control"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)
    assert sim.stdin is not None and sim.stdout is not None
    try:
        said = dict(sim.stdout.readline().split(":", 1) for _ in range(4))
        url, token = said["url"].strip(), f"{said['key'].strip()}:{said['secret'].strip()}"
        sim.stdin.write("bogus\nhold 0.2 POST /api/resource/POS Opening Entry\n")
        sim.stdin.flush()
        assert sim.stdout.readline().startswith("error: not a command: 'bogus'")
        with httpx.Client(base_url=url, timeout=10.0,
                          headers={"Authorization": f"token {token}"}) as api:
            body = {"company": COMPANY, "pos_profile": PROFILE, "user": said["user"].strip(),
                    "period_start_date": "2026-11-26 08:00:00", "posting_date": "2026-11-26",
                    "balance_details": [{"mode_of_payment": "Cash", "opening_amount": 100}],
                    "docstatus": 1, "name": "C01-OPEN-1"}
            with pytest.raises(httpx.RemoteProtocolError):
                api.post("/api/resource/POS Opening Entry", json=body)
            assert sim.stdout.readline().split() == [
                "held", "127.0.0.1", "POST", "/api/resource/POS", "Opening", "Entry"]
            booked = api.get("/api/resource/POS Opening Entry/C01-OPEN-1")
            assert booked.json()["data"]["status"] == "Open"
    finally:
        sim.terminate()
        sim.wait(10)
