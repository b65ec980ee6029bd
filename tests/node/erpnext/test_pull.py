"""The master-data pull: ERPNext simulator (127.0.0.1) -> events -> catalog, and its paging.

The simulator is the demo store (node.demo_data) as ERPNext would hold it; pulled events
go into a real node store built with tests/nodekit.py.
"""

from __future__ import annotations

import gc
import json
from datetime import date
from decimal import Decimal

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.nodekit import make_node, sync
from tillmesh.node.domain.barcode import rules_from_config
from tillmesh.node.erpnext import Direct, ErpNextClient, const, pull
from tillmesh.node.erpnext import _mapping as mapping
from tillmesh.node.erpnext import _paging as paging
from tillmesh.node.erpnext._pull_job import OnLoop
from tillmesh.node.erpnext._settings import ErpNextSettings, save
from tillmesh.node.errors import (
    ConfigError,
    ErpNextError,
    ErpNextUnreachable,
    NotFoundError,
    StoreError,
)
from tillmesh.node.projections import catalog
from tillmesh.node.projections.master_data import get_doc
from tillmesh.node.projections.stock import on_hand
from tillmesh.node.projections.stock_keys import batch_key, serial_key
from tillmesh.node.store.event_codec import data

PROFILE = "Demo POS"
WAREHOUSE = "Stores - DS"
MILK = "4250100000011"  # DAI-0001, Alpenhof Whole Milk 1l, 1.09 EUR
WATER_BOX = "4250200001222"  # BEV-0002 by the Box of 12, 6.37 EUR
RULES = rules_from_config([])
SELLING = "Standard Selling"
DAY = date(2026, 11, 26)  # the test counter's date (nodekit.FakeClock)


@pytest.fixture
def counter(tmp_path):
    return make_node(tmp_path / "c01", seeded=False, profile=PROFILE)


def _price(s, item_code: str, uom: str) -> Decimal:
    """The item's list price in the Standard Selling list on the counter's date."""
    return catalog.price_for(s, catalog.get_item(s, item_code), uom, SELLING, on=DAY)


def run_pull(site, node, client_options=None, **kw):
    sim, url = site
    with ErpNextClient(url, sim.api_key, sim.api_secret, **(client_options or {})) as client:
        return pull(client, Direct(node.log), PROFILE, **kw)


def recorded(node, before: int) -> list:
    """The events ``node`` recorded itself since its seq was ``before``."""
    seq = node.log.vector()[node.node_id]
    return [(e.kind, data(e)) for e in node.log.range(node.node_id, before + 1, seq)]


def own_seq(node) -> int:
    return node.log.vector()[node.node_id]


def price_doc(sim, item_code: str) -> dict:
    return next(d for d in sim.docs("Item Price") if d["item_code"] == item_code
                and d.get("uom") in (None, "Nos", "Kg"))


# --- the pull into a real store ---------------------------------------------------------


def test_a_full_pull_fills_the_catalog_the_selling_context_and_stock(site, counter):
    sim, _ = site
    report = run_pull(site, counter)
    assert report.errors == []
    scopes = {s.scope: s for s in report.scopes}
    assert scopes["Item"].emitted == sum(1 for _ in sim.docs("Item"))
    assert scopes["Item Price@Standard Selling"].emitted > 250
    with counter.read() as s:
        hit = catalog.scan(s, MILK, RULES)
        assert hit.item_code == "DAI-0001"
        assert _price(s, "DAI-0001", "Nos") == Decimal("1.09")
        box = catalog.scan(s, WATER_BOX, RULES)
        assert (box.item_code, box.uom) == ("BEV-0002", "Box")
        assert _price(s, "BEV-0002", "Box") == Decimal("6.37")
        assert catalog.get_item(s, "DAI-0001").item_tax_template == "VAT 7% - DS"
        ctx = counter.context(s)
        assert ctx.warehouse == WAREHOUSE and set(ctx.modes) == {"Cash", "Card"}
        assert ctx.modes["Cash"].account == "Cash - DS"
        assert ctx.taxes[0].rate == Decimal("19")
        qty = Decimal(str(sim.get("Bin", next(b["name"] for b in sim.docs("Bin")
                                               if b["item_code"] == "DAI-0001"))["actual_qty"]))
        assert on_hand(s, "DAI-0001", WAREHOUSE).base == qty


def test_a_second_pull_with_nothing_changed_records_nothing(site, counter):
    run_pull(site, counter)
    before = own_seq(counter)
    report = run_pull(site, counter)
    assert report.errors == [] and report.emitted == 0
    assert own_seq(counter) == before


