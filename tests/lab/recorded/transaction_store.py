"""The Pricing Rules on the whole transaction (``apply_on: Transaction``) the recording
and the tests price with (issue 15), and the carts rung up under them.

A transaction rule is judged on every invoice of the store, whatever its items, so the
rules come in scenarios: each scenario enables its own rules (and perhaps an item rule
of ``pricing_store``) and prices its carts; every other rule of this file is disabled
meanwhile. A cart may carry the cashier's own invoice discount, which ERPNext's
``apply_pricing_rule_on_transaction`` may replace.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from tests.lab.recorded.pricing_store import MEMBER, MEMBERS, WALK_IN

COUPON = "PRT-WHOLE15"  # the Coupon Code of the coupon-based transaction rule
_ITEMS = ["PR-01", "PR-02", "PR-04", "PR-06", "PR-08", "PR-10", "PR-12", "PR-13", "PR-17"]

Cart = list[tuple[str, float] | tuple[str, float, str]]  # (item, qty[, uom])


def _on_transaction(title: str, **fields: Any) -> dict[str, Any]:
    return {"title": title, "apply_on": "Transaction", "price_or_product_discount": "Price",
            "selling": 1, "buying": 0, "currency": "EUR", **fields}


def rules(company: str, today: date) -> list[dict[str, Any]]:
    """Every transaction rule, in the order they are made (ERPNext applies the matching
    ones in the order of their names, which is the order made)."""
    yesterday, tomorrow = str(today - timedelta(days=1)), str(today + timedelta(days=1))
    month_ago = str(today - timedelta(days=30))
    pct, amt = "Discount Percentage", "Discount Amount"
    return [{**r, "company": company} for r in [
        _on_transaction("PRT 10% from 50.00", rate_or_discount=pct, discount_percentage=10,
                        min_amt=50),
        _on_transaction("PRT 5.00 off from 10 units on net", rate_or_discount=amt,
                        discount_amount=5, min_qty=10, apply_discount_on="Net Total"),
        _on_transaction("PRT 5% from 20.00", rate_or_discount=pct, discount_percentage=5,
                        min_amt=20),
        _on_transaction("PRT 8% from 40.00", rate_or_discount=pct, discount_percentage=8,
                        min_amt=40),
        _on_transaction("PRT 2.00 off up to 30.00", rate_or_discount=amt, discount_amount=2,
                        max_amt=30),
        _on_transaction("PRT members 12%", rate_or_discount=pct, discount_percentage=12,
                        applicable_for="Customer Group", customer_group=MEMBERS),
        _on_transaction("PRT member 3.00 off", rate_or_discount=amt, discount_amount=3,
                        applicable_for="Customer", customer=MEMBER),
        _on_transaction("PRT expired 50%", rate_or_discount=pct, discount_percentage=50,
                        valid_from=month_ago, valid_upto=yesterday),
        _on_transaction("PRT not yet 40%", rate_or_discount=pct, discount_percentage=40,
                        valid_from=tomorrow),
        _on_transaction("PRT 15% coupon", rate_or_discount=pct, discount_percentage=15,
                        coupon_code_based=1),
        _on_transaction("PRT at least 10% checked", rate_or_discount=pct,
                        discount_percentage=10, validate_applied_rule=1),
        _on_transaction("PRT free PR-17 from 30.00", price_or_product_discount="Product",
                        free_item="PR-17", free_qty=2, min_amt=30),
        _on_transaction("PRT free PR-19 Box from 5 units", price_or_product_discount="Product",
                        free_item="PR-19", free_item_uom="Box", min_qty=5, free_item_rate=0.5),
        _on_transaction("PRT 10% from 100 units", rate_or_discount=pct, discount_percentage=10,
                        min_qty=100),
        _on_transaction("PRT recursive free PR-17", price_or_product_discount="Product",
                        free_item="PR-17", is_recursive=1, recurse_for=2, free_qty=1),
        _on_transaction("PRT 20% Grand Total from 60.00", rate_or_discount=pct,
                        discount_percentage=20, min_amt=60, apply_discount_on="Grand Total"),
    ]]


def coupons() -> dict[str, tuple[str, dict[str, Any]]]:
    return {COUPON: ("PRT 15% coupon", {"maximum_use": 100000})}


# A cart line may be priced by an item rule of pricing_store when its scenario enables
# it: "PR 10% off PR-01", "PR PR-17 buy 2 get 1".
ITEM_RULES = {"line discounts": ["PR 10% off PR-01"],
              "free items": ["PR PR-17 buy 2 get 1"]}

# scenario -> (the transaction rules it enables, the item rules it enables)
SCENARIOS: dict[str, tuple[list[str], list[str]]] = {
    "amount break": (["PRT 10% from 50.00"], ITEM_RULES["line discounts"]),
    "quantity break on net": (["PRT 5.00 off from 10 units on net"], []),
    "two rules: the last wins": (["PRT 5% from 20.00", "PRT 8% from 40.00",
                                  "PRT 2.00 off up to 30.00"], []),
    "customers": (["PRT members 12%", "PRT member 3.00 off"], []),
    "validity": (["PRT expired 50%", "PRT not yet 40%"], []),
    "coupon": (["PRT 15% coupon"], []),
    "checked only": (["PRT at least 10% checked"], []),
    "free items": (["PRT free PR-17 from 30.00", "PRT free PR-19 Box from 5 units"],
                   ITEM_RULES["free items"]),
    "item free items and a break not met": (["PRT 10% from 100 units"],
                                            ITEM_RULES["free items"]),
    "recursive free item": (["PRT recursive free PR-17"], []),
    "grand total then a free item": (["PRT 20% Grand Total from 60.00",
                                      "PRT free PR-17 from 30.00"], []),
}


class Sale:
    """A cart as the recording rings it up: its customer, its tax template (``incl``,
    ``excl`` or none), the cashier's invoice discount, the coupon."""

    def __init__(self, about: str, customer: str, cart: Cart, *, taxes: str = "",
                 percent: float = 0, amount: float = 0, coupon: str = "") -> None:
        self.about, self.customer, self.cart, self.taxes = about, customer, cart, taxes
        self.percent, self.amount, self.coupon = percent, amount, coupon

    def as_dict(self) -> dict[str, Any]:
        return {"about": self.about, "customer": self.customer, "cart": self.cart,
                "taxes": self.taxes, "percent": self.percent, "amount": self.amount,
                "coupon": self.coupon}


