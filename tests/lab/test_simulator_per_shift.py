"""Replay what ERPNext 15.71 answered to per-shift delivery's consolidated Sales Invoices
(``tests/lab/recorded/erpnext-15.71-per-shift.jsonl``, made by ``record_per_shift.py``).

It covers a shift's sales invoice keeping its rows' amounts and a non-zero rounding
adjustment as sent (and the 500 when that adjustment comes without its ``base_`` amounts),
one without an adjustment rounded by ERPNext, the insert answering status Draft while the
stored one reads Paid or Return, a repeat refused 409 and a second copy of an origin event
417, a credit note against nothing, a refund above its total, a sale beyond the stock, a
negative payment on a sale, and the pull's list of the shifts held. The harness rebuilds
the lab site (``lab_site``), adds the custom fields ``erpnext setup --delivery per-shift``
makes, and gives the cheese the stock the lab had (the recorded shortfall says how much).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.lab import lab_site
from tests.lab.recorded.loyalty_store import make as make_programs
from tests.lab.recorded.pricing_store import make as make_priced
from tests.lab.replay import Replay, assert_replays, records
from tests.paths import LAB_RECORDED
from tillmesh.node.erpnext._setup import SHIFT_CUSTOM_FIELDS

RECORDING = LAB_RECORDED / "erpnext-15.71-per-shift.jsonl"
LAB_USER = "tillmesh-api@lab.example.com"  # whose API key the recorder used
BEYOND = "PS a shift selling beyond the stock: 417"
SOLD = 100000  # what that sale asked for


class PerShiftSession(Replay):
    def __init__(self) -> None:
        super().__init__(lab_site.START, aliases={LAB_USER: "Administrator"})

    def setup(self) -> None:
        lab_site.build(self.sim, self.client)
        for field in SHIFT_CUSTOM_FIELDS:
            answer = self.client.post("/api/resource/Custom Field", json={
                "dt": field.doctype, "fieldname": field.fieldname, "label": field.label,
                "fieldtype": "Data", "insert_after": field.after, "no_copy": 1,
                "unique": int(field.unique)})
            assert answer.status_code == 200, answer.text
        recorded = records(RECORDING)
        at = next(i for i, r in enumerate(recorded) if r["label"] == BEYOND)
        short = re.search(r"<strong>([\d.]+)</strong> units", json.dumps(recorded[at]["resp"]))
        assert short is not None
        sold_before = sum(row["qty"] for r in recorded[:at] if r["method"] == "POST"
                          and r["status"] == 200 and not r["body"]["is_return"]
                          for row in r["body"]["items"] if row["item_code"] == "O2-CHEESE")
        self.sim.set_bin("O2-CHEESE", lab_site.WAREHOUSE,
                         SOLD - float(short.group(1)) + sold_before)


def test_replay_matches_the_recorded_per_shift_answers() -> None:
    assert_replays(PerShiftSession(), records(RECORDING))


LOYALTY_RECORDING = LAB_RECORDED / "erpnext-15.71-per-shift-loyalty.jsonl"


class MemberSalesSession(PerShiftSession):
    """A loyalty member's sales as Sales Invoices of their own (per-shift delivery sends
    them so): the items of the pricing store and the loyalty programs made first."""

    def setup(self) -> None:
        super().setup()

        def insert(doctype: str, body: dict[str, Any]) -> Any:
            answer = self.client.post(f"/api/resource/{doctype}", json=body)
            assert answer.status_code == 200, answer.text
            return answer.json()["data"]

        def exists(doctype: str, name: str) -> bool:
            return self.client.get(f"/api/resource/{doctype}/{name}").status_code == 200

        company, abbr = lab_site.COMPANY, lab_site.ABBR
        make_priced(insert, exists, company=company, price_list="Standard Selling",
                    warehouse=lab_site.WAREHOUSE, today=lab_site.START.date())
        make_programs(insert, exists, company=company, expense_account=f"Cash - {abbr}",
                      cost_center=f"Main - {abbr}")


def test_replay_matches_what_erpnext_did_with_a_members_own_sales_invoices() -> None:
    # the points entered, redeemed (from Sales Invoices' entries), paying a sale whole,
    # a return refused once its points were redeemed, change refused without its base
    assert_replays(MemberSalesSession(), records(LOYALTY_RECORDING))
