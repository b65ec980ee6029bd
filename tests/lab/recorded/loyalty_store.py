"""The loyalty programs the recordings and contract tests sell with (issue 15): a
program of two tiers and one of a single tier, and the runs of sales a member makes,
earning and redeeming points. ``make`` sets the programs up on a site (the lab's ERPNext
15 or the simulator); members are made fresh for every run (their points add up for
ever), named with ``suffix``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TIERS, SINGLE = "PRL Points", "PRL Single"
# (name, conversion factor: money per point, days points keep, [(tier, min spent, spent
# per point)])
PROGRAMS: list[tuple[str, float, int, list[tuple[str, float, float]]]] = [
    (TIERS, 0.1, 365, [("Silver", 0, 2), ("Gold", 100, 1)]),
    (SINGLE, 0.05, 30, [("Member", 0, 1)]),
]


def make(insert: Callable[[str, dict[str, Any]], Any], exists: Callable[[str, str], bool], *,
         company: str, expense_account: str, cost_center: str) -> None:
    for name, conversion, days, tiers in PROGRAMS:
        if exists("Loyalty Program", name):
            continue
        insert("Loyalty Program", {
            "loyalty_program_name": name, "from_date": "2020-01-01", "company": company,
            "loyalty_program_type": "Multiple Tier Program" if len(tiers) > 1
            else "Single Tier Program",
            "conversion_factor": conversion, "expiry_duration": days,
            "expense_account": expense_account, "cost_center": cost_center,
            "collection_rules": [{"tier_name": t, "min_spent": m, "collection_factor": f}
                                 for t, m, f in tiers]})


def member(program: str, suffix: str) -> dict[str, Any]:
    """A new customer enrolled in ``program``."""
    return {"customer_name": f"PRL {program.split()[-1]} {suffix}", "customer_type": "Individual",
            "customer_group": "PR Members", "loyalty_program": program}


Cart = list[tuple[str, float]]
# A member's sales, one after another: (about, cart, points to redeem, returns the sale
# of this many steps before: 0 for none)
RUNS: dict[str, list[tuple[str, Cart, int, int]]] = {
    TIERS: [
        ("a first sale: points at the top tier", [("PR-01", 10)], 0, 0),
        ("a bigger sale", [("PR-10", 12)], 0, 0),
        ("50 points redeemed, the rest in cash", [("PR-01", 4)], 50, 0),
        ("more points than the balance: refused", [("PR-12", 20)], 10_000, 0),
        ("points worth more than the sale: refused", [("PR-01", 1)], 40, 0),
        ("55 points (5.50) on a 9.96 sale", [("PR-01", 4)], 55, 0),
        ("the first sale returned whole", [], 0, 6),
        ("all points left redeemed on a big sale", [("PR-12", 15)], -1, 0),
        ("a sale with nothing left to redeem", [("PR-02", 3)], 0, 0),
        ("points pay the whole sale (1.00), a cash row of 0", [("PR-16", 2)], 10, 0),
        ("points pay the whole sale (2.00), a cash row of 0", [("PR-16", 4)], 20, 0),
    ],
    SINGLE: [
        ("a single-tier sale", [("PR-02", 7)], 0, 0),
        ("redeemed at 0.05 a point", [("PR-08", 2)], 20, 0),
        ("a sale of cents", [("PR-15", 1)], 0, 0),
    ],
}
