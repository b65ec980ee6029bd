"""Replay the non-return, accepted carts of totals-cases*.json as DRAFT POS Invoices against the
lab (inside one opening entry), compare header totals + tax rows, delete each draft."""

import datetime
import json
import os
import sys
from pathlib import Path

import httpx

url, key, sec = (os.environ[f"TILLMESH_ERPNEXT_{k}"] for k in ("URL", "KEY", "SECRET"))
c = httpx.Client(base_url=url, headers={"Authorization": f"token {key}:{sec}"}, timeout=60)
user = c.get("/api/method/frappe.auth.get_logged_user").json()["message"]
now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=1))).strftime(
    "%Y-%m-%d %H:%M:%S"
)
op = c.post(
    "/api/resource/POS Opening Entry",
    json={
        "company": "POS Lab GmbH",
        "pos_profile": "Lab POS",
        "user": user,
        "period_start_date": now,
        "posting_date": now[:10],
        "balance_details": [{"mode_of_payment": "Cash", "opening_amount": 0}],
        "docstatus": 1,
    },
).json()["data"]["name"]
FIELDS = (
    "total",
    "net_total",
    "total_taxes_and_charges",
    "discount_amount",
    "grand_total",
    "rounding_adjustment",
    "rounded_total",
    "change_amount",
)
ok = bad = skipped = 0
for f in sys.argv[1:]:
    for case in json.loads(Path(f).read_text())["cases"]:
        ctx = case.get("context") or {}
        if (
            case.get("rejected")
            or case.get("kind") == "return"
            or case.get("original")
            or ctx.get("global_disable_rounded_total")
            or ctx.get("eur_smallest_currency_fraction_value", 0.01) != 0.01
        ):
            skipped += 1
            continue
        req = dict(case["request"])
        req["docstatus"] = 0
        req.pop("name", None)
        r = c.post("/api/resource/POS Invoice", json=req)
        if r.status_code != 200:
            bad += 1
            print(case["id"], "HTTP", r.status_code, r.text[:200])
            continue
        got = r.json()["data"]
        exp = case["result"]
        diffs = [
            (k, exp.get(k), got.get(k))
            for k in FIELDS
            if k in exp and round(float(exp.get(k) or 0), 6) != round(float(got.get(k) or 0), 6)
        ]
        diffs += [
            (
                "tax",
                i,
                e.get("tax_amount_after_discount_amount"),
                g.get("tax_amount_after_discount_amount"),
            )
            for i, (e, g) in enumerate(
                zip(exp.get("taxes", []), got.get("taxes", []), strict=False)
            )
            if float(e.get("tax_amount_after_discount_amount") or 0)
            != float(g.get("tax_amount_after_discount_amount") or 0)
        ]
        if diffs:
            bad += 1
            print(case["id"], diffs)
        else:
            ok += 1
        c.delete(f"/api/resource/POS Invoice/{got['name']}")
# the opening entry has no invoices left: cancel it so it does not linger
c.put(f"/api/resource/POS Opening Entry/{op}", json={"docstatus": 2})
print(
    f"{ok} identical, {bad} different, {skipped} skipped (returns, rejected, other global context)"
)
