"""POS Invoice: what ERPNext fills in, checks, and books when a sale or return arrives.

What is faithful: which fields the server fills, the price it finds (Item Price valid on
the posting date *as sent*, so a backdated sale before the price's ``valid_from`` is booked
at 0), every amount recomputed from the lines as ERPNext does (``_pos_totals``: the totals
a client sends are not kept), the order of checks and their exact messages, the payment
rules (``_pos_payments``), the stock check against Bin minus unconsolidated POS sales (per
row, without a lock), and returns limited per original row through ``pos_invoice_item``;
coupons (``_coupons``); loyalty points earned and redeemed (``_loyalty``); batch and
serial numbers (``_pos_batches``). Left out: pricing rules, other currencies.
"""

from __future__ import annotations

import copy
from typing import Any

from tillmesh.lab.erpnext_simulator import _loyalty as loyalty
from tillmesh.lab.erpnext_simulator import _pos_batches, _pos_payments
from tillmesh.lab.erpnext_simulator._const import QTY_EPSILON
from tillmesh.lab.erpnext_simulator._controller import Controller
from tillmesh.lab.erpnext_simulator._coupons import check_coupon, count_use
from tillmesh.lab.erpnext_simulator._documents import expand
from tillmesh.lab.erpnext_simulator._errors import (
    DoesNotExistError,
    InvalidQtyError,
    StockOverReturnError,
    UOMMustBeIntegerError,
    ValidationError,
)
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import money, quantity
from tillmesh.lab.erpnext_simulator._pos_totals import recompute
from tillmesh.lab.erpnext_simulator._shift import newest_open_opening
from tillmesh.lab.erpnext_simulator._stock import bin_qty
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn


def pos_reserved_qty(txn: Txn, item_code: str, warehouse: str) -> float:
    """Stock sold (less returned) by submitted POS Invoices not yet consolidated."""
    return sum(flt(row.get("stock_qty")) for inv in txn.all("POS Invoice")
               if inv.get("docstatus") == 1 and not inv.get("consolidated_invoice")
               for row in inv.get("items") or []
               if row.get("item_code") == item_code and row.get("warehouse") == warehouse)


def stock_availability(txn: Txn, item_code: str, warehouse: str) -> list[Any]:
    """ERPNext's ``get_stock_availability``: [Bin - unconsolidated POS qty, is_stock_item]."""
    item = txn.get("Item", item_code) or {}
    if not cint(item.get("is_stock_item", 1)):
        return [0, False]
    return [bin_qty(txn, item_code, warehouse) - pos_reserved_qty(txn, item_code, warehouse),
            True]


def item_price(txn: Txn, item_code: str, price_list: str | None, uom: str | None,
               on: str) -> float | None:
    """The Item Price valid ``on`` a date, for the UOM, else None."""
    for price in txn.find("Item Price", "item_code", item_code):
        if price.get("price_list") != price_list or (uom and price.get("uom") != uom):
            continue
        if (price.get("valid_from") or "") <= on and (not price.get("valid_upto")
                                                      or on <= price["valid_upto"]):
            return flt(price.get("price_list_rate"))
    return None



def party_defaults(txn: Txn, doc: Doc, profile: Doc) -> Doc:
    """What an invoice takes from its profile, company and customer when not sent (as
    ERPNext's ``set_missing_values``); the company."""
    doc.setdefault("company", profile.get("company"))
    company = txn.get("Company", doc.get("company")) or {}
    customer = txn.get("Customer", doc.get("customer")) or {}
    for key in ("customer_name", "customer_group", "territory"):
        doc.setdefault(key, customer.get(key))
    doc.setdefault("title", doc.get("customer_name"))
    doc.setdefault("currency", profile.get("currency") or company.get("default_currency"))
    doc.setdefault("price_list_currency", doc["currency"])
    doc.setdefault("selling_price_list", profile.get("selling_price_list"))
    doc.setdefault("conversion_rate", 1.0)
    doc.setdefault("plc_conversion_rate", 1.0)
    return company

