"""Replaying a recorded ERPNext session against the simulator, request by request.

A recording (``shared/erpnext/recorded/*.jsonl``, ``tests/lab/recorded/*.jsonl``) is one
JSON object a line: label, method, path, params, body, status, resp, and the headers sent
instead of the token if any (a line with ``"raw": true`` was sent byte for byte on a socket
of its own and ``resp`` is the answer's body).
:class:`Replay` sends each to a simulator on a manual clock set to the recorded server time
(from the answer's document, or the posting time a stock refusal names), and checks that
the answer has the recorded status and agrees on what matters: an error's type, exception
and messages (v1 and v2 shapes); a document's name, docstatus, status and the fields listed
in MATTER; every field a list asked for (timestamps aside, and ``get_invoices``' posting
moments to the second: one request may take the server's clock twice); method answers.
Names ERPNext drew at random (10-character hashes) are learnt from the answers and
substituted in later requests and expectations, as are the ``aliases`` a harness gives
(the recorded API user as the simulator's). A harness subclasses it to supply what its
recording leaves out (``before``, ``rebuild``).
"""

from __future__ import annotations

import json
import math
import re
import socket
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tillmesh.lab.erpnext_simulator import ERPNEXT_15, ManualClock, Release, Simulator
from tillmesh.lab.erpnext_simulator._clock import parse_datetime, parse_time, posting_moment

TIMEOUT_S = 30.0  # per request; the longest replayed request takes well under a second
STEP = timedelta(milliseconds=1)  # the clock's move between requests that show no time

HASH = re.compile(r"^[0-9a-v]{10}$")  # a name Frappe drew at random
_SHOWN_AT = re.compile(r" on (\d{4}-\d\d-\d\d) (\d+:\d\d:\d\d(?:\.\d+)?) for ")
# A time the server's clock wrote inside a request: the replay sets its clock once per
# request, so such a time agrees to this much.
WITHIN_REQUEST = timedelta(seconds=1)
ELIDED = re.compile(r"^\.\.\. (\d+) more elided$")
IGNORED = {"creation", "modified", "idx", "lft", "rgt", "owner", "modified_by",
           "__unsaved", "__islocal", "__onload", "doctype"}
_INVOICE_ROWS = {"payments": ["mode_of_payment", "amount", "account", "base_amount", "type"],
                 "taxes": ["charge_type", "account_head", "rate", "included_in_print_rate",
                           "tax_amount", "tax_amount_after_discount_amount", "total"]}
# Fields compared in documents (besides name, docstatus, status), per doctype and table.
MATTER: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "POS Invoice": (["customer", "pos_profile", "company", "is_return", "return_against",
                     "posting_date", "posting_time", "set_posting_time", "due_date",
                     "grand_total", "net_total", "total", "total_qty", "paid_amount",
                     "change_amount", "outstanding_amount", "consolidated_invoice",
                     "update_stock", "set_warehouse", "currency", "selling_price_list",
                     "debit_to", "title", "customer_name", "total_taxes_and_charges",
                     "discount_amount", "additional_discount_percentage", "rounded_total",
                     "rounding_adjustment", "write_off_amount"],
                    {"items": ["item_code", "qty", "stock_qty", "uom", "rate",
                               "price_list_rate", "amount", "warehouse", "pos_invoice_item",
                               "income_account", "cost_center", "net_rate", "net_amount",
                               "discount_percentage", "discount_amount",
                               "distributed_discount_amount", "item_tax_template"],
                     **_INVOICE_ROWS}),
    "Sales Invoice": (["customer", "is_return", "return_against", "is_consolidated",
                       "posting_date", "posting_time", "total_qty", "total", "net_total",
                       "total_taxes_and_charges", "grand_total", "rounded_total",
                       "rounding_adjustment", "paid_amount", "change_amount",
                       "write_off_amount", "outstanding_amount", "discount_amount",
                       "is_created_using_pos", "pos_closing_entry"],
                      {"items": ["item_code", "qty", "rate", "amount", "net_rate",
                                 "net_amount", "price_list_rate", "pos_invoice",
                                 "pos_invoice_item", "sales_invoice_item", "warehouse"],
                       **_INVOICE_ROWS}),
    "POS Opening Entry": (["company", "pos_profile", "user", "period_start_date",
                           "posting_date", "pos_closing_entry"],
                          {"balance_details": ["mode_of_payment", "opening_amount"]}),
    "POS Closing Entry": (["pos_opening_entry", "period_start_date", "period_end_date",
                           "posting_date", "posting_time", "grand_total", "net_total",
                           "total_quantity", "error_message", "user", "pos_profile"],
                          {"payment_reconciliation": ["mode_of_payment", "opening_amount",
                                                      "expected_amount", "closing_amount",
                                                      "difference"],
                           **{table: ["pos_invoice", "customer", "grand_total", "is_return",
                                      "return_against"]
                              for table in ("pos_transactions", "pos_invoices")},
                           "sales_invoices": ["sales_invoice", "customer", "grand_total",
                                              "is_return", "return_against"]}),
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


