"""Replay what ERPNext 15.71 did when it consolidated POS Invoices priced by Pricing Rules
(``tests/lab/recorded/erpnext-15.71-pricing-consolidation.jsonl``, made by
``record_pricing_consolidation.py``), against the simulator.

Shift A: two carts of 2 x PR-01 at 10 % off, one naming its rule on the row, one not;
the consolidated Sales Invoice keeps the second row's rate and takes the first row's
rate and discount away (0.00, its amount kept) - why a counter never names the rules.
Shift B: a row a rule took to -0.20 is taken as a POS Invoice, and its closing is
refused ("rate must be a positive number") - why a counter refuses such a line. The
harness rebuilds the lab site (``lab_site``) and adds the two items with their stock.
"""

from __future__ import annotations

from tests.lab import lab_site
from tests.lab.replay import Replay, assert_replays, records
from tests.paths import LAB_RECORDED

RECORDING = LAB_RECORDED / "erpnext-15.71-pricing-consolidation.jsonl"
LAB_USER = "tillmesh-api@lab.example.com"  # whose API key the recorder used
LAB_URL = "http://127.0.0.1:8000/app/"  # the lab's own address in its links
ITEMS = {"PR-01": 2.49, "PR-15": 0.30}
SALES_INVOICES_BEFORE = 43  # the lab's: the recording's merged invoice is ACC-SINV-2026-00044


class PricingConsolidation(Replay):
    def __init__(self) -> None:
        super().__init__(lab_site.START, aliases={LAB_USER: "Administrator",
                                                  LAB_URL: "/app/"})

    def setup(self) -> None:
        lab_site.build(self.sim, self.client)
        self.sim.set_series("ACC-SINV-2026-", SALES_INVOICES_BEFORE)
        for code, rate in ITEMS.items():
            for doctype, body in (
                    ("Item", {"item_code": code, "item_name": f"Pricing {code}",
                              "item_group": "Products", "stock_uom": "Nos", "is_stock_item": 1,
                              "uoms": [{"uom": "Nos", "conversion_factor": 1}]}),
                    ("Item Price", {"item_code": code, "price_list": "Standard Selling",
                                    "uom": "Nos", "price_list_rate": rate, "selling": 1})):
                answer = self.client.post(f"/api/resource/{doctype}", json=body)
                assert answer.status_code == 200, answer.text
            self.sim.set_bin(code, lab_site.WAREHOUSE, 1000)


def test_replay_matches_the_recorded_pricing_consolidation() -> None:
    assert_replays(PricingConsolidation(), records(RECORDING))
