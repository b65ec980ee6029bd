"""Record what a real ERPNext 15 answers to Frappe's API v2 and to over-long request lines.

Run by hand against a lab ERPNext (never by pytest: it writes to that site)::

    source /work/erpnext-lab/env.sh   # TILLMESH_ERPNEXT_URL, _KEY, _SECRET
    cd tests/lab/recorded && ../../../.venv/bin/python record_erpnext.py > erpnext-15.71-v2.jsonl

It needs the lab's POS Profile "Lab POS" (company "POS Lab GmbH", warehouse "POS Store -
PLG", tax template "DE VAT 19% incl - PLG") and the item O2-GIN of
``shared/erpnext/totals-cases-2.json`` in stock. Every document it makes is named after the
run (``V2<hhmmss>-…``) and every shift it opens it closes again. One JSON object a line, as
in ``shared/erpnext/recorded``: label, method, path, params, body, status, ms, resp
(tracebacks cut to their last lines), and ``headers`` where others than the token were
sent. A request line sent byte for byte carries ``"raw": true`` and its answer's body as
text in ``resp``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

URL = os.environ["TILLMESH_ERPNEXT_URL"]
TOKEN = f"token {os.environ['TILLMESH_ERPNEXT_KEY']}:{os.environ['TILLMESH_ERPNEXT_SECRET']}"
RUN = time.strftime("V2%H%M%S")
DAY = "2026-11-21"
PROFILE, COMPANY = "Lab POS", "POS Lab GmbH"
TAXES = "DE VAT 19% incl - PLG"
V2 = "/api/v2/document/"
V1 = "/api/resource/"
TRACEBACK_LINES = 3  # the end of a traceback names the error; the rest is the lab's paths
WAIT_S = 90.0  # longest wait for a background consolidation
POLL_S = 1.0
LINE_LIMIT = 4094  # bytes; gunicorn's default limit_request_line


class Recorder:
    def __init__(self) -> None:
        self.client = httpx.Client(base_url=URL, timeout=60.0, headers={"Authorization": TOKEN})
        self.user = self.client.get("/api/method/frappe.auth.get_logged_user").json()["message"]

    def send(self, label: str, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: Any = None, headers: dict[str, str] | None = None) -> Any:
        start = time.monotonic()
        response = self.client.request(method, path, params=params, json=body,
                                       headers=headers)
        resp = response.json()
        _trim(resp)
        record = {"label": label, "method": method, "path": path, "params": params,
                  "body": body, "status": response.status_code,
                  "ms": round((time.monotonic() - start) * 1000), "resp": resp}
        if headers:  # sent instead of the token
            record["headers"] = headers
        emit(record)
        return resp

    def raw_line(self, label: str, length: int) -> None:
        """A GET whose request line is ``length`` bytes, sent on a socket of its own."""
        base = "/api/resource/Company?fields=%5B%22name%22%5D&pad="
        pad = length - len(f"GET {base} HTTP/1.1")
        path = base + "a" * pad
        where = urlsplit(URL)
        start = time.monotonic()
        with socket.create_connection((where.hostname, where.port or 80)) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {where.hostname}\r\nAuthorization: "
                         f"{TOKEN}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:  # gunicorn answers, then closes on unread bytes
                pass
        head, _, payload = data.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        resp: Any = payload.decode("latin-1")
        if status == 200:
            resp = json.loads(resp)
        emit({"label": label, "method": "GET", "path": path, "params": None, "body": None,
              "status": status, "ms": round((time.monotonic() - start) * 1000), "raw": True,
              "resp": resp})

    def wait_for(self, label: str, name: str, status: str) -> None:
        """Poll unrecorded until the closing leaves Queued, then record one GET."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            got = self.client.get(f"{V2}POS Closing Entry/{name}").json()["data"]["status"]
            if got != "Queued":
                break
            time.sleep(POLL_S)
        resp = self.send(label, "GET", f"{V2}POS Closing Entry/{name}")
        if resp["data"]["status"] != status:
            raise SystemExit(f"{name}: {resp['data']['status']}, expected {status}")

    # -- documents -----------------------------------------------------------------------
    def opening(self, label: str, name: str) -> None:
        self.send(label, "POST", f"{V2}POS Opening Entry", body={
            "name": name, "docstatus": 1, "company": COMPANY, "pos_profile": PROFILE,
            "user": self.user, "period_start_date": f"{DAY} 08:00:00", "posting_date": DAY,
            "set_posting_date": 1,
            "balance_details": [{"mode_of_payment": "Cash", "opening_amount": 0}]})

    def sale(self, label: str, name: str, at: str, *, paid: float = 22.82, qty: int = 1,
             returns: str | None = None, docstatus: int = 1) -> Any:
        row: dict[str, Any] = {"name": f"{name}-1", "item_code": "O2-GIN", "qty": qty,
                               "price_list_rate": 22.82, "rate": 22.82}
        body: dict[str, Any] = {
            "name": name, "docstatus": docstatus, "is_pos": 1, "update_stock": 1,
            "set_posting_time": 1, "posting_date": DAY, "posting_time": at, "company": COMPANY,
            "pos_profile": PROFILE, "customer": "Walk-in Customer", "ignore_pricing_rule": 1,
            "taxes_and_charges": TAXES, "selling_price_list": "Standard Selling",
            "items": [row],
            "payments": [{"mode_of_payment": "Cash", "amount": paid, "base_amount": paid,
                          "account": "Cash - PLG"}],
            "paid_amount": paid, "base_paid_amount": paid}
        if returns:
            body.update(is_return=1, return_against=returns)
            row["pos_invoice_item"] = f"{returns}-1"
        return self.send(label, "POST", f"{V2}POS Invoice", body=body)

    def closing(self, label: str, name: str, opening: str, invoices: list[str], *,
                docstatus: int = 0, api: str = V2) -> Any:
        rows = [self.client.get(f"{V2}POS Invoice/{n}").json()["data"] for n in invoices]
        return self.send(label, "POST", f"{api}POS Closing Entry", body={
            "name": name, "docstatus": docstatus, "pos_opening_entry": opening,
            "company": COMPANY, "pos_profile": PROFILE, "user": self.user,
            "period_start_date": f"{DAY} 08:00:00", "period_end_date": f"{DAY} 12:00:00",
            "posting_date": DAY, "posting_time": "12:00:00",
            "pos_transactions": [{"pos_invoice": r["name"], "posting_date": r["posting_date"],
                                  "grand_total": r["grand_total"], "customer": r["customer"],
                                  "is_return": r["is_return"],
                                  "return_against": r.get("return_against")} for r in rows],
            "payment_reconciliation": [{"mode_of_payment": "Cash", "opening_amount": 0,
                                        "expected_amount": 0, "closing_amount": 0}]})

    def submit(self, label: str, name: str) -> Any:
        return self.send(label, "PUT", f"{V2}POS Closing Entry/{name}", body={"docstatus": 1})