def test_after_a_price_change_only_that_price_is_recorded_again(site, counter):
    sim, _ = site
    run_pull(site, counter)
    doc = price_doc(sim, "DAI-0001")
    sim.put_doc("Item Price", {**doc, "price_list_rate": 1.19})
    before = own_seq(counter)
    report = run_pull(site, counter)
    events = recorded(counter, before)
    assert [(k, b["doctype"], b["name"]) for k, b in events] == [
        ("master.upserted", "Item Price", doc["name"])]
    assert report.emitted == 1
    with counter.read() as s:
        assert _price(s, "DAI-0001", "Nos") == Decimal("1.19")


def test_a_deleted_document_is_deleted_on_the_counter(site, counter):
    sim, _ = site
    run_pull(site, counter)
    doc = price_doc(sim, "DAI-0002")
    sim.delete_doc("Item Price", doc["name"])
    before = own_seq(counter)
    run_pull(site, counter)
    events = recorded(counter, before)
    assert [(k, b["name"]) for k, b in events] == [("master.deleted", doc["name"])]
    with counter.read() as s, pytest.raises(NotFoundError, match="No price"):
        _price(s, "DAI-0002", "Nos")
    before = own_seq(counter)
    run_pull(site, counter)  # the deletion is not recorded twice
    assert own_seq(counter) == before


def test_a_disabled_item_arrives_disabled_and_is_not_sold(site, counter):
    sim, _ = site
    run_pull(site, counter)
    sim.put_doc("Item", {**sim.get("Item", "DAI-0001"), "disabled": 1})
    run_pull(site, counter)
    with counter.read() as s:
        with pytest.raises(NotFoundError, match="disabled"):
            catalog.scan(s, MILK, RULES)
        assert catalog.search(s, "DAI-0001") == []


def test_a_stock_change_records_a_base_reading_for_that_item_only(site, counter):
    sim, _ = site
    run_pull(site, counter)
    sim.set_bin("DAI-0001", WAREHOUSE, 7)
    before = own_seq(counter)
    run_pull(site, counter, consolidated=lambda: ["C01-SH-000001"])
    bases = [b for k, b in recorded(counter, before) if k == "stock.base"]
    # the base now includes a consolidated shift: every item gets a new reading
    assert all(b["consolidated_shifts"] == ["C01-SH-000001"] for b in bases)
    assert sum(len(b["items"]) for b in bases) == sum(1 for _ in sim.docs("Bin"))
    before = own_seq(counter)
    sim.set_bin("DAI-0001", WAREHOUSE, 5)
    run_pull(site, counter, consolidated=lambda: ["C01-SH-000001"])
    bases = [b for k, b in recorded(counter, before) if k == "stock.base"]
    assert [{i: Decimal(q) for i, q in b["items"].items()} for b in bases] == [
        {"DAI-0001": Decimal(5)}]
    with counter.read() as s:
        assert on_hand(s, "DAI-0001", WAREHOUSE).base == 5


