"""The catalog as a cashier meets it: scanning, prices, search, customers; and that it is a
projection (rebuild and any delivery order give the same tables)."""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from tillmesh.lab.demo_data import bulk_barcode, bulk_item_code, bulk_items, demo_master_docs
from tillmesh.node import projections
from tillmesh.node.domain.barcode import DEFAULT_RULES, build_embedded
from tillmesh.node.errors import BarcodeError, NotFoundError, StoreError
from tillmesh.node.projections import catalog, projection_tables
from tillmesh.node.projections.master_data import DELETED, UPSERTED, get_doc, upserted_body
from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_codec import Event, pack_body
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.tables import digests

MOD = "2026-11-01 09:00:00.000000"
LATER = "2026-11-02 09:00:00.000000"
EARLIER = "2026-10-01 09:00:00.000000"
SELLING = "Standard Selling"
DAY = date(2026, 11, 26)  # a day on which the prices without validity dates hold
CATALOG_TABLES = ["catalog_items", "catalog_item_uoms", "catalog_barcodes", "catalog_prices",
                  "catalog_uoms", "catalog_customers"]


def new_log(path: Path, origin: str = "C01", **options: Any) -> EventLog:
    path.mkdir(parents=True, exist_ok=True)
    return EventLog(open_engine(path / "db", create_key_file(path / "key")), origin, **options)


def upsert(log: EventLog, doctype: str, doc: dict[str, Any], modified: str = MOD) -> None:
    with log.transaction() as tx:
        tx.append("master.upserted", upserted_body(doctype, doc, modified))


def delete(log: EventLog, doctype: str, name: str, modified: str = LATER) -> None:
    with log.transaction() as tx:
        tx.append("master.deleted", {"doctype": doctype, "name": name, "modified": modified})


def item(code: str, name: str, *barcodes: str | tuple[str, str], uom: str = "Nos",
         **extra: Any) -> dict[str, Any]:
    rows = [{"barcode": b, "uom": uom} if isinstance(b, str) else {"barcode": b[0], "uom": b[1]}
            for b in barcodes]
    return {"name": code, "item_code": code, "item_name": name, "item_group": "Test",
            "stock_uom": uom, "disabled": 0, "is_stock_item": 1, "barcodes": rows,
            "uoms": [{"uom": uom, "conversion_factor": 1}], **extra}


def price(name: str, code: str, rate: str, uom: str = "Nos", **extra: Any) -> dict[str, Any]:
    return {"name": name, "item_code": code, "uom": uom, "price_list": SELLING,
            "price_list_rate": rate, **extra}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> EventLog:
    log = new_log(tmp_path_factory.mktemp("demo"))
    with log.transaction() as tx:
        for doctype, doc in demo_master_docs():
            tx.append("master.upserted", upserted_body(doctype, doc))
    return log


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return new_log(tmp_path)


def scan(log: EventLog, code: str) -> catalog.Scan:
    with log.reading() as s:
        return catalog.scan(s, code, DEFAULT_RULES)


def search(log: EventLog, text_: str, limit: int = 20) -> list[str]:
    with log.reading() as s:
        return [hit.item_code for hit in catalog.search(s, text_, limit)]


def price_for(log: EventLog, code: str, uom: str, on: date = DAY) -> Decimal:
    with log.reading() as s:
        return catalog.price_for(s, catalog.get_item(s, code), uom, SELLING, on=on)


# --- the demo store, as its docstring tells a tester ----------------------------------------


