"""Replay what ERPNext 15.71 did with batch- and serial-tracked items
(``tests/lab/recorded/batch-cases.json``, made by ``record_batches.py``) against the
simulator, and hold it to the recording: every step's answer or refusal, the warehouse's
batch quantities and Serial No states before and after the closing consolidated the
shift, and the Sales Invoices it made (which originals alone, the rows' batches). Beside
the recording: a batch return without ``use_serial_batch_fields`` fails with the 500 a
real ERPNext 15 answered it.

The harness rebuilds the lab site (``lab_site``) on the recording's day and makes the
``batch_store`` there with the recording's suffix, after an earlier run's: the lab had
one (the batch and serial number ERPNext picked itself in steps 3, 5 and 11 are of it),
and only with other stock to pick from do this run's quantities come out as recorded.
Where ERPNext picked, the test asks only that the row was taken with a batch or serial
number of its item. Then it replays the steps as ``record_batches.py`` sent them: a sale
as a draft, then submitted paying its total; a return of the recorded sold rows, with
``use_serial_batch_fields``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.lab import lab_site
from tests.lab.recorded.batch_store import make
from tests.paths import LAB_RECORDED
from tillmesh.lab.erpnext_simulator import ManualClock, Simulator
from tillmesh.lab.erpnext_simulator._clock import parse_datetime

DATA = json.loads((LAB_RECORDED / "batch-cases.json").read_text())
STEPS: list[dict[str, Any]] = DATA["steps"]
SUFFIX, WAREHOUSE = DATA["suffix"], DATA["warehouse"]
OURS = set(DATA["batches"])
AFTER_CLOSING = 3  # the last steps were sold in the next shift (record_batches.AFTER_CLOSING)
# The earlier run's suffix, as the batch ERPNext picked in step 3 names it
EARLIER = STEPS[2]["items"][0]["batch_no"].rsplit("-", 1)[1]
PROFILE, PRICE_LIST, CUSTOMER = "Lab POS", "Standard Selling", "Walk-in Customer"
LAB_URL = "http://127.0.0.1:8000"  # the lab's own address, in its links
BATCH = "/api/method/erpnext.stock.doctype.batch.batch.get_batch_qty"
V1 = "/api/resource/"
ROW = ("item_code", "batch_no", "serial_no")


@dataclass
class Run:
    """What the simulator answered, in the recording's shapes."""

    url: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    consolidated: list[dict[str, Any]] = field(default_factory=list)
    batches_after: dict[str, dict[str, Any]] = field(default_factory=dict)
    moved_by_closing: list[str] = field(default_factory=list)
    unflagged_return: httpx.Response | None = None
    named: dict[str, dict[str, Any]] = field(default_factory=dict)