def test_many_equal_modified_across_page_boundaries(site, counter, monkeypatch):
    sim, _ = site
    monkeypatch.setattr(const, "PAGE_LENGTH", 25)
    monkeypatch.setattr(const, "CHILD_PAGE_LENGTH", 25)
    sim.add_items(60)  # like the demo items, they share one `modified`
    modified = [d["modified"] for d in sim.docs("Item")]
    assert len(modified) - len(set(modified)) > 2 * const.PAGE_LENGTH
    report = run_pull(site, counter)
    assert report.errors == []
    with counter.read() as s:
        held = set(s.scalars(select(catalog.CatalogItem.item_code)))
    assert held == {d["name"] for d in sim.docs("Item")}
    pages = sum(1 for r in sim.requests if r.path == "/api/resource/Item")
    assert pages <= 2 * (len(modified) // const.PAGE_LENGTH + 2)  # nothing read twice over
    before = own_seq(counter)
    assert run_pull(site, counter).emitted == 0 and own_seq(counter) == before


def test_pulled_master_data_replicates_to_a_counter_without_internet(site, counter, tmp_path):
    run_pull(site, counter)
    other = make_node(tmp_path / "c02", node_id="C02", seeded=False, profile=PROFILE)
    sync(counter.log, other.log)
    with other.read() as s:
        assert catalog.scan(s, MILK, RULES).item_code == "DAI-0001"
        assert _price(s, "DAI-0001", "Nos") == Decimal("1.09")
        assert other.context(s).warehouse == WAREHOUSE
    # a counter that takes over pulling records nothing it already has
    before = own_seq(other)
    assert run_pull(site, other).emitted == 0 and own_seq(other) == before


class Tamper(httpx.BaseTransport):
    """The real transport, with the answers of one path rewritten."""

    def __init__(self, path: str, rewrite) -> None:
        self.inner, self.path, self.rewrite = httpx.HTTPTransport(), path, rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path != self.path:
            return response
        payload = json.loads(response.read())
        return httpx.Response(response.status_code, json=self.rewrite(payload))


class DownAt(httpx.BaseTransport):
    """The real transport until a request for ``path``: from there on ERPNext is gone."""

    def __init__(self, path: str) -> None:
        self.inner, self.path, self.down = httpx.HTTPTransport(), path, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.down = self.down or request.url.path == self.path
        if self.down:
            raise httpx.ConnectError("connection refused")
        return self.inner.handle_request(request)


def test_a_changed_item_keeps_its_child_rows(site, counter):
    sim, _ = site
    run_pull(site, counter)
    with counter.read() as s:
        first = get_doc(s, "Item", "BEV-0002")
    sim.put_doc("Item", {**sim.get("Item", "BEV-0002"), "item_name": "Sparkling Water 1l"})
    run_pull(site, counter)
    with counter.read() as s:
        again = get_doc(s, "Item", "BEV-0002")
        assert catalog.scan(s, WATER_BOX, RULES).uom == "Box"
    assert again["item_name"] == "Sparkling Water 1l"
    for table in ("barcodes", "uoms", "taxes"):
        assert again[table] == first[table]
    assert [r["barcode"] for r in again["barcodes"]] == ["4250100001223", WATER_BOX]


def test_a_parent_listed_before_its_children_were_saved_is_read_again_whole(site, counter):
    sim, _ = site

    def older(payload):  # as if DAI-0001 was listed just before a save of its rows
        for row in payload["data"]:
            if row.get("name") == "DAI-0001" and "item_name" in row:
                row["modified"] = "2020-01-01 00:00:00.000000"
        return payload

    run_pull(site, counter, {"transport": Tamper("/api/resource/Item", older)})
    assert any(r.path == "/api/resource/Item/DAI-0001" for r in sim.requests)
    with counter.read() as s:
        doc = get_doc(s, "Item", "DAI-0001")
        assert doc["modified"] == sim.get("Item", "DAI-0001")["modified"]
        assert catalog.scan(s, MILK, RULES).item_code == "DAI-0001"


def test_a_malformed_row_is_logged_and_the_rest_is_pulled(site, counter, caplog):
    def spoil(payload):
        rows = payload["data"]
        if rows:
            rows[0] = {**rows[0], "modified": "yesterday"}
            rows.append({"item_code": "no name"})
        return payload

    report = run_pull(site, counter, {"transport": Tamper("/api/resource/Item", spoil)})
    assert len(report.errors) >= 2
    assert "modified 'yesterday' is not a date" in caplog.text
    item_scope = next(s for s in report.scopes if s.scope == "Item")
    assert item_scope.errors >= 2 and item_scope.emitted >= 280
    with counter.read() as s:
        assert catalog.scan(s, WATER_BOX, RULES).item_code == "BEV-0002"


def test_erpnext_going_away_ends_the_pull_and_the_next_pull_resumes(site, counter):
    sim, _ = site
    waits: list[float] = []
    with pytest.raises(ErpNextUnreachable, match="unreachable"):
        run_pull(site, counter, {"transport": DownAt("/api/resource/Item Price"),
                                 "sleep": waits.append})
    assert len(waits) == const.MAX_ATTEMPTS - 1
    with counter.read() as s:  # what came before the prices is kept
        assert catalog.scan(s, MILK, RULES).item_code == "DAI-0001"
    before = own_seq(counter)
    report = run_pull(site, counter)
    kinds = {b["doctype"] for k, b in recorded(counter, before) if k == "master.upserted"}
    assert kinds == {"Item Price"} and report.errors == []


class Watched(Direct):
    """Store access that notes, at each step, whether Python's cycle collector runs."""

    def __init__(self, log) -> None:
        super().__init__(log)
        self.collecting: list[bool] = []

    def __call__(self, work):
        self.collecting.append(gc.isenabled())
        return super().__call__(work)


@pytest.mark.parametrize("goes_away", [False, True])
def test_a_pull_holds_its_documents_without_the_cycle_collector_and_turns_it_back_on(
        site, counter, goes_away):
    """A full pass of the collector over what a pull holds stops every thread of the
    counter, its cashier's too: 0.25-0.57 s a pass, 5 to 15 passes a pull of 100,000
    items. It is paused while the pull runs, and back on after, ERPNext gone or not."""
    sim, url = site
    store = Watched(counter.log)
    transport = DownAt("/api/resource/Item Price") if goes_away else None
    with ErpNextClient(url, sim.api_key, sim.api_secret, transport=transport,
                       sleep=lambda s: None) as client:
        if goes_away:
            with pytest.raises(ErpNextUnreachable):
                pull(client, store, PROFILE)
        else:
            pull(client, store, PROFILE)
    assert store.collecting and not any(store.collecting) and gc.isenabled()


def test_the_daemon_path_pulls_in_a_thread_and_writes_on_the_loop(site, counter):
    import asyncio

    sim, url = site
    save(counter.config, ErpNextSettings(url, sim.api_key, sim.api_secret, PROFILE, False))
    recorded: list[int] = []  # events per transaction: each holds the loop while it runs
    order: list[str] = []  # "w": a step waited for the cashier; "r": one recorded events
    counter.log.listeners.append(lambda events: (recorded.append(len(events)),
                                                 order.append("r")))

    async def cashier_first() -> None:  # the daemon's: the local API's lull
        order.append("w")

    counter.cashier_first = cashier_first

    async def main():
        started = counter.call("erpnext_pull")
        assert started["state"] == "running"
        assert counter.call("erpnext_pull")["state"] == "running"  # one pull at a time
        for _ in range(600):
            status = counter.call("erpnext_status")
            if status["pull"]["state"] != "running":
                return status
            await asyncio.sleep(0.05)
        raise AssertionError("the pull did not end")

    status = asyncio.run(main())
    assert status["pull"]["state"] == "done", status["pull"]
    assert status["settings"]["url"] == url and "api_secret" not in status["settings"]
    assert any(s["scope"] == "Item" and s["emitted"] > 250 for s in status["scopes"])
    with counter.read() as s:
        assert catalog.scan(s, MILK, RULES).item_code == "DAI-0001"
    assert max(recorded) == const.EVENTS_PER_STEP_ON_LOOP  # small steps: a cashier waits little
    assert sum(recorded) >= sum(s["emitted"] for s in status["scopes"])
    assert order[0] == "w" and "rr" not in "".join(order)  # each step let the cashier first


def test_without_an_event_loop_the_api_pull_runs_to_its_end(site, counter):
    sim, url = site
    save(counter.config, ErpNextSettings(url, sim.api_key, sim.api_secret, PROFILE, False))
    view = counter.call("erpnext_pull")
    assert view["state"] == "done" and view["report"]["emitted"] > 500
    assert counter.call("erpnext_status")["pull"] == view


def test_the_api_says_when_erpnext_is_not_set_up(counter):
    with pytest.raises(ConfigError, match="not set up"):
        counter.call("erpnext_pull")
    status = counter.call("erpnext_status")
    assert "not set up" in status["settings"]["error"]
    assert status["pull"] == {"state": "idle"} and status["scopes"] == []


def test_store_steps_need_a_live_loop(counter):
    import asyncio

    loop = asyncio.new_event_loop()
    loop.close()
    with pytest.raises(StoreError, match="stopping"):
        OnLoop(counter.log, loop)(lambda log: None)


# --- mapping (pure) --------------------------------------------------------------------


ITEM = next(s for s in mapping.SPECS if s.doctype == "Item")


def test_child_rows_join_their_parent_in_idx_order_and_newer_rows_mark_it_stale():
    docs = {"A": mapping.parse_parent(ITEM, {"name": "A", "modified": "2026-11-26 10:00:00",
                                             "item_code": "A"})}
    barcodes = next(c for c in ITEM.children if c.field == "barcodes")
    rows = [{"parent": "A", "idx": 2, "barcode": "2", "modified": "2026-11-26 10:00:00"},
            {"parent": "A", "idx": 1, "barcode": "1", "modified": "2026-11-26 10:00:00"},
            {"parent": "Z", "idx": 1, "barcode": "9", "modified": "2026-11-26 10:00:00"}]
    assert mapping.attach(docs, barcodes, rows) == set()
    assert [r["barcode"] for r in docs["A"]["barcodes"]] == ["1", "2"]
    later = [{"parent": "A", "idx": 3, "barcode": "3", "modified": "2026-11-26 10:00:01"}]
    assert mapping.attach(docs, barcodes, later) == {"A"}


def test_only_documents_newer_than_those_held_are_emitted():
    assert mapping.is_newer("2026-11-26 10:00:00.000000", None)
    assert not mapping.is_newer("2026-11-26 10:00:00.000000",
                                ("2026-11-26 10:00:00.000000", False))
    assert not mapping.is_newer("2026-11-26 09:00:00.000000",
                                ("2026-11-26 10:00:00.000000", True))  # deleted later
    assert mapping.is_newer("2026-11-26 11:00:00.000000",
                            ("2026-11-26 10:00:00.000000", True))  # re-created


def test_deletions_only_for_documents_held_and_not_newer():
    row = {"deleted_doctype": "Item Price", "deleted_name": "P1",
           "creation": "2026-11-26 10:00:00.5"}
    when = "2026-11-26 10:00:00.500000"
    held = {"P1": ("2026-11-26 09:00:00.000000", False)}
    assert mapping.deletion(row, held) == (when, {"doctype": "Item Price", "name": "P1",
                                                  "modified": when})
    assert mapping.deletion(row, {}) == (when, None)
    assert mapping.deletion(row, {"P1": ("2026-11-26 09:00:00.000000", True)}) == (when, None)
    assert mapping.deletion(row, {"P1": ("2026-11-26 11:00:00.000000", False)}) == (when, None)


class Lines(httpx.HTTPTransport):
    """The real transport, noting the length of every request line."""

    def __init__(self) -> None:
        super().__init__()
        self.lengths: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.lengths.append(len(request.method) + 1 + len(request.url.raw_path) + 9)
        return super().handle_request(request)


def test_every_request_line_of_a_pull_stays_under_what_erpnext_accepts(site, counter):
    lines = Lines()  # ~300 changed items: their child rows are asked for in batches
    report = run_pull(site, counter, {"transport": lines})
    assert report.errors == []
    assert max(lines.lengths) <= 4000 < 4094  # a stock gunicorn answers 400 above 4,094
    budget = const.MAX_REQUEST_LINE_BYTES - const.PAGING_FILTER_RESERVE_BYTES
    assert sum(length > budget - 50 for length in lines.lengths) >= 2  # batches were full


def test_a_list_request_too_long_for_erpnext_is_never_sent(site):
    sim, url = site
    lines = Lines()
    with ErpNextClient(url, sim.api_key, sim.api_secret, transport=lines) as client, \
            pytest.raises(ErpNextError, match="over the 4000 ERPNext accepts"):
        client.get_list("Item", filters=[["name", "in", ["x" * 100] * 60]])
    assert lines.lengths == []


def test_stock_changes_skip_unchanged_items_and_report_bad_rows():
    held = {"A": (5_000_000_000, frozenset()), "B": (1_000_000_000, frozenset())}
    rows = [{"item_code": "A", "actual_qty": Decimal("5.0")},
            {"item_code": "B", "actual_qty": Decimal("2")},
            {"item_code": "C", "actual_qty": 3}, {"item_code": "D", "actual_qty": "x"},
            {"actual_qty": 1}]
    changes, errors = mapping.stock_changes(rows, held, [])
    assert changes == {"B": Decimal("2"), "C": Decimal("3")} and len(errors) == 2
    changes, _ = mapping.stock_changes(rows[:1], held, ["SH-1"])  # a new watermark
    assert changes == {"A": Decimal("5.0")}
    bodies = mapping.stock_bodies("W", {f"I{i}": Decimal(1) for i in range(12_000)}, [], "t")
    assert [len(b["items"]) for b in bodies] == [5000, 5000, 2000]


# --- paging and watermark (pure) ------------------------------------------------------

KEYS = [f"2026-11-26 10:00:0{k}.000000" for k in range(8)]


def serve(data_rows: list[tuple[str, str]], q: paging.Query, page_length: int) -> list[dict]:
    """ERPNext's list as a model: ANDed filters, the order asked for, one page."""
    ops = {"=": lambda a, b: a == b, ">": lambda a, b: a > b}
    column = {"modified": 0, "name": 1}
    rows = [r for r in data_rows
            if all(ops[op](r[column[f]], v) for f, op, v in q.filters)]
    rows.sort(key=(lambda r: r[1]) if q.order_by == "name asc" else (lambda r: r))
    return [{"modified": m, "name": n} for m, n in rows[:page_length]]


def scan(data_rows, field, page_length, start_key, between=lambda: None):
    cursor, seen = paging.start(start_key), []
    for _ in range(10_000):
        if cursor.done:
            return seen
        rows = serve(data_rows() if callable(data_rows) else data_rows,
                     paging.query(cursor, field), page_length)
        seen += [(r["modified"], r["name"]) for r in rows]
        cursor = paging.advance(cursor, field, paging.last_key(rows, field), len(rows),
                                page_length)
        if not cursor.done:
            between()
    raise AssertionError("the scan did not end")


rows_strategy = st.lists(st.tuples(st.sampled_from(KEYS[:6]),
                                   st.text(alphabet="abcXY", min_size=1, max_size=3)),
                         unique_by=lambda r: r[1], max_size=40)


@settings(max_examples=300, deadline=None)
@given(rows=rows_strategy, page_length=st.integers(1, 7),
       start_key=st.none() | st.sampled_from(KEYS[:7]))
def test_a_scan_reads_every_row_once_in_order_whatever_the_ties(rows, page_length, start_key):
    expected = sorted(r for r in rows if start_key is None or r[0] >= start_key)
    assert scan(rows, "modified", page_length, start_key) == expected
    by_name = sorted(rows, key=lambda r: r[1])  # child rows: by name alone
    assert scan(rows, "name", page_length, None) == by_name


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy, page_length=st.integers(1, 5), data=st.data())
def test_rows_saved_during_a_scan_are_read_in_their_last_version(rows, page_length, data):
    live = {n: m for m, n in rows}  # name -> modified, as ERPNext holds it now
    later = [f"2026-11-26 11:00:{s:02d}.000000" for s in range(20)]  # 20 saves at most

    def save_some():  # between two pages, ERPNext saves a row or two (modified = now)
        if live:
            for name in data.draw(st.lists(st.sampled_from(sorted(live)), max_size=2)):
                if later:
                    live[name] = later.pop(0)

    seen = scan(lambda: [(m, n) for n, m in live.items()], "modified", page_length, None,
                save_some)
    for name, modified in live.items():
        assert (modified, name) in seen  # the final version of every row is read
    assert len(seen) == len(set(seen))  # and no version twice