def test_the_demo_codes_do_what_the_readme_says(demo):
    assert scan(demo, "4250100000011") == catalog.Scan("DAI-0001", "Nos", None, None,
                                                       "4250100000011")
    assert price_for(demo, "DAI-0001", "Nos") == Decimal("1.09")
    assert scan(demo, "4250100001223").item_code == "BEV-0002"
    assert price_for(demo, "BEV-0002", "Nos") == Decimal("0.59")
    box = scan(demo, "4250200001222")
    assert (box.item_code, box.uom) == ("BEV-0002", "Box")
    assert price_for(demo, "BEV-0002", "Box") == Decimal("6.37")  # its own Box price
    cola = scan(demo, "4250200001246")
    assert (cola.item_code, cola.uom) == ("BEV-0004", "Box")
    assert price_for(demo, "BEV-0004", "Box") == Decimal("10.68")  # 12 x 0.89
    apples = scan(demo, "2100101012501")
    assert (apples.item_code, apples.uom, apples.qty, apples.amount) == (
        "FRU-0101", "Kg", Decimal("1.250"), None)
    assert price_for(demo, "FRU-0101", "Kg") == Decimal("2.49")
    gouda = scan(demo, "2800201004993")
    assert (gouda.item_code, gouda.uom, gouda.qty, gouda.amount) == (
        "CHE-0201", "Kg", None, Decimal("4.99"))
    with pytest.raises(NotFoundError, match="^Item BEV-0001 is disabled$"):
        scan(demo, "4250100001216")
    with pytest.raises(BarcodeError, match="^Bad check digit in barcode 4250100000012: "
                                           "expected 1$"):
        scan(demo, "4250100000012")


def test_demo_store_is_deterministic_and_believable():
    docs = demo_master_docs()
    assert docs == demo_master_docs()
    items = [d for t, d in docs if t == "Item"]
    assert 250 <= len(items) <= 350
    assert len({b["barcode"] for d in items for b in d["barcodes"]}) == sum(
        len(d["barcodes"]) for d in items)
    profile = next(d for t, d in docs if t == "POS Profile")
    assert (profile["company"], profile["warehouse"], profile["selling_price_list"],
            profile["currency"], profile["allow_partial_payment"]) == (
        "Demo Store GmbH", "Stores - DS", SELLING, "EUR", 0)
    assert [p["mode_of_payment"] for p in profile["payments"]] == ["Cash", "Card"]
    names = {(t, d["name"]) for t, d in docs}
    assert {("Customer", "Walk-in Customer"), ("Item Tax Template", "VAT 7% - DS"),
            ("Sales Taxes and Charges Template", "Germany VAT 19% incl - DS"),
            ("Mode of Payment", "Cash"), ("UOM", "Kg")} <= names


def test_the_demo_pos_profile_loads_as_a_selling_context(demo):
    from tillmesh.node.projections.pos_profile import load_context

    with demo.reading() as s:
        ctx = load_context(s, "Demo POS")
    assert (ctx.company, ctx.price_list, ctx.customer) == ("Demo Store GmbH", SELLING,
                                                           "Walk-in Customer")
    assert ctx.modes["Cash"].account == "Cash - DS" and ctx.cash_mode == "Cash"
    assert [(t.account_head, t.rate, t.included_in_print_rate) for t in ctx.taxes] == [
        ("VAT 19% - DS", Decimal(19), True), ("Output VAT 7% - DS", Decimal(0), True)]


def test_get_item_tells_uoms_factors_whole_numbers_and_tax_template(demo):
    with demo.reading() as s:
        water = catalog.get_item(s, "BEV-0002")
        milk = catalog.get_item(s, "DAI-0001")
        apples = catalog.get_item(s, "FRU-0101")
        water_codes = catalog.barcodes_of(s, "BEV-0002")
    assert water.uoms == (catalog.UomInfo("Nos", Decimal(1), True),
                          catalog.UomInfo("Box", Decimal(12), True))
    assert water.uom("Box") == (Decimal(12), True)
    assert water.uom_names() == ["Nos", "Box"]
    assert water.item_tax_template is None  # drinks take the profile's 19%
    assert water_codes == ("4250100001223", "4250200001222")
    assert milk.item_tax_template == "VAT 7% - DS"
    assert (milk.item_name, milk.item_group, milk.stock_uom) == ("Alpenhof Whole Milk 1l",
                                                                 "Dairy", "Nos")
    assert apples.uoms == (catalog.UomInfo("Kg", Decimal(1), False),)
    with pytest.raises(NotFoundError, match="^UOM Kg is not set up for item BEV-0002$"):
        water.uom("Kg")
    with demo.reading() as s, pytest.raises(NotFoundError, match="^Item NOPE not found$"):
        catalog.get_item(s, "NOPE")


