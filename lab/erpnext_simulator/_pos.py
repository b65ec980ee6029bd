"""POS Invoice: what ERPNext fills in, checks, and books when a sale or return arrives.

What is faithful: which fields the server fills, the price it finds (Item Price valid on
the posting date *as sent*, so a backdated sale before the price's ``valid_from`` is booked
at 0), every amount recomputed from the lines as ERPNext does (``_pos_totals``: the totals
a client sends are not kept), the order of checks and their exact messages, the payment
rules (``_pos_payments``), the stock check against Bin minus unconsolidated POS sales (per
row, without a lock), and returns limited per original row through ``pos_invoice_item``;
coupons (``_coupons``); loyalty points earned and redeemed (``_loyalty``); batch and
serial numbers (``_pos_batches``). Left out: pricing rules, other currencies.

ERPNext 16 (``txn.registry.release``): the opening must be the only one and of today
(``_shift.validate_pos_opening``), a sale is refused in Sales Invoice mode but a return is
not, and is then booked at once as a return Sales Invoice (``return_sales_invoice``); the
stock and full-payment checks are worded anew, a return's refund is not checked there,
and payment rows of 0 are dropped on submit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
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
from tillmesh.lab.erpnext_simulator._merging import sales_invoice_item
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import money, quantity
from tillmesh.lab.erpnext_simulator._pos_settings import SALES_INVOICE, invoice_type
from tillmesh.lab.erpnext_simulator._pos_totals import recompute
from tillmesh.lab.erpnext_simulator._shift import validate_pos_opening
from tillmesh.lab.erpnext_simulator._stock import bin_qty, negative_stock_allowed
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn


def pos_reserved_qty(txn: Txn, item_code: str, warehouse: str) -> float:
    """Stock sold (less returned) by submitted POS Invoices not yet consolidated."""
    return txn.sum_of("POS Invoice", "reserved", _reserved, (item_code, warehouse))


def _reserved(inv: Doc) -> Iterator[tuple[tuple[Any, Any], float]]:
    """What a POS Invoice holds back of each (item, warehouse) until it is consolidated."""
    if inv.get("docstatus") == 1 and not inv.get("consolidated_invoice"):
        for row in inv.get("items") or []:
            yield (row.get("item_code"), row.get("warehouse")), flt(row.get("stock_qty"))


def stock_availability(txn: Txn, item_code: str, warehouse: str) -> list[Any]:
    """ERPNext's ``get_stock_availability``: [Bin - unconsolidated POS qty, is_stock_item],
    and on 16 whether the item may go below zero."""
    item = txn.get("Item", item_code) or {}
    if not cint(item.get("is_stock_item", 1)):
        found: list[Any] = [0, False, False]
    else:
        found = [bin_qty(txn, item_code, warehouse)
                 - pos_reserved_qty(txn, item_code, warehouse), True,
                 negative_stock_allowed(txn, item_code)]
    return found if txn.registry.release.major >= 16 else found[:2]


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
            validate_returned_items(txn, doc, "POS Invoice")
        _pos_batches.check_expiry(txn, doc)
        profile_name = doc.get("pos_profile")
        validate_pos_opening(txn, profile_name)
        # validate_is_pos_using_sales_invoice (ERPNext 16): returns of POS Invoices still go
        if not cint(doc.get("is_return")) and invoice_type(txn) == SALES_INVOICE:
            raise ValidationError("Sales Invoice mode is activated in POS. Please create Sales"
                                  " Invoice instead.", erpnext=True)
        _pos_payments.require_rows(doc)
        validate_whole_numbers(txn, doc)
        if cint(doc.get("is_return")):
            self._validate_positive_rows(txn, doc)
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
    def _validate_positive_rows(txn: Txn, doc: Doc) -> None:
        spelt = "positive" if txn.registry.release.major >= 16 else "postive"  # (sic) on 15
        for idx, row in enumerate(doc.get("items") or [], 1):
            if flt(row.get("qty")) > 0:
                raise ValidationError(
                    f"Row #{idx}: You cannot add {spelt} quantities in a return invoice. "
                    f"Please remove item <strong>{row.get('item_code')}</strong> to complete "
                    "the return.", title="Invalid Item", erpnext=True)

    @staticmethod
    def _validate_stock(txn: Txn, doc: Doc) -> None:
        """``validate_stock_availablility``, worded as each release words it."""
        v16 = txn.registry.release.major >= 16
        for idx, row in enumerate(doc.get("items") or [], 1):
            if negative_stock_allowed(txn, row.get("item_code")):
                if v16:
                    continue
                return  # ERPNext 15 stops checking at the first such item
            available, is_stock = stock_availability(txn, row["item_code"],
                                                     row.get("warehouse") or "")[:2]
            code = f"<strong>{row['item_code']}</strong>"
            warehouse = f"<strong>{row.get('warehouse')}</strong>"
            if is_stock and available <= QTY_EPSILON:
                raise ValidationError(
                    f"Row #{idx}: Item {code} has no stock in warehouse {warehouse}." if v16
                    else f"Row #{idx}: Item Code: {code} is not available under warehouse "
                         f"{warehouse}.",
                    title="Item Out of Stock" if v16 else "Item Unavailable", erpnext=True)
            if is_stock and available + QTY_EPSILON < flt(row.get("stock_qty")):
                raise ValidationError(
                    f"Row #{idx}: Item {code} in warehouse {warehouse}: Available <strong>"
                    f"{money(available)}</strong>, Needed <strong>{money(row.get('stock_qty'))}"
                    "</strong>." if v16
                    else f"Row #{idx}: Stock quantity not enough for Item Code: {code} under "
                         f"warehouse {warehouse}. Available quantity {float(available)}.",
                    title="Insufficient Stock" if v16 else "Item Unavailable", erpnext=True)

    def before_save(self, txn: Txn, doc: Doc) -> None:
        _pos_payments.before_save(txn, doc)

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        # Recorded: the original keeps status Paid when a return is submitted against it.
        doc["status"] = "Return" if cint(doc.get("is_return")) else "Paid"
        _pos_batches.check_on_submit(txn, doc, chosen_name=chosen_name)
        if doc.get("coupon_code"):
            count_use(txn, doc)
        loyalty.on_submit(txn, doc)
        if txn.registry.release.major < 16:
            return
        total, paid = _pos_payments.invoice_total(doc), flt(doc.get("paid_amount"))
        doc["outstanding_amount"] = money(total - paid) if total > paid else 0.0
        # clear_unallocated_mode_of_payments
        doc["payments"] = [p for p in doc.get("payments") or [] if flt(p.get("amount"))]
        if cint(doc.get("is_return")) and invoice_type(txn) == SALES_INVOICE:
            # create_and_add_consolidated_sales_invoice: the return is booked at once, as a
            # Sales Invoice against the one its original went into
            txn.put("POS Invoice", doc)  # in the database when ERPNext maps it
            credit = txn.save_and_submit("Sales Invoice", return_sales_invoice(txn, doc))
            doc["consolidated_invoice"], doc["status"] = credit["name"], "Consolidated"


# What mapping a POS return onto a Sales Invoice leaves behind: its name and what is its
# own (no_copy on a Sales Invoice), and the rows, mapped one by one.
_UNMAPPED = ("name", "naming_series", "status", "title", "consolidated_invoice",
             "amended_from", "outstanding_amount", "items", "taxes", "payments")


def return_sales_invoice(txn: Txn, pos_return: Doc) -> Doc:
    """``create_return_sales_invoice``: a submitted POS return mapped onto a Sales Invoice
    made by the POS and against the one its original went into, each row linked to the
    POS row and to that invoice's row of the original."""
    def mapped(row: Doc) -> Doc:
        return {k: v for k, v in row.items() if k not in ("name", "idx")}

    original = txn.get("POS Invoice", pos_return.get("return_against")) or {}
    return {
        **{k: v for k, v in pos_return.items() if k not in _UNMAPPED},
        "is_pos": 1, "is_return": 1, "is_created_using_pos": 1, "is_consolidated": 1,
        "return_against": original.get("consolidated_invoice"),
        "items": [{**mapped(row), "pos_invoice": pos_return["name"],
                   "pos_invoice_item": row["name"],
                   "sales_invoice_item": sales_invoice_item(
                       txn, original.get("name"), row.get("pos_invoice_item"))}
                  for row in pos_return.get("items") or []],
        "taxes": [mapped(row) for row in pos_return.get("taxes") or []],
        "payments": [mapped(row) for row in pos_return.get("payments") or []]}