class Counter:
    """Sends what ``record_batches.py`` sent, to the simulator."""

    def __init__(self, sim: Simulator, api: httpx.Client, clock: ManualClock) -> None:
        self.sim, self.api, self.clock = sim, api, clock

    def insert(self, doctype: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.api.post(f"{V1}{doctype}", json=body)
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["data"])

    def exists(self, doctype: str, name: str) -> bool:
        return self.api.get(f"{V1}{doctype}/{name}").status_code == 200

    def invoice(self, items: list[dict[str, Any]], paid: Decimal, docstatus: int,
                **more: Any) -> httpx.Response:
        return self.api.post(f"{V1}POS Invoice", json={
            "is_pos": 1, "update_stock": 1, "pos_profile": PROFILE,
            "company": lab_site.COMPANY, "customer": CUSTOMER,
            "selling_price_list": PRICE_LIST, "ignore_pricing_rule": 1,
            "docstatus": docstatus, "items": items,
            "payments": [{"mode_of_payment": "Cash", "amount": float(paid),
                          "account": f"Cash - {lab_site.ABBR}", "default": 1}],
            "paid_amount": float(paid), **more})

    def sell(self, step: dict[str, Any]) -> dict[str, Any]:
        draft = self.invoice(step["request"], Decimal(10_000), 0)
        if draft.status_code != 200:
            return refusal(draft, stage="draft")
        doc = draft.json()["data"]
        due = Decimal(str(doc["rounded_total"] or doc["grand_total"]))
        return answer(self.invoice(step["request"], due, 1), stage="submit")

    def give_back(self, step: dict[str, Any], sold: dict[str, Any],
                  recorded_sold: dict[str, Any]) -> dict[str, Any]:
        """The return of ``step``, naming the simulator's rows where it named ERPNext's."""
        rows = {r["name"]: mine for r, mine in zip(recorded_sold["items"], sold["items"],
                                                   strict=True)}
        items = [{**row, "pos_invoice_item": rows[row["pos_invoice_item"]]["name"]}
                 for row in step["request"]]
        refund = -sum(Decimal(str(r["rate"])) * -r["qty"] for r in items)
        return answer(self.invoice(items, refund, 1, is_return=1,
                                   return_against=sold["name"]), stage=None)

    def opening(self) -> str:
        return str(self.insert("POS Opening Entry", {
            "company": lab_site.COMPANY, "pos_profile": PROFILE, "user": self.sim.user,
            "docstatus": 1, "period_start_date": str(self.clock.now())[:19],
            "posting_date": DATA["recorded_on"],
            "balance_details": [{"mode_of_payment": "Cash", "opening_amount": 0}]})["name"])

    def close(self, shift: str, invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The shift closed listing its invoices; as ``record_batches.close``, the Sales
        Invoices its merge logs name, with their rows."""
        total = sum(Decimal(str(i["grand_total"])) for i in invoices)
        now = str(self.clock.now())[:19]
        closing = self.insert("POS Closing Entry", {
            "docstatus": 1, "pos_opening_entry": shift, "company": lab_site.COMPANY,
            "pos_profile": PROFILE, "user": self.sim.user, "period_start_date": now,
            "period_end_date": now, "posting_date": now[:10], "posting_time": now[11:],
            "grand_total": float(total), "net_total": float(total),
            "pos_transactions": [{"pos_invoice": i["name"], "grand_total": i["grand_total"],
                                  "customer": CUSTOMER} for i in invoices],
            "payment_reconciliation": [{"mode_of_payment": "Cash", "opening_amount": 0,
                                        "expected_amount": float(total),
                                        "closing_amount": float(total)}]})
        if closing["status"] == "Queued":  # from ten invoices on: the background job
            assert self.sim.run_jobs() == 1
        assert (self.sim.get("POS Closing Entry", closing["name"]) or {})["status"] == \
            "Submitted"
        logs = self.api.get(f"{V1}POS Invoice Merge Log", params={
            "filters": json.dumps([["pos_closing_entry", "=", closing["name"]]]),
            "fields": json.dumps(["consolidated_invoice", "consolidated_credit_note"])})
        named = [name for log in logs.json()["data"] for name in (
            log["consolidated_invoice"], log["consolidated_credit_note"]) if name]
        return [{"name": name, "is_return": doc["is_return"], "items": doc["items"]}
                for name in named for doc in [self.sim.get("Sales Invoice", name) or {}]]

    def named(self, name: str, docstatus: int) -> dict[str, Any]:
        """As ``record_batches.named``: a batch sold under our name, submitted in one
        request (docstatus 1) or as a draft and then with a PUT."""
        row = {"item_code": "BT-01", "qty": 1, "uom": "Nos", "price_list_rate": 4.5,
               "rate": 4.5, "use_serial_batch_fields": 1, "batch_no": f"BT-01-LATE-{SUFFIX}"}
        got = self.invoice([row], Decimal("4.5"), docstatus, name=name)
        if got.status_code == 200 and docstatus == 0:
            got = self.api.put(f"{V1}POS Invoice/{name}", json={"docstatus": 1})
        if got.status_code != 200:
            return {"name": name, **refusal(got, None)}
        doc = got.json()["data"]
        return {"name": name, "status": 200, "docstatus": doc["docstatus"],
                "batch_no": doc["items"][0]["batch_no"]}

    def batches(self, filters: list[Any] | None = None) -> list[dict[str, Any]]:
        """Batches as a counter pulls them: by ``modified``."""
        got = self.api.get(f"{V1}Batch", params={
            "filters": json.dumps(filters or []), "fields": json.dumps(["name", "modified"]),
            "order_by": "modified asc", "limit_page_length": 0})
        assert got.status_code == 200, got.text
        return list(got.json()["data"])

    def readings(self) -> dict[str, Any]:
        """As ``record_batches.readings``: this run's batches and serial numbers."""
        def batch_qty(**args: Any) -> list[dict[str, Any]]:
            got = self.api.get(BATCH, params={"warehouse": WAREHOUSE, "for_stock_levels": 1,
                                              **args})
            assert got.status_code == 200, got.text
            return [b for b in got.json()["message"] if b["batch_no"] in OURS]

        serials = self.api.get(f"{V1}Serial No", params={
            "filters": json.dumps([["item_code", "=", "SN-01"],
                                   ["name", "like", f"%-{SUFFIX}-%"]]),
            "fields": json.dumps(["name", "status", "warehouse", "modified"]),
            "limit_page_length": 0}).json()["data"]
        return {"whole_warehouse": batch_qty(),
                "per_item": {item: batch_qty(item_code=item) for item in ("BT-01", "BT-02")},
                "serials": sorted(serials, key=lambda s: s["name"])}


def answer(response: httpx.Response, stage: str | None) -> dict[str, Any]:
    if response.status_code != 200:
        return refusal(response, stage)
    doc = response.json()["data"]
    return {"status": 200, "name": doc["name"], "grand_total": doc["grand_total"],
            "items": doc["items"]}


def refusal(response: httpx.Response, stage: str | None) -> dict[str, Any]:
    body = response.json()
    said = [json.loads(m).get("message", "") for m in
            json.loads(body.get("_server_messages") or "[]")]
    return {"status": response.status_code, "stage": stage,
            "error": {"exc_type": body.get("exc_type"), "message": " | ".join(said)}}


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    clock = ManualClock(lab_site.START)
    with Simulator(seed="recorded", job_delay=None, clock=clock, rng_seed=1) as sim, \
            httpx.Client(base_url=sim.url, timeout=30.0, headers={
                "Authorization": f"token {sim.api_key}:{sim.api_secret}"}) as api:
        lab_site.build(sim, api)
        clock.set(parse_datetime(DATA["batches"][f"BT-01-EXPIRED-{SUFFIX}"]["creation"]))
        counter = Counter(sim, api, clock)
        for suffix in (EARLIER, SUFFIX):
            make(counter.insert, counter.exists, company=lab_site.COMPANY,
                 price_list=PRICE_LIST, warehouse=WAREHOUSE,
                 today=date.fromisoformat(DATA["recorded_on"]), suffix=suffix)
        done = Run(sim.url)
        shift = counter.opening()
        recorded = {s.get("name"): s for s in STEPS if s.get("name")}
        mine: dict[str, dict[str, Any]] = {}  # the recorded invoice's name -> ours
        for number, step in enumerate(STEPS, 1):
            if number == len(STEPS) - AFTER_CLOSING + 1:
                done.before = counter.readings()
                last_change = max(b["modified"] for b in counter.batches())
                done.consolidated = counter.close(
                    shift, [s for s in done.steps if s["status"] == 200])
                done.after = counter.readings()
                done.moved_by_closing = sorted(b["name"] for b in counter.batches(
                    [["modified", ">", last_change]]) if b["name"] in OURS)
                shift = counter.opening()
            against = step.get("return_against")
            done.steps.append(counter.give_back(step, mine[against], recorded[against])
                              if against else counter.sell(step))
            if step.get("name"):
                mine[step["name"]] = done.steps[-1]
        done.named = {way: counter.named(recorded_way["name"], docstatus) for way, docstatus,
                      recorded_way in ((w, int(r["name"][-1]), r)
                                       for w, r in DATA["named"].items())}
        done.batches_after = {b: sim.get("Batch", b) or {} for b in OURS}
        last = done.steps[-1]  # the batch sold in the next shift, returned without the flag
        done.unflagged_return = counter.invoice(
            [{**{k: last["items"][0][k] for k in ("item_code", "uom", "rate", "batch_no")},
              "qty": -1, "pos_invoice_item": last["items"][0]["name"]}],
            -Decimal(str(last["grand_total"])), 1, is_return=1, return_against=last["name"])
        yield done


@pytest.mark.parametrize("number", range(1, len(STEPS) + 1))
def test_each_step_is_taken_or_refused_as_erpnext_did(run: Run, number: int) -> None:
    recorded, mine = STEPS[number - 1], run.steps[number - 1]
    assert (mine["status"], mine.get("stage")) == (recorded["status"], recorded.get("stage")), \
        (recorded["about"], mine)
    if recorded["status"] != 200:
        message = recorded["error"]["message"].replace(LAB_URL, run.url)
        assert mine["error"] == {**recorded["error"], "message": message}, recorded["about"]
        return
    request = {(r["item_code"], r.get("batch_no"), r.get("serial_no")) for r in
               recorded["request"]}
    for theirs, ours in zip(recorded["items"], mine["items"], strict=True):
        if tuple(theirs[k] for k in ROW) in request or theirs["qty"] < 0:
            assert tuple(ours.get(k) for k in ROW) == tuple(theirs[k] for k in ROW)
        else:  # ERPNext picked a batch or serial number itself: one of the item's (the
            # store names them after it)
            picked = ours.get("batch_no") or ours.get("serial_no")
            assert picked and picked.startswith(theirs["item_code"]), (recorded["about"], ours)
        assert ours.get("use_serial_batch_fields") == theirs["use_serial_batch_fields"]


def test_batch_quantities_are_the_ledgers_and_move_only_when_the_closing_consolidates(
        run: Run) -> None:
    for mine, recorded in ((run.before, DATA["before_closing"]),
                           (run.after, DATA["after_closing"])):
        assert mine["whole_warehouse"] == recorded["whole_warehouse"]
        assert mine["per_item"] == recorded["per_item"]  # less the shift's sales, for an item
    # the closing set each batch it moved (and so its modified, which a counter pulls by)
    assert {b: d["batch_qty"] for b, d in run.batches_after.items()} == {
        b: d["batch_qty"] for b, d in DATA["batches"].items()}
    assert run.moved_by_closing == sorted(
        {r["batch_no"] for inv in DATA["closing"]["consolidated"] for r in inv["items"]}
        & OURS)


def test_serial_numbers_change_place_only_when_the_closing_consolidates(run: Run) -> None:
    def state(reading: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(s["name"], s["status"], s["warehouse"]) for s in reading["serials"]]

    assert state(run.before) == state(DATA["before_closing"])
    assert state(run.after) == state(DATA["after_closing"])
    # consolidation writes a Serial No's status and warehouse but not its modified
    assert [s["modified"] for s in run.after["serials"]] == [
        s["modified"] for s in run.before["serials"]]


def test_the_closing_consolidates_as_erpnext_did_keeping_the_batches(run: Run) -> None:
    """The originals of returns of serial or batch numbers are merged first, one Sales
    Invoice each; the rest together; each row keeps its batch (the one ERPNext picked
    itself in steps 3 and 5 is another run's). A merge log names its last credit note."""
    def shape(consolidated: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((inv["name"], inv["is_return"], [
            (r["item_code"], r["qty"], r.get("batch_no") if r.get("batch_no") in {None, *OURS}
             else "another run's") for r in inv["items"]]) for inv in consolidated)

    assert shape(run.consolidated) == shape(DATA["closing"]["consolidated"])


def test_a_batch_return_without_use_serial_batch_fields_fails_as_erpnext_does(
        run: Run) -> None:
    response = run.unflagged_return
    assert response is not None and response.status_code == 500
    assert response.json()["exc_type"] == "AttributeError"
    assert response.json()["exception"] == (
        "AttributeError: 'SerialBatchCreation' object has no attribute 'is_rejected'")


def test_a_batch_sold_under_our_name_is_submitted_only_after_its_draft(run: Run) -> None:
    """ERPNext 15.71 fails to submit batch rows in the request that names the invoice
    (recorded: "named"), so the forwarder sends such a sale as a draft, then submits it."""
    assert {way: {k: v for k, v in answer.items() if k != "stage"}
            for way, answer in run.named.items()} == DATA["named"]