def test_prices_own_uom_else_stock_price_times_factor_else_a_clear_error(demo):
    with pytest.raises(NotFoundError, match="^UOM Box is not set up for item DAI-0001$"):
        price_for(demo, "DAI-0001", "Box")
    with demo.reading() as s, pytest.raises(NotFoundError,
                                            match="^No price for DAI-0001 in Other List$"):
        catalog.price_for(s, catalog.get_item(s, "DAI-0001"), "Nos", "Other List", on=DAY)
    with pytest.raises(NotFoundError, match="^Item BEV-0001 is disabled$"):
        price_for(demo, "BEV-0001", "Nos")


def test_search_finds_by_name_prefixes_code_and_barcode(demo):
    assert search(demo, "alpen wat") == ["BEV-0002", "BEV-0003"]
    assert search(demo, "ALPEN   Spark") == ["BEV-0002"]
    assert search(demo, "DAI-0001")[0] == "DAI-0001"
    assert search(demo, "dai-000")[:3] == ["DAI-0001", "DAI-0002", "DAI-0003"]
    assert search(demo, "4250100000011") == ["DAI-0001"]
    assert search(demo, "42501000000") == [f"DAI-000{n}" for n in range(1, 10)]
    assert search(demo, "bergkase") == ["CHE-0204"]  # diacritics are ignored
    assert search(demo, "00201") == ["CHE-0201"]  # a PLU is a barcode too
    assert search(demo, "milk", limit=3) == ["SNK-0001", "DAI-0002", "DAI-0001"]
    assert "BEV-0001" not in search(demo, "orange juice")  # disabled
    assert search(demo, "orange juice")


@pytest.mark.parametrize("text_", ["", "   ", "\x00", "-", "*", '"', "'", "NEAR(", "OR", "AND NOT",
                                   'alpen" OR "x', "milk*", "^milk", "a:b", "(((", "\\", "%", "_",
                                   "\ud800", "ǅ", "\u0301", "💳 milk", "x" * 10_000,
                                   "item_name:milk", "{item_name}: milk", "NEAR(milk water, 2)"])
def test_hostile_search_text_never_raises(demo, text_):
    assert isinstance(search(demo, text_), list)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=40))
def test_any_search_text_gives_a_list(demo, text_):
    with demo.reading() as s:
        hits = catalog.search(s, text_)
        catalog.search_customers(s, text_)
    assert all(isinstance(h, catalog.ItemHit) for h in hits)


def test_customers_by_name_phone_and_email(demo):
    def names(text_: str) -> list[str]:
        with demo.reading() as s:
            return [c.name for c in catalog.search_customers(s, text_)]

    assert names("anna") == ["Anna Schmidt"]
    assert names("0151 2345") == ["Anna Schmidt"]  # the national form of +49 151 …
    assert names("CAFÉ") == ["Café Lindenblüte"]
    assert names("hotel@") == ["Hotel Am Park GmbH"]
    assert names("%") == names("_") == names("") == []
    with demo.reading() as s:
        walk_in = catalog.get_customer(s, "Walk-in Customer")
        assert walk_in.customer_group == "Individual"
        with pytest.raises(NotFoundError, match="^Customer Nobody not found$"):
            catalog.get_customer(s, "Nobody")


# --- scanning --------------------------------------------------------------------------------


def test_ean8_upca_and_internal_codes_scan(log):
    upsert(log, "Item", item("PEN", "Pen", "96385074", "036000291452", "SHELF-17"))
    upsert(log, "Item", item("GUM", "Gum", "0012345678905"))  # a UPC-A kept as EAN-13
    assert scan(log, "96385074").item_code == "PEN"
    assert scan(log, "036000291452").item_code == "PEN"
    assert scan(log, "0036000291452").item_code == "PEN"  # the scanner sent the EAN-13 form
    assert scan(log, " SHELF-17\r\n").item_code == "PEN"  # scanners append a line end
    assert scan(log, "012345678905").item_code == "GUM"
    with pytest.raises(BarcodeError, match="^Unknown barcode 4006381333931$"):
        scan(log, "4006381333931")
    with pytest.raises(BarcodeError, match="^Unknown barcode SHELF-18$"):
        scan(log, "SHELF-18")
    with pytest.raises(BarcodeError, match="^Bad check digit in barcode 96385075: expected 4$"):
        scan(log, "96385075")
    with pytest.raises(BarcodeError, match="^Empty barcode$"):
        scan(log, "  ")


