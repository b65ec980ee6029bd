"""The store the Pricing Rule recordings and contract tests price in (issue 15): item
groups in a tree, brands, a customer group with a member, items ``PR-01``... with prices,
a Box UOM and stock, the Pricing Rules, and the carts. ``make`` sets it up on a site
(the lab's ERPNext 15 or the simulator) through whatever inserts documents there.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

OTHER_PRICE_LIST = "PR Other Prices"
GROUPS = {"PR Drinks": "All Item Groups", "PR Juice": "PR Drinks", "PR Snacks": "All Item Groups"}
BRANDS = ("PR Brand A", "PR Brand B")
MEMBERS, MEMBER = "PR Members", "PR Member"
# item -> (item group, brand, price per Nos, {uom: (factor, price or None)})
ITEMS: dict[str, tuple[str, str | None, float, dict[str, tuple[float, float | None]]]] = {
    "PR-01": ("PR Drinks", None, 2.49, {}),
    "PR-02": ("PR Drinks", None, 3.19, {}),
    "PR-03": ("PR Drinks", None, 0.89, {"Box": (6, 4.99)}),
    "PR-04": ("PR Juice", None, 1.79, {}),
    "PR-05": ("PR Snacks", "PR Brand B", 1.29, {}),
    "PR-06": ("PR Snacks", None, 0.99, {}),
    "PR-07": ("PR Snacks", None, 4.44, {}),
    "PR-08": ("PR Snacks", None, 5.95, {}),
    "PR-09": ("PR Snacks", None, 7.77, {}),
    "PR-10": ("PR Snacks", None, 9.99, {}),
    "PR-11": ("PR Snacks", None, 1.11, {}),
    "PR-12": ("PR Snacks", None, 12.34, {}),
    "PR-13": ("PR Snacks", "PR Brand A", 2.22, {"Box": (12, None)}),
    "PR-14": ("PR Juice", "PR Brand B", 3.33, {}),
    "PR-15": ("PR Snacks", None, 0.30, {}),
    "PR-16": ("PR Snacks", None, 0.50, {}),
    # free items (product rules)
    "PR-17": ("PR Snacks", None, 1.49, {}),
    "PR-18": ("PR Snacks", None, 6.99, {}),
    "PR-19": ("PR Snacks", None, 0.99, {"Box": (6, 4.99)}),
    "PR-20": ("PR Snacks", None, 2.10, {}),
    "PR-21": ("PR Snacks", None, 3.00, {}),
    "PR-22": ("PR Snacks", None, 4.20, {}),
    "PR-23": ("PR Juice", None, 2.80, {}),
    "PR-24": ("PR Snacks", None, 2.80, {}),
    "PR-25": ("PR Snacks", None, 3.60, {}),
    # coupons (coupon_store)
    "PR-26": ("PR Snacks", None, 5.00, {}),
    "PR-27": ("PR Snacks", None, 8.40, {}),
    "PR-28": ("PR Juice", None, 2.65, {}),
    "PR-29": ("PR Snacks", None, 12.50, {}),
    "PR-30": ("PR Snacks", None, 3.99, {}),
    "PR-31": ("PR Snacks", None, 6.00, {}),
    "PR-32": ("PR Snacks", None, 4.00, {}),
    "PR-33": ("PR Snacks", None, 9.00, {}),
    # promotional schemes (scheme_store)
    "PR-34": ("PR Snacks", None, 2.35, {}),
    "PR-35": ("PR Snacks", None, 11.90, {}),
    "PR-36": ("PR Snacks", None, 1.65, {}),
    "PR-37": ("PR Snacks", None, 9.99, {}),
}


def rule(title: str, apply_on: str, on: list[str], **fields: Any) -> dict[str, Any]:
    table, key = {"Item Code": ("items", "item_code"), "Item Group": ("item_groups",
                                                                      "item_group"),
                  "Brand": ("brands", "brand")}[apply_on]
    return {"title": title, "apply_on": apply_on, table: [{key: x} for x in on],
            "price_or_product_discount": "Price", "selling": 1, "buying": 0,
            "currency": "EUR", **fields}


def free(title: str, on: list[str], **fields: Any) -> dict[str, Any]:
    """A product rule on items: free items rather than a price."""
    return {**rule(title, "Item Code", on, **fields), "price_or_product_discount": "Product"}


def rules(company: str, today: date) -> list[dict[str, Any]]:
    """The rules, for ``company``, their validity around ``today``. Each prices items no
    other rule touches, but where a case is about two rules meeting (priorities,
    stacking, conflicts)."""
    yesterday, tomorrow = str(today - timedelta(days=1)), str(today + timedelta(days=1))
    month_ago = str(today - timedelta(days=30))
    return [{**r, "company": company} for r in [
        rule("PR 10% off PR-01", "Item Code", ["PR-01"], rate_or_discount="Discount Percentage",
             discount_percentage=10),
        rule("PR 0.50 off PR-02", "Item Code", ["PR-02", "PR-15", "PR-16"],
             rate_or_discount="Discount Amount",
             discount_amount=0.5),
        rule("PR PR-03 at 0.79", "Item Code", ["PR-03"], rate_or_discount="Rate", rate=0.79),
        rule("PR juice 5%", "Item Group", ["PR Juice"], rate_or_discount="Discount Percentage",
             discount_percentage=5),
        rule("PR brand B 7.5%", "Brand", ["PR Brand B"], rate_or_discount="Discount Percentage",
             discount_percentage=7.5),
        rule("PR PR-06 from 3: 20%", "Item Code", ["PR-06"], rate_or_discount="Discount Percentage",
             discount_percentage=20, min_qty=3, priority="1"),
        rule("PR PR-06 from 6: 30%", "Item Code", ["PR-06"], rate_or_discount="Discount Percentage",
             discount_percentage=30, min_qty=6, priority="2"),
        rule("PR PR-07 expired", "Item Code", ["PR-07"], rate_or_discount="Discount Percentage",
             discount_percentage=50, valid_from=month_ago, valid_upto=yesterday),
        rule("PR PR-07 not yet", "Item Code", ["PR-07"], rate_or_discount="Discount Percentage",
             discount_percentage=40, valid_from=tomorrow),
        rule("PR members 15% PR-08", "Item Code", ["PR-08"], rate_or_discount="Discount Percentage",
             discount_percentage=15, applicable_for="Customer Group", customer_group=MEMBERS),
        rule("PR PR-09 10% stacks", "Item Code", ["PR-09"], rate_or_discount="Discount Percentage",
             discount_percentage=10, apply_multiple_pricing_rules=1, priority="1"),
        rule("PR PR-09 5% stacks", "Item Code", ["PR-09"], rate_or_discount="Discount Percentage",
             discount_percentage=5, apply_multiple_pricing_rules=1, priority="2"),
        rule("PR PR-10 10% on rate", "Item Code", ["PR-10"], rate_or_discount="Discount Percentage",
             discount_percentage=10, apply_multiple_pricing_rules=1, apply_discount_on_rate=1,
             priority="2"),  # ERPNext: a rule on the discounted rate needs a priority above 1
        rule("PR PR-10 10% more", "Item Code", ["PR-10"], rate_or_discount="Discount Percentage",
             discount_percentage=10, apply_multiple_pricing_rules=1, apply_discount_on_rate=1,
             priority="3"),
        rule("PR PR-11 conflict a", "Item Code", ["PR-11"], rate_or_discount="Discount Percentage",
             discount_percentage=10),
        rule("PR PR-11 conflict b", "Item Code", ["PR-11"], rate_or_discount="Discount Percentage",
             discount_percentage=20),
        rule("PR PR-12 margin 10% less 5%", "Item Code", ["PR-12"],
             rate_or_discount="Discount Percentage", discount_percentage=5,
             margin_type="Percentage", margin_rate_or_amount=10),
        rule("PR PR-13 from 10 euros 1.00 off", "Item Code", ["PR-13"],
             rate_or_discount="Discount Amount", discount_amount=1, min_amt=10),
        rule("PR PR-13 up to 3: 3%", "Item Code", ["PR-13"], rate_or_discount="Discount Percentage",
             discount_percentage=3, max_qty=3, priority="3"),
        rule("PR PR-14 other price list", "Item Code", ["PR-14"],
             rate_or_discount="Discount Percentage", discount_percentage=50,
             for_price_list=OTHER_PRICE_LIST),
        rule("PR member PR-05 rate", "Item Code", ["PR-05"], rate_or_discount="Rate", rate=0.99,
             applicable_for="Customer", customer=MEMBER, priority="5"),
        free("PR PR-17 buy 2 get 1", ["PR-17"], same_item=1, min_qty=2),
        free("PR PR-18 with a free PR-19", ["PR-18"], free_item="PR-19", free_qty=2),
        free("PR PR-18 from 3: a Box of PR-19", ["PR-18"], free_item="PR-19",
             free_item_uom="Box", min_qty=3, priority="2"),
        free("PR PR-20 every 3rd free", ["PR-20"], same_item=1, is_recursive=1,
             recurse_for=3, free_qty=1, round_free_qty=1, min_qty=3),
        free("PR PR-21 1 per 2 unrounded", ["PR-21"], same_item=1, is_recursive=1,
             recurse_for=2, free_qty=1, min_qty=2),
        free("PR PR-22 second at 1.00", ["PR-22"], same_item=1, min_qty=2, free_item_rate=1),
        free("PR PR-23 free PR-17 stacks", ["PR-23"], free_item="PR-17",
             apply_multiple_pricing_rules=1, priority="1"),
        rule("PR PR-23 5% stacks", "Item Code", ["PR-23"], rate_or_discount="Discount Percentage",
             discount_percentage=5, apply_multiple_pricing_rules=1, priority="2"),
        free("PR PR-24 free PR-17 stacks", ["PR-24"], free_item="PR-17",
             apply_multiple_pricing_rules=1, priority="1"),
        rule("PR PR-24 5% stacks", "Item Code", ["PR-24"], rate_or_discount="Discount Percentage",
             discount_percentage=5, apply_multiple_pricing_rules=1, priority="2"),
        rule("PR PR-25 5% stacks first", "Item Code", ["PR-25"],
             rate_or_discount="Discount Percentage", discount_percentage=5,
             apply_multiple_pricing_rules=1, priority="1"),
        free("PR PR-25 free PR-17 stacks last", ["PR-25"], free_item="PR-17",
             apply_multiple_pricing_rules=1, priority="2"),
    ]]


WALK_IN = "Walk-in Customer"
Cart = list[tuple[str, float] | tuple[str, float, str]]  # (item, qty[, uom])
CARTS: list[tuple[str, str, Cart]] = [
    ("percent off one unit", WALK_IN, [("PR-01", 1)]),
    ("percent off many units", WALK_IN, [("PR-01", 7)]),
    ("amount off", WALK_IN, [("PR-02", 3)]),
    ("special rate", WALK_IN, [("PR-03", 5)]),
    ("special rate in a Box", WALK_IN, [("PR-03", 2, "Box")]),
    ("item group in the tree", WALK_IN, [("PR-04", 4)]),
    ("brand", WALK_IN, [("PR-05", 3)]),
    ("brand and group both match: group first", WALK_IN, [("PR-14", 2)]),
    ("below the quantity break", WALK_IN, [("PR-06", 2)]),
    ("at the first break", WALK_IN, [("PR-06", 3)]),
    ("between breaks", WALK_IN, [("PR-06", 5)]),
    ("at the second break: priority", WALK_IN, [("PR-06", 6)]),
    ("far past the breaks", WALK_IN, [("PR-06", 24)]),
    ("two lines of one item each under the break", WALK_IN, [("PR-06", 2), ("PR-06", 2)]),
    ("expired and not yet valid: list price", WALK_IN, [("PR-07", 2)]),
    ("member group rule, walk-in", WALK_IN, [("PR-08", 1)]),
    ("member group rule, member", MEMBER, [("PR-08", 1)]),
    ("member customer rate", MEMBER, [("PR-05", 2)]),
    ("stacked rules", WALK_IN, [("PR-09", 3)]),
    ("stacked on the discounted rate", WALK_IN, [("PR-10", 2)]),
    ("two rules at one priority: conflict", WALK_IN, [("PR-11", 1)]),
    ("margin then discount", WALK_IN, [("PR-12", 1)]),
    ("min amount not reached, max qty rule", WALK_IN, [("PR-13", 2)]),
    ("min amount reached, within max qty", WALK_IN, [("PR-13", 3)]),
    ("min amount reached, past max qty", WALK_IN, [("PR-13", 5)]),
    ("min amount in a Box", WALK_IN, [("PR-13", 1, "Box")]),
    ("rule for another price list", WALK_IN, [("PR-14", 1)]),
    ("a mixed cart", WALK_IN, [("PR-01", 2), ("PR-02", 1), ("PR-03", 4), ("PR-06", 6),
                              ("PR-07", 1), ("PR-09", 1)]),
    ("a member's mixed cart", MEMBER, [("PR-08", 2), ("PR-05", 1), ("PR-04", 3),
                                      ("PR-12", 2)]),
    ("amount off above the list price", WALK_IN, [("PR-15", 2)]),
    ("a line below zero in a cart above it", WALK_IN, [("PR-15", 1), ("PR-01", 1)]),
    ("amount off equal to the list price", WALK_IN, [("PR-16", 2), ("PR-01", 1)]),
    ("fractions that round", WALK_IN, [("PR-02", 7), ("PR-09", 7), ("PR-10", 7),
                                      ("PR-12", 7)]),
    ("buy 1 of a buy-2-get-1: no free item", WALK_IN, [("PR-17", 1)]),
    ("buy 2 get 1 of the same item", WALK_IN, [("PR-17", 2)]),
    ("buy 5 of a buy-2-get-1 (not recursive)", WALK_IN, [("PR-17", 5)]),
    ("another item free, 2 of it", WALK_IN, [("PR-18", 1)]),
    ("from 3: a Box of the free item instead", WALK_IN, [("PR-18", 3)]),
    ("every 3rd free: 2 bought", WALK_IN, [("PR-20", 2)]),
    ("every 3rd free: 3 bought", WALK_IN, [("PR-20", 3)]),
    ("every 3rd free: 8 bought", WALK_IN, [("PR-20", 8)]),
    ("1 per 2 unrounded: 5 bought", WALK_IN, [("PR-21", 5)]),
    ("second at 1.00", WALK_IN, [("PR-22", 2)]),
    ("stacking rules and a group rule that does not stack: the top priority only", WALK_IN,
     [("PR-23", 2)]),
    ("a free item, then a discount stacked: the last rule's kind (a price) decides", WALK_IN,
     [("PR-24", 2)]),
    ("a discount, then a free item stacked: the last rule's kind (free items) decides",
     WALK_IN, [("PR-25", 2)]),
    ("free items beside priced lines", MEMBER, [("PR-17", 2), ("PR-08", 1), ("PR-18", 1),
                                               ("PR-01", 3)]),
]


def mixed_carts(count: int, seed: int) -> list[tuple[str, str, Cart]]:
    """Carts as a till rings them up: 1-6 lines of the store's items (but those whose own
    cases show a refusal), 1-12 of each, now and then in a Box, for a walk-in customer or
    a member; the same every run."""
    rng = random.Random(seed)
    codes = [code for code in ITEMS if code not in ("PR-11", "PR-15", "PR-16", "PR-21")
             and code <= "PR-25"]  # PR-26 on are the coupons' (coupon_store)
    carts: list[tuple[str, str, Cart]] = []
    for n in range(1, count + 1):
        lines: Cart = []
        for code in rng.sample(codes, rng.randint(1, 6)):
            boxed = "Box" in ITEMS[code][3] and rng.random() < 0.3
            lines.append((code, rng.randint(1, 3), "Box") if boxed
                         else (code, rng.randint(1, 12)))
        carts.append((f"mixed cart {n}", MEMBER if rng.random() < 0.3 else WALK_IN, lines))
    return carts


CARTS += mixed_carts(110, seed=15)



def make(insert: Callable[[str, dict[str, Any]], Any], exists: Callable[[str, str], bool], *,
         company: str, price_list: str, warehouse: str, today: date) -> None:
    """Everything but the rules, made once on a site (what exists is left as it is), and
    stock: 1000 of each new item (dated before any sale), 1000 more of each item there
    already (a site that runs the contract tests day after day sells its stock out)."""
    def ensure(doctype: str, name: str, body: dict[str, Any]) -> None:
        if not exists(doctype, name):
            insert(doctype, body)

    for group, parent in GROUPS.items():
        ensure("Item Group", group, {"item_group_name": group, "parent_item_group": parent,
                                     "is_group": int(group == "PR Drinks")})
    for name in BRANDS:
        ensure("Brand", name, {"brand": name})
    ensure("Customer Group", MEMBERS, {"customer_group_name": MEMBERS,
                                       "parent_customer_group": "All Customer Groups"})
    ensure("Customer", MEMBER, {"customer_name": MEMBER, "customer_group": MEMBERS,
                                "customer_type": "Individual"})
    ensure("Price List", OTHER_PRICE_LIST, {"price_list_name": OTHER_PRICE_LIST,
                                            "currency": "EUR", "selling": 1, "enabled": 1})
    stocked, topped = [], []
    for code, (item_group, brand, price, uoms) in ITEMS.items():
        if exists("Item", code):
            topped.append(code)
            continue
        insert("Item", {
            "item_code": code, "item_name": f"Pricing {code}", "item_group": item_group,
            "brand": brand, "stock_uom": "Nos", "is_stock_item": 1,
            "uoms": [{"uom": "Nos", "conversion_factor": 1}]
            + [{"uom": u, "conversion_factor": f} for u, (f, _) in uoms.items()]})
        stocked.append(code)
        prices = {"Nos": price, **{u: p for u, (_, p) in uoms.items() if p is not None}}
        for uom, rate in prices.items():
            insert("Item Price", {"item_code": code, "price_list": price_list, "uom": uom,
                                  "price_list_rate": rate, "valid_from": "2020-01-01"})
    for codes, dated in ((stocked, {"posting_date": str(today - timedelta(days=2)),
                                    "set_posting_time": 1}), (topped, {})):
        if codes:
            insert("Stock Entry", {
                "company": company, "stock_entry_type": "Material Receipt",
                "purpose": "Material Receipt", "docstatus": 1, **dated,
                "items": [{"item_code": c, "t_warehouse": warehouse, "qty": 1000,
                           "basic_rate": 0.5, "uom": "Nos", "conversion_factor": 1}
                          for c in codes]})
