"""The coupons the recordings and contract tests sell with (issue 15): coupon-based
Pricing Rules on items ``PR-26``... (and the juice group), their Coupon Codes, the carts
rung up with and without a coupon, and the runs of submitted sales that use a coupon up.

Each coupon's rule prices items no other coupon touches, but where a case is about a
coupon rule meeting a plain one (priority, a tie, stacking). Two coupons share a rule on
purpose: ERPNext 15's ``get_pricing_rule_for_item`` honours only the rule's most
recently modified coupon (recorded), which the counter does not copy.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from tests.lab.recorded.pricing_store import MEMBER, WALK_IN, rule

# (title, apply_on, on, fields); coupon_code_based unless "plain" is in the title
_RULES: list[tuple[str, str, list[str], dict[str, Any]]] = [
    ("PRC PR-26 10% coupon", "Item Code", ["PR-26"],
     {"rate_or_discount": "Discount Percentage", "discount_percentage": 10}),
    ("PRC PR-26 from 3 free PR-17 coupon", "Item Code", ["PR-26"],
     {"price_or_product_discount": "Product", "free_item": "PR-17", "min_qty": 3,
      "priority": "2"}),
    ("PRC PR-27 20% coupon", "Item Code", ["PR-27"],
     {"rate_or_discount": "Discount Percentage", "discount_percentage": 20, "priority": "5"}),
    ("PRC PR-27 5% plain", "Item Code", ["PR-27"],
     {"rate_or_discount": "Discount Percentage", "discount_percentage": 5, "priority": "1"}),
    ("PRC PR-28 15% coupon", "Item Code", ["PR-28"],
     {"rate_or_discount": "Discount Percentage", "discount_percentage": 15}),
    ("PRC PR-28 0.50 off plain", "Item Code", ["PR-28"],
     {"rate_or_discount": "Discount Amount", "discount_amount": 0.5}),
    ("PRC PR-29 from 2 at 10.00 coupon", "Item Code", ["PR-29"],
     {"rate_or_discount": "Rate", "rate": 10, "min_qty": 2}),
    ("PRC PR-30 5% plain stacks", "Item Code", ["PR-30"],
     {"rate_or_discount": "Discount Percentage", "discount_percentage": 5,
      "apply_multiple_pricing_rules": 1, "priority": "1"}),
    ("PRC PR-30 10% more coupon stacks", "Item Code", ["PR-30"],
     {"rate_or_discount": "Discount Percentage", "discount_percentage": 10,
      "apply_multiple_pricing_rules": 1, "apply_discount_on_rate": 1, "priority": "2"}),
    ("PRC PR-31 1.00 off coupon", "Item Code", ["PR-31"],
     {"rate_or_discount": "Discount Amount", "discount_amount": 1}),
    ("PRC PR-32 25% coupon", "Item Code", ["PR-32"],
     {"rate_or_discount": "Discount Percentage", "discount_percentage": 25}),
    ("PRC PR-33 2.00 off coupon", "Item Code", ["PR-33"],
     {"rate_or_discount": "Discount Amount", "discount_amount": 2}),
    ("PRC juice 10% coupon", "Item Group", ["PR Juice"],
     {"rate_or_discount": "Discount Percentage", "discount_percentage": 10}),
]


def rules(company: str) -> list[dict[str, Any]]:
    out = []
    for title, apply_on, on, fields in _RULES:
        body = rule(title, apply_on, on, **fields)
        body.update(company=company, coupon_code_based=int("plain" not in title))
        if fields.get("price_or_product_discount") == "Product":
            body["price_or_product_discount"] = "Product"
        out.append(body)
    return out


# name -> (its rule's title, fields); saved in this order, which decides the one coupon
# of a shared rule ERPNext honours (the last saved: SAVE10B over SAVE10, TWICE over
# EXPIRED and SOON)
def coupons(today: date) -> dict[str, tuple[str, dict[str, Any]]]:
    yesterday, tomorrow = str(today - timedelta(days=1)), str(today + timedelta(days=1))
    return {
        "PRC-SAVE10": ("PRC PR-26 10% coupon", {"maximum_use": 1000}),
        "PRC-SAVE10B": ("PRC PR-26 10% coupon", {"maximum_use": 1000}),
        "PRC-FREE3": ("PRC PR-26 from 3 free PR-17 coupon", {"maximum_use": 1000}),
        "PRC-VIP20": ("PRC PR-27 20% coupon", {"maximum_use": 1000}),
        "PRC-TIE15": ("PRC PR-28 15% coupon", {"maximum_use": 1000}),
        "PRC-DEAL": ("PRC PR-29 from 2 at 10.00 coupon", {"maximum_use": 1000}),
        "PRC-STACK": ("PRC PR-30 10% more coupon stacks", {"maximum_use": 1000}),
        "PRC-EXPIRED": ("PRC PR-31 1.00 off coupon", {"maximum_use": 1000,
                                                       "valid_upto": yesterday}),
        "PRC-SOON": ("PRC PR-31 1.00 off coupon", {"maximum_use": 1000, "valid_from": tomorrow}),
        # three days: a run that crosses the site's midnight keeps it valid
        "PRC-TWICE": ("PRC PR-31 1.00 off coupon", {"maximum_use": 2, "valid_from": yesterday,
                                                     "valid_upto": tomorrow}),
        "PRC-UNLIMITED": ("PRC PR-32 25% coupon", {"maximum_use": 0}),
        "PRC-GIFT": ("PRC PR-33 2.00 off coupon", {"coupon_type": "Gift Card",
                                                    "customer": MEMBER}),
        "PRC-JUICE": ("PRC juice 10% coupon", {"maximum_use": 1000}),
    }


def make_coupons(save: Callable[[str, dict[str, Any]], dict[str, Any]],
                 rule_names: dict[str, str], today: date) -> list[dict[str, Any]]:
    """Every coupon, with no uses yet, saved in the order of ``coupons`` by
    ``save(name, body)`` (which inserts it, or updates the one there); as saved."""
    return [save(name, {"coupon_name": name, "coupon_code": name,
                        "coupon_type": "Promotional", "pricing_rule": rule_names[title],
                        "valid_from": None, "valid_upto": None, "used": 0, **fields})
            for name, (title, fields) in coupons(today).items()]


Cart = list[tuple[str, float] | tuple[str, float, str]]
# (about, customer, coupon or "", cart)
CARTS: list[tuple[str, str, str, Cart]] = [
    ("coupon rule, no coupon: list price", WALK_IN, "", [("PR-26", 1)]),
    ("coupon rule with its coupon", WALK_IN, "PRC-SAVE10B", [("PR-26", 1)]),
    ("coupon rule with its other coupon (ERPNext honours one)", WALK_IN, "PRC-SAVE10",
     [("PR-26", 2)]),
    ("coupon for another item: list price", WALK_IN, "PRC-VIP20", [("PR-26", 1)]),
    ("coupon rule, many units", WALK_IN, "PRC-SAVE10B", [("PR-26", 9)]),
    ("product coupon rule wins from 3, without its coupon: nothing", WALK_IN,
     "PRC-SAVE10B", [("PR-26", 3)]),
    ("product coupon rule wins from 3, with its coupon: a free item", WALK_IN,
     "PRC-FREE3", [("PR-26", 3)]),
    ("product coupon below its break: the other coupon rule, uncouponed", WALK_IN,
     "PRC-FREE3", [("PR-26", 2)]),
    ("coupon rule above a plain one, no coupon: nothing", WALK_IN, "", [("PR-27", 1)]),
    ("coupon rule above a plain one, with the coupon", WALK_IN, "PRC-VIP20", [("PR-27", 2)]),
    ("coupon rule above a plain one, another coupon", WALK_IN, "PRC-SAVE10B",
     [("PR-27", 1)]),
    ("coupon rule ties a plain one, no coupon: refused", WALK_IN, "", [("PR-28", 1)]),
    ("coupon rule ties a plain one, with the coupon: refused", WALK_IN, "PRC-TIE15",
     [("PR-28", 1)]),
    ("coupon special rate below its break", WALK_IN, "PRC-DEAL", [("PR-29", 1)]),
    ("coupon special rate at its break", WALK_IN, "PRC-DEAL", [("PR-29", 2)]),
    ("stacked, no coupon: the plain rule only", WALK_IN, "", [("PR-30", 3)]),
    ("stacked, with the coupon: both", WALK_IN, "PRC-STACK", [("PR-30", 3)]),
    ("expired coupon: refused", WALK_IN, "PRC-EXPIRED", [("PR-31", 1)]),
    ("coupon not valid yet: refused", WALK_IN, "PRC-SOON", [("PR-31", 1)]),
    ("limited coupon, first use", WALK_IN, "PRC-TWICE", [("PR-31", 1)]),
    ("coupon without a maximum use: priced", WALK_IN, "PRC-UNLIMITED", [("PR-32", 2)]),
    ("gift card of the member, for the member", MEMBER, "PRC-GIFT", [("PR-33", 1)]),
    ("gift card of the member, for a walk-in customer", WALK_IN, "PRC-GIFT",
     [("PR-33", 1)]),
    ("item group coupon", WALK_IN, "PRC-JUICE", [("PR-04", 3), ("PR-14", 1)]),
    ("item group coupon, item rule first", WALK_IN, "PRC-JUICE", [("PR-28", 1)]),
    ("unknown coupon: refused", WALK_IN, "PRC-NOSUCH", [("PR-26", 1)]),
    ("a coupon on a mixed cart", WALK_IN, "PRC-SAVE10B",
     [("PR-26", 2), ("PR-27", 1), ("PR-29", 2), ("PR-01", 1)]),
]
_COUPONED = ["", "", "PRC-SAVE10B", "PRC-VIP20", "PRC-DEAL", "PRC-STACK", "PRC-JUICE",
             "PRC-FREE3", "PRC-TWICE"]
_ITEMS = ["PR-26", "PR-27", "PR-29", "PR-30", "PR-31", "PR-33", "PR-04", "PR-14", "PR-01",
          "PR-02", "PR-17"]


def mixed_carts(count: int, seed: int) -> list[tuple[str, str, str, Cart]]:
    """Carts as a till rings them up with coupons: 1-5 lines of the coupon items and a
    few others, 1-6 each, a coupon on most, some for the member."""
    rnd = random.Random(seed)
    carts = []
    for n in range(count):
        lines: Cart = [(rnd.choice(_ITEMS), rnd.randint(1, 6)) for _ in range(rnd.randint(1, 5))]
        customer = MEMBER if rnd.random() < 0.3 else WALK_IN
        carts.append((f"mixed coupon cart {n + 1}", customer, rnd.choice(_COUPONED), lines))
    return carts


ALL_CARTS = CARTS + mixed_carts(60, seed=151)

# Sales submitted one after another, each with its coupon: what ERPNext counts and when
# it refuses. (about, coupon, cart)
RUNS: list[tuple[str, str, Cart]] = [
    ("limited coupon, first sale", "PRC-TWICE", [("PR-31", 1)]),
    ("limited coupon, second sale", "PRC-TWICE", [("PR-31", 2)]),
    ("limited coupon, third sale: used up", "PRC-TWICE", [("PR-31", 1)]),
    ("coupon without a maximum use: refused at submit", "PRC-UNLIMITED", [("PR-32", 1)]),
    ("gift card, first sale", "PRC-GIFT", [("PR-33", 1)]),
    ("gift card, second sale: used up", "PRC-GIFT", [("PR-33", 1)]),
]