def test_a_registered_2x_code_wins_over_the_scale_rules(log):
    code = build_embedded(DEFAULT_RULES[0], "00007", "0.5")
    upsert(log, "Item", item("STORE-LABEL", "Gift wrap", code))
    assert scan(log, code) == catalog.Scan("STORE-LABEL", "Nos", None, None, code)


def test_weighed_labels_need_a_known_plu_and_a_right_check_digit(log):
    upsert(log, "Item", item("HAM", "Ham", "42", uom="Kg"))  # PLU registered without zeros
    label = build_embedded(DEFAULT_RULES[0], "00042", "0.187")
    assert scan(log, label) == catalog.Scan("HAM", "Kg", Decimal("0.187"), None, label)
    with pytest.raises(BarcodeError, match="^Unknown PLU 00043 in label "):
        scan(log, build_embedded(DEFAULT_RULES[0], "00043", "0.187"))
    with pytest.raises(BarcodeError, match="^Bad check digit"):
        scan(log, label[:-1] + str((int(label[-1]) + 1) % 10))


# --- master data changes ---------------------------------------------------------------------


def test_disabled_items_are_kept_but_never_sold_and_come_back_when_enabled(log):
    upsert(log, "Item", item("TEA", "Green Tea", "4006381333931"))
    upsert(log, "Item Price", price("P-TEA", "TEA", "4.20"))
    upsert(log, "Item", item("TEA", "Green Tea", "4006381333931", disabled=1), LATER)
    with pytest.raises(NotFoundError, match="^Item TEA is disabled$"):
        scan(log, "4006381333931")
    with log.reading() as s, pytest.raises(NotFoundError, match="disabled"):
        catalog.get_item(s, "TEA")
    assert search(log, "green") == search(log, "TEA") == []
    upsert(log, "Item", item("TEA", "Green Tea", "4006381333931"), "2026-11-03 09:00:00.000000")
    assert scan(log, "4006381333931").item_code == "TEA"
    assert search(log, "green") == ["TEA"]
    assert price_for(log, "TEA", "Nos") == Decimal("4.20")


def test_a_deleted_item_disappears_from_scan_search_and_prices(log):
    upsert(log, "Item", item("MUG", "Lab Mug", "4006381333931"))
    upsert(log, "Item Price", price("P-MUG", "MUG", "8"))
    delete(log, "Item", "MUG")
    with pytest.raises(BarcodeError, match="^Unknown barcode 4006381333931$"):
        scan(log, "4006381333931")
    assert search(log, "mug") == search(log, "4006381333931") == []
    with pytest.raises(NotFoundError, match="^Item MUG not found$"):
        price_for(log, "MUG", "Nos")
    with log.reading() as s:
        assert s.execute(text("SELECT count(*) FROM catalog_search")).scalar() == 0


def test_an_older_modified_arriving_later_does_not_overwrite(log):
    upsert(log, "Item", item("TEA", "Green Tea 100g", "4006381333931"), LATER)
    upsert(log, "Item", item("TEA", "Black Tea", "96385074"), EARLIER)
    upsert(log, "Item Price", price("P-TEA", "TEA", "4.50"), LATER)
    upsert(log, "Item Price", price("P-TEA", "TEA", "4.20"), EARLIER)
    assert scan(log, "4006381333931").item_code == "TEA"
    with pytest.raises(BarcodeError):
        scan(log, "96385074")
    assert search(log, "black") == [] and search(log, "green") == ["TEA"]
    assert price_for(log, "TEA", "Nos") == Decimal("4.50")


def test_a_renamed_item_is_found_by_its_new_name_only(log):
    upsert(log, "Item", item("TEA", "Green Tea", "4006381333931"))
    upsert(log, "Item", item("TEA", "Jasmine Tea", "4006381333931"), LATER)
    assert search(log, "green") == [] and search(log, "jasm") == ["TEA"]


