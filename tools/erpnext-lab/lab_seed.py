"""Seed a fresh ERPNext 15 or 16 site for Tillmesh's contract tests (run by `erpnext-lab up`).

Runs inside the lab's venv, from the sites directory:
    python lab_seed.py --site SITE --sites SITES --url URL --env-file PATH [--invoice-type T]
    python lab_seed.py --site SITE --sites SITES --invoice-type-only [--invoice-type T]
The second form only shows (or sets) POS Settings' invoice_type (`erpnext-lab invoice-type`).

Every step looks first and only creates what is missing, so it can be run again. The
configuration mirrors the ERPNext 15.71 lab described in shared/erpnext (NOTES.md,
totals-cases*.json): company "POS Lab GmbH" (PLG) in EUR/Germany/Europe/Berlin, Banker's
Rounding, POS Profile "Lab POS" on Standard Selling with Cash and Credit Card, inclusive
19 % VAT on the profile, 7 % item tax templates, the oracles' items with their prices,
UOMs and item taxes, plus generated items with EAN-13 barcodes, all in stock.

ERPNext 16 renamed a few things the seed sets; it asks the running site's meta which name or
option exists instead of guessing from the version: Item Barcode type "EAN-13" (15: only the
generic "EAN"), POS Profile `set_grand_total_to_default_mop` = 1 (15:
`disable_grand_total_to_default_mop` = 0, the same behaviour), POS Settings `invoice_type`
(16 only; a new 16 site has "Sales Invoice", --invoice-type changes it).
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import sys
import time
from datetime import date

import frappe
from frappe.utils import getdate, nowdate

COMPANY = os.environ.get("ERPNEXT_LAB_COMPANY", "POS Lab GmbH")
ABBR = os.environ.get("ERPNEXT_LAB_ABBR", "PLG")
PROFILE = os.environ.get("ERPNEXT_LAB_POS_PROFILE", "Lab POS")
API_USER = os.environ.get("ERPNEXT_LAB_API_USER", "tillmesh-api@lab.example.com")
N_ITEMS = int(os.environ.get("ERPNEXT_LAB_ITEMS", "300"))
PRICE_LIST = "Standard Selling"
WAREHOUSE_NAME = "POS Store"
CUSTOMER = "Walk-in Customer"
PRICES_VALID_FROM = (
    "2020-01-01"  # NOTES: a price valid only from today books backdated sales at 0.00
)
API_ROLES = (
    "System Manager",
    "Accounts User",
    "Accounts Manager",
    "Sales User",
    "Sales Manager",
    "Sales Master Manager",
    "Stock User",
    "Stock Manager",
    "Item Manager",
)


def a(name: str) -> str:
    """A company-specific name (account, cost center, warehouse, template)."""
    return f"{name} - {ABBR}"


def log(msg: str) -> None:
    print(f"[seed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the oracles' configuration (shared/erpnext/totals-cases.json, totals-cases-2.json) -----
# Sales Taxes and Charges Templates: title -> rows (charge_type, account, description, rate,
# row_id, included_in_print_rate, tax_amount).
TAX_TEMPLATES: dict[str, list[tuple]] = {
    "DE VAT 19% incl": [("On Net Total", "VAT 19%", "VAT 19% incl", 19.0, None, 1, 0.0)],
    "O2 VAT19 Excl": [("On Net Total", "VAT 19%", "VAT 19% excl", 19.0, None, 0, 0.0)],
    "O2 VAT 7+19 Incl": [
        ("On Net Total", "Umsatzsteuer 7 %", "USt 7% incl", 7.0, None, 1, 0.0),
        ("On Net Total", "Umsatzsteuer 19 %", "USt 19% incl", 19.0, None, 1, 0.0),
    ],
    "OR T1 VAT19 Excl": [("On Net Total", "Umsatzsteuer 19 %", "VAT 19%", 19.0, None, 0, 0.0)],
    "OR T2 VAT19 Incl": [("On Net Total", "Umsatzsteuer 19 %", "VAT 19% incl", 19.0, None, 1, 0.0)],
    "OR T3 VAT19 + 5 PrevAmt": [
        ("On Net Total", "Umsatzsteuer 19 %", "VAT 19%", 19.0, None, 0, 0.0),
        ("On Previous Row Amount", "OR Surcharge", "5% on VAT", 5.0, "1", 0, 0.0),
    ],
    "OR T4 Net10 Ship Prev1": [
        ("On Net Total", "OR Service Charge", "Service 10%", 10.0, None, 0, 0.0),
        ("Actual", "Freight and Forwarding Charges", "Shipping 2.50", 0.0, None, 0, 2.5),
        ("On Previous Row Total", "OR Surcharge", "1% on running total", 1.0, "2", 0, 0.0),
    ],
    "OR T5 Incl 7+19": [
        ("On Net Total", "Umsatzsteuer 7 %", "VAT 7% incl", 7.0, None, 1, 0.0),
        ("On Net Total", "Umsatzsteuer 19 %", "VAT 19% incl", 19.0, None, 1, 0.0),
    ],
}
PROFILE_TAXES = "DE VAT 19% incl"
# Item Tax Templates: title -> [(account, rate)]
ITEM_TAX_TEMPLATES: dict[str, list[tuple[str, float]]] = {
    "O2 Reduced 7%": [("VAT 19%", 7.0), ("Umsatzsteuer 7 %", 7.0), ("Umsatzsteuer 19 %", 0.0)],
    "O2 Standard 19%": [("VAT 19%", 19.0), ("Umsatzsteuer 7 %", 0.0), ("Umsatzsteuer 19 %", 19.0)],
    "VAT 7%": [("Umsatzsteuer 19 %", 7.0)],
    "VAT 0%": [("Umsatzsteuer 19 %", 0.0)],
}
UOMS = {"Nos": 1, "Box": 1, "Kg": 0}  # uom -> must_be_whole_number
# item_code -> (item_name, stock_uom, {uom: factor}, {uom: price}, item tax template, barcodes)
ORACLE_ITEMS: dict[str, tuple] = {
    "OR-APPLE": ("Apples by weight", "Kg", {}, {"Kg": 2.49}, "VAT 7%", []),
    "OR-BOOK": ("Paperback Book", "Nos", {}, {"Nos": 12.95}, "VAT 7%", ["4000000000082"]),
    "OR-BREAD": ("Bread by weight", "Kg", {}, {"Kg": 3.333}, None, []),
    "OR-CHEESE": ("Cheese wedge", "Nos", {}, {"Nos": 7.777}, "VAT 7%", []),
    "OR-COLA": (
        "Cola 0.33l",
        "Nos",
        {"Box": 12},
        {"Box": 14.99, "Nos": 1.29},
        None,
        ["4000000000075"],
    ),
    "OR-ESPRESSO": ("Espresso", "Nos", {}, {"Nos": 1.15}, None, ["4000000000020"]),
    "OR-GUM": ("Chewing Gum", "Nos", {}, {"Nos": 0.99}, None, ["4000000000013"]),
    "OR-MILK": ("Milk 1l", "Nos", {"Box": 12}, {"Nos": 1.09}, "VAT 7%", ["4000000000099"]),
    "OR-NAPKIN": ("Paper Napkin", "Nos", {"Box": 12}, {"Box": 1.45, "Nos": 0.125}, None, []),
    "OR-STAMP": ("Postage Stamp", "Nos", {}, {"Nos": 0.85}, "VAT 0%", []),
    "OR-TV": ("Television 55in", "Nos", {}, {"Nos": 1234.56}, None, ["4000000000051"]),
    "OR-WATER": (
        "Still Water 1.5l",
        "Nos",
        {"Box": 6},
        {"Box": 2.79, "Nos": 0.49},
        None,
        ["4000000000068"],
    ),
    "OR-WINE": (
        "Red Wine 0.75l",
        "Nos",
        {"Box": 6},
        {"Box": 113.94, "Nos": 19.99},
        None,
        ["4000000000044"],
    ),
    "O2-APPLE": ("Apples by weight", "Kg", {}, {"Kg": 2.49}, "O2 Reduced 7%", []),
    "O2-BANANA": ("Bananas by weight", "Kg", {}, {"Kg": 1.69}, "O2 Reduced 7%", []),
    "O2-BATTERY": ("Battery AA", "Nos", {"Box": 12}, {"Nos": 7.77}, "O2 Standard 19%", []),
    "O2-BEER": (
        "Beer 0.5l",
        "Nos",
        {"Box": 12},
        {"Box": 15.95, "Nos": 1.49},
        "O2 Standard 19%",
        [],
    ),
    "O2-BOOK": ("Paperback book", "Nos", {}, {"Nos": 12.95}, "O2 Reduced 7%", []),
    "O2-BREAD": ("Farmhouse bread", "Nos", {}, {"Nos": 3.33}, "O2 Reduced 7%", []),
    "O2-BUTTER": ("Butter 250g", "Nos", {}, {"Nos": 2.22}, "O2 Reduced 7%", []),
    "O2-CANDLE": ("Candle", "Nos", {}, {"Nos": 2.49}, None, []),
    "O2-CHEESE": ("Mountain cheese by weight", "Kg", {}, {"Kg": 22.82}, "O2 Reduced 7%", []),
    "O2-CHOC": ("Chocolate bar", "Nos", {}, {"Nos": 1.09}, "O2 Reduced 7%", []),
    "O2-COFFEE": ("Coffee beans by weight", "Kg", {}, {"Kg": 12.95}, "O2 Reduced 7%", []),
    "O2-COLA": ("Cola 0.33l", "Nos", {"Box": 6}, {"Box": 5.99, "Nos": 1.09}, "O2 Standard 19%", []),
    "O2-GIN": ("Dry gin 0.7l", "Nos", {}, {"Nos": 22.82}, "O2 Standard 19%", []),
    "O2-GUM": ("Chewing gum", "Nos", {}, {"Nos": 0.99}, "O2 Standard 19%", []),
    "O2-HAM": ("Smoked ham by weight", "Kg", {}, {"Kg": 19.99}, "O2 Reduced 7%", []),
    "O2-HEADPHONES": ("Headphones", "Nos", {}, {"Nos": 49.9}, "O2 Standard 19%", []),
    "O2-KETTLE": ("Kettle", "Nos", {}, {"Nos": 29.95}, "O2 Standard 19%", []),
    "O2-LAMP": ("Desk lamp", "Nos", {}, {"Nos": 64.49}, "O2 Standard 19%", []),
    "O2-MAGAZINE": ("Magazine", "Nos", {}, {"Nos": 4.44}, "O2 Reduced 7%", []),
    "O2-MILK": ("Milk 1l", "Nos", {"Box": 12}, {"Box": 13.99, "Nos": 1.29}, "O2 Reduced 7%", []),
    "O2-MUG": ("Coffee mug", "Nos", {}, {"Nos": 12.95}, "O2 Standard 19%", []),
    "O2-NUTS": ("Mixed nuts by weight", "Kg", {}, {"Kg": 3.33}, "O2 Reduced 7%", []),
    "O2-PAN": ("Frying pan", "Nos", {}, {"Nos": 89.9}, "O2 Standard 19%", []),
    "O2-PRETZEL": ("Pretzel", "Nos", {}, {"Nos": 0.45}, "O2 Reduced 7%", []),
    "O2-ROLL": ("Bread roll", "Nos", {}, {"Nos": 0.35}, "O2 Reduced 7%", []),
    "O2-SHAMPOO": ("Shampoo", "Nos", {}, {"Nos": 3.33}, None, []),
    "O2-SOAP": ("Soap bar", "Nos", {}, {"Nos": 1.09}, None, []),
    "O2-SPICE": ("Spices by weight", "Kg", {}, {"Kg": 33.33}, "O2 Reduced 7%", []),
    "O2-TEA": ("Loose tea 100g", "Nos", {}, {"Nos": 4.995}, "O2 Reduced 7%", []),
    "O2-TOWEL": ("Bath towel", "Nos", {}, {"Nos": 19.99}, "O2 Standard 19%", []),
    "O2-WATER": (
        "Mineral water 1l",
        "Nos",
        {"Box": 12},
        {"Box": 10.49, "Nos": 0.99},
        "O2 Standard 19%",
        [],
    ),
    "O2-WINE": (
        "Red wine 0.75l",
        "Nos",
        {"Box": 6},
        {"Box": 44.44, "Nos": 7.77},
        "O2 Standard 19%",
        [],
    ),
    "O2-YOGURT": (
        "Yoghurt cup",
        "Nos",
        {"Box": 6},
        {"Box": 4.49, "Nos": 0.79},
        "O2 Reduced 7%",
        [],
    ),
}
WORDS = (
    "Organic",
    "Classic",
    "Fresh",
    "Crunchy",
    "Premium",
    "Family",
    "Mini",
    "Spicy",
    "Smooth",
    "Golden",
    "Dark",
    "Light",
    "Rustic",
    "Alpine",
    "Coastal",
    "Sunny",
)
THINGS = (
    "Muesli",
    "Pasta",
    "Tomato Sauce",
    "Olive Oil",
    "Rice",
    "Crackers",
    "Juice",
    "Tea",
    "Notebook",
    "Pencil",
    "Toothpaste",
    "Detergent",
    "Sponge",
    "Jam",
    "Honey",
    "Cereal",
    "Chips",
    "Lemonade",
    "Socks",
    "Light Bulb",
    "Tissue Pack",
    "Mustard",
    "Pickles",
    "Flour",
)


# --- helpers -----------------------------------------------------------------------------
def exists(doctype: str, name_or_filters) -> str | None:
    return frappe.db.exists(doctype, name_or_filters)


def insert(doc: dict, **flags):
    d = frappe.get_doc(doc)
    for k, v in flags.items():
        setattr(d.flags, k, v)
    d.insert(ignore_permissions=True)
    return d


def ean13(n: int) -> str:
    """A valid EAN-13 in the in-store prefix range 20-29 (never a real product)."""
    body = f"2{n:011d}"
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return body + str((10 - total % 10) % 10)


# --- steps -------------------------------------------------------------------------------
def setup_wizard(today: date) -> None:
    if frappe.is_setup_complete() and exists("Company", COMPANY):
        log("setup wizard: already complete")
        return
    from frappe.desk.page.setup_wizard.setup_wizard import setup_complete

    log("setup wizard: Germany, EUR, Europe/Berlin, chart 'Standard'")
    frappe.flags.mute_emails = True
    result = setup_complete(
        {
            "language": "English",
            "country": "Germany",
            "timezone": "Europe/Berlin",
            "currency": "EUR",
            "company_name": COMPANY,
            "company_abbr": ABBR,
            "chart_of_accounts": "Standard",
            "fy_start_date": f"{today.year}-01-01",
            "fy_end_date": f"{today.year}-12-31",
            "enable_telemetry": 0,
            "setup_demo": 0,
            "domain": "Retail",
        }
    )
    frappe.db.commit()
    if not frappe.is_setup_complete():
        raise SystemExit(f"setup wizard did not complete: {result}")


def fiscal_years(today: date) -> None:
    for year in (today.year - 1, today.year, today.year + 1):
        if frappe.db.sql(
            "select name from `tabFiscal Year` where year_start_date <= %s and year_end_date >= %s",
            (f"{year}-06-30", f"{year}-06-30"),
        ):
            continue
        insert(
            {
                "doctype": "Fiscal Year",
                "year": str(year),
                "year_start_date": f"{year}-01-01",
                "year_end_date": f"{year}-12-31",
            }
        )
        log(f"fiscal year {year} created")


def site_settings() -> None:
    ss = frappe.get_single("System Settings")
    ss.update(
        {
            "rounding_method": "Banker's Rounding",
            "float_precision": "3",
            "currency_precision": "",
            "number_format": "#.###,##",
            "time_zone": "Europe/Berlin",
            "enable_telemetry": 0,
            "allow_login_using_user_name": 0,
        }
    )
    ss.flags.ignore_mandatory = True
    ss.save(ignore_permissions=True)
    frappe.db.set_single_value("Global Defaults", "disable_rounded_total", 0)
    acc = frappe.get_single("Accounts Settings")
    for field, value in (
        ("round_row_wise_tax", 0),
        ("add_taxes_from_item_tax_template", 1),
        ("add_taxes_from_taxes_and_charges_template", 0),
    ):
        if acc.meta.has_field(field):
            acc.set(field, value)
    acc.save(ignore_permissions=True)
    frappe.db.set_value(
        "Currency",
        "EUR",
        {"enabled": 1, "smallest_currency_fraction_value": 0.01, "number_format": "#,###.##"},
    )
    # ERPNext 16 books no batch or serial number without it (tillmesh erpnext setup says so)
    if frappe.get_meta("Stock Settings").has_field("enable_serial_and_batch_no_for_item"):
        frappe.db.set_single_value("Stock Settings", "enable_serial_and_batch_no_for_item", 1)
    log("settings: Banker's Rounding, float precision 3, #.###,##, rounded totals on")


def uoms() -> None:
    for uom, whole in UOMS.items():
        if exists("UOM", uom):
            frappe.db.set_value("UOM", uom, {"must_be_whole_number": whole, "enabled": 1})
        else:
            insert({"doctype": "UOM", "uom_name": uom, "must_be_whole_number": whole, "enabled": 1})


def account(name: str, parent_type: dict, account_type: str = "", tax_rate: float = 0.0) -> str:
    full = a(name)
    if exists("Account", full):
        return full
    parent = frappe.db.get_value(
        "Account", {"company": COMPANY, "is_group": 1, **parent_type}, "name"
    )
    if not parent:
        raise SystemExit(f"no parent account {parent_type} for {name}")
    insert(
        {
            "doctype": "Account",
            "account_name": name,
            "company": COMPANY,
            "parent_account": parent,
            "account_type": account_type,
            "tax_rate": tax_rate,
            "is_group": 0,
        }
    )
    log(f"account {full} created under {parent}")
    return full


def accounts() -> None:
    taxes = {"account_type": "Tax", "root_type": "Liability"}
    account("VAT 19%", taxes, "Tax", 19.0)
    account("Umsatzsteuer 19 %", taxes, "Tax", 19.0)
    account("Umsatzsteuer 7 %", taxes, "Tax", 7.0)
    account("OR Surcharge", taxes, "Tax")
    account("OR Service Charge", taxes, "Tax")
    account(
        "Freight and Forwarding Charges",
        {"root_type": "Expense", "account_name": "Indirect Expenses"},
        "Chargeable",
    )
    account("Card Clearing", {"account_type": "Bank", "root_type": "Asset"}, "Bank")
    if not exists("Account", a("Cash")):
        account("Cash", {"account_type": "Cash", "root_type": "Asset"}, "Cash")


def warehouse() -> str:
    name = a(WAREHOUSE_NAME)
    if not exists("Warehouse", name):
        insert(
            {
                "doctype": "Warehouse",
                "warehouse_name": WAREHOUSE_NAME,
                "company": COMPANY,
                "parent_warehouse": a("All Warehouses"),
            }
        )
        log(f"warehouse {name} created")
    return name


def tax_templates() -> None:
    cost_center = a("Main")
    for title, rows in TAX_TEMPLATES.items():
        if exists("Sales Taxes and Charges Template", a(title)):
            continue
        insert(
            {
                "doctype": "Sales Taxes and Charges Template",
                "title": title,
                "company": COMPANY,
                "taxes": [
                    {
                        "charge_type": ct,
                        "account_head": a(acc),
                        "description": desc,
                        "rate": rate,
                        "row_id": row_id,
                        "included_in_print_rate": incl,
                        "tax_amount": amount,
                        "cost_center": cost_center,
                    }
                    for ct, acc, desc, rate, row_id, incl, amount in rows
                ],
            }
        )
    for title, rows in ITEM_TAX_TEMPLATES.items():
        if exists("Item Tax Template", a(title)):
            continue
        insert(
            {
                "doctype": "Item Tax Template",
                "title": title,
                "company": COMPANY,
                "taxes": [{"tax_type": a(acc), "tax_rate": rate} for acc, rate in rows],
            }
        )
    log(f"{len(TAX_TEMPLATES)} sales tax templates, {len(ITEM_TAX_TEMPLATES)} item tax templates")


def modes_of_payment() -> dict[str, str]:
    modes = {"Cash": ("Cash", a("Cash")), "Credit Card": ("Bank", a("Card Clearing"))}
    for mode, (kind, acc) in modes.items():
        if not exists("Mode of Payment", mode):
            insert(
                {"doctype": "Mode of Payment", "mode_of_payment": mode, "type": kind, "enabled": 1}
            )
        doc = frappe.get_doc("Mode of Payment", mode)
        doc.enabled = 1
        rows = [r for r in doc.accounts if r.company == COMPANY]
        if rows:
            rows[0].default_account = acc
        else:
            doc.append("accounts", {"company": COMPANY, "default_account": acc})
        doc.save(ignore_permissions=True)
    return {m: acc for m, (_, acc) in modes.items()}


def customer() -> None:
    if exists("Customer", CUSTOMER):
        return
    group = (
        frappe.db.get_value("Customer Group", {"is_group": 0}, "name", order_by="lft")
        or "All Customer Groups"
    )
    if exists("Customer Group", "Individual"):
        group = "Individual"
    insert(
        {
            "doctype": "Customer",
            "customer_name": CUSTOMER,
            "customer_type": "Individual",
            "customer_group": group,
            "territory": "All Territories",
        }
    )
    log(f"customer {CUSTOMER} created")


def item_group() -> str:
    if not exists("Item Group", "Products"):
        insert(
            {
                "doctype": "Item Group",
                "item_group_name": "Products",
                "parent_item_group": "All Item Groups",
            }
        )
    return "Products"


def generated_items(n: int) -> dict[str, tuple]:
    """LAB-0001..: deterministic names, prices, UOMs, taxes and EAN-13 barcodes."""
    rnd = random.Random(20261202)
    out: dict[str, tuple] = {}
    for i in range(1, n + 1):
        name = f"{rnd.choice(WORDS)} {rnd.choice(THINGS)} {i:03d}"
        weighed = i % 25 == 0
        price = round(
            rnd.choice(
                (0.49, 0.99, 1.29, 1.99, 2.49, 3.33, 4.99, 7.77, 9.95, 12.5, 19.99, 24.95, 49.9)
            )
            + rnd.randrange(0, 5),
            2,
        )
        uoms: dict[str, float] = {}
        prices = {"Kg" if weighed else "Nos": price}
        if not weighed and i % 6 == 0:  # a Box of 6 or 12; every other one with its own price
            factor = 6 if i % 12 else 12
            uoms["Box"] = factor
            if i % 12 == 0:
                prices["Box"] = round(price * factor * 0.9, 2)
        template = "O2 Reduced 7%" if i % 3 == 0 else "O2 Standard 19%"
        out[f"LAB-{i:04d}"] = (name, "Kg" if weighed else "Nos", uoms, prices, template, [ean13(i)])
    return out


def items(catalog: dict[str, tuple]) -> None:
    group, made = item_group(), 0
    # 16 renamed the option "EAN-12" to "EAN-13"; 15 has only the generic "EAN" for it.
    barcode_types = frappe.get_meta("Item Barcode").get_options("barcode_type").split("\n")
    ean_type = "EAN-13" if "EAN-13" in barcode_types else "EAN"
    for code, (name, stock_uom, uoms, _prices, template, barcodes) in catalog.items():
        if exists("Item", code):
            continue
        insert(
            {
                "doctype": "Item",
                "item_code": code,
                "item_name": name,
                "item_group": group,
                "stock_uom": stock_uom,
                "is_stock_item": 1,
                "include_item_in_manufacturing": 0,
                "is_sales_item": 1,
                "is_purchase_item": 1,
                "valuation_method": "",
                "uoms": [{"uom": stock_uom, "conversion_factor": 1.0}]
                + [{"uom": u, "conversion_factor": f} for u, f in uoms.items()],
                "taxes": [{"item_tax_template": a(template)}] if template else [],
                "barcodes": [
                    {
                        "barcode": b,
                        "barcode_type": ean_type if b.startswith("2") else "",
                        "uom": stock_uom,
                    }
                    for b in barcodes
                ],
                "item_defaults": [{"company": COMPANY, "default_warehouse": a(WAREHOUSE_NAME)}],
            }
        )
        made += 1
        if made % 100 == 0:
            frappe.db.commit()
            log(f"items: {made} created")
    frappe.db.commit()
    log(f"items: {made} created, {len(catalog)} in the catalogue")


def prices(catalog: dict[str, tuple]) -> None:
    made = 0
    for code, (_name, _stock_uom, _uoms, by_uom, _t, _b) in catalog.items():
        for uom, rate in by_uom.items():
            if exists("Item Price", {"item_code": code, "uom": uom, "price_list": PRICE_LIST}):
                continue
            insert(
                {
                    "doctype": "Item Price",
                    "item_code": code,
                    "uom": uom,
                    "price_list": PRICE_LIST,
                    "price_list_rate": rate,
                    "currency": "EUR",
                    "valid_from": PRICES_VALID_FROM,
                }
            )
            made += 1
    frappe.db.commit()
    log(f"item prices: {made} created on {PRICE_LIST}, valid from {PRICES_VALID_FROM}")


def stock(catalog: dict[str, tuple], wh: str, today: date) -> None:
    if frappe.db.exists(
        "Stock Reconciliation", {"docstatus": 1, "remarks": "erpnext-lab opening stock"}
    ):
        log("stock: opening reconciliation already there")
        return
    rnd = random.Random(7)
    rows = []
    for code, (_n, stock_uom, _u, by_uom, _t, _b) in catalog.items():
        if exists("Bin", {"item_code": code, "warehouse": wh}) and frappe.db.get_value(
            "Bin", {"item_code": code, "warehouse": wh}, "actual_qty"
        ):
            continue
        price = by_uom.get(stock_uom) or min(by_uom.values())
        qty = (
            rnd.choice((40, 80, 150, 300, 1000))
            if stock_uom != "Kg"
            else rnd.choice((25.5, 60.25, 120))
        )
        rows.append(
            {
                "item_code": code,
                "warehouse": wh,
                "qty": qty,
                "valuation_rate": round(max(price * 0.6, 0.01), 2),
            }
        )
    if not rows:
        return
    posting = f"{today.year - 1}-01-02"  # before any backdated sale the tests may send
    doc = frappe.get_doc(
        {
            "doctype": "Stock Reconciliation",
            "company": COMPANY,
            "purpose": "Opening Stock",
            "posting_date": posting,
            "posting_time": "08:00:00",
            "set_posting_time": 1,
            "remarks": "erpnext-lab opening stock",
            "expense_account": frappe.db.get_value(
                "Account", {"company": COMPANY, "account_type": "Temporary", "is_group": 0}, "name"
            )
            or a("Temporary Opening"),
            "items": rows,
        }
    )
    doc.insert(ignore_permissions=True)
    doc._submit()  # submit() queues a background job above 100 rows: do it here, now
    frappe.db.commit()
    log(f"stock: {len(rows)} items put into {wh} (Stock Reconciliation {doc.name}, {posting})")


def api_user() -> tuple[str, str]:
    if not exists("User", API_USER):
        user = frappe.get_doc(
            {
                "doctype": "User",
                "email": API_USER,
                "first_name": "Tillmesh",
                "last_name": "API",
                "user_type": "System User",
                "send_welcome_email": 0,
                "time_zone": "Europe/Berlin",
                # any image: else User.on_update enqueues update_gravatar, which
                # asks secure.gravatar.com (internet) from the RQ worker
                "user_image": "/assets/frappe/images/frappe-favicon.svg",
            }
        )
        user.flags.no_welcome_mail = True
        user.insert(ignore_permissions=True)
        log(f"user {API_USER} created")
    user = frappe.get_doc("User", API_USER)
    have = {r.role for r in user.roles}
    missing = [r for r in API_ROLES if r not in have and exists("Role", r)]
    if missing:
        user.add_roles(*missing)
    user.reload()
    secret = None
    if user.api_key:
        from frappe.utils.password import get_decrypted_password

        secret = get_decrypted_password("User", API_USER, "api_secret", raise_exception=False)
    if not (user.api_key and secret):
        user.api_key = user.api_key or frappe.generate_hash(length=15)
        secret = frappe.generate_hash(length=15)
        user.api_secret = secret
        user.save(ignore_permissions=True)
        log(f"api key generated for {API_USER}")
    frappe.db.commit()
    return user.api_key, secret


def pos_profile(wh: str, accounts_by_mode: dict[str, str]) -> None:
    fields = {
        "company": COMPANY,
        "warehouse": wh,
        "customer": CUSTOMER,
        "currency": "EUR",
        "selling_price_list": PRICE_LIST,
        "write_off_account": a("Write Off"),
        "write_off_cost_center": a("Main"),
        "cost_center": a("Main"),
        "write_off_limit": 1.0,
        "apply_discount_on": "Grand Total",
        "allow_rate_change": 0,
        "allow_discount_change": 0,
        "ignore_pricing_rule": 0,
        "validate_stock_on_save": 0,
        "allow_partial_payment": 0,
        "disable_rounded_total": 0,
        "taxes_and_charges": a(PROFILE_TAXES),
        "update_stock": 1,
        "disabled": 0,
        "hide_unavailable_items": 0,
        # the grand total goes to the default mode of payment: 15 names it negatively, 16 not
        "disable_grand_total_to_default_mop": 0,
        "set_grand_total_to_default_mop": 1,
    }
    if exists("POS Profile", PROFILE):
        doc = frappe.get_doc("POS Profile", PROFILE)
    else:
        doc = frappe.new_doc("POS Profile")
        doc.__newname = PROFILE
        doc.name = PROFILE
    for k, v in fields.items():
        if doc.meta.has_field(k):
            doc.set(k, v)
    doc.set(
        "payments",
        [
            {"mode_of_payment": m, "default": int(m == "Cash"), "allow_in_returns": 1}
            for m in accounts_by_mode
        ],
    )
    doc.set(
        "applicable_for_users", [{"user": u, "default": 1} for u in (API_USER, "Administrator")]
    )
    if doc.is_new():
        doc.insert(ignore_permissions=True, set_name=PROFILE)
        log(f"POS Profile {PROFILE} created")
    else:
        doc.save(ignore_permissions=True)
    frappe.db.commit()


def invoice_type(value: str | None) -> str | None:
    """Show POS Settings' invoice_type (16+) or set it to `value`; None on 15 (no such field)."""
    if not frappe.get_meta("POS Settings").has_field("invoice_type"):
        if value:
            raise SystemExit(
                f"ERPNext {erpnext_version()} has no POS Settings invoice_type: it knows only "
                "POS Invoices (--invoice-type needs ERPNext 16)"
            )
        return None
    current = frappe.db.get_single_value("POS Settings", "invoice_type")
    if not value or value == current:
        if value:
            log(f"POS Settings invoice_type: {current} (unchanged)")
        return current
    doc = frappe.get_single("POS Settings")
    doc.invoice_type = value
    try:
        doc.save(ignore_permissions=True)
    except frappe.ValidationError as e:
        frappe.db.rollback()
        opened = frappe.get_all(
            "POS Opening Entry",
            filters={"docstatus": 1, "status": "Open"},
            fields=["name", "pos_profile", "user", "period_start_date"],
        )
        listed = "; ".join(
            f"{o.name} ({o.pos_profile}, {o.user}, since {o.period_start_date})" for o in opened
        )
        hint = (
            f"\nOpen POS Opening Entries: {listed}. Close them (POS Closing Entry) or cancel "
            "them first."
            if opened
            else ""
        )
        raise SystemExit(
            f"ERPNext refused to switch POS Settings invoice_type from {current!r} to {value!r}: "
            f"{frappe.utils.strip_html(str(e))}{hint}"
        ) from None
    frappe.db.commit()
    log(f"POS Settings invoice_type: {current} -> {value}")
    return value


