"""What a simulated site holds when it starts.

``demo``: the demo store of ``node.demo_data`` plus what ERPNext itself would hold for it
(company, chart of accounts, cost centers, warehouses, price lists, customer groups,
territories, the API user) and 100 units of every item in stock. ``recorded``: the site the
recorded session ran against ("POS Lab GmbH"), rebuilt from its answers, before the
session created its warehouse, items and profile. ``recorded-16``: the fresh ERPNext 16.12
site of ``erpnext-16.12-requests.jsonl``, the same company set up anew, likewise rebuilt.
``empty``: only the API user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tillmesh.lab import demo_data
from tillmesh.lab.erpnext_simulator._const import DEMO_USER, OPENING_STOCK_QTY, RECORDED_USER

Doc = dict[str, Any]
SEEDS = ("demo", "recorded", "recorded-16", "empty")


@dataclass
class Seed:
    user: str
    docs: list[tuple[str, Doc]] = field(default_factory=list)
    stock: list[tuple[str, str, float]] = field(default_factory=list)  # item, warehouse, qty


def build(kind: str) -> Seed:
    if kind == "demo":
        return _demo()
    if kind == "recorded":
        return _recorded()
    if kind == "recorded-16":
        return _recorded_16()
    if kind == "empty":
        return Seed(DEMO_USER, [("User", _user(DEMO_USER, "POS"))])
    raise ValueError(f"unknown seed {kind!r}: one of {', '.join(SEEDS)}")


def _user(email: str, first_name: str) -> Doc:
    return {"name": email, "email": email, "first_name": first_name, "enabled": 1,
            "user_type": "System User"}


def _tree(doctype: str, parent_field: str, root: str, children: list[Doc],
          modified: str) -> list[tuple[str, Doc]]:
    """A root and its leaves, with nested-set numbers in the order given (lists use it)."""
    docs = [{"name": root, "is_group": 1, "lft": 1, "rgt": 2 * len(children) + 2,
             parent_field: "", "modified": modified}]
    for i, child in enumerate(children):
        docs.append({parent_field: root, "is_group": 0, "lft": 2 * i + 2, "rgt": 2 * i + 3,
                     "modified": modified, **child})
    return [(doctype, d) for d in docs]


def _company_docs(company: str, abbr: str, accounts: list[tuple[str, str]],
                  warehouses: list[str], modified: str) -> list[tuple[str, Doc]]:
    """Accounts, cost centers and warehouses of a company (the company doc apart)."""
    return [
        *_tree("Account", "parent_account", f"Application of Funds (Assets) - {abbr}", [
            {"name": f"{n} - {abbr}", "account_name": n, "account_type": t, "company": company,
             "root_type": "Asset", "account_currency": "EUR"} for n, t in accounts],
            modified),
        *_tree("Cost Center", "parent_cost_center", f"{company} - {abbr}", [
            {"name": f"Main - {abbr}", "cost_center_name": "Main", "company": company}],
            modified),
        *_tree("Warehouse", "parent_warehouse", f"All Warehouses - {abbr}", [
            {"name": f"{w} - {abbr}", "warehouse_name": w, "company": company}
            for w in warehouses], modified),
    ]


def _common(modified: str) -> list[tuple[str, Doc]]:
    return [
        ("Global Defaults", {"name": "Global Defaults", "default_currency": "EUR",
                             "country": "Germany", "disable_rounded_total": 0,
                             "modified": modified}),
        ("Currency", {"name": "EUR", "currency_name": "EUR", "enabled": 1, "fraction": "Cent",
                      "fraction_units": 100, "smallest_currency_fraction_value": 0.01,
                      "symbol": "€", "modified": modified}),
        ("Price List", {"name": "Standard Buying", "price_list_name": "Standard Buying",
                        "currency": "EUR", "buying": 1, "selling": 0, "enabled": 1,
                        "modified": modified}),
        ("Price List", {"name": "Standard Selling", "price_list_name": "Standard Selling",
                        "currency": "EUR", "buying": 0, "selling": 1, "enabled": 1,
                        "modified": modified}),
        *_tree("Customer Group", "parent_customer_group", "All Customer Groups", [
            {"name": g, "customer_group_name": g}
            for g in ("Individual", "Commercial", "Non Profit", "Government")], modified),
        *_tree("Territory", "parent_territory", "All Territories", [
            {"name": t, "territory_name": t} for t in ("Germany", "Rest Of The World")],
            modified),
    ]


def _demo() -> Seed:
    company, abbr, modified = demo_data.COMPANY, demo_data.ABBR, demo_data.MODIFIED
    master = demo_data.demo_master_docs()
    groups = [d for dt, d in master if dt == "Item Group" and d["name"] != "All Item Groups"]
    others = [(dt, d) for dt, d in master if dt != "Item Group"]
    accounts = [("Cash", "Cash"), ("Bank", "Bank"), ("Debtors", "Receivable"),
                ("Sales", "Income Account"), ("Cost of Goods Sold", "Cost of Goods Sold"),
                ("Write Off", ""), ("Round Off", "Round Off"), ("VAT 19%", "Tax"),
                (demo_data.VAT_7_ACCOUNT.removesuffix(f" - {abbr}"), "Tax"),  # 7 % apart
                ("Stock Adjustment", "Stock Adjustment"), ("Stock In Hand", "Stock")]
    docs = [
        ("User", _user(DEMO_USER, "POS")),
        ("Company", {
            "name": company, "company_name": company, "abbr": abbr, "default_currency": "EUR",
            "country": "Germany", "default_cash_account": f"Cash - {abbr}",
            "default_bank_account": f"Bank - {abbr}",
            "default_receivable_account": f"Debtors - {abbr}",
            "default_income_account": f"Sales - {abbr}",
            "default_expense_account": f"Cost of Goods Sold - {abbr}",
            "write_off_account": f"Write Off - {abbr}",
            "round_off_account": f"Round Off - {abbr}", "cost_center": f"Main - {abbr}",
            "round_off_cost_center": f"Main - {abbr}",
            "stock_adjustment_account": f"Stock Adjustment - {abbr}",
            "default_inventory_account": f"Stock In Hand - {abbr}", "modified": modified}),
        *_company_docs(company, abbr, accounts, ["Stores"], modified),
        *_common(modified),
        *_tree("Item Group", "parent_item_group", "All Item Groups",
               [*groups, {"name": "Bulk", "item_group_name": "Bulk"}], modified),
        ("Stock Settings", {"name": "Stock Settings", "allow_negative_stock": 0,
                            "default_warehouse": demo_data.WAREHOUSE, "stock_uom": "Nos",
                            "modified": modified}),
        *others,
    ]
    stock = [(d["name"], demo_data.WAREHOUSE, OPENING_STOCK_QTY) for dt, d in master
             if dt == "Item"]
    return Seed(DEMO_USER, docs, stock)


_RECORDED_MODIFIED = "2026-11-26 16:11:05.000000"
_RECORDED_COMPANY: Doc = {
    "name": "POS Lab GmbH", "modified": "2026-11-26 16:11:03.771635",
    "company_name": "POS Lab GmbH", "abbr": "PLG", "default_currency": "EUR",
    "country": "Germany", "is_group": 0, "lft": 1, "rgt": 2, "old_parent": "",
    "create_chart_of_accounts_based_on": "Standard Template", "chart_of_accounts": "Standard",
    "default_bank_account": "Bank Account - PLG", "default_cash_account": "Cash - PLG",
    "default_receivable_account": "Debtors - PLG", "default_payable_account": "Creditors - PLG",
    "write_off_account": "Write Off - PLG", "allow_account_creation_against_child_company": 0,
    "default_expense_account": "Cost of Goods Sold - PLG",
    "default_income_account": "Sales - PLG", "cost_center": "Main - PLG",
    "exchange_gain_loss_account": "Exchange Gain/Loss - PLG",
    "round_off_account": "Round Off - PLG", "round_off_cost_center": "Main - PLG",
    "book_advance_payments_in_separate_party_account": 0,
    "reconcile_on_advance_payment_date": 0,
    "reconciliation_takes_effect_on": "Oldest Of Invoice Or Advance",
    "auto_exchange_rate_revaluation": 0, "auto_err_frequency": "Daily", "submit_err_jv": 0,
    "accumulated_depreciation_account": "Accumulated Depreciation - PLG",
    "depreciation_expense_account": "Depreciation - PLG",
    "expenses_included_in_asset_valuation": "Expenses Included In Asset Valuation - PLG",
    "disposal_account": "Gain/Loss on Asset Disposal - PLG",
    "depreciation_cost_center": "Main - PLG",
    "capital_work_in_progress_account": "CWIP Account - PLG",
    "asset_received_but_not_billed": "Asset Received But Not Billed - PLG",
    "monthly_sales_target": 0.0, "total_monthly_sales": 0.0, "credit_limit": 0.0,
    "enable_perpetual_inventory": 1, "enable_provisional_accounting_for_non_stock_items": 0,
    "default_inventory_account": "Stock In Hand - PLG",
    "stock_adjustment_account": "Stock Adjustment - PLG",
    "stock_received_but_not_billed": "Stock Received But Not Billed - PLG",
    "expenses_included_in_valuation": "Expenses Included In Valuation - PLG",
}
_RECORDED_STOCK_SETTINGS: Doc = {
    "name": "Stock Settings", "modified": "2026-11-26 16:11:05.942025",
    "item_naming_by": "Item Code", "valuation_method": "FIFO",
    "default_warehouse": "Stores - PLG", "stock_uom": "Nos",
    "auto_insert_price_list_rate_if_missing": 1, "update_price_list_based_on": "Rate",
    "update_existing_price_list_rate": 0, "allow_to_edit_stock_uom_qty_for_sales": 0,
    "allow_to_edit_stock_uom_qty_for_purchase": 0,
    "allow_uom_with_conversion_rate_defined_in_item": 0,
    "over_delivery_receipt_allowance": 0.0, "mr_qty_allowance": 0.0,
    "over_picking_allowance": 0.0, "allow_negative_stock": 0, "show_barcode_field": 1,
    "clean_description_html": 1, "allow_internal_transfer_at_arms_length_price": 0,
    "action_if_quality_inspection_is_not_submitted": "Stop",
    "action_if_quality_inspection_is_rejected": "Stop", "enable_stock_reservation": 0,
    "allow_partial_reservation": 1, "auto_reserve_stock_for_sales_order_on_purchase": 0,
    "auto_reserve_serial_and_batch": 1, "allow_existing_serial_no": 1,
    "do_not_use_batchwise_valuation": 0, "auto_create_serial_and_batch_bundle_for_outward": 1,
    "pick_serial_and_batch_based_on": "FIFO", "disable_serial_no_and_batch_selector": 0,
    "use_serial_batch_fields": 1, "do_not_update_serial_batch_on_creation_of_auto_bundle": 1,
    "set_serial_and_batch_bundle_naming_based_on_naming_series": 0, "use_naming_series": 0,
    "naming_series_prefix": "BATCH-",
    "allow_to_make_quality_inspection_after_purchase_or_delivery": 0, "auto_indent": 1,
    "reorder_email_notify": 0, "allow_from_dn": 0, "allow_from_pr": 0,
    "stock_frozen_upto_days": 0,
}


def _recorded() -> Seed:
    company, abbr, modified = "POS Lab GmbH", "PLG", _RECORDED_MODIFIED
    # Listed without order_by, the recorded site returned these in this order.
    accounts = [("Cash", "Cash"), ("Cash In Hand", "Cash"), ("Debtors", "Receivable"),
                ("Bank Account", "Bank"), ("Creditors", "Payable"),
                ("Sales", "Income Account"), ("Cost of Goods Sold", "Cost of Goods Sold"),
                ("Write Off", ""), ("Round Off", "Round Off"),
                ("Stock Adjustment", "Stock Adjustment"), ("Stock In Hand", "Stock")]
    docs = [
        ("User", _user(RECORDED_USER, "Administrator")),
        ("Company", dict(_RECORDED_COMPANY)),
        *_company_docs(company, abbr, accounts,
                       ["Stores", "Work In Progress", "Finished Goods", "Goods In Transit"],
                       modified),
        *_common(modified),
        *_tree("Item Group", "parent_item_group", "All Item Groups", [
            {"name": g, "item_group_name": g} for g in
            ("Products", "Raw Material", "Services", "Sub Assemblies", "Consumable")],
            modified),
        ("UOM", {"name": "Nos", "uom_name": "Nos", "enabled": 1, "must_be_whole_number": 1,
                 "modified": modified}),
        ("Mode of Payment", {
            "name": "Cash", "modified": "2026-11-26 16:11:03.792800", "mode_of_payment": "Cash",
            "enabled": 1, "type": "Cash",
            "accounts": [{"name": "u2da925bba", "company": company,
                          "default_account": "Cash - PLG"}]}),
        ("Stock Settings", dict(_RECORDED_STOCK_SETTINGS)),
    ]
    return Seed(RECORDED_USER, docs)


def _recorded_16() -> Seed:
    """``recorded`` as ERPNext 16.12 set it up on 2026-12-02: the chart's groups the
    session posts its tax and card accounts under, and both modes of payment a new company
    gets (only Cash with an account; the session gives Credit Card one)."""
    cash_set = "2026-12-02 00:40:49.892406"
    groups = [{"name": f"{n} - PLG", "account_name": n, "is_group": 1, "root_type": root,
               "company": "POS Lab GmbH", "parent_account": "", "modified": cash_set}
              for n, root in (("Duties and Taxes", "Liability"), ("Bank Accounts", "Asset"))]
    kept = [(dt, d) for dt, d in _recorded().docs if dt != "Mode of Payment"]
    return Seed(RECORDED_USER, [
        *kept, *(("Account", g) for g in groups),
        ("Mode of Payment", {
            "name": "Cash", "modified": cash_set,
            "mode_of_payment": "Cash", "enabled": 1, "type": "Cash",
            "accounts": [{"name": "3gi1tkf8j7", "company": "POS Lab GmbH",
                          "default_account": "Cash - PLG"}]}),
        ("Mode of Payment", {"name": "Credit Card", "modified": "2026-12-02 00:40:44.244460",
                             "mode_of_payment": "Credit Card", "enabled": 1, "type": "Bank"}),
    ])