def test_an_item_price_may_move_to_another_uom(log):
    upsert(log, "Item", item("COLA", "Cola", "4006381333931",
                             uoms=[{"uom": "Nos", "conversion_factor": 1},
                                   {"uom": "Box", "conversion_factor": "24"}]))
    upsert(log, "Item Price", price("P1", "COLA", "0.89"))
    assert price_for(log, "COLA", "Box") == Decimal("21.36")
    upsert(log, "Item Price", price("P1", "COLA", "19.99", uom="Box"), LATER)
    assert price_for(log, "COLA", "Box") == Decimal("19.99")
    with pytest.raises(NotFoundError, match="^No price for COLA in Standard Selling$"):
        price_for(log, "COLA", "Nos")


@pytest.mark.parametrize("change", [{"customer": "Anna Schmidt"}, {"supplier": "Teahouse"},
                                    {"batch_no": "B-7"}, {"price_list_rate": "four"},
                                    {"item_code": ""}])
def test_a_shelf_price_that_becomes_another_kind_or_unreadable_leaves_the_shelf(log, change):
    upsert(log, "Item", item("TEA", "Tea", "4006381333931"))
    upsert(log, "Item Price", price("P-TEA", "TEA", "4.20"))
    assert price_for(log, "TEA", "Nos") == Decimal("4.20")
    upsert(log, "Item Price", {**price("P-TEA", "TEA", "4.20"), **change}, LATER)
    with pytest.raises(NotFoundError, match="^No price for TEA in Standard Selling$"):
        price_for(log, "TEA", "Nos")


def test_prices_follow_their_validity_dates(log):
    upsert(log, "Item", item("TEA", "Tea", "4006381333931"))
    upsert(log, "Item Price", price("OLD", "TEA", "4.20", valid_from="2026-01-01"))
    upsert(log, "Item Price", price("NEW", "TEA", "4.50", valid_from="2026-12-01"))
    upsert(log, "Item Price", price("PROMO", "TEA", "3.00", valid_from="2026-11-10",
                                    valid_upto="2026-11-12"))
    upsert(log, "Item Price", price("ANNA", "TEA", "1.00", customer="Anna Schmidt"))
    assert price_for(log, "TEA", "Nos", on=date(2026, 11, 1)) == Decimal("4.20")
    assert price_for(log, "TEA", "Nos", on=date(2026, 11, 11)) == Decimal("3.00")
    assert price_for(log, "TEA", "Nos", on=date(2026, 11, 13)) == Decimal("4.20")
    assert price_for(log, "TEA", "Nos", on=date(2026, 12, 1)) == Decimal("4.50")


def test_a_barcode_moving_between_items_ends_on_the_new_one_in_either_order(tmp_path):
    a_old = ("Item", item("A", "Old owner", "4006381333931"), MOD)
    a_new = ("Item", item("A", "Old owner", "96385074"), LATER)
    b_new = ("Item", item("B", "New owner", "4006381333931"), LATER)
    for n, order in enumerate([(a_old, a_new, b_new), (a_old, b_new, a_new)]):
        log = new_log(tmp_path / str(n))
        for doctype, doc, modified in order:
            upsert(log, doctype, doc, modified)
        assert scan(log, "4006381333931").item_code == "B"
        assert scan(log, "96385074").item_code == "A"


def test_while_two_items_hold_a_barcode_the_enabled_then_lowest_code_wins(log):
    upsert(log, "Item", item("B", "Bee", "4006381333931"))
    upsert(log, "Item", item("A", "Ay", "4006381333931", disabled=1))
    assert scan(log, "4006381333931").item_code == "B"
    upsert(log, "Item", item("A", "Ay", "4006381333931"), LATER)
    assert scan(log, "4006381333931").item_code == "A"