def _carts() -> dict[str, list[Sale]]:
    w, m = WALK_IN, MEMBER
    return {
        "amount break": [
            Sale("below the break", w, [("PR-02", 5)]),
            Sale("at the break", w, [("PR-16", 100)]),
            Sale("above the break", w, [("PR-12", 5)]),
            Sale("above the break, inclusive tax", w, [("PR-12", 5)], taxes="incl"),
            Sale("above the break, exclusive tax", w, [("PR-12", 5)], taxes="excl"),
            Sale("the cashier's 5% replaced by the rule's 10%", w, [("PR-12", 5)], percent=5),
            Sale("the cashier's 20% replaced by the rule's 10%", w, [("PR-12", 5)],
                 percent=20),
            Sale("the cashier's 3.00 off and the rule's 10%", w, [("PR-12", 5)], amount=3),
            Sale("below the break, the cashier's 5% stays", w, [("PR-02", 5)], percent=5),
            Sale("below the break, the cashier's 2.00 off stays", w, [("PR-02", 5)],
                 amount=2, taxes="excl"),
            Sale("list total above, net of a line rule below", w, [("PR-01", 21)]),
            Sale("list total and net of a line rule above", w, [("PR-01", 23)]),
        ],
        "quantity break on net": [
            Sale("9 units", w, [("PR-02", 9)]),
            Sale("10 units", w, [("PR-02", 4), ("PR-06", 6)]),
            Sale("10 units, inclusive tax", w, [("PR-02", 10)], taxes="incl"),
            Sale("10 units, exclusive tax", w, [("PR-02", 10)], taxes="excl"),
            Sale("2 Boxes of 12: 2 units to the rule", w, [("PR-13", 2, "Box")]),
            Sale("8 units and 2 Boxes", w, [("PR-13", 2, "Box"), ("PR-06", 8)]),
            Sale("10 units, the cashier's 10% wins over the amount", w, [("PR-02", 10)],
                 percent=10),
            Sale("10 units, the cashier's 1.00 off replaced", w, [("PR-02", 10)], amount=1),
        ],
        "two rules: the last wins": [
            Sale("below both", w, [("PR-02", 3)]),
            Sale("below 30.00: the first and the 2.00 off", w, [("PR-02", 7)]),
            Sale("between 30.00 and 40.00: the first", w, [("PR-10", 4)]),
            Sale("above 40.00: the second", w, [("PR-10", 5)]),
            Sale("above 40.00, exclusive tax", w, [("PR-10", 5)], taxes="excl"),
            Sale("small cart: the 2.00 off only", w, [("PR-06", 3)]),
        ],
        "customers": [
            Sale("walk-in: nothing", w, [("PR-02", 5)]),
            Sale("member: the group's 12% and the member's 3.00 off", m, [("PR-02", 5)]),
            Sale("member, exclusive tax", m, [("PR-02", 5)], taxes="excl"),
            Sale("member with the cashier's 20%", m, [("PR-10", 2)], percent=20),
        ],
        "validity": [
            Sale("an expired and a future rule", w, [("PR-02", 5)]),
            Sale("with the cashier's 5%", w, [("PR-02", 5)], percent=5),
        ],
        "coupon": [
            Sale("no coupon", w, [("PR-02", 5)]),
            Sale("no coupon, the cashier's 5% is taken away", w, [("PR-02", 5)], percent=5),
            Sale("no coupon, the cashier's 2.00 off stays", w, [("PR-02", 5)], amount=2),
            Sale("with the coupon", w, [("PR-02", 5)], coupon=COUPON),
            Sale("with the coupon and the cashier's 5%", w, [("PR-02", 5)], percent=5,
                 coupon=COUPON),
            Sale("with the coupon, inclusive tax", w, [("PR-10", 3)], taxes="incl",
                 coupon=COUPON),
        ],
        "checked only": [
            Sale("no discount given: nothing", w, [("PR-02", 5)]),
            Sale("the cashier's 5%: kept", w, [("PR-02", 5)], percent=5),
            Sale("the cashier's 10%: kept", w, [("PR-02", 5)], percent=10),
            Sale("the cashier's 25%: down to 10%", w, [("PR-02", 5)], percent=25),
        ],
        "free items": [
            Sale("below both", w, [("PR-02", 3)]),
            Sale("from 30.00: 2 free PR-17", w, [("PR-10", 4)]),
            Sale("from 5 units: a Box of PR-19 at 0.50", w, [("PR-06", 5)]),
            Sale("both", w, [("PR-10", 5)]),
            Sale("both, and an item rule's free PR-17", w, [("PR-10", 4), ("PR-17", 2)]),
            Sale("both, inclusive tax", w, [("PR-10", 5)], taxes="incl"),
        ],
        "item free items and a break not met": [
            Sale("an item rule's free item, the transaction break not met", w,
                 [("PR-17", 2)]),
            Sale("an item rule's free item, the break met", w, [("PR-17", 2), ("PR-06", 98)]),
        ],
        "recursive free item": [
            Sale("a recursive rule on the whole transaction", w, [("PR-02", 4)]),
        ],
        "grand total then a free item": [
            Sale("below both", w, [("PR-02", 3)]),
            Sale("30.00 to 60.00: the free item", w, [("PR-10", 4)]),
            Sale("above 60.00: both", w, [("PR-10", 7)], taxes="excl"),
        ],
    }