def test_a_server_that_ignores_the_paging_filters_stops_the_scan():
    rows = [{"modified": KEYS[0], "name": "a"}, {"modified": KEYS[0], "name": "b"}]
    cursor = paging.advance(paging.start(None), "modified", (KEYS[0], "b"), 2, 2)
    with pytest.raises(ErpNextError, match="same page again"):
        paging.advance(cursor, "modified", paging.last_key(rows, "modified"), 2, 2)


def test_the_watermark_overlap_and_modified_text():
    assert paging.resume_key(None, 70) is None
    # the night daylight saving time ends in Berlin: 02:00-03:00 happens twice
    assert paging.resume_key("2026-10-25 02:59:59.900000", 70) == "2026-10-25 01:49:59.900000"
    assert paging.normalise_modified("2026-11-26 16:11:37") == "2026-11-26 16:11:37.000000"
    assert paging.normalise_modified("2026-11-26 16:11:37.5") == "2026-11-26 16:11:37.500000"
    for bad in (None, 5, "yesterday", "2026-11-26T16:11:37+00:00"):
        with pytest.raises(ErpNextError):
            paging.normalise_modified(bad)


def test_a_batch_or_serial_number_erpnext_no_longer_lists_reads_as_none_left() -> None:
    """``get_batch_qty`` leaves out a batch the warehouse holds none of, and the Serial Nos
    of the warehouse leave out a unit sold: the store's reading must say 0 for them, or
    it would go on selling from what ERPNext no longer holds."""
    held = [batch_key("B-SOLD-OUT"), batch_key("B-LEFT"), serial_key("S-SOLD"),
            serial_key("S-HERE"), "AN-ITEM"]
    rows = mapping.tracked_stock([{"batch_no": "B-LEFT", "qty": 4.0}], ["S-HERE", "S-NEW"],
                                 held)
    assert {r["item_code"]: r["actual_qty"] for r in rows} == {
        batch_key("B-LEFT"): 4.0, serial_key("S-HERE"): 1, serial_key("S-NEW"): 1,
        batch_key("B-SOLD-OUT"): 0, serial_key("S-SOLD"): 0}