def test_malformed_documents_are_indexed_as_far_as_they_make_sense(log):
    # An indexer that raised would refuse the event and stall replication for good.
    upsert(log, "Item", {"name": "ODD", "barcodes": None, "uoms": [None, {"uom": "Box"},
                         {"uom": "Pack", "conversion_factor": "many"}], "taxes": "x",
                         "disabled": "yes"})
    upsert(log, "Item Price", price("P-ODD", "ODD", "twelve"))
    upsert(log, "Item Price", {"name": "P-EMPTY"})
    upsert(log, "UOM", {"name": "Pack", "must_be_whole_number": None})
    upsert(log, "Customer", {"name": "C-1"})
    with log.reading() as s:
        info = catalog.get_item(s, "ODD")
        assert (info.item_name, info.stock_uom, info.uom_names()) == ("ODD", "Nos", ["Nos"])
        with pytest.raises(NotFoundError):
            catalog.price_for(s, catalog.get_item(s, "ODD"), "Nos", SELLING, on=DAY)
        assert catalog.get_customer(s, "C-1").customer_name == "C-1"


def test_customers_created_offline_and_disabled_ones(log):
    with log.transaction() as tx:
        tx.append("customer.created", {"doctype": "Customer", "name": "C01-CUST-00001",
                                       "modified": MOD, "doc": {
                                           "name": "C01-CUST-00001", "customer_name": "Erika",
                                           "mobile_no": "0170 1234567"}})
    upsert(log, "Customer", {"name": "Old Firm", "customer_name": "Old Firm", "disabled": 1})
    with log.reading() as s:
        assert [c.name for c in catalog.search_customers(s, "1701234")] == ["C01-CUST-00001"]
        assert catalog.search_customers(s, "old firm") == []
        with pytest.raises(NotFoundError, match="^Customer Old Firm is disabled$"):
            catalog.get_customer(s, "Old Firm")
    delete(log, "Customer", "C01-CUST-00001")
    with log.reading() as s:
        assert catalog.search_customers(s, "erika") == []


def test_a_search_id_collision_keeps_both_items(log, monkeypatch):
    monkeypatch.setattr(catalog, "_search_id", lambda code: 7)
    upsert(log, "Item", item("A", "Apple juice", "4006381333931"))
    upsert(log, "Item", item("B", "Apple pie", "96385074"))
    assert sorted(search(log, "apple")) == ["A", "B"]
    delete(log, "Item", "A")
    assert search(log, "apple") == ["B"]


def test_a_rolled_back_transaction_leaves_no_search_rows(log):
    with pytest.raises(RuntimeError), log.transaction() as tx:
        tx.append("master.upserted", upserted_body("Item", item("X", "Ghost", "96385074"), MOD))
        assert [h.item_code for h in catalog.search(tx.session, "ghost")] == ["X"]  # its own
        raise RuntimeError("power cut")
    upsert(log, "Item", item("Y", "Real", "4006381333931"))
    assert search(log, "ghost") == [] and search(log, "real") == ["Y"]


def test_store_errors_are_translated(log):
    with log.transaction() as tx, pytest.raises(StoreError, match="^store: "):
        catalog.index_uom(tx.session, ["not", "a", "name"], None)  # type: ignore[arg-type]


# --- a projection ----------------------------------------------------------------------------


def dump(log: EventLog) -> dict[str, Any]:
    queries = ["alpen", "a", "milk 1l", "dai-0", "4250", "kase", "bio", "00101"]
    with log.reading() as s:
        tables = {t.name: t for t in projection_tables()}
        out: dict[str, Any] = {
            name: [tuple(r) for r in s.execute(select(tables[name]).order_by(
                *tables[name].primary_key.columns))]
            for name in CATALOG_TABLES
        }
        out["search"] = {q: [h.item_code for h in catalog.search(s, q, 50)] for q in queries}
        out["fts_rows"] = s.execute(text("SELECT rowid FROM catalog_search ORDER BY 1")).all()
    return out


