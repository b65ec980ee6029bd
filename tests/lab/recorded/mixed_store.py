"""Pricing Rules with mixed conditions (issue 15): a quantity or amount break judged on
all the cart's lines of the rule's items, groups or brand together ("any 4 of these"),
the rules the recording and the tests price with, and the carts rung up under them.
Items are ``pricing_store``'s; only these rules are enabled while they are recorded.
"""

from __future__ import annotations

import random
from typing import Any

from tests.lab.recorded.pricing_store import MEMBER, WALK_IN, free, rule

Cart = list[tuple[str, float] | tuple[str, float, str]]  # (item, qty[, uom])


def rules(company: str) -> list[dict[str, Any]]:
    pct, amt = "Discount Percentage", "Discount Amount"
    return [{**r, "company": company, "mixed_conditions": 1} for r in [
        rule("PRM any 4 of PR-34/35/36: 15%", "Item Code", ["PR-34", "PR-35", "PR-36"],
             rate_or_discount=pct, discount_percentage=15, min_qty=4),
        rule("PRM brand B from 10.00: 10%", "Brand", ["PR Brand B"], rate_or_discount=pct,
             discount_percentage=10, min_amt=10),
        rule("PRM any 5 juices: 0.20 off", "Item Group", ["PR Juice"], rate_or_discount=amt,
             discount_amount=0.2, min_qty=5),
        rule("PRM any 12 units of PR-01/PR-03: 5%", "Item Code", ["PR-01", "PR-03"],
             rate_or_discount=pct, discount_percentage=5, min_qty=12),
        free("PRM any 3 of PR-24/PR-25: a free PR-17", ["PR-24", "PR-25"], free_item="PR-17",
             min_qty=3),
        rule("PRM snacks 2 to 6 units of PR-20/PR-21: 1.00 each", "Item Code",
             ["PR-20", "PR-21"], rate_or_discount="Rate", rate=1, min_qty=2, max_qty=6),
        rule("PRM any 3 of PR-30/PR-31: 0.50 off", "Item Code", ["PR-30", "PR-31"],
             rate_or_discount=amt, discount_amount=0.5, min_qty=3),
        rule("PRM brand A from 3 units: 0.50 off", "Brand", ["PR Brand A"],
             rate_or_discount=amt, discount_amount=0.5, min_qty=3),
    ]]


CARTS: list[tuple[str, str, Cart]] = [
    ("one of the three: below the break", WALK_IN, [("PR-34", 1)]),
    ("4 of one: at the break", WALK_IN, [("PR-35", 4)]),
    ("2 + 1 + 1 of the three: mixed, at the break", WALK_IN,
     [("PR-34", 2), ("PR-35", 1), ("PR-36", 1)]),
    ("3 of the three mixed: below", WALK_IN, [("PR-34", 1), ("PR-35", 1), ("PR-36", 1)]),
    ("3 of the three and another item: below", WALK_IN,
     [("PR-34", 1), ("PR-35", 2), ("PR-02", 5)]),
    ("one item on two lines, 2 + 2", WALK_IN, [("PR-34", 2), ("PR-34", 2)]),
    ("one item on two lines, 1 + 3", WALK_IN, [("PR-36", 1), ("PR-36", 3)]),
    ("brand B below 10.00 together", WALK_IN, [("PR-05", 2), ("PR-14", 1)]),
    ("brand B from 10.00 together", WALK_IN, [("PR-05", 3), ("PR-14", 2)]),
    ("brand B from 10.00 in one line", WALK_IN, [("PR-14", 4)]),
    ("4 juices of two kinds: below", WALK_IN, [("PR-04", 2), ("PR-23", 2)]),
    ("5 juices of three kinds", WALK_IN, [("PR-04", 2), ("PR-23", 2), ("PR-28", 1)]),
    ("5 juices, one of brand B too", WALK_IN, [("PR-04", 2), ("PR-14", 3)]),
    ("6 of PR-01 and 1 Box of PR-03 (6): 12 units", WALK_IN, [("PR-01", 6), ("PR-03", 1, "Box")]),
    ("5 of PR-01 and 1 Box of PR-03: 11 units", WALK_IN, [("PR-01", 5), ("PR-03", 1, "Box")]),
    ("2 Boxes of PR-03 alone", WALK_IN, [("PR-03", 2, "Box")]),
    ("2 of PR-24 and 1 of PR-25: a free item", WALK_IN, [("PR-24", 2), ("PR-25", 1)]),
    ("2 of PR-24 alone: none", WALK_IN, [("PR-24", 2)]),
    ("PR-20 and PR-21 one each: 2 units at 1.00", WALK_IN, [("PR-20", 1), ("PR-21", 1)]),
    ("PR-20 4 and PR-21 3: 7 units, past the break", WALK_IN, [("PR-20", 4), ("PR-21", 3)]),
    ("PR-20 alone, 1: below", WALK_IN, [("PR-20", 1)]),
    ("PR-30 2 and PR-31 1: 0.50 off each", WALK_IN, [("PR-30", 2), ("PR-31", 1)]),
    ("PR-30 2 alone: below", WALK_IN, [("PR-30", 2)]),
    ("brand A, 3 units: 0.50 off", WALK_IN, [("PR-13", 3)]),
    ("brand A, a Box: 0.50 off", WALK_IN, [("PR-13", 1, "Box")]),
    ("everything at once", MEMBER, [("PR-34", 2), ("PR-36", 2), ("PR-05", 3), ("PR-14", 2),
                                    ("PR-04", 1), ("PR-01", 12), ("PR-24", 3), ("PR-20", 2)]),
]

_ITEMS = ["PR-34", "PR-35", "PR-36", "PR-05", "PR-14", "PR-04", "PR-23", "PR-28", "PR-01",
          "PR-03", "PR-24", "PR-25", "PR-20", "PR-21", "PR-02", "PR-30", "PR-31", "PR-13"]


def mixed_carts(count: int, seed: int) -> list[tuple[str, str, Cart]]:
    """Carts as a till rings them up: 1-6 lines of the rules' items and one other, 1-5
    each, now and then PR-03 in a Box, some for the member."""
    rnd = random.Random(seed)
    carts: list[tuple[str, str, Cart]] = []
    for n in range(count):
        lines: Cart = []
        for code in rnd.sample(_ITEMS, rnd.randint(1, 6)):
            lines.append((code, rnd.randint(1, 2), "Box") if code == "PR-03"
                         and rnd.random() < 0.4 else (code, rnd.randint(1, 5)))
        carts.append((f"mixed cart {n + 1}", MEMBER if rnd.random() < 0.3 else WALK_IN, lines))
    return carts


ALL_CARTS = CARTS + mixed_carts(70, seed=16)