def erpnext_version() -> str:
    import erpnext

    return getattr(erpnext, "__version__", "?")


def write_env(path: str, url: str, key: str, secret: str) -> str:
    values = {
        "TILLMESH_ERPNEXT_URL": url,
        "TILLMESH_ERPNEXT_KEY": key,
        "TILLMESH_ERPNEXT_SECRET": secret,
        "TILLMESH_ERPNEXT_POS_PROFILE": PROFILE,
    }
    line = "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items()) + "\n"
    with open(path, "w") as f:
        # for humans only: the Tillmesh node finds the release itself
        f.write(f"# erpnext-lab: ERPNext {erpnext_version()}, Frappe {frappe.__version__}\n")
        f.write(line)
    os.chmod(path, 0o600)
    return line


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--site", required=True)
    p.add_argument("--sites", default=".")
    p.add_argument("--url")
    p.add_argument("--env-file")
    p.add_argument("--invoice-type", choices=("POS Invoice", "Sales Invoice"))
    p.add_argument("--invoice-type-only", action="store_true")
    args = p.parse_args()
    if not args.invoice_type_only and not (args.url and args.env_file):
        p.error("--url and --env-file are needed to seed")
    t0 = time.monotonic()
    frappe.init(site=args.site, sites_path=args.sites)
    frappe.connect()
    try:
        frappe.set_user("Administrator")
        frappe.flags.mute_emails = True
        if args.invoice_type_only:
            if invoice_type(args.invoice_type) is None:
                print(f"ERPNext {erpnext_version()}: POS Invoices only (no invoice_type)")
            else:
                print(frappe.db.get_single_value("POS Settings", "invoice_type"))
            return
        log(f"ERPNext {erpnext_version()}, Frappe {frappe.__version__}")
        today = getdate(nowdate())
        setup_wizard(today)
        fiscal_years(today)
        site_settings()
        uoms()
        accounts()
        wh = warehouse()
        tax_templates()
        by_mode = modes_of_payment()
        customer()
        frappe.db.commit()
        catalog = {**ORACLE_ITEMS, **generated_items(N_ITEMS)}
        items(catalog)
        prices(catalog)
        stock(catalog, wh, today)
        key, secret = api_user()
        pos_profile(wh, by_mode)
        mode = invoice_type(args.invoice_type)
        if mode and not args.invoice_type:
            log(f"POS Settings invoice_type: {mode}")
        frappe.db.commit()
        write_env(args.env_file, args.url, key, secret)
        log(
            f"done in {time.monotonic() - t0:.0f} s: company {COMPANY}, profile {PROFILE}, "
            f"{len(catalog)} items, API user {API_USER}"
        )
    finally:
        frappe.destroy()


if __name__ == "__main__":
    main()