class PosInvoice(Controller):
    def before_links(self, txn: Txn, doc: Doc) -> None:
        # ERPNext loads each Item before Frappe validates links: an unknown one is a 404.
        for row in doc.get("items") or []:
            code = row.get("item_code")
            if code and not txn.exists("Item", code):
                raise DoesNotExistError.document("Item", code)

    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        profile = txn.get("POS Profile", doc.get("pos_profile")) or {}
        doc.setdefault("customer", profile.get("customer"))
        loyalty.fill_program(txn, doc)
        company = party_defaults(txn, doc, profile)
        # ERPNext's set_pos_fields; not the profile's taxes_and_charges, which a REST
        # insert never gets (recorded in erpnext-15.71-v2.jsonl: no template, no taxes)
        for key in ("write_off_account", "write_off_cost_center", "apply_discount_on"):
            if profile.get(key):
                doc.setdefault(key, profile[key])
        doc.setdefault("set_warehouse", profile.get("warehouse"))
        doc.setdefault("update_stock", cint(profile.get("update_stock", 1)))
        doc.setdefault("debit_to", company.get("default_receivable_account"))
        doc.setdefault("account_for_change_amount", company.get("default_cash_account"))
        # Prices and the due date follow the posting date as sent; without
        # set_posting_time the booking itself happens now.
        price_date = doc.get("posting_date") or txn.today
        doc.setdefault("due_date", price_date)
        if not cint(doc.get("set_posting_time")):
            doc["posting_date"], doc["posting_time"] = txn.today, txn.time
        for row in doc.get("items") or []:
            self._fill_row(txn, doc, row, profile, company, price_date)
        if not doc.get("taxes") and doc.get("taxes_and_charges"):
            template = txn.get("Sales Taxes and Charges Template", doc["taxes_and_charges"])
            doc["taxes"] = [{k: v for k, v in row.items() if k not in ("name", "idx")}
                            for row in (template or {}).get("taxes") or []]
        recompute(txn, doc)
        _pos_payments.set_change(doc)
        for payment in doc.get("payments") or []:
            mode = txn.get("Mode of Payment", payment.get("mode_of_payment")) or {}
            payment.setdefault("type", mode.get("type"))
        doc.setdefault("outstanding_amount", 0.0)
        doc["status"] = "Draft"

    @staticmethod
    def _fill_row(txn: Txn, doc: Doc, row: Doc, profile: Doc, company: Doc,
                  price_date: str) -> None:
        if not row.get("item_code"):
            return  # the mandatory check names it
        item = txn.get("Item", row["item_code"]) or {}
        for key in ("item_name", "description", "item_group", "stock_uom"):
            row.setdefault(key, item.get(key))
        row.setdefault("uom", item.get("stock_uom"))
        factors = {u.get("uom"): flt(u.get("conversion_factor")) for u in item.get("uoms") or []}
        row.setdefault("conversion_factor", factors.get(row["uom"]) or 1.0)
        row["stock_qty"] = flt(row.get("qty")) * flt(row["conversion_factor"])
        row.setdefault("warehouse", doc.get("set_warehouse"))
        row.setdefault("income_account", company.get("default_income_account"))
        row.setdefault("expense_account", company.get("default_expense_account"))
        row.setdefault("cost_center", profile.get("cost_center") or company.get("cost_center"))
        if "price_list_rate" not in row:
            price = item_price(txn, row["item_code"], doc.get("selling_price_list"),
                               row["uom"], price_date)
            if price is None:  # no price of its own: the stock-UOM price, scaled
                price = flt(item_price(txn, row["item_code"], doc.get("selling_price_list"),
                                       item.get("stock_uom"), price_date)) \
                    * flt(row["conversion_factor"])
            row["price_list_rate"] = money(price)
        row["actual_qty"] = bin_qty(txn, row["item_code"], row.get("warehouse") or "")
        _pos_batches.pick(txn, doc, row)

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        if not cint(doc.get("is_pos")):
            raise ValidationError("POS Invoice should have the field <strong>Include Payment"
                                  "</strong> checked.", erpnext=True)
        if not cint(doc.get("is_return")):
            _validate_not_zero(doc)
        if cint(doc.get("is_return")):
            self._validate_return(txn, doc)
        _pos_batches.check_expiry(txn, doc)
        profile_name = doc.get("pos_profile")
        opening = newest_open_opening(txn, profile_name)
        if opening is None:
            raise ValidationError(
                f"No open POS Opening Entry found for POS Profile <strong>{profile_name}"
                "</strong>.", title="POS Opening Entry Missing", erpnext=True)
        if txn.registry.release.major >= 16 and \
                str(opening.get("period_start_date"))[:10] != txn.today:
            raise ValidationError(
                f"POS Opening Entry - {opening['name']} is outdated. Please close the POS and"
                " create a new POS Opening Entry.", title="Outdated POS Opening Entry",
                erpnext=True)
        if txn.registry.release.sales_invoice_mode:  # validate_is_pos_using_sales_invoice
            raise ValidationError("Sales Invoice mode is activated in POS. Please create Sales"
                                  " Invoice instead.", erpnext=True)
        _pos_payments.require_rows(doc)
        validate_whole_numbers(txn, doc)
        if cint(doc.get("is_return")):
            self._validate_positive_rows(doc)
        elif doc.get("docstatus") == 1 or cint((txn.get("POS Profile", profile_name) or {})
                                              .get("validate_stock_on_save")):
            self._validate_stock(txn, doc)
        # ERPNext: validate_payment_amount, validate_loyalty_transaction, then
        # validate_full_payment; the simulator's payment checks go together after it
        loyalty.check_redemption(txn, doc)
        _pos_payments.validate(txn, doc)
        if doc.get("coupon_code"):
            check_coupon(txn, doc)

    @staticmethod
    def _validate_return(txn: Txn, doc: Doc) -> None:
        """``validate_returned_items``: each linked row within what is left to return (a
        return against nothing is not checked at all)."""
        if not doc.get("return_against"):
            return
        against = txn.get("POS Invoice", doc.get("return_against")) or {}
        original = {(r.get("item_code"), r.get("name")): r for r in against.get("items") or []}
        for idx, row in enumerate(doc.get("items") or [], 1):
            code, ref = row.get("item_code"), row.get("pos_invoice_item")
            if (code, ref) not in original:
                message = (f"Row # {idx}: Returned Item {code} does not exist in POS Invoice "
                           f"{doc.get('return_against')}")
                if ref:  # a link to no row of the original is refused, no link is not
                    raise ValidationError(message, erpnext=True)
                txn.notes.append({"message": message, "title": "Message"})
                continue
            sold = abs(flt(original[(code, ref)].get("stock_qty")))
            returned = sum(abs(flt(r.get("stock_qty"))) for ret in txn.all("POS Invoice")
                           if ret.get("docstatus") == 1 and cint(ret.get("is_return"))
                           and ret.get("return_against") == against.get("name")
                           and ret.get("name") != doc.get("name")
                           for r in ret.get("items") or [] if r.get("pos_invoice_item") == ref)
            left, qty = quantity(sold - returned), flt(row.get("stock_qty"))
            if qty > 0:
                raise ValidationError("Stock Qty must be negative in return document",
                                      erpnext=True)
            if returned >= sold and qty >= 0:
                raise StockOverReturnError(f"Item {code} has already been returned")
            if abs(qty) > left + QTY_EPSILON:
                raise StockOverReturnError(f"Row # {idx}: Cannot return more than {left} for "
                                           f"Item {code}")

    @staticmethod
    def _validate_positive_rows(doc: Doc) -> None:
        for idx, row in enumerate(doc.get("items") or [], 1):
            if flt(row.get("qty")) > 0:
                raise ValidationError(
                    f"Row #{idx}: You cannot add postive quantities in a return invoice. "
                    f"Please remove item <strong>{row.get('item_code')}</strong> to complete "
                    "the return.", title="Invalid Item", erpnext=True)

    @staticmethod
    def _validate_stock(txn: Txn, doc: Doc) -> None:
        settings = txn.get("Stock Settings", "Stock Settings") or {}
        for idx, row in enumerate(doc.get("items") or [], 1):
            item = txn.get("Item", row.get("item_code")) or {}
            if cint(settings.get("allow_negative_stock")) or cint(
                    item.get("allow_negative_stock")):
                return
            available, is_stock = stock_availability(txn, row["item_code"],
                                                     row.get("warehouse") or "")
            code = f"<strong>{row['item_code']}</strong>"
            warehouse = f"<strong>{row.get('warehouse')}</strong>"
            if is_stock and available <= QTY_EPSILON:
                raise ValidationError(f"Row #{idx}: Item Code: {code} is not available under "
                                      f"warehouse {warehouse}.", title="Item Unavailable",
                                      erpnext=True)
            if is_stock and available + QTY_EPSILON < flt(row.get("stock_qty")):
                raise ValidationError(
                    f"Row #{idx}: Stock quantity not enough for Item Code: {code} under "
                    f"warehouse {warehouse}. Available quantity {float(available)}.",
                    title="Item Unavailable", erpnext=True)

    def before_save(self, txn: Txn, doc: Doc) -> None:
        _pos_payments.before_save(txn, doc)

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        # Recorded: the original keeps status Paid when a return is submitted against it.
        doc["status"] = "Return" if cint(doc.get("is_return")) else "Paid"
        _pos_batches.check_on_submit(txn, doc, chosen_name=chosen_name)
        if doc.get("coupon_code"):
            count_use(txn, doc)
        loyalty.on_submit(txn, doc)