_RETURN_LINK = {"POS Invoice": "pos_invoice_item", "Sales Invoice": "sales_invoice_item"}


def returned_qty(txn: Txn, doctype: str, against: Any, row: Any, field: str, *,
                 but: Any = None) -> float:
    """How much of the row ``row`` of ``against`` submitted returns (but ``but``) gave
    back, in ``field`` (qty or stock_qty)."""
    return sum(abs(flt(r.get(field))) for ret in txn.all(doctype)
               if ret.get("docstatus") == 1 and cint(ret.get("is_return"))
               and ret.get("return_against") == against and ret.get("name") != but
               for r in ret.get("items") or [] if r.get(_RETURN_LINK[doctype]) == row)


def validate_returned_items(txn: Txn, doc: Doc, doctype: str) -> None:
    """``validate_returned_items`` of a POS Invoice or Sales Invoice return: each row
    linked to a row of the original (``pos_invoice_item``, ``sales_invoice_item``) within
    what is left to return of it, and on a Sales Invoice at no higher rate; a row without a
    link is let through with a message (one whose link names no row of the original is
    refused). A return against nothing is not checked at all."""
    if not doc.get("return_against"):
        return
    link = _RETURN_LINK[doctype]
    against = txn.get(doctype, doc.get("return_against")) or {}
    original = {(r.get("item_code"), r.get("name")): r for r in against.get("items") or []}
    for idx, row in enumerate(doc.get("items") or [], 1):
        code, ref = row.get("item_code"), row.get(link)
        if (code, ref) not in original:
            message = (f"Row # {idx}: Returned Item {code} does not exist in {doctype} "
                       f"{doc.get('return_against')}")
            if ref:  # a link to no row of the original is refused, no link is not
                raise ValidationError(message, erpnext=True)
            txn.notes.append({"message": message, "title": "Message"})
            continue
        sold = abs(flt(original[(code, ref)].get("stock_qty")))
        returned = returned_qty(txn, doctype, against.get("name"), ref, "stock_qty",
                                but=doc.get("name"))
        left, qty = quantity(sold - returned), flt(row.get("stock_qty"))
        if qty > 0:
            raise ValidationError("Stock Qty must be negative in return document",
                                  erpnext=True)
        if returned >= sold and qty >= 0:
            raise StockOverReturnError(f"Item {code} has already been returned")
        if abs(qty) > left + QTY_EPSILON:
            raise StockOverReturnError(f"Row # {idx}: Cannot return more than {left} for "
                                       f"Item {code}")
        rate = flt(original[(code, ref)].get("rate"))
        if doctype == "Sales Invoice" and rate and flt(row.get("rate")) > rate:
            raise ValidationError(f"Row # {idx}: Rate cannot be greater than the rate used in "
                                  f"Sales Invoice {against.get('name')}", erpnext=True)


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
    """ERPNext's mapper (``make_return_doc``): an unsaved return of what is left to return
    of each row, linked by row, its totals computed (the paid amount is the original's)."""
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
        for key in ("qty", "stock_qty"):
            row[key] = _negative(abs(flt(row.get(key))) - returned_qty(
                txn, "POS Invoice", source_name, row["pos_invoice_item"], key))
    for row in doc.get("payments") or []:
        row.pop("name", None)
        row["amount"] = row["base_amount"] = _negative(row.get("amount"))
    for key in ("paid_amount", "base_paid_amount"):
        if key in doc:
            doc[key] = _negative(doc[key])
    recompute(txn, doc)  # calculate_taxes_and_totals, on what is left
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
