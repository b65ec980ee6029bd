"""Replay ERPNext 15.71's consolidation refusals and their ways out against the simulator.

``shared/erpnext/recorded/erpnext-15.71-consolidation.jsonl`` (``erpnext/NOTES.md``,
"Consolidation") closes shifts whose returns ERPNext will not merge: B, a return whose
original is not consolidated; C, a returned row dearer than the original row's net rate;
D, refunds above the credit note's net plus tax; E, D with two inclusive rates. Each is
refused, under ten invoices in the submit (417, the closing left a draft marked Failed) and
from ten in the background job (Failed, then ``run_method=retry``), and each accepted
shape is accepted. Every status, error and message must come out as recorded, and the
documents as far as MATTER compares them (the POS Invoices' totals, the consolidated Sales
Invoices' rows, taxes and totals).

The harness supplies what the recording leaves out: the lab site it ran on (``lab_site``),
the Sales Invoice series where the lab had it, and the background job, run where the
recorded answers show it had run (JOBS).
"""

from __future__ import annotations

from typing import Any

from tests.lab import lab_site
from tests.lab.replay import Replay, assert_replays, records
from tests.lab.test_simulator import MILK, client_for, close_shift, invoice, open_shift, sell
from tests.paths import RECORDED
from tillmesh.lab import demo_data
from tillmesh.lab.erpnext_simulator import Simulator

RECORDING = RECORDED / "erpnext-15.71-consolidation.jsonl"
BREAD = "BAK-0002"  # 2.49 at 7 %: two net 2.32 each, one alone 2.33 (rule C)
SALES_INVOICE_SERIES = "ACC-SINV-2026-"
# The lab had made 18 Sales Invoices before: the first one the recording shows made is 19
# (its answers name 20 first, the credit note that followed it).
SALES_INVOICES_BEFORE = 18
JOBS = {  # line: (its label, why the job had run by then)
    51: ("B 10+ invoices (background job): Failed, then retry: poll: GET closing",
         "the 10-invoice closing was merged in the background, and refused"),
    58: ("B 10+ invoices (background job): Failed, then retry: poll: GET closing",
         "the retried closing was merged"),
}


class Consolidations(Replay):
    def __init__(self) -> None:
        super().__init__(lab_site.START)

    def setup(self) -> None:
        lab_site.build(self.sim, self.client)
        self.sim.set_series(SALES_INVOICE_SERIES, SALES_INVOICES_BEFORE)

    def before(self, line: int, record: dict[str, Any]) -> None:
        if line in JOBS:
            assert record.get("label") == JOBS[line][0], f"line {line} is not where expected"
            assert self.sim.run_jobs() == 1


def test_replay_matches_the_recorded_consolidations() -> None:
    assert_replays(Consolidations(), records(RECORDING))


def test_a_refused_background_merge_fails_the_closing_and_a_retry_runs_it_again() -> None:
    """Rule C from ten invoices on: submitted, Queued, then Failed with ERPNext's message;
    a retry queues it again and fails again (the return was not restated)."""
    with Simulator(seed="demo", job_delay=None) as sim, client_for(sim) as api:
        opening = open_shift(api, sim)
        taxed = {"taxes_and_charges": demo_data.SALES_TAXES}  # inclusive 19 %, bread at 7 %
        sale = sell(api, [(BREAD, 2)], 4.98, **taxed)
        names = [sell(api, [(MILK, 1)], 1.09)["name"] for _ in range(8)]
        ret = api.post("/api/resource/POS Invoice", json=invoice(
            [], -2.49, is_return=1, return_against=sale["name"], **taxed,
            items=[{"item_code": BREAD, "qty": -1,
                    "pos_invoice_item": sale["items"][0]["name"]}]))
        assert ret.status_code == 200, ret.text
        closing = close_shift(api, sim, opening, [sale["name"], *names,
                                                  ret.json()["data"]["name"]])
        name = closing.json()["data"]["name"]
        assert closing.json()["data"]["status"] == "Queued"
        message = ("Row # 1: Rate cannot be greater than the rate used in Sales Invoice "
                   "ACC-SINV-2026-00001")
        for _ in range(2):
            assert sim.run_jobs() == 1
            failed = sim.get("POS Closing Entry", name) or {}
            assert (failed["docstatus"], failed["status"], failed["error_message"]) == (
                1, "Failed", message)
            assert sim.get("Sales Invoice", "ACC-SINV-2026-00001") is None  # rolled back
            retry = api.post(f"/api/resource/POS Closing Entry/{name}",
                             params={"run_method": "retry"})
            assert retry.status_code == 200
        assert (sim.get("POS Opening Entry", opening) or {})["status"] == "Open"
