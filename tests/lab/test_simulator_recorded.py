"""Replay the recorded ERPNext 15.71 session against the simulator, request by request.

``shared/erpnext/recorded/erpnext-15.71-requests.jsonl`` (or the file ``TILLMESH_RECORDED``
names) is sent in order to ``Simulator(seed="recorded")`` on a manual clock set to the
recorded times. Each answer must have the recorded status and agree on what matters: the
error's exc_type, exception and message texts; a document's name, docstatus, status and
the fields listed in MATTER; every field a list asked for (timestamps aside); method
answers. Names ERPNext drew at random (10-character hashes) are learnt from the answers
and substituted in later requests.

The recording is not self-contained, and the harness supplies what it leaves out:
- Two benchmarks created invoices between recorded requests (177 in the shift of
  POS-OPE-2026-00002, 314 in that of POS-OPE-2026-00004). ``_fill_a``/``_fill_b`` create
  invoices that match everything the recording shows of them: the visible names, times
  and contents, the totals of the closings, the stock they moved, and the first closing's
  failure for tea oversold by a race ERPNext's unlocked stock check loses (6 of 8
  concurrent one-unit sales accepted with 3 in stock; the simulator serialises writes, so
  the filler lifts the Bin while it sells the tea).
- Closings list their invoices with "… N more elided": the rest is taken from the
  preceding ``get_pos_invoices`` answer, as the client built it (REBUILD).
- Background jobs ran at unrecorded moments: the replay runs them where the recorded
  answers show they had run (BEFORE).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.paths import RECORDED
from tillmesh.lab.erpnext_simulator import ManualClock, Simulator
from tillmesh.lab.erpnext_simulator._clock import parse_datetime, parse_time, posting_moment

DEFAULT_RECORDING = RECORDED / "erpnext-15.71-requests.jsonl"
RECORDING = Path(os.environ.get("TILLMESH_RECORDED") or DEFAULT_RECORDING)
START = datetime(2026, 11, 26, 16, 11, 0)  # site-local, just before the first request
TIMEOUT_S = 30.0  # per request; the longest replayed request takes well under a second

HASH = re.compile(r"^[0-9a-v]{10}$")  # a name Frappe drew at random
ELIDED = re.compile(r"^\.\.\. (\d+) more elided$")
IGNORED = {"creation", "modified", "idx", "lft", "rgt", "owner", "modified_by",
           "__unsaved", "__islocal", "__onload", "doctype"}
# Fields compared in documents (besides name, docstatus, status), per doctype and table.
MATTER: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "POS Invoice": (["customer", "pos_profile", "company", "is_return", "return_against",
                     "posting_date", "posting_time", "set_posting_time", "due_date",
                     "grand_total", "net_total", "total", "total_qty", "paid_amount",
                     "change_amount", "outstanding_amount", "consolidated_invoice",
                     "update_stock", "set_warehouse", "currency", "selling_price_list",
                     "debit_to", "title", "customer_name"],
                    {"items": ["item_code", "qty", "stock_qty", "uom", "rate",
                               "price_list_rate", "amount", "warehouse", "pos_invoice_item",
                               "income_account", "cost_center"],
                     "payments": ["mode_of_payment", "amount", "account", "base_amount",
                                  "type"]}),
    "POS Opening Entry": (["company", "pos_profile", "user", "period_start_date",
                           "posting_date", "pos_closing_entry"],
                          {"balance_details": ["mode_of_payment", "opening_amount"]}),
    "POS Closing Entry": (["pos_opening_entry", "period_start_date", "period_end_date",
                           "posting_date", "posting_time", "grand_total", "net_total",
                           "total_quantity", "error_message", "user", "pos_profile"],
                          {"payment_reconciliation": ["mode_of_payment", "opening_amount",
                                                      "expected_amount", "closing_amount",
                                                      "difference"]}),
    "Item": (["item_code", "item_name", "item_group", "stock_uom", "is_stock_item", "disabled",
              "valuation_rate", "description", "naming_series"], {}),
    "Item Price": (["item_code", "price_list", "price_list_rate", "uom", "currency",
                    "selling", "buying", "valid_from", "item_name", "item_description"], {}),
    "Stock Entry": (["stock_entry_type", "purpose", "company", "posting_date",
                     "posting_time", "set_posting_time", "total_incoming_value",
                     "total_amount"],
                    {"items": ["item_code", "qty", "t_warehouse", "basic_rate",
                               "basic_amount", "transfer_qty", "uom"]}),
    "Warehouse": (["warehouse_name", "company", "parent_warehouse", "is_group"], {}),
    "Customer": (["customer_name", "customer_type", "customer_group", "territory",
                  "naming_series"], {}),
    "POS Profile": (["company", "warehouse", "selling_price_list", "currency", "customer",
                     "write_off_account", "cost_center", "update_stock"],
                    {"payments": ["mode_of_payment", "default"],
                     "applicable_for_users": ["user", "default"]}),
}
VERBATIM = ("Company", "Mode of Payment", "Stock Settings")  # seeded from the recording
# What the harness does before a line, if the line carries the label expected there (so a
# different recording, named by TILLMESH_RECORDED, is replayed without these).
BEFORE: dict[int, tuple[str, str, str]] = {  # line: (label, action, why)
    63: ("get_pos_invoices for POS-OPE-2026-00002", "fill_a", "the first benchmark's sales"),
    66: ("restock tea to cover oversell", "jobs", "CLO-2's consolidation failed: tea oversold"),
    69: ("merge logs", "jobs", "its first retry failed too: the restock came after the sales"),
    77: ("merge logs", "jobs", "after the backdated restock the second retry consolidated"),
    103: ("get_pos_invoices for POS-OPE-2026-00004", "fill_b", "the second benchmark's sales"),
    108: ("cancel failed closing entry", "jobs",
          "CLO-3 failed: unsorted, it was stock-checked at the backdated invoice"),
    115: ("sales invoices", "jobs", "CLO-4 (sorted) consolidated"),
}
# Closings whose invoice list the recording elided: the line of the get_pos_invoices answer
# the client built it from, and how it ordered the rest.
REBUILD: dict[int, tuple[str, int, str]] = {
    51: ("closing entry submit", 50, "listed"),
    64: ("closing entry submit (POS-OPE-2026-00002)", 63, "listed"),
    104: ("closing entry submit (POS-OPE-2026-00004)", 103, "listed"),
    111: ("closing entry submit (POS-OPE-2026-00004)", 110, "by posting time"),
}
# Recorded requests the simulator cannot reproduce, with the reason. Aim: none.
UNREPRODUCIBLE: dict[int, str] = {}



def _records() -> list[dict[str, Any]]:
    with RECORDING.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Replay:
    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.sim = Simulator(seed="recorded", job_delay=None, clock=self.clock, rng_seed=1)
        self.names: dict[str, str] = {}  # recorded hash name -> the simulator's
        self.answers: dict[int, Any] = {}  # line -> the simulator's JSON answer
        self.problems: list[str] = []
        self.matched = 0
        self.client: httpx.Client | None = None

    # -- driving -------------------------------------------------------------------------
    def run(self, records: list[dict[str, Any]]) -> None:
        with self.sim:
            self.client = httpx.Client(
                base_url=self.sim.url, timeout=TIMEOUT_S,
                headers={"Authorization": f"token {self.sim.api_key}:{self.sim.api_secret}"})
            with self.client:
                for line, record in enumerate(records):
                    label, action, _ = BEFORE.get(line, ("", "", ""))
                    if action and record.get("label") == label:
                        {"jobs": self.sim.run_jobs, "fill_a": self._fill_a,
                         "fill_b": self._fill_b}[action]()
                    if line not in UNREPRODUCIBLE:
                        self.step(line, record)

    def step(self, line: int, record: dict[str, Any]) -> None:
        assert self.client is not None
        self._set_clock(record)
        body = self._rebuild(line, record.get("label"), self._mapped(record.get("body")))
        params = {k: self._mapped_text(str(v)) for k, v in (record.get("params") or {}).items()}
        path = self._mapped_text(record["path"])
        response = self.client.request(record["method"], path, params=params or None,
                                       json=body if body is not None else None)
        mine = response.json()
        self.answers[line] = mine
        before = len(self.problems)
        where = f"line {line} {record['method']} {record['path']} ({record.get('label')})"
        if response.status_code != record["status"]:
            self.problems.append(f"{where}: status {response.status_code} != "
                                 f"{record['status']}: {str(mine)[:300]}")
            return
        self._compare_answer(where, record, mine)
        if len(self.problems) == before:
            self.matched += 1

    def _set_clock(self, record: dict[str, Any]) -> None:
        """The recorded server time of this request, when its answer shows it."""
        resp = record.get("resp")
        doc = resp.get("data") if isinstance(resp, dict) else None
        if not isinstance(doc, dict):
            doc = resp.get("message") if isinstance(resp, dict) else None
        when = self.clock.now() + timedelta(milliseconds=1)
        if isinstance(doc, dict) and record["method"] in ("POST", "PUT") and doc.get("name"):
            if doc.get("set_posting_time") == 0 and doc.get("posting_time"):
                when = posting_moment(doc["posting_date"], doc["posting_time"])
            elif doc.get("modified") and record["method"] == "PUT" or (
                    record["path"].endswith("frappe.client.cancel")):
                when = parse_datetime(doc["modified"])
            elif doc.get("creation"):
                when = parse_datetime(doc["creation"])
        self.clock.set(max(when, self.clock.now()))

    # -- names and elided lists ----------------------------------------------------------
    def _mapped_text(self, text: str) -> str:
        for recorded, mine in self.names.items():
            text = text.replace(recorded, mine)
        return text

    def _mapped(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._mapped_text(value)
        if isinstance(value, list):
            return [self._mapped(v) for v in value]
        if isinstance(value, dict):
            return {k: self._mapped(v) for k, v in value.items()}
        return value

    def _rebuild(self, line: int, label: str | None, body: Any) -> Any:
        expected, source, how = REBUILD.get(line, ("", 0, ""))
        if not expected or label != expected or not isinstance(body, dict):
            return body
        listed = [r for r in body["pos_transactions"] if isinstance(r, dict)]
        shown = {r["pos_invoice"] for r in listed}
        rest = [inv for inv in self.answers[source]["message"] if inv["name"] not in shown]
        if how == "by posting time":
            rest.sort(key=lambda i: posting_moment(i["posting_date"], i["posting_time"]))
        body["pos_transactions"] = listed + [
            {"pos_invoice": i["name"], "posting_date": i["posting_date"],
             "grand_total": i["grand_total"], "customer": i["customer"],
             "is_return": i["is_return"], "return_against": i["return_against"]}
            for i in rest]
        return body

    # -- comparing -----------------------------------------------------------------------
    def _compare_answer(self, where: str, record: dict[str, Any], mine: Any) -> None:
        recorded = record["resp"]
        if record["status"] >= 400:
            self._compare_error(where, recorded, mine)
            return
        if "_server_messages" in recorded:
            self._compare_messages(where, recorded["_server_messages"],
                                   mine.get("_server_messages"), exact=False)
        if "data" in recorded:
            self._compare_data(where, record, recorded["data"], mine.get("data"))
        elif "message" in recorded:
            self._compare_method(where, record, recorded["message"], mine.get("message"))

    def _compare_error(self, where: str, recorded: dict[str, Any], mine: Any) -> None:
        for key in ("exc_type", "exception", "_exc_source"):
            if recorded.get(key) != mine.get(key):
                self.problems.append(f"{where}: {key} {mine.get(key)!r} != "
                                     f"{recorded.get(key)!r}")
        if ("_server_messages" in recorded) != ("_server_messages" in mine):
            self.problems.append(f"{where}: _server_messages present differs")
        elif "_server_messages" in recorded:
            self._compare_messages(where, recorded["_server_messages"],
                                   mine["_server_messages"], exact=True)

    def _compare_messages(self, where: str, recorded: str, mine: str | None,
                          exact: bool) -> None:
        def texts(raw: str | None) -> list[tuple[Any, ...]]:
            out = []
            for item in json.loads(raw or "[]"):
                m = json.loads(item)
                out.append((m.get("message"), m.get("title"), m.get("indicator"),
                            m.get("raise_exception")) if exact else (m.get("message"),))
            return out
        if texts(recorded) != texts(mine):
            self.problems.append(f"{where}: messages {texts(mine)} != {texts(recorded)}")

    def _compare_data(self, where: str, record: dict[str, Any], recorded: Any,
                      mine: Any) -> None:
        if isinstance(recorded, dict):
            self._compare_doc(where, self._doctype(record), recorded, mine)
        elif isinstance(recorded, list):
            self._compare_rows(where, record, recorded, mine)
        elif recorded != mine:
            self.problems.append(f"{where}: {mine!r} != {recorded!r}")

    @staticmethod
    def _doctype(record: dict[str, Any]) -> str:
        path = record["path"]
        rest = path.split("/api/resource/", 1)[-1].split("/api/v2/document/", 1)[-1]
        return rest.split("/")[0]

    def _compare_method(self, where: str, record: dict[str, Any], recorded: Any,
                        mine: Any) -> None:
        method = record["path"].rsplit(".", 1)[-1]
        if method == "get_pos_invoices":
            self._compare_rows(where, record, recorded, mine, doctype="POS Invoice")
        elif method in ("make_sales_return",):
            self._compare_doc(where, "POS Invoice", recorded, mine)
        elif method == "cancel":
            self._compare_doc(where, record["body"]["doctype"], recorded, mine)
        elif not _same(recorded, mine):
            self.problems.append(f"{where}: {mine!r} != {recorded!r}")

    def _compare_doc(self, where: str, doctype: str, recorded: dict[str, Any],
                     mine: Any) -> None:
        if not isinstance(mine, dict):
            self.problems.append(f"{where}: no document in the answer: {mine!r}")
            return
        if doctype in VERBATIM:
            fields = [k for k, v in recorded.items() if not isinstance(v, list)]
            tables = {k: [f for f in v[0] if f not in IGNORED]
                      for k, v in recorded.items() if isinstance(v, list) and v}
        else:
            fields, tables = MATTER.get(doctype, ([], {}))
        fields = ["name", "docstatus", "status", *fields]
        self._compare_fields(where, doctype, recorded, mine, fields)
        for table, row_fields in tables.items():
            rows = recorded.get(table)
            if not isinstance(rows, list):
                continue
            theirs = mine.get(table) or []
            if len(theirs) != len(rows):
                self.problems.append(f"{where}: {table} has {len(theirs)} rows, recorded "
                                     f"{len(rows)}")
                continue
            for i, (rec_row, my_row) in enumerate(zip(rows, theirs, strict=True)):
                self._compare_fields(f"{where} {table}[{i}]", doctype, rec_row, my_row,
                                     ["name", *row_fields])

    def _compare_fields(self, where: str, doctype: str, recorded: dict[str, Any],
                        mine: dict[str, Any], fields: list[str]) -> None:
        for field in fields:
            if field not in recorded or field in IGNORED:
                continue
            if field == "posting_time" and not recorded.get("set_posting_time", 1):
                continue  # the server's clock: the replay only approximates it
            if field == "error_message" and not recorded[field]:
                continue
            if not self._equal(recorded[field], mine.get(field), field):
                self.problems.append(f"{where}: {doctype}.{field} = {mine.get(field)!r}, "
                                     f"recorded {recorded[field]!r}")

    def _equal(self, recorded: Any, mine: Any, field: str) -> bool:
        if isinstance(recorded, str) and HASH.match(recorded):
            if recorded in self.names:
                return self.names[recorded] == mine
            if isinstance(mine, str) and HASH.match(mine):
                self.names[recorded] = mine  # learnt: later requests use the simulator's
                return True
            return False
        if field == "posting_time" and recorded and mine:
            return parse_time(str(recorded)) == parse_time(str(mine))
        return _same(recorded, mine)

    def _compare_rows(self, where: str, record: dict[str, Any], recorded: list[Any],
                      mine: Any, doctype: str | None = None) -> None:
        if not isinstance(mine, list):
            self.problems.append(f"{where}: no list in the answer: {str(mine)[:200]}")
            return
        shown = [r for r in recorded if isinstance(r, dict)]
        elided = sum(int(m.group(1)) for r in recorded if isinstance(r, str)
                     and (m := ELIDED.match(r)))
        if len(mine) != len(shown) + elided:
            self.problems.append(f"{where}: {len(mine)} rows, recorded "
                                 f"{len(shown) + elided}")
            return
        if doctype is not None:  # method answers: documents, compared as such
            for i, rec in enumerate(shown):
                self._compare_doc(f"{where} [{i}]", doctype, rec, mine[i])
            return
        ordered = "order_by" in (record.get("params") or {}) or all(
            "name" in r and not HASH.match(str(r["name"])) for r in shown)
        for i, rec in enumerate(shown):
            fields = [f for f in rec if f not in IGNORED]
            candidates = [mine[i]] if ordered else mine
            if not any(self._row_matches(rec, row, fields) for row in candidates):
                differ = [f for f in fields if not _same(rec[f], candidates[0].get(f))]
                self.problems.append(f"{where}: row {i} differs ({', '.join(differ)}): "
                                     f"{[(f, rec[f], candidates[0].get(f)) for f in differ]}")

    def _row_matches(self, recorded: dict[str, Any], mine: dict[str, Any],
                     fields: list[str]) -> bool:
        learnt = dict(self.names)
        if all(self._equal(recorded[f], mine.get(f), f) for f in fields):
            return True
        self.names = learnt  # a failed candidate teaches nothing
        return False

    # -- what the recording leaves out -----------------------------------------------------
    def _sell(self, when: datetime, items: list[tuple[str, int]], name: str | None = None,
              ) -> None:
        assert self.client is not None
        prices = {"LAB-COFFEE": 12.5, "LAB-MUG": 8.0, "LAB-TEA": 4.2}
        total = round(sum(prices[code] * qty for code, qty in items), 2)
        self.clock.set(when)
        body: dict[str, Any] = {
            "is_pos": 1, "update_stock": 1, "pos_profile": "Lab POS",
            "customer": "Walk-in Customer", "company": "POS Lab GmbH",
            "items": [{"item_code": code, "qty": qty} for code, qty in items],
            "payments": [{"mode_of_payment": "Cash", "amount": total, "base_amount": total,
                          "account": "Cash - PLG"}],
            "paid_amount": total, "base_paid_amount": total, "docstatus": 1}
        if name:
            body["name"] = name
        response = self.client.post("/api/resource/POS Invoice", json=body)
        assert response.status_code == 200, response.text

    def _fill(self, first: list[str], last: str | None, count: int,
              sell: Callable[[int, datetime], None]) -> None:
        """``count`` sales, the first ones at the recorded times, the last one at ``last``,
        the others spread evenly between."""
        times = [parse_datetime(t) for t in first]
        end = parse_datetime(last) if last else times[-1] + timedelta(seconds=0.1 * count)
        step = (end - times[-1]) / (count - len(times) + (0 if last else 1))
        while len(times) < count:
            times.append(times[-1] + step)
        if last:
            times[-1] = end
        for i, when in enumerate(times):
            sell(i, when)

    def _fill_a(self) -> None:
        """177 sales in POS-OPE-2026-00002's shift: ACC-PSINV-2026-00005 … 00159 and 22
        named ones (the series shows 22 names were not drawn from it), 171 of a coffee and
        two mugs, 6 of one tea; the last, in the closing's order, at 16:14:15.218229 (the
        posting time of the Sales Invoice they became)."""
        tea = range(149, 155)

        def sell(i: int, when: datetime) -> None:
            if i == tea.start:
                self.sim.set_bin("LAB-TEA", "POS Store - PLG", 6)
            name = f"BENCH-A-{i - 154:03d}" if i >= 155 else None
            self._sell(when, [("LAB-TEA", 1)] if i in tea else
                       [("LAB-COFFEE", 1), ("LAB-MUG", 2)], name)
            if i == tea.stop - 1:
                self.sim.set_bin("LAB-TEA", "POS Store - PLG", 3)

        self._fill(["2026-11-26 16:13:54.498223", "2026-11-26 16:13:54.631155",
                    "2026-11-26 16:13:54.767208"], "2026-11-26 16:14:15.218229", 177, sell)

    def _fill_b(self) -> None:
        """314 sales of a coffee and two mugs in POS-OPE-2026-00004's shift,
        ACC-PSINV-2026-00160 … 00473."""
        self._fill(["2026-11-26 16:16:30.902337", "2026-11-26 16:16:31.027663",
                    "2026-11-26 16:16:31.160916"], None, 314,
                   lambda i, when: self._sell(when, [("LAB-COFFEE", 1), ("LAB-MUG", 2)]))


def _same(recorded: Any, mine: Any) -> bool:
    if isinstance(recorded, bool) or isinstance(mine, bool):
        return recorded == mine
    if isinstance(recorded, int | float) and isinstance(mine, int | float):
        return math.isclose(recorded, mine, abs_tol=1e-6)
    if isinstance(recorded, list) and isinstance(mine, list):
        return len(recorded) == len(mine) and all(map(_same, recorded, mine))
    return bool(recorded == mine)


def test_replay_matches_the_recorded_erpnext() -> None:
    records = _records()
    replay = Replay()
    replay.run(records)
    replayed = len(records) - len(UNREPRODUCIBLE)
    print(f"\n{replay.matched} of {len(records)} recorded requests matched "
          f"({len(UNREPRODUCIBLE)} not reproducible)")
    assert replay.problems == [], "\n".join(replay.problems)
    assert replay.matched == replayed
