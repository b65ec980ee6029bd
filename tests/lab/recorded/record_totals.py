"""Post the carts of the totals oracles to a lab ERPNext again and record what it computes:
the ERPNext 15 oracles, asked of another release (ERPNext 16 in POS Invoice mode).

Run by hand, once, against a fresh lab ERPNext whose POS Settings make POS Invoices
(never by pytest: it writes to that site; a case sent submitted stays, so a second run
finds its original already returned)::

    source /work/erpnext-lab16/env.sh   # TILLMESH_ERPNEXT_URL, _KEY, _SECRET
    cd tests/lab/recorded && ../../../.venv/bin/python record_totals.py OUT_DIR \\
        ../../../../shared/erpnext/totals-cases.json …/totals-cases-2.json \\
        ../../node/domain/totals-cases-lab.json

For each source file it writes ``OUT_DIR/<stem>-<major>.json`` in the same format: the
source's master data (the lab seeds the same items, templates and profile:
``tools/erpnext-lab/lab_seed.py``), its cases with their requests as sent, and what this
ERPNext answered: ``result`` (the stored document, read back, in the fields the source
case recorded) or ``error``. Each case's global context (rounded totals, EUR's smallest
fraction) is set on the site before it and restored after the run. A return's original is
submitted first under its recorded name (kept: a second run finds it), in an opening of
today that the run leaves Open (close it from ERPNext's POS before switching the site's
invoice mode). Drafts are deleted.
ERPNext 16 keeps a tax row's per-item detail in the invoice's ``item_wise_tax_details``
table; it is written back into each row's ``item_wise_tax_detail`` as ERPNext 15 wrote
it (``{item_code: [rate, amount]}``, amounts of one item summed), so one engine test reads
both.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

URL = os.environ["TILLMESH_ERPNEXT_URL"]
TOKEN = f"token {os.environ['TILLMESH_ERPNEXT_KEY']}:{os.environ['TILLMESH_ERPNEXT_SECRET']}"
PROFILE, COMPANY, CASH_ACCOUNT = "Lab POS", "POS Lab GmbH", "Cash - PLG"
INVOICE = "/api/resource/POS Invoice"
V2_INVOICE = "/api/v2/document/POS Invoice"
DEFAULT_CONTEXT = {"global_disable_rounded_total": 0, "eur_smallest_currency_fraction_value": 0.01}


class Site:
    def __init__(self) -> None:
        self.http = httpx.Client(base_url=URL, timeout=120.0, headers={"Authorization": TOKEN})
        self.user = self.call("frappe.auth.get_logged_user")
        versions = self.call("frappe.utils.change_log.get_versions")
        self.version = {app: versions[app]["version"] for app in ("erpnext", "frappe")}
        self.context: dict[str, Any] = {}

    def call(self, method: str, **params: Any) -> Any:
        r = self.http.get(f"/api/method/{method}", params=params)
        r.raise_for_status()
        return r.json()["message"]

    def doc(self, path: str) -> dict[str, Any] | None:
        r = self.http.get(path)
        return None if r.status_code == 404 else r.raise_for_status().json()["data"]

    def put(self, path: str, body: dict[str, Any]) -> None:
        self.http.put(path, json=body).raise_for_status()

    def set_context(self, context: dict[str, Any]) -> None:
        """The global settings a case was recorded under."""
        if context == self.context:
            return
        self.put("/api/resource/Global Defaults/Global Defaults",
                 {"disable_rounded_total": context["global_disable_rounded_total"]})
        self.put("/api/resource/Currency/EUR", {
            "smallest_currency_fraction_value": context["eur_smallest_currency_fraction_value"]})
        self.context = dict(context)

    def open_shift(self) -> None:
        """An opening entry of today for the profile (ERPNext 16 sells against the newest
        Open one, and only if it started today)."""
        today = datetime.now().strftime("%Y-%m-%d")
        found = self.http.get("/api/resource/POS Opening Entry", params={
            "filters": json.dumps([["pos_profile", "=", PROFILE], ["status", "=", "Open"]]),
            "fields": json.dumps(["name", "period_start_date"])}).json()["data"]
        if any(str(e["period_start_date"]).startswith(today) for e in found):
            return
        r = self.http.post("/api/resource/POS Opening Entry", json={
            "company": COMPANY, "pos_profile": PROFILE, "user": self.user,
            "period_start_date": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "posting_date": today, "docstatus": 1,
            "balance_details": [{"mode_of_payment": "Cash", "opening_amount": 0}]})
        if r.status_code != 200:
            sys.exit(f"cannot open a shift for {PROFILE}: {r.text[:400]} (close the Open one)")


def answer_error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    messages = [json.loads(m).get("message") for m in json.loads(
        body.get("_server_messages") or "[]")]
    return {"status": r.status_code, "exc_type": body.get("exc_type"),
            "exception": body.get("exception"), "messages": messages}


def shaped(stored: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """``stored`` in the fields ``like`` (the source case's result) has, child rows too."""
    out: dict[str, Any] = {}
    for key, value in like.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            fields = dict.fromkeys(k for row in value for k in row)  # rows differ in keys
            out[key] = [{k: row.get(k) for k in fields} for row in stored.get(key) or []]
        else:
            out[key] = stored.get(key)
    for i, tax in enumerate(out.get("taxes") or []):
        if "item_wise_tax_detail" in tax and stored.get("item_wise_tax_details") is not None:
            tax["item_wise_tax_detail"] = per_item_detail(stored, i)
    return out


def per_item_detail(stored: dict[str, Any], tax_index: int) -> str:
    """ERPNext 16's ``item_wise_tax_details`` rows of one tax row as ERPNext 15's JSON."""
    tax_name = stored["taxes"][tax_index]["name"]
    code_of = {row["name"]: row["item_code"] for row in stored["items"]}
    detail: dict[str, list[float]] = {}
    for row in stored["item_wise_tax_details"]:
        if row.get("tax_row") != tax_name:
            continue
        code = code_of[row["item_row"]]
        rate, amount = float(row.get("rate") or 0), float(row.get("amount") or 0)
        detail[code] = [rate, detail[code][1] + amount] if code in detail else [rate, amount]
    return json.dumps(detail)


def original(site: Site, case: dict[str, Any]) -> dict[str, Any]:
    """The submitted original of a return, made under its recorded name if not there."""
    source = case["original"]
    name = source["name"]
    stored = site.doc(f"{INVOICE}/{name}")
    if stored is None:
        r = site.http.post(V2_INVOICE, json=source["request"])
        if r.status_code != 200:
            sys.exit(f"{case['id']}: original {name} refused: {r.text[:600]}")
        stored = site.doc(f"{INVOICE}/{name}") or {}
    return {**source, "result": shaped(stored, source["result"])}


def record(site: Site, case: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """``case`` asked again; ``like``: the fields of a result the source recorded (that of
    its first accepted case, for a case the source had refused: Frappe leaves a null
    field out of its answer, the oracle keeps it)."""
    site.set_context(case.get("context") or DEFAULT_CONTEXT)
    out = {k: v for k, v in case.items() if k not in ("result", "error", "post_ms", "original")}
    if case.get("original"):
        out["original"] = original(site, case)
    start = time.monotonic()
    r = site.http.post(INVOICE, json=case["request"])
    out["post_ms"] = round((time.monotonic() - start) * 1000, 1)
    if r.status_code != 200:
        out["rejected"], out["error"] = True, answer_error(r)
        return out
    name = r.json()["data"]["name"]
    stored = site.doc(f"{INVOICE}/{name}") or {}
    out["rejected"] = False
    out["result"] = shaped(stored, case.get("result") or like)
    if int(stored.get("docstatus") or 0) == 0:
        site.http.delete(f"{INVOICE}/{name}")
    return out


def main() -> None:
    out_dir, sources = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    site = Site()
    major = site.version["erpnext"].split(".")[0]
    site.open_shift()
    try:
        for source in sources:
            data = json.loads(source.read_text(encoding="utf-8"))
            like = next(case["result"] for case in data["cases"] if case.get("result"))
            cases = [record(site, case, like) for case in data["cases"]]
            data.update(cases=cases, erpnext_version=site.version,
                        about=f"{source.name}'s carts posted again to ERPNext"
                              f" {site.version['erpnext']} / Frappe {site.version['frappe']}"
                              " (POS Invoice mode) by tests/lab/recorded/record_totals.py:"
                              f" its answers. {data.get('about') or ''}".strip())
            target = out_dir / f"{source.stem}-{major}.json"
            target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                              encoding="utf-8")
            differ = sum(1 for new, old in zip(cases, data_cases(source), strict=True)
                         if new.get("result") != old.get("result")
                         or new.get("rejected") != old.get("rejected"))
            print(f"{target}: {len(cases)} cases, {differ} answered otherwise than the source",
                  file=sys.stderr)
    finally:
        site.set_context(DEFAULT_CONTEXT)


def data_cases(source: Path) -> list[dict[str, Any]]:
    return list(json.loads(source.read_text(encoding="utf-8"))["cases"])


if __name__ == "__main__":
    main()