def _changes() -> list[tuple[str, str, dict[str, Any] | None, str]]:
    """Renames, disables, deletes, a stale write, a new item sharing a barcode."""
    return [
        ("Item", "DAI-0001", item("DAI-0001", "Alpenhof Bio Milk 1l", "4250100000011"), LATER),
        ("Item", "BEV-0002", None, LATER),
        ("Item", "BEV-0001", item("BEV-0001", "Orange Juice", "4250100001216"), LATER),
        ("Item", "DAI-0002", item("DAI-0002", "Milk", "4250100000028", disabled=1), LATER),
        ("Item Price", "P-NEW", price("P-NEW", "DAI-0001", "1.19"), LATER),
        ("UOM", "Box", None, LATER),
        ("Customer", "Anna Schmidt", {"name": "Anna Schmidt", "customer_name": "Anna S.",
                                      "mobile_no": "+49 151 0"}, LATER),
        ("Item", "DAI-0001", item("DAI-0001", "Stale", "4250100000011"), EARLIER),
        ("Item", "NEW-0001", item("NEW-0001", "Alpenhof Oat Milk", "4250100000011"), LATER),
    ]


def _record(log: EventLog, changes: list[tuple[str, str, dict[str, Any] | None, str]]) -> None:
    with log.transaction() as tx:
        for doctype, name, doc, modified in changes:
            if doc is None:
                tx.append("master.deleted", {"doctype": doctype, "name": name,
                                             "modified": modified})
            else:
                tx.append("master.upserted", upserted_body(doctype, doc, modified))


def test_rebuild_gives_identical_catalog_tables_and_search_results(demo, tmp_path):
    log = new_log(tmp_path)
    with log.transaction() as tx:
        for event in demo.events():
            tx.receive(event)
    _record(log, _changes())
    before = dump(log)
    assert before["search"]["alpen"] and before["fts_rows"]
    assert log.rebuild() == len(list(log.events()))
    assert dump(log) == before


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_any_delivery_order_across_counters_gives_the_same_catalog(demo, tmp_path, rng):
    c2 = new_log(Path(tempfile.mkdtemp(dir=tmp_path)), "C02")
    _record(c2, _changes())
    queues = [list(demo.events()), list(c2.events())]
    target = new_log(Path(tempfile.mkdtemp(dir=tmp_path)), "C03")
    with target.transaction() as tx:
        while queues:
            queue = rng.choice(queues)
            tx.receive(queue.pop(0))
            queues = [q for q in queues if q]
    reference = new_log(Path(tempfile.mkdtemp(dir=tmp_path)), "C04")
    with reference.transaction() as tx:
        for event in [*demo.events(), *c2.events()]:
            tx.receive(event)
    assert dump(target) == dump(reference)


# --- 100,000 items ---------------------------------------------------------------------------


def test_100k_items_scan_and_search_stay_right(tmp_path):
    # The indexers are called directly, in one transaction, as masterdata calls them: this
    # is the catalog at full size (~7 s). The event path is covered by the tests above.
    n = 100_000
    log = new_log(tmp_path)
    docs = list(bulk_items(n))
    index = {"Item": catalog.index_item, "Item Price": catalog.index_item_price}
    with log.transaction() as tx:
        for doctype, doc in docs:
            index[doctype](tx.session, doc["name"], doc)
    rng = random.Random(7)
    names = {doc["name"]: doc["item_name"] for doctype, doc in docs if doctype == "Item"}
    with log.reading() as s:
        assert s.execute(text("SELECT count(*) FROM catalog_search")).scalar() == n
        for i in rng.sample(range(n), 200):
            code = bulk_item_code(i)
            assert catalog.scan(s, bulk_barcode(i), DEFAULT_RULES).item_code == code
            assert catalog.search(s, code)[0].item_code == code
            assert catalog.search(s, bulk_barcode(i))[0].item_code == code
            brand, product = names[code].casefold().split()[:2]
            hits = catalog.search(s, f"{brand} {product[:5]}", limit=200)
            assert code in [h.item_code for h in hits]
            for hit in hits:
                tokens = hit.item_name.casefold().split()
                assert any(t.startswith(brand) for t in tokens)
                assert any(t.startswith(product[:5]) for t in tokens)
        assert len(catalog.search(s, "a", limit=20)) == 20
        item = catalog.get_item(s, bulk_item_code(42))
        assert catalog.price_for(s, item, "Nos", SELLING, on=DAY) > 0