def _mixed(count: int, seed: int) -> list[Sale]:
    """Carts as a till rings them up: 1-5 lines of a few items, 1-9 each, some for the
    member, some with the cashier's discount, some taxed."""
    rnd = random.Random(seed)
    sales = []
    for n in range(count):
        cart: Cart = [(rnd.choice(_ITEMS), rnd.randint(1, 9)) for _ in range(rnd.randint(1, 5))]
        kind = rnd.random()
        sales.append(Sale(
            f"mixed cart {n + 1}", MEMBER if rnd.random() < 0.3 else WALK_IN, cart,
            taxes=rnd.choice(["", "incl", "excl"]),
            percent=rnd.choice([5, 12.5]) if kind < 0.2 else 0,
            amount=rnd.choice([1, 2.5]) if 0.2 <= kind < 0.35 else 0))
    return sales


def carts() -> dict[str, list[Sale]]:
    """Each scenario's carts: its own, then mixed ones (the coupon's with its coupon)."""
    out = _carts()
    for n, scenario in enumerate(("amount break", "quantity break on net",
                                  "two rules: the last wins", "customers", "coupon",
                                  "checked only", "free items",
                                  "grand total then a free item")):
        mixed = _mixed(8, seed=170 + n)
        if scenario == "coupon":
            for sale in mixed[::2]:
                sale.coupon = COUPON
        out[scenario] += mixed
    return out
