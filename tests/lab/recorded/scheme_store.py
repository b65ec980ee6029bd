"""The Promotional Schemes the recordings are made under (issue 15): a volume discount in
three slabs, a buy-three-get-one on its own item, and a members' price. ERPNext makes a
Pricing Rule of each slab (and of each customer group a slab is for), titled after the
scheme (``promotional_scheme.py``), and prices with those rules alone: a counter that
pulls Pricing Rules prices a scheme as ERPNext does.
"""

from __future__ import annotations

import random
from typing import Any

from tests.lab.recorded.pricing_store import MEMBER, MEMBERS, WALK_IN


def _slab(description: str, **fields: Any) -> dict[str, Any]:
    return {"rule_description": description, **fields}


def schemes(company: str) -> list[dict[str, Any]]:
    base = {"apply_on": "Item Code", "selling": 1, "buying": 0, "company": company,
            "currency": "EUR"}
    return [
        {**base, "name": "PRS Volume", "items": [{"item_code": "PR-34"}, {"item_code": "PR-35"}],
         "price_discount_slabs": [
             _slab("1 to 4: 5 %", min_qty=1, max_qty=4, discount_percentage=5),
             _slab("5 to 9: 10 %", min_qty=5, max_qty=9, discount_percentage=10),
             _slab("10 and more: 15 %", min_qty=10, discount_percentage=15)]},
        {**base, "name": "PRS Buy 3 get 1", "items": [{"item_code": "PR-36"}],
         "product_discount_slabs": [
             _slab("every 3rd bought: 1 free", min_qty=3, same_item=1, free_qty=1,
                   is_recursive=1, recurse_for=3, round_free_qty=1)]},
        {**base, "name": "PRS Members price", "items": [{"item_code": "PR-37"}],
         "applicable_for": "Customer Group", "customer_group": [{"customer_group": MEMBERS}],
         "price_discount_slabs": [
             _slab("members: 8.50", rate_or_discount="Rate", rate=8.5)]},
    ]


Cart = list[tuple[str, float]]
CARTS: list[tuple[str, str, Cart]] = [
    ("first slab", WALK_IN, [("PR-34", 1)]),
    ("top of the first slab", WALK_IN, [("PR-34", 4)]),
    ("second slab", WALK_IN, [("PR-34", 5)]),
    ("top of the second slab", WALK_IN, [("PR-35", 9)]),
    ("open third slab", WALK_IN, [("PR-35", 10)]),
    ("far in the third slab", WALK_IN, [("PR-34", 48)]),
    ("two items of one scheme, each its own slab", WALK_IN, [("PR-34", 3), ("PR-35", 6)]),
    ("below buy 3", WALK_IN, [("PR-36", 2)]),
    ("buy 3 get 1", WALK_IN, [("PR-36", 3)]),
    ("buy 7: 2 free", WALK_IN, [("PR-36", 7)]),
    ("buy 9: 3 free", WALK_IN, [("PR-36", 9)]),
    ("members' price, walk-in", WALK_IN, [("PR-37", 2)]),
    ("members' price, member", MEMBER, [("PR-37", 2)]),
    ("all three schemes", MEMBER, [("PR-34", 6), ("PR-36", 4), ("PR-37", 1)]),
]


def mixed_carts(count: int, seed: int) -> list[tuple[str, str, Cart]]:
    rnd = random.Random(seed)
    items = ["PR-34", "PR-35", "PR-36", "PR-37", "PR-01", "PR-02"]
    return [(f"mixed scheme cart {n + 1}", MEMBER if rnd.random() < 0.4 else WALK_IN,
             [(code, rnd.randint(1, 14)) for code in rnd.sample(items, rnd.randint(1, 4))])
            for n in range(count)]


ALL_CARTS = CARTS + mixed_carts(30, seed=16)