# --- last writer wins, in any order -----------------------------------------------------

_WRITE = st.tuples(st.sampled_from([EARLIER, MOD, LATER]), st.integers(1, 4),
                   st.sampled_from(["C01", "C02", "C03"]), st.booleans())


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(_WRITE, min_size=1, max_size=8, unique_by=lambda w: w[1:3]),
       order=st.randoms(use_true_random=False))
def test_an_items_latest_write_wins_whatever_order_its_writes_arrive_in(tmp_path, writes, order):
    """Writes to one item (an upsert naming it by its write, or a delete) from several
    counters, ties on ``modified`` and on the HLC among them: the item shows the latest
    by (modified, HLC, counter), whichever order they are applied in."""
    events = [Event(origin, 1, hlc, 0, DELETED if gone else UPSERTED, pack_body(
        {"doctype": "Item", "name": "TEA", "modified": modified} if gone else
        upserted_body("Item", item("TEA", f"Tea {modified} {hlc} {origin}", "4006381333931"),
                      modified)), b"") for modified, hlc, origin, gone in writes]
    order.shuffle(events)
    log = new_log(Path(tempfile.mkdtemp(dir=tmp_path)))
    with log.transaction() as tx:
        projections.apply_all(tx.session, events)
    modified, hlc, origin, gone = max(writes, key=lambda w: w[:3])
    with log.reading() as s:
        doc = get_doc(s, "Item", "TEA")
    if gone:
        assert doc is None and search(log, "tea") == []
    else:
        assert doc is not None and doc["item_name"] == f"Tea {modified} {hlc} {origin}"
        assert scan(log, "4006381333931").item_code == "TEA" and search(log, "tea") == ["TEA"]


# --- a pull's step: many events at once --------------------------------------------------

_PULLED = st.tuples(st.sampled_from(["Item", "Item Price"]), st.sampled_from(["A", "B", "C"]),
                    st.sampled_from([EARLIER, MOD, LATER]), st.booleans(),
                    st.sampled_from(["Tea", "Green Tea", "Coffee"]))


def _pulled_entry(doctype: str, code: str, modified: str, gone: bool, name: str,
                  ) -> tuple[str, dict[str, Any]]:
    """An event a pull records: item ``code`` or its price written or deleted."""
    doc_name = code if doctype == "Item" else f"P-{code}"
    if gone:
        return "master.deleted", {"doctype": doctype, "name": doc_name, "modified": modified}
    doc = (item(code, f"{name} {code}", f"200000000000{ord(code) % 10}")
           if doctype == "Item" else price(doc_name, code, f"{len(name)}.50"))
    return "master.upserted", upserted_body(doctype, doc, modified)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pulled=st.lists(_PULLED, min_size=1, max_size=12), cuts=st.sets(st.integers(1, 11)))
def test_a_pull_recorded_a_step_at_a_time_builds_what_one_event_at_a_time_builds(
        tmp_path, pulled, cuts):
    """A pull records each step's events with one insert and one pass of the projections
    (``append_many``): items and prices written, rewritten and deleted, cut into steps
    anywhere, give the same events and every table row for row as one event at a time."""
    entries = [_pulled_entry(*p) for p in pulled]
    at = datetime(2026, 11, 1, 9, tzinfo=UTC)  # one wall clock: the same HLC stamps on both
    one_by_one, in_steps = (new_log(Path(tempfile.mkdtemp(dir=tmp_path)), clock=lambda: at)
                            for _ in range(2))  # a store of their own at every example
    with one_by_one.transaction() as tx:
        for kind, body in entries:
            tx.append(kind, body)
    bounds = [0, *sorted(c for c in cuts if c < len(entries)), len(entries)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        with in_steps.transaction() as tx:
            assert all(isinstance(e, Event) for e in tx.append_many(entries[lo:hi]))
    assert [e.hash for e in in_steps.events()] == [e.hash for e in one_by_one.events()]
    tables = []
    for log_ in (one_by_one, in_steps):
        with log_.reading() as s:
            tables.append(digests(s.connection().connection.driver_connection))
    assert tables[0] == tables[1]
