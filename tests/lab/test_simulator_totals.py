"""The simulator prices a POS Invoice as ERPNext 15.71 did, cart by cart.

The oracle carts (``shared/erpnext/totals-cases*.json``) are carts a real ERPNext stored
(or refused): each is posted to the simulator on the lab site it ran on (``lab_site``),
under the settings it ran with (rounding disabled, cash rounding), a return after its
submitted original, and what the simulator stores must be what ERPNext stored: header
totals, every line amount and tax row, the change; a refusal must be the same refusal.
The client's own totals play no part (the carts send none; ``test_simulator`` checks that
sent totals are replaced).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.lab import lab_site
from tests.lab.replay import _same
from tillmesh.lab.erpnext_simulator import ManualClock, Simulator

HEADER = ("total_qty", "total", "net_total", "total_taxes_and_charges", "discount_amount",
          "additional_discount_percentage", "grand_total", "rounding_adjustment",
          "rounded_total", "paid_amount", "change_amount", "write_off_amount",
          "outstanding_amount")
LINE = ("qty", "stock_qty", "uom", "conversion_factor", "price_list_rate",
        "discount_percentage", "discount_amount", "margin_type", "margin_rate_or_amount",
        "rate", "amount", "net_rate", "net_amount", "distributed_discount_amount",
        "item_tax_template")
TAX = ("charge_type", "account_head", "rate", "included_in_print_rate", "tax_amount",
       "tax_amount_after_discount_amount", "total")
JSON_FIELDS = ("item_tax_rate", "item_wise_tax_detail")  # JSON text: compared as data
INVOICE = "/api/resource/POS Invoice"


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[Simulator, httpx.Client]]:
    with Simulator(seed="recorded", job_delay=None, clock=ManualClock(lab_site.START),
                   rng_seed=1) as sim, httpx.Client(
            base_url=sim.url, timeout=30.0,
            headers={"Authorization": f"token {sim.api_key}:{sim.api_secret}"}) as client:
        lab_site.build(sim, client)
        opened = client.post("/api/resource/POS Opening Entry", json={
            "company": lab_site.COMPANY, "pos_profile": "Lab POS", "user": sim.user,
            "period_start_date": "2026-11-01 08:00:00", "posting_date": "2026-11-01",
            "balance_details": [{"mode_of_payment": "Cash", "opening_amount": 0}],
            "docstatus": 1})
        assert opened.status_code == 200, opened.text
        yield sim, client


@pytest.mark.parametrize("oracle", lab_site.ORACLES)
def test_oracle_carts_are_priced_as_erpnext_priced_them(
        lab: tuple[Simulator, httpx.Client], oracle: str) -> None:
    sim, client = lab
    found = lab_site.oracles()[lab_site.ORACLES.index(oracle)]
    lab_site.set_profile(sim, found)
    problems: list[str] = []
    for case in found["cases"]:
        _set_context(sim, case["context"])
        original = case.get("original")
        if original and sim.get("POS Invoice", original["name"]) is None:
            posted = client.post(INVOICE, json={**original["request"],
                                                "name": original["name"]})
            assert posted.status_code == 200, f"{case['id']} original: {posted.text}"
        answer = client.post(INVOICE, json=case["request"])
        problems += [f"{case['id']} ({case.get('note', '')}): {p}"
                     for p in _differences(case, answer)]
    _set_context(sim, {})
    assert problems == [], "\n".join(problems)


def _set_context(sim: Simulator, context: dict[str, Any]) -> None:
    """The global settings a case ran with, as the oracle's lab set them for it."""
    sim.put_doc("Global Defaults", {"name": "Global Defaults", "disable_rounded_total":
                                    context.get("global_disable_rounded_total", 0)})
    currency = sim.get("Currency", "EUR") or {}
    sim.put_doc("Currency", {**currency, "smallest_currency_fraction_value": context.get(
        "eur_smallest_currency_fraction_value", 0.01)})


def _differences(case: dict[str, Any], answer: httpx.Response) -> list[str]:
    body = answer.json()
    if case.get("rejected"):
        error = case["error"]
        got = (answer.status_code, body.get("exc_type"), body.get("exception"))
        expected = (error["status"], error["exc_type"], error["exception"])
        return [] if got == expected else [f"refused as {got}, recorded {expected}"]
    if answer.status_code != 200:
        return [f"status {answer.status_code}: {body.get('exception')}"]
    result, mine = case["result"], body["data"]
    found = _compare("", result, mine, HEADER)
    for table, fields in (("items", LINE), ("taxes", TAX)):
        rows = result.get(table) or []
        if len(rows) != len(mine.get(table) or []):
            found.append(f"{table}: {len(mine.get(table) or [])} rows, recorded {len(rows)}")
            continue
        for i, (theirs, ours) in enumerate(zip(rows, mine[table], strict=True)):
            found += _compare(f"{table}[{i}].", theirs, ours, fields + JSON_FIELDS)
    return found


def _compare(where: str, recorded: dict[str, Any], mine: dict[str, Any],
             fields: tuple[str, ...]) -> list[str]:
    found = []
    for field in fields:
        if field not in recorded:
            continue
        theirs, ours = recorded[field], mine.get(field)
        if field in JSON_FIELDS:
            theirs, ours = json.loads(theirs or "{}"), json.loads(ours or "{}")
            theirs = [[k, v] for k, v in sorted(theirs.items())]
            ours = [[k, v] for k, v in sorted(ours.items())]
        if not _same(theirs or (0 if field != "margin_type" else ""),
                     ours or (0 if field != "margin_type" else "")):
            found.append(f"{where}{field} = {ours!r}, recorded {theirs!r}")
    return found