def _validate_not_zero(doc: Doc) -> None:
    """``validate_qty_is_not_zero`` (sales only: a return row may give back nothing)."""
    for idx, row in enumerate(doc.get("items") or [], 1):
        if not flt(row.get("qty")):
            raise InvalidQtyError(f"Row #{idx}: Quantity for Item <strong>{row.get('item_code')}"
                                  "</strong> cannot be zero.", title="Invalid Quantity")


def validate_whole_numbers(txn: Txn, doc: Doc) -> None:
    """``validate_uom_is_integer``: the stock quantities first, then the sold ones."""
    for uom_field, qty_field in (("stock_uom", "stock_qty"), ("uom", "qty")):
        for idx, row in enumerate(doc.get("items") or [], 1):
            uom = txn.get("UOM", row.get(uom_field)) or {}
            qty = flt(row.get(qty_field))
            if cint(uom.get("must_be_whole_number")) and abs(qty - round(qty)) > QTY_EPSILON:
                raise UOMMustBeIntegerError(
                    f"Row {idx}: Quantity ({qty}) cannot be a fraction. To allow this, disable "
                    f"'<strong>Must be Whole Number</strong>' in UOM <strong>{uom['name']}"
                    "</strong>.")


def make_sales_return(txn: Txn, source_name: str) -> Doc:
    """ERPNext's mapper: an unsaved return of every row not yet returned, linked by row."""
    source = txn.require("POS Invoice", source_name)
    meta = txn.meta("POS Invoice")
    doc = copy.deepcopy(source)
    for key in ("name", "amended_from", "creation", "modified", "consolidated_invoice"):
        doc.pop(key, None)
    doc.update(is_return=1, return_against=source_name, docstatus=0, status="Draft",
               posting_date=txn.today, posting_time=txn.time, set_posting_time=0,
               consolidated_invoice="", ignore_pricing_rule=1, set_warehouse="",
               select_print_heading="Credit Note", change_amount=0.0, base_change_amount=0.0)
    for row in doc.get("items") or []:
        row["pos_invoice_item"] = row.pop("name", None)
    for key in ("qty", "stock_qty", "amount", "net_amount", "base_amount", "base_net_amount"):
        for row in doc.get("items") or []:
            row[key] = _negative(row.get(key))
    for row in doc.get("payments") or []:
        row.pop("name", None)
        row["amount"] = row["base_amount"] = _negative(row.get("amount"))
    for key in ("total_qty", "total", "net_total", "total_taxes_and_charges", "grand_total",
                "rounded_total", "paid_amount"):
        for name in (key, f"base_{key}"):
            if name in doc:
                doc[name] = _negative(doc[name])
    out = expand(doc, meta, txn.registry, nulls=False)
    for key in ("name", "creation", "modified", "modified_by"):
        out.pop(key, None)
    for table in meta.tables:
        for row in out.get(table) or []:
            for key in ("name", "parent", "creation", "modified", "modified_by"):
                row.pop(key, None)
            row.update({"__islocal": 1, "__unsaved": 1})
    out.update({"__islocal": 1, "__onload": {"load_after_mapping": True}, "__unsaved": 1})
    return out


def _negative(value: Any) -> float:
    return -abs(flt(value)) + 0.0  # + 0.0: no "-0.0" in the answer