def records(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def assert_replays(replay: Replay, recorded: list[dict[str, Any]],
                   skip: Mapping[int, str] | None = None) -> None:
    """Replay ``recorded`` (but the lines in ``skip``) and fail with every difference."""
    sent = replay.run(recorded, skip)
    print(f"\n{replay.matched} of {len(recorded)} recorded requests matched "
          f"({len(skip or {})} not reproducible)")
    assert replay.problems == [], "\n".join(replay.problems)
    assert replay.matched == sent


class Replay:
    def __init__(self, start: datetime, *, aliases: Mapping[str, str] | None = None,
                 release: Release = ERPNEXT_15, seed: str = "recorded",
                 drop_resource_names: bool = False, posted_now: Collection[str] = ()) -> None:
        """``posted_now``: doctypes whose posting date and time the server sets to its
        clock whatever is sent (ERPNext 16's closing): their answers show the time."""
        self.posted_now = frozenset(posted_now)
        self.clock = ManualClock(start)
        self.sim = Simulator(seed=seed, job_delay=None, clock=self.clock, rng_seed=1,
                             release=release, drop_resource_names=drop_resource_names)
        self.names: dict[str, str] = dict(aliases or {})  # recorded -> the simulator's
        self.answers: dict[int, Any] = {}  # line -> the simulator's JSON answer
        self.problems: list[str] = []
        self.matched = 0
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        assert self._client is not None, "only while run() runs"
        return self._client

    # -- what a harness supplies ---------------------------------------------------------
    def setup(self) -> None:
        """Build what the recording takes for granted (the simulator is serving)."""

    def before(self, line: int, record: dict[str, Any]) -> None:
        """Do what happened unrecorded just before ``line``."""

    def rebuild(self, line: int, record: dict[str, Any], body: Any) -> Any:
        """The body to send for ``line`` (a recording may elide parts of it)."""
        return body

    # -- driving -------------------------------------------------------------------------
    def run(self, recorded: list[dict[str, Any]], skip: Mapping[int, str] | None = None) -> int:
        """Replay every line not in ``skip`` (line -> why); answers how many were sent."""
        sent = 0
        with self.sim, httpx.Client(
                base_url=self.sim.url, timeout=TIMEOUT_S,
                headers={"Authorization": f"token {self.sim.api_key}:{self.sim.api_secret}"},
        ) as self._client:
            self.setup()
            for line, record in enumerate(recorded):
                self.before(line, record)
                if line not in (skip or {}):
                    self.step(line, record)
                    sent += 1
        self._client = None
        return sent

    def step(self, line: int, record: dict[str, Any]) -> None:
        self._set_clock(record)
        where = f"line {line} {record['method']} {record['path'][:80]} ({record.get('label')})"
        if record.get("raw"):
            status, mine = self._raw(self._mapped_text(record["path"]))
        else:
            body = self.rebuild(line, record, self._mapped(record.get("body")))
            params = {k: self._mapped_text(str(v))
                      for k, v in (record.get("params") or {}).items()}
            response = self.client.request(record["method"], self._mapped_text(record["path"]),
                                           params=params or None, json=body,
                                           headers=record.get("headers"))
            status, mine = response.status_code, response.json()
        self.answers[line] = mine
        before = len(self.problems)
        if status != record["status"]:
            self.problems.append(f"{where}: status {status} != {record['status']}: "
                                 f"{str(mine)[:300]}")
            return
        self._compare_answer(where, record, mine)
        if len(self.problems) == before:
            self.matched += 1

    def _raw(self, path: str) -> tuple[int, Any]:
        """A GET sent byte for byte, as the recorder sent it: the status and the body."""
        host, port = self.sim.url.removeprefix("http://").split(":")
        token = f"{self.sim.api_key}:{self.sim.api_secret}"
        with socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: token "
                         f"{token}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, payload = data.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        text = payload.decode("latin-1")
        return status, json.loads(text) if status == 200 else text

    def _set_clock(self, record: dict[str, Any]) -> None:
        """The recorded server time of this request, when its answer shows it."""
        resp = record.get("resp")
        doc = resp.get("data") if isinstance(resp, dict) else None
        if not isinstance(doc, dict):
            doc = resp.get("message") if isinstance(resp, dict) else None
        when = self.clock.now() + STEP
        shown = _SHOWN_AT.search(str(resp.get("exception") or "")) \
            if isinstance(resp, dict) else None
        if shown:  # a stock refusal names the posting time of what it refused
            when = posting_moment(shown.group(1), shown.group(2))
        if isinstance(doc, dict) and record["method"] in ("POST", "PUT") and doc.get("name"):
            if doc.get("posting_time") and (doc.get("set_posting_time") == 0
                                            or doc.get("doctype") in self.posted_now):
                when = posting_moment(doc["posting_date"], doc["posting_time"])
            elif doc.get("modified") and record["method"] == "PUT" or (
                    record["path"].endswith("frappe.client.cancel")):
                when = parse_datetime(doc["modified"])
            elif doc.get("creation"):
                when = parse_datetime(doc["creation"])
        self.clock.set(max(when, self.clock.now()))

    # -- names -----------------------------------------------------------------------------
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

    # -- comparing -----------------------------------------------------------------------
    def _compare_answer(self, where: str, record: dict[str, Any], mine: Any) -> None:
        recorded = record["resp"]
        if isinstance(recorded, str) or not isinstance(mine, dict):
            if self._mapped_text(str(recorded)) != mine:
                self.problems.append(f"{where}: {mine!r} != {recorded!r}")
            return
        if "errors" in recorded:
            self._compare_v2_error(where, recorded, mine)
            return
        if record["status"] >= 400:
            self._compare_error(where, recorded, mine)
            return
        if "_server_messages" in recorded or "_server_messages" in mine:
            self._compare_messages(where, _decoded(recorded), _decoded(mine), exact=False)
        if "messages" in recorded or "messages" in mine:
            self._compare_messages(where, recorded.get("messages") or [],
                                   mine.get("messages") or [], exact=False)
        if "/api/v2/method/" not in record["path"] and "data" in recorded:
            self._compare_data(where, record, recorded["data"], mine.get("data"))
        elif "message" in recorded or "data" in recorded:
            self._compare_method(where, record, recorded.get("message", recorded.get("data")),
                                 mine.get("message", mine.get("data")))

    def _compare_error(self, where: str, recorded: dict[str, Any], mine: Any) -> None:
        for key in ("exc_type", "exception", "_exc_source", "_error_message"):
            expected = recorded.get(key)
            if (self._mapped_text(expected) if isinstance(expected, str) else expected) \
                    != mine.get(key):
                self.problems.append(f"{where}: {key} {mine.get(key)!r} != {expected!r}")
        self._compare_messages(where, _decoded(recorded), _decoded(mine), exact=True)

    def _compare_v2_error(self, where: str, recorded: dict[str, Any], mine: Any) -> None:
        theirs, ours = recorded["errors"], mine.get("errors") or []
        if len(theirs) != len(ours):
            self.problems.append(f"{where}: {len(ours)} errors, recorded {len(theirs)}")
            return
        for rec, got in zip(theirs, ours, strict=True):
            for key in ("type", "message", "title", "indicator"):
                expected = self._mapped(rec.get(key))
                if expected != got.get(key):
                    self.problems.append(f"{where}: errors {key} {got.get(key)!r} != "
                                         f"{expected!r}")
            if ("exception" in rec) != ("exception" in got) or "exception" in rec and (
                    self._mapped_text(_last_line(rec["exception"]))
                    != _last_line(got["exception"])):
                self.problems.append(f"{where}: exception {got.get('exception')!r} != "
                                     f"{rec.get('exception')!r}")
        self._compare_messages(where, recorded.get("messages") or [],
                               mine.get("messages") or [], exact=True)

    def _compare_messages(self, where: str, recorded: list[dict[str, Any]],
                          mine: list[dict[str, Any]], exact: bool) -> None:
        def texts(messages: list[dict[str, Any]], mapped: bool) -> list[tuple[Any, ...]]:
            out = []
            for m in messages:
                text = self._mapped(m.get("message")) if mapped else m.get("message")
                out.append((text, m.get("title"), m.get("indicator"), m.get("raise_exception"))
                           if exact else (text,))
            return out
        if texts(recorded, True) != texts(mine, False):
            self.problems.append(f"{where}: messages {texts(mine, False)} != "
                                 f"{texts(recorded, True)}")

    def _compare_data(self, where: str, record: dict[str, Any], recorded: Any,
                      mine: Any) -> None:
        if isinstance(recorded, dict):
            self._compare_doc(where, _doctype(record), recorded, mine)
        elif isinstance(recorded, list):
            self._compare_rows(where, record, recorded, mine)
        elif not _same(self._mapped(recorded), mine):
            self.problems.append(f"{where}: {mine!r} != {recorded!r}")

    def _compare_method(self, where: str, record: dict[str, Any], recorded: Any,
                        mine: Any) -> None:
        method = record["path"].rsplit(".", 1)[-1]
        if method == "get_pos_invoices":
            self._compare_rows(where, record, recorded, mine, doctype="POS Invoice")
        elif method == "get_invoices" and isinstance(mine, dict):  # rows in three lists
            for key, rows in recorded.items():
                self._compare_rows(f"{where} {key}", record, rows, mine.get(key))
        elif method in ("make_sales_return",):
            self._compare_doc(where, "POS Invoice", recorded, mine)
        elif method == "cancel":
            self._compare_doc(where, record["body"]["doctype"], recorded, mine)
        elif not _same(self._mapped(recorded), mine):
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
            shown = [r for r in rows if isinstance(r, dict)]  # the rest elided
            if len(theirs) != len(shown) + _elided(rows):
                self.problems.append(f"{where}: {table} has {len(theirs)} rows, recorded "
                                     f"{len(shown) + _elided(rows)}")
                continue
            for i, (rec_row, my_row) in enumerate(zip(shown, theirs[:len(shown)],
                                                      strict=True)):
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
        if isinstance(recorded, str):
            recorded = self._mapped_text(recorded)
        if field == "posting_time" and recorded and mine:
            return parse_time(str(recorded)) == parse_time(str(mine))
        if field == "timestamp" and recorded and mine:  # get_invoices' posting moments
            return abs(parse_datetime(str(recorded)) - parse_datetime(str(mine))) \
                < WITHIN_REQUEST
        return _same(recorded, mine)

    def _compare_rows(self, where: str, record: dict[str, Any], recorded: list[Any],
                      mine: Any, doctype: str | None = None) -> None:
        if not isinstance(mine, list):
            self.problems.append(f"{where}: no list in the answer: {str(mine)[:200]}")
            return
        shown = [r for r in recorded if isinstance(r, dict)]
        if len(mine) != len(shown) + _elided(recorded):
            self.problems.append(f"{where}: {len(mine)} rows, recorded "
                                 f"{len(shown) + _elided(recorded)}")
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


def _doctype(record: dict[str, Any]) -> str:
    path = record["path"].replace("%20", " ")
    rest = path.split("/api/resource/", 1)[-1].split("/api/v2/document/", 1)[-1]
    return rest.split("/")[0]


def _elided(rows: list[Any]) -> int:
    """How many rows a recorded list left out ("... N more elided")."""
    return sum(int(m.group(1)) for r in rows if isinstance(r, str) and (m := ELIDED.match(r)))


def _decoded(body: dict[str, Any]) -> list[dict[str, Any]]:
    """v1 ``_server_messages``: a JSON list of JSON-encoded message objects."""
    return [json.loads(m) for m in json.loads(body.get("_server_messages") or "[]")]


def _last_line(traceback: str) -> str:
    return traceback.rstrip("\n").rsplit("\n", 1)[-1]


def _same(recorded: Any, mine: Any) -> bool:
    if isinstance(recorded, bool) or isinstance(mine, bool):
        return recorded == mine
    if isinstance(recorded, int | float) and isinstance(mine, int | float):
        return math.isclose(recorded, mine, abs_tol=1e-6)
    if isinstance(recorded, list) and isinstance(mine, list):
        return len(recorded) == len(mine) and all(map(_same, recorded, mine))
    return bool(recorded == mine)