def _trim(resp: Any) -> None:
    """Tracebacks cut to their last lines (they name the error; the rest is the lab's),
    with the lab's folders taken out of file names ("apps/frappe/…", as Frappe prints)."""
    if not isinstance(resp, dict):
        return
    for error in resp.get("errors") or []:
        if isinstance(error.get("exception"), str):
            error["exception"] = _tail(error["exception"])
    if isinstance(resp.get("exc"), str):
        resp["exc"] = json.dumps([_tail(t) for t in json.loads(resp["exc"])])


def _tail(traceback: str) -> str:
    lines = traceback.splitlines()[-TRACEBACK_LINES:]
    return "\n".join(re.sub(r'File "[^"]*/(apps/)', r'File "\1', line) for line in lines)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


def main() -> None:
    r = Recorder()
    c1, c2 = f"{RUN}-C1", f"{RUN}-C2"
    s1, r1 = f"{RUN}-C1-0001", f"{RUN}-C2-0001"

    r.send("A v2 GET of a missing document", "GET", f"{V2}POS Invoice/{RUN}-NOPE")
    r.send("A v2 list", "GET", f"{V2}Item", params={
        "fields": '["name","item_name"]', "filters": '[["name","like","O2-G%"]]',
        "order_by": "name asc", "limit": 2})
    r.send("A v2 method", "GET", "/api/v2/method/frappe.auth.get_logged_user")
    r.send("A v2 without a token", "GET", f"{V2}Item", headers={"Authorization": ""})
    r.send("A v2 with a wrong token", "GET", f"{V2}Item",
           headers={"Authorization": "token nokey:nosecret"})
    r.send("A v2 mandatory field missing", "POST", f"{V2}Customer",
           body={"name": f"{RUN}-CUST", "customer_type": "Individual"})
    r.send("A unknown API version", "GET", "/api/v3/document/Item")

    r.opening("B v2 opening counter 1", c1)
    r.opening("B v2 opening counter 2", c2)
    r.sale("B v2 sale on counter 1 with client name and row name", s1, "09:00:00")
    r.sale("B v2 same POST again", s1, "09:00:00")
    r.send("B v2 GET by client name", "GET", f"{V2}POS Invoice/{s1}")
    draft = f"{RUN}-C1-DRAFT"
    r.send("B v1 draft without taxes_and_charges (the profile has one)", "POST",
           f"{V1}POS Invoice", body={
               "name": draft, "docstatus": 0, "is_pos": 1, "update_stock": 1,
               "pos_profile": PROFILE, "customer": "Walk-in Customer", "company": COMPANY,
               "items": [{"item_code": "O2-GIN", "qty": 1}],
               "payments": [{"mode_of_payment": "Cash", "amount": 22.82,
                             "account": "Cash - PLG"}], "paid_amount": 22.82})
    r.send("B v1 that draft deleted", "DELETE", f"{V1}POS Invoice/{draft}")
    r.sale("B v2 paying less than the total", f"{RUN}-C1-0002", "09:30:00", paid=20.0)
    r.sale("B v2 return on counter 2 of counter 1's sale", r1, "10:00:00", paid=-22.82,
           qty=-1, returns=s1)
    r.sale("B v2 return of more than was sold", f"{RUN}-C2-0002", "10:30:00", paid=-45.64,
           qty=-2, returns=s1)

    r.closing("C v2 close counter 2 first: POST draft", c2, c2, [r1])
    r.submit("C v2 close counter 2 first: PUT docstatus 1 (original not consolidated)", c2)
    r.send("C v2 counter 2 closing after the refused submit", "GET",
           f"{V2}POS Closing Entry/{c2}")
    r.closing("C v2 close counter 1 with a client name and docstatus 1 in one POST", c1, c1,
              [s1], docstatus=1)
    r.send("C v2 nothing stored by the refused POST", "GET", f"{V2}POS Closing Entry/{c1}")
    r.closing("C v1 the same POST through /api/resource", c1, c1, [s1], docstatus=1,
              api=V1)
    r.closing("C v2 close counter 1: POST draft", c1, c1, [s1])
    r.submit("C v2 close counter 1: PUT docstatus 1", c1)
    r.submit("C v2 counter 2 closing submitted again", c2)
    r.send("C v2 the original after both closings", "GET", f"{V2}POS Invoice/{s1}")

    c3, c4 = f"{RUN}-C3", f"{RUN}-C4"
    s3 = f"{RUN}-C3-0001"
    r.opening("D v2 opening counter 3", c3)
    r.opening("D v2 opening counter 4", c4)
    r.sale("D v2 sale on counter 3", s3, "09:00:00")
    sales = [f"{RUN}-C4-{i:04d}" for i in range(1, 10)]
    for i, name in enumerate(sales, 1):
        r.sale(f"D v2 sale {i} on counter 4", name, f"09:{i:02d}:00")
    r4 = f"{RUN}-C4-0010"
    r.sale("D v2 return on counter 4 of counter 3's sale", r4, "10:00:00", paid=-22.82,
           qty=-1, returns=s3)
    r.closing("D v2 close counter 4 first (10 invoices): POST draft", c4, c4, [*sales, r4])
    r.submit("D v2 close counter 4 first: PUT docstatus 1 (queued)", c4)
    r.wait_for("D v2 counter 4 closing after the background job", c4, "Failed")
    r.closing("D v2 close counter 3: POST draft", c3, c3, [s3])
    r.submit("D v2 close counter 3: PUT docstatus 1", c3)
    r.send("D v2 retry counter 4 through the v2 method route", "POST",
           f"{V2}POS Closing Entry/{c4}/method/retry")
    r.wait_for("D v2 counter 4 closing after the retry", c4, "Submitted")

    r.raw_line("E request line of 4094 bytes (the limit)", LINE_LIMIT)
    r.raw_line("E request line of 4095 bytes", LINE_LIMIT + 1)
    r.raw_line("E request line of 8190 bytes (read in one piece)", 8190)
    r.raw_line("E request line of 9000 bytes (reported as the 8192 read)", 9000)


if __name__ == "__main__":
    sys.exit(main())
