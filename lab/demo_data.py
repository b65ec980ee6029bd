"""A believable small German store as ERPNext master documents, and bulk items for benchmarks.

``demo_master_docs()`` is what ``tillmesh init --demo`` loads: "Demo Store GmbH" (abbr.
DS), warehouse "Stores - DS", price list "Standard Selling" in EUR, POS Profile "Demo POS"
(cash and card), VAT included in prices: 19% on the account "VAT 19% - DS", and food and
books at 7% on an account of their own, "Output VAT 7% - DS", through the Item Tax
Template "VAT 7% - DS" (the Sales Taxes and Charges Template has a row per account, the
7% row at rate 0 for items without the template, as ERPNext's German setups do), so each
rate's VAT is booked apart, about 300 items in 11 item groups, UOMs Nos, Kg and Box, and a
few customers. Every item has an EAN-13 (valid check digit, prefix 4250…); every other
drink also has a case barcode (UOM Box of 6 or 12), half of those with a Box price of
their own, the others priced at 6 or 12 bottles. Item BEV-0001 is disabled (discontinued).

What a tester can scan (with the default embedded-barcode rules of ``node.barcode``):

    4250100000011   Alpenhof Whole Milk 1l (DAI-0001): 1 Nos at 1.09 EUR, 7% VAT
    4250100001223   Alpenhof Sparkling Water 1l (BEV-0002): 1 Nos at 0.59 EUR, 19% VAT
    4250200001222   the same water, a Box of 12 with its own Box price, 6.37 EUR
    4250200001246   Alpenhof Cola 0.33l (BEV-0004), a Box of 12 without a Box price:
                    12 x 0.89 = 10.68 EUR
    2100101012501   weighed label: Apples Elstar (FRU-0101, PLU 00101), 1.250 kg x 2.49
    2800201004993   price label: Gouda young (CHE-0201, PLU 00201), 4.99 EUR
    4250100001216   Alpenhof Orange Juice 1l (BEV-0001): refused, the item is disabled
    4250100000012   a misread (bad check digit): refused with "expected 1"

Weighed items are sold per Kg and carry their PLU as an Item Barcode (``00101``…): fruit
and vegetables are PLUs 00101–00112, the cheese counter 00201–00208. A scale label is
``21`` + PLU + grams (weight rules 21–25) or ``28`` + PLU + cents (price rules 26–29).
The codes above are checked by tests/node/projections/test_catalog.py.

``bulk_items(n)`` yields n synthetic Items with an Item Price each (codes ``BULK-000042``,
barcodes ``48…``) for the 100,000-item search test and benchmarks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from tillmesh.node.domain.barcode import gtin_check_digit

COMPANY = "Demo Store GmbH"
ABBR = "DS"
WAREHOUSE = f"Stores - {ABBR}"
PRICE_LIST = "Standard Selling"
CURRENCY = "EUR"
POS_PROFILE = "Demo POS"
WALK_IN = "Walk-in Customer"
VAT_7 = f"VAT 7% - {ABBR}"
VAT_ACCOUNT = f"VAT 19% - {ABBR}"
VAT_7_ACCOUNT = f"Output VAT 7% - {ABBR}"  # not "VAT 7% - DS": that is the template's name
SALES_TAXES = f"Germany VAT 19% incl - {ABBR}"
MODIFIED = "2026-11-01 09:00:00.000000"  # ERPNext's site-local `modified` of every doc
SEED = 20261101  # Item Price names are random in ERPNext; seeded here
ITEMS_PER_GROUP = 30
DISCONTINUED = "BEV-0001"  # the one disabled item
CENT = Decimal("0.01")

Doc = dict[str, Any]

# (code prefix, item group, reduced VAT, "product|price of the first brand"). Food and books
# take 7% VAT in Germany; drinks other than milk, household and drugstore goods 19%.
_GROUPS: list[tuple[str, str, bool, list[str]]] = [
    ("DAI", "Dairy", True, [
        "Whole Milk 1l|1.09", "Semi-skimmed Milk 1l|0.99", "Butter 250g|2.29",
        "Natural Yoghurt 500g|0.89", "Quark 250g|0.79", "Whipping Cream 200ml|1.19",
        "Buttermilk 500ml|0.69", "Kefir 500ml|1.29", "Fruit Yoghurt 150g|0.49"]),
    ("BAK", "Bakery", True, [
        "Rye Bread 750g|2.99", "Wholemeal Bread 500g|2.49", "Pretzel Rolls 6 pcs|1.99",
        "Toast Bread 500g|1.29", "Croissants 4 pcs|1.79", "Pumpernickel 500g|1.49"]),
    ("PAN", "Pantry", True, [
        "Spaghetti 500g|0.99", "Fusilli 500g|0.99", "Basmati Rice 1kg|2.79",
        "Wheat Flour 1kg|0.89", "Sugar 1kg|1.19", "Sea Salt 500g|0.69", "Olive Oil 500ml|5.99",
        "Tomato Passata 700g|1.19", "Lentils 500g|1.49", "Muesli 750g|2.99",
        "Honey 500g|4.49", "Strawberry Jam 450g|1.99"]),
    ("SNK", "Snacks & Sweets", True, [
        "Milk Chocolate 100g|1.19", "Dark Chocolate 100g|1.49", "Butter Biscuits 200g|1.29",
        "Potato Crisps 175g|1.79", "Salted Peanuts 200g|1.59", "Gummy Bears 200g|1.09",
        "Pretzel Sticks 250g|0.99"]),
    ("BEV", "Beverages", False, [
        "Orange Juice 1l|1.79", "Sparkling Water 1l|0.59", "Still Water 1.5l|0.49",
        "Cola 0.33l|0.89", "Lemonade 0.5l|0.99", "Apple Spritzer 1l|1.29",
        "Pilsner 0.5l|0.89", "Riesling 0.75l|6.99"]),
    ("COF", "Coffee & Tea", True, [
        "Ground Coffee 500g|5.99", "Coffee Beans 1kg|12.99", "Espresso Beans 250g|4.49",
        "Black Tea 20 bags|1.99", "Peppermint Tea 20 bags|1.49", "Green Tea 20 bags|2.29"]),
    ("HOU", "Household", False, [
        "Dish Soap 500ml|1.29", "Laundry Detergent 1.5l|5.49", "Kitchen Towels 4 rolls|2.49",
        "Toilet Paper 8 rolls|3.99", "AA Batteries 4 pcs|4.99", "Tea Lights 50 pcs|2.99",
        "Napkins 50 pcs|1.49", "Bin Bags 35l|1.99"]),
    ("DRU", "Drugstore", False, [
        "Shampoo 300ml|2.49", "Shower Gel 250ml|1.49", "Toothpaste 75ml|1.29",
        "Hand Soap 300ml|1.19", "Deodorant 150ml|2.29", "Sun Cream 200ml|7.99",
        "Tissues 10 packs|0.99"]),
    ("BOO", "Books", True, [
        "City Guide Berlin|14.99", "Cookbook Baking|19.99", "Crime Novel|12.00",
        "Children's Picture Book|9.99", "Puzzle Book|4.99", "Garden Almanac|8.99"]),
]
# Brands and how their prices compare with the first one.
_BRANDS = [("Alpenhof", "1.0"), ("Quellbrunn", "0.9"), ("Nordtal", "1.1"), ("Sonnenfeld", "1.2"),
           ("Hofgut", "0.8"), ("Elbgold", "1.3")]
_WEIGHED: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("FRU", "Fruit & Vegetables", [
        ("Apples Elstar", "2.49"), ("Bananas", "1.69"), ("Pears Conference", "2.99"),
        ("Tomatoes on the Vine", "3.49"), ("Carrots", "1.29"), ("Potatoes", "1.19"),
        ("Onions", "1.49"), ("Cucumbers", "2.29"), ("Red Peppers", "4.99"),
        ("Grapes White", "3.99"), ("Lemons", "2.79"), ("Mushrooms", "5.98"),
    ]),
    ("CHE", "Cheese Counter", [
        ("Gouda young", "9.90"), ("Emmentaler", "14.90"), ("Tilsiter", "12.50"),
        ("Bergkäse", "19.90"), ("Camembert", "13.90"), ("Butterkäse", "8.90"),
        ("Feta", "11.90"), ("Parmesan", "29.90"),
    ]),
]
_CUSTOMERS = [  # (name, customer group, mobile)
    ("Anna Schmidt", "Individual", "+49 151 23456701"),
    ("Jonas Weber", "Individual", "+49 160 9876502"),
    ("Mia Fischer", "Individual", "+49 171 5550103"),
    ("Lukas Becker", "Individual", "+49 152 4443304"),
    ("Lea Hoffmann", "Individual", "+49 176 1112205"),
    ("Café Lindenblüte", "Commercial", "+49 30 6655406"),
    ("Kita Sonnenschein", "Commercial", "+49 30 1234507"),
    ("Paul Schäfer", "Individual", "+49 157 7788908"),
    ("Sophie Wagner", "Individual", "+49 162 3344509"),
    ("Hotel Am Park GmbH", "Commercial", "+49 30 9988710"),
]


def _ean(body12: str) -> str:
    return body12 + str(gtin_check_digit(body12))


def _doc(doc: Doc) -> Doc:
    return {**doc, "modified": MODIFIED}


def _rows(rows: list[Doc]) -> list[Doc]:
    return [{**row, "idx": i} for i, row in enumerate(rows, 1)]


def _item(code: str, name: str, group: str, uom: str, reduced: bool, barcodes: list[Doc],
          uoms: list[Doc], disabled: bool = False) -> tuple[str, Doc]:
    return "Item", _doc({
        "name": code, "item_code": code, "item_name": name, "item_group": group,
        "stock_uom": uom, "disabled": int(disabled), "is_stock_item": 1, "is_sales_item": 1,
        "description": name, "barcodes": _rows(barcodes), "uoms": _rows(uoms),
        "taxes": _rows([{"item_tax_template": VAT_7, "tax_category": None}] if reduced else []),
    })


def _price(rng: random.Random, code: str, uom: str, rate: Decimal) -> tuple[str, Doc]:
    name = "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(10))
    return "Item Price", _doc({
        "name": name, "item_code": code, "uom": uom, "price_list": PRICE_LIST,
        "price_list_rate": str(rate), "currency": CURRENCY, "selling": 1, "buying": 0,
    })


def _shelf_price(base: str, factor: str) -> Decimal:
    """A believable shelf price: base x brand factor, ending in 9 (1.09, 2.49, 12.99)."""
    price = (Decimal(base) * Decimal(factor)).quantize(Decimal("0.1")) - Decimal("0.01")
    return max(price, Decimal("0.29"))


def _items(rng: random.Random) -> Iterator[tuple[str, Doc]]:
    number = 0
    for prefix, group, reduced, products in _GROUPS:
        combos = [(p, b) for b in _BRANDS for p in products][:ITEMS_PER_GROUP]
        for n, (product, (brand, factor)) in enumerate(combos, 1):
            number += 1
            title, base = product.split("|")
            code = f"{prefix}-{n:04d}"
            barcodes = [{"barcode": _ean(f"4250100{number:05d}"), "barcode_type": "EAN",
                         "uom": "Nos"}]
            uoms = [{"uom": "Nos", "conversion_factor": 1}]
            rate = _shelf_price(base, factor)
            case = 0
            if prefix == "BEV" and n % 2 == 0:  # every other drink also sold by the case
                case = 6 if "0.75l" in title or "1.5l" in title else 12
                uoms.append({"uom": "Box", "conversion_factor": case})
                barcodes.append({"barcode": _ean(f"4250200{number:05d}"), "barcode_type": "EAN",
                                 "uom": "Box"})
            yield _item(code, f"{brand} {title}", group, "Nos", reduced, barcodes, uoms,
                        disabled=code == DISCONTINUED)
            yield _price(rng, code, "Nos", rate)
            if case and n % 4 == 2:  # half the cases have their own price, 10% off
                yield _price(rng, code, "Box", (rate * case * Decimal("0.9")).quantize(CENT))
    for (prefix, group, weighed), plu_base in zip(_WEIGHED, (100, 200), strict=True):
        for n, (product, price) in enumerate(weighed, 1):
            code = f"{prefix}-{plu_base + n:04d}"
            plu = f"{plu_base + n:05d}"
            yield _item(code, product, group, "Kg", True,
                        [{"barcode": plu, "barcode_type": "", "uom": "Kg"}],
                        [{"uom": "Kg", "conversion_factor": 1}])
            yield _price(rng, code, "Kg", Decimal(price))


def _setup() -> list[tuple[str, Doc]]:
    groups = [g for _, g, _, _ in _GROUPS] + [g for _, g, _ in _WEIGHED]
    return [
        *(("UOM", _doc({"name": u, "uom_name": u, "enabled": 1, "must_be_whole_number": w}))
          for u, w in (("Nos", 1), ("Kg", 0), ("Box", 1))),
        ("Item Group", _doc({"name": "All Item Groups", "item_group_name": "All Item Groups",
                             "is_group": 1, "parent_item_group": ""})),
        *(("Item Group", _doc({"name": g, "item_group_name": g, "is_group": 0,
                               "parent_item_group": "All Item Groups"})) for g in groups),
        ("Currency", _doc({"name": CURRENCY, "currency_name": CURRENCY, "enabled": 1,
                           "fraction": "Cent", "fraction_units": 100,
                           "smallest_currency_fraction_value": "0.01", "symbol": "€"})),
        ("Item Tax Template", _doc({
            "name": VAT_7, "title": "VAT 7%", "company": COMPANY, "disabled": 0,
            "taxes": _rows([{"tax_type": VAT_ACCOUNT, "tax_rate": 0},
                            {"tax_type": VAT_7_ACCOUNT, "tax_rate": 7}])})),
        ("Sales Taxes and Charges Template", _doc({
            "name": SALES_TAXES, "title": "Germany VAT 19% incl", "company": COMPANY,
            "is_default": 1, "disabled": 0,
            "taxes": _rows([{"charge_type": "On Net Total", "account_head": VAT_ACCOUNT,
                             "description": "VAT 19%", "rate": 19, "included_in_print_rate": 1,
                             "cost_center": f"Main - {ABBR}"},
                            {"charge_type": "On Net Total", "account_head": VAT_7_ACCOUNT,
                             "description": "VAT 7%", "rate": 0, "included_in_print_rate": 1,
                             "cost_center": f"Main - {ABBR}"}])})),
        *(("Mode of Payment", _doc({
            "name": mode, "mode_of_payment": mode, "type": kind, "enabled": 1,
            "accounts": _rows([{"company": COMPANY, "default_account": account}])}))
          for mode, kind, account in (("Cash", "Cash", f"Cash - {ABBR}"),
                                      ("Card", "Bank", f"Bank - {ABBR}"))),
        ("POS Profile", _doc({
            "name": POS_PROFILE, "company": COMPANY, "customer": WALK_IN, "currency": CURRENCY,
            "warehouse": WAREHOUSE, "selling_price_list": PRICE_LIST,
            "taxes_and_charges": SALES_TAXES, "apply_discount_on": "Grand Total",
            "payments": _rows([{"mode_of_payment": "Cash", "default": 1, "allow_in_returns": 1},
                               {"mode_of_payment": "Card", "default": 0, "allow_in_returns": 1}]),
            "allow_partial_payment": 0, "allow_rate_change": 0, "allow_discount_change": 1,
            "update_stock": 1, "validate_stock_on_save": 0, "disable_rounded_total": 0,
            "disabled": 0, "write_off_account": f"Write Off - {ABBR}",
            "write_off_cost_center": f"Main - {ABBR}", "write_off_limit": 1,
            "cost_center": f"Main - {ABBR}", "income_account": f"Sales - {ABBR}"})),
        ("Customer", _doc({"name": WALK_IN, "customer_name": WALK_IN,
                           "customer_type": "Individual", "customer_group": "Individual",
                           "territory": "Germany", "disabled": 0})),
        *(("Customer", _doc({
            "name": name, "customer_name": name,
            "customer_type": "Company" if group == "Commercial" else "Individual",
            "customer_group": group, "territory": "Germany", "mobile_no": mobile,
            "email_id": name.lower().split()[0].replace("é", "e") + "@example.com",
            "disabled": 0}))
          for name, group, mobile in _CUSTOMERS),
    ]


def demo_master_docs() -> list[tuple[str, Doc]]:
    """(doctype, document) pairs of the demo store; the same on every call."""
    return _setup() + list(_items(random.Random(SEED)))


def _words(text: str) -> list[str]:
    return text.split()


# Names like "Korlin Erdbeerjoghurt Bio 500g": 400 brands x 1,008 products x 16 variants x
# 12 sizes, so that a word matches about as many of 100,000 items as in a real catalogue
# (a brand ~250, a product ~100, "Bio" or "1l" thousands).
_SYLLABLES = _words("al ber cor dan el fal gor hel is kar lin mar nor ol pen ros sel tan ul ven")
_FLAVOURS = _words("""Erdbeer Himbeer Kirsch Apfel Birnen Zitronen Orangen Vanille Schoko Nuss
                      Honig Kräuter Knoblauch Paprika Tomaten Gurken Kartoffel Weizen Roggen
                      Dinkel Hafer Reis Mais Kokos Mandel Karamell Pfeffer Senf""")
_BASES = _words("""joghurt quark milch saft tee kekse riegel brot brötchen nudeln suppe soße chips
                   creme pudding eis müsli aufstrich öl essig kuchen torte bonbons limonade
                   sirup pulver flocken mehl butter käse salat pesto dip gebäck waffeln
                   schnitten""")
_BULK_WORDS = (
    [(a + b).capitalize() for a in _SYLLABLES for b in _SYLLABLES],
    [f + b for f in _FLAVOURS for b in _BASES],
    _words("Classic Bio Light Extra Natur Mild Würzig Fein Vollkorn Laktosefrei Family Mini "
           "Premium Zart Knusprig Cremig"),
    _words("100g 150g 200g 250g 500g 1kg 0,33l 0,5l 1l 1,5l 6er 10er"),
)


def bulk_item_code(i: int) -> str:
    return f"BULK-{i:06d}"


def bulk_barcode(i: int) -> str:
    return _ean(f"48{i:010d}")


def bulk_items(n: int, seed: int = 0) -> Iterator[tuple[str, Doc]]:
    """n synthetic Items ("Korlin Erdbeerjoghurt Bio 500g"), each followed by its Item Price."""
    rng = random.Random(seed)
    brands, products, variants, sizes = _BULK_WORDS
    for i in range(n):
        code = bulk_item_code(i)
        name = (f"{rng.choice(brands)} {rng.choice(products)} {rng.choice(variants)} "
                f"{rng.choice(sizes)}")
        yield "Item", {
            "name": code, "item_code": code, "item_name": name, "item_group": "Bulk",
            "stock_uom": "Nos", "disabled": 0, "is_stock_item": 1, "modified": MODIFIED,
            "barcodes": [{"barcode": bulk_barcode(i), "barcode_type": "EAN", "uom": "Nos"}],
            "uoms": [{"uom": "Nos", "conversion_factor": 1}], "taxes": [],
        }
        yield "Item Price", {
            "name": f"BULK-PRICE-{i:06d}", "item_code": code, "uom": "Nos",
            "price_list": PRICE_LIST, "price_list_rate": f"{rng.randrange(19, 9999) / 100:.2f}",
            "modified": MODIFIED,
        }
