"""Sales Invoice posted over REST: a consolidated POS invoice, as per-shift delivery sends it.

ERPNext's own merge makes these (``_merging``); Tillmesh's per-shift delivery posts them
itself (``node/erpnext/_per_shift.py``): ``is_pos``, ``is_consolidated``, ``update_stock``,
rows carrying their amounts, Actual tax rows, payments by mode. What ERPNext 15.71 does
with one (``sales_invoice.py``, ``taxes_and_totals.py``; recorded in
``tests/lab/recorded/erpnext-15.71-per-shift.jsonl``): it fills accounts, warehouse and
customer details; keeps each row's rate and amounts (``calculate_item_values`` returns
early for a consolidated invoice) and a non-zero ``rounding_adjustment`` as sent; sums the
totals; checks payments' signs, a return's refund against its total (``validate_pos``),
whole-number UOMs and, on submit, stock at the posting time (NegativeStockError), then
books the stock. A POS Sales Invoice that is not consolidated (a loyalty member's sale
or return, per-shift delivery sends each on its own: erpnext-15.71-per-shift-loyalty.jsonl)
is priced and checked as a POS Invoice is, with no shift to open, books its stock at
submit, and enters, redeems and takes back loyalty points as Sales Invoice entries
(ERPNext redeems a Sales Invoice's points only from Sales Invoices' entries). Other
Sales Invoices are not simulated.

On ERPNext 16 such a Sales Invoice is what a POS makes in Sales Invoice mode (recorded in
``erpnext-16.12-requests.jsonl``): with ``is_created_using_pos`` it needs the POS Profile's
only opening, of today, and full payment, and is refused in POS Invoice mode unless it is
a return; a return is held to what is left of each row it names by
``sales_invoice_item``, at no higher rate; the checks run in 16's order
(``_validate_pos_16``). Submitting books the stock (refused below zero, so concurrent sales
of the last units are served in turn) and needs an account on each payment row (its ledger
entry); the status is then set on the invoice the ledger books against: a return's
original ("Credit Note Issued"; the return inserted submitted keeps "Draft"), else this one.
"""

from __future__ import annotations

from typing import Any

from tillmesh.lab.erpnext_simulator import _loyalty as loyalty
from tillmesh.lab.erpnext_simulator import _pos_payments
from tillmesh.lab.erpnext_simulator._batches import serial_list, serial_place
from tillmesh.lab.erpnext_simulator._clock import posting_moment
from tillmesh.lab.erpnext_simulator._consolidation import check_credit_note, set_totals
from tillmesh.lab.erpnext_simulator._controller import Controller
from tillmesh.lab.erpnext_simulator._coupons import check_coupon, count_use
from tillmesh.lab.erpnext_simulator._errors import ServerTypeError, ValidationError
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import dec, round_to_fraction
from tillmesh.lab.erpnext_simulator._pos import (
    PosInvoice,
    party_defaults,
    validate_returned_items,
    validate_whole_numbers,
)
from tillmesh.lab.erpnext_simulator._pos_payments import check_refund_covered, invoice_total
from tillmesh.lab.erpnext_simulator._pos_settings import POS_INVOICE, invoice_type
from tillmesh.lab.erpnext_simulator._shift import validate_pos_opening
from tillmesh.lab.erpnext_simulator._stock import Move, post
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn


class SalesInvoice(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        if not cint(doc.get("is_pos")):
            raise ValidationError("the simulator books only POS Sales Invoices (is_pos)")
        if _priced_as_pos(doc):
            # set_pos_fields: the profile's taxes where the invoice names none (unlike a
            # POS Invoice's REST insert); a payment row of 0 is dropped (both recorded)
            profile = txn.get("POS Profile", doc.get("pos_profile")) or {}
            if not doc.get("taxes_and_charges") and profile.get("taxes_and_charges"):
                doc["taxes_and_charges"] = profile["taxes_and_charges"]
            doc["payments"] = [p for p in doc.get("payments") or [] if flt(p.get("amount"))]
            PosInvoice().fill(txn, doc, old)  # priced as a POS Invoice is
            return
        profile = txn.get("POS Profile", doc.get("pos_profile")) or {}
        company = party_defaults(txn, doc, profile)
        doc.setdefault("set_warehouse", profile.get("warehouse"))
        doc.setdefault("debit_to", company.get("default_receivable_account"))
        doc.setdefault("account_for_change_amount", company.get("default_cash_account"))
        if not cint(doc.get("set_posting_time")):
            doc["posting_date"], doc["posting_time"] = txn.today, txn.time
        doc.setdefault("due_date", doc.get("posting_date"))
        for row in doc.get("items") or []:
            _fill_row(txn, doc, row, profile, company)
        for payment in doc.get("payments") or []:
            mode = txn.get("Mode of Payment", payment.get("mode_of_payment")) or {}
            payment.setdefault("type", mode.get("type"))
            payment["account"] = payment.get("account") or next(
                (a.get("default_account") for a in mode.get("accounts") or []
                 if a.get("company") == doc.get("company")), None)
            payment["base_amount"] = payment.get("amount")
        # A consolidated invoice keeps the paid amount it was given (only a non-consolidated
        # return has it recomputed); unsent, the payments' sum.
        doc.setdefault("paid_amount", sum(flt(p.get("amount")) for p in doc.get("payments")
                                          or []))
        if flt(doc.get("rounding_adjustment")) and doc.get("base_rounded_total") is None:
            # kept as sent, so never converted: set_total_in_words fails on it (recorded)
            raise ServerTypeError("bad operand type for abs(): 'NoneType'")
        set_totals(doc, _rounding(txn, doc, profile), flt(profile.get("write_off_limit")))
        doc["status"] = "Draft"

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        if old is not None:  # set_status: a save sets it, an insert (is_new) does not
            doc["status"] = invoice_status(txn, doc)
        if txn.registry.release.major >= 16 and doc.get("coupon_code"):
            check_coupon(txn, doc)  # 16 validates a Sales Invoice's coupon, before the POS
        if _priced_as_pos(doc) and txn.registry.release.major >= 16:
            _validate_pos_16(txn, doc)
            return
        if not cint(doc.get("is_consolidated")):
            if cint(doc.get("is_return")) and doc.get("return_against"):
                txn.notes.extend({"message": note, "title": "Message"} for note in
                                 check_credit_note(doc, txn.get("Sales Invoice",
                                                                doc["return_against"])))
            validate_whole_numbers(txn, doc)
            loyalty.check_redemption(txn, doc)
            _pos_payments.validate(txn, doc)
            if doc.get("docstatus") == 1 and flt(doc.get("change_amount")) \
                    and not flt(doc.get("base_change_amount")):
                # the change's ledger entry comes out at 0 (recorded)
                raise ValidationError(
                    f"Sales Invoice {doc.get('name')}: Either debit or credit amount is "
                    f"required for {doc.get('debit_to')}", erpnext=True)
            return
        is_return = cint(doc.get("is_return"))
        if is_return:
            check_refund_covered(flt(doc.get("paid_amount")), flt(doc.get("write_off_amount")),
                                 invoice_total(doc))
            if doc.get("return_against"):
                for note in check_credit_note(doc, txn.get("Sales Invoice",
                                                           doc["return_against"])):
                    txn.notes.append({"message": note, "title": "Message"})
        validate_whole_numbers(txn, doc)
        for idx, row in enumerate(doc.get("payments") or [], 1):
            amount = flt(row.get("amount"))
            if amount < 0 and not is_return:
                raise ValidationError(f"Row #{idx} (Payment Table): Amount must be positive",
                                      erpnext=True)
            if amount > 0 and is_return:
                raise ValidationError(f"Row #{idx} (Payment Table): Amount must be negative",
                                      erpnext=True)

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        # what points pay needs no row (recorded: a sale they pay whole, its row of 0 dropped)
        if not doc.get("payments") and flt(doc.get("grand_total")) \
                - flt(doc.get("loyalty_amount")) > 0:
            raise ValidationError("At least one mode of payment is required for POS invoice.",
                                  erpnext=True)
        moves = []
        outgoing = not cint(doc.get("is_return"))
        if outgoing and txn.registry.release.major >= 16:
            _check_serials_here(txn, doc)
        for row in doc.get("items") or []:
            item = txn.get("Item", row.get("item_code")) or {}
            if cint(doc.get("update_stock")) and cint(item.get("is_stock_item", 1)) \
                    and row.get("warehouse"):
                qty = abs(flt(row.get("stock_qty")))
                moves.append(Move.of_row(row, row["warehouse"], -qty if outgoing else qty))
        post(txn, "Sales Invoice", doc["name"], moves,
             posting_moment(doc["posting_date"], doc["posting_time"]), doc.get("company"),
             title=doc.get("title"))
        for row in doc.get("payments") or []:  # its ledger entry: GL Entry's mandatory account
            if flt(row.get("base_amount")) and not row.get("account"):
                raise ValidationError("Account is required", erpnext=True)
        if txn.registry.release.major >= 16 and doc.get("coupon_code"):
            count_use(txn, doc)  # ``update_coupon_code_count`` in 16's on_submit
        if not cint(doc.get("is_consolidated")):
            loyalty.on_submit(txn, doc, doctype="Sales Invoice")
        # update_voucher_outstanding sets the status of the invoice the ledger books against:
        # a return's original, else this one, whose answer is built before (recorded: the
        # insert answers "Draft", what is stored reads Paid)
        if not outgoing and doc.get("return_against"):
            txn.put("Sales Invoice", doc)  # in the database when the ledger reads it
            original = txn.edit("Sales Invoice", doc["return_against"])
            original["status"] = invoice_status(txn, original)
        else:
            txn.after_commit.append(lambda: doc.update(status=invoice_status(txn, doc)))


def _check_serials_here(txn: Txn, doc: Doc) -> None:
    """ERPNext 16's ``validate_serial_no_status`` of the bundle a sold row makes: each
    serial number where the row takes it from now, whatever the sale's posting time (a
    unit another counter's sale took is refused, a plain ValidationError, recorded on a
    real 16.12 in Sales Invoice mode)."""
    for row in doc.get("items") or []:
        gone = [s for s in serial_list(row.get("serial_no"))
                if serial_place(txn, row["item_code"], s) != row.get("warehouse")]
        if gone:
            raise ValidationError(
                f"You cannot outward following {'Serial Nos' if len(gone) > 1 else 'Serial No'}"
                " as either they are Delivered, Inactive or located in a different"
                f" warehouse.<hr>{', '.join(gone)}", erpnext=True)


def invoice_status(txn: Txn, doc: Doc) -> str:
    """``SalesInvoice.set_status``, for invoices not yet overdue nor discounted."""
    if doc.get("docstatus") != 1:
        return "Cancelled" if doc.get("docstatus") == 2 else "Draft"
    outstanding = flt(doc.get("outstanding_amount"))
    if 0 < outstanding < invoice_total(doc):
        return "Partly Paid"
    if outstanding > 0:
        return "Unpaid"
    if not cint(doc.get("is_return")) and any(
            ret.get("return_against") == doc["name"] and ret.get("docstatus") == 1
            and cint(ret.get("is_return")) for ret in txn.all("Sales Invoice")):
        return "Credit Note Issued"
    return "Return" if cint(doc.get("is_return")) else "Paid"


def _priced_as_pos(doc: Doc) -> bool:
    """Priced and checked as a POS Invoice: a Sales Invoice not merged from POS Invoices,
    and one a POS made (ERPNext 16; the return a POS return becomes in Sales Invoice mode
    is consolidated, but keeps the POS return's rates, which its repricing gives back)."""
    return not cint(doc.get("is_consolidated")) or bool(cint(doc.get("is_created_using_pos")))


def _validate_pos_16(txn: Txn, doc: Doc) -> None:
    """``SalesInvoice.validate`` of ERPNext 16, in its order: the returned rows, a return's
    refund (``validate_pos_return``, ``validate_pos``), and for an invoice a POS made
    (``is_created_using_pos``) the mode, the shift and the full payment; then the payments'
    signs. No full payment is asked of any other Sales Invoice."""
    is_return = cint(doc.get("is_return"))
    if is_return:
        validate_returned_items(txn, doc, "Sales Invoice")
        if not cint(doc.get("is_consolidated")):
            _pos_payments.check_return_rows(doc)
    validate_whole_numbers(txn, doc)
    if is_return:
        check_refund_covered(flt(doc.get("paid_amount")), flt(doc.get("write_off_amount")),
                             invoice_total(doc))
    if cint(doc.get("is_created_using_pos")):
        if not doc.get("pos_profile"):
            raise ValidationError("POS Profile is mandatory to mark this invoice as POS "
                                  "Transaction.", erpnext=True)
        if not is_return and invoice_type(txn) == POS_INVOICE:
            raise ValidationError("Transactions using Sales Invoice in POS are disabled.",
                                  erpnext=True)
        validate_pos_opening(txn, doc.get("pos_profile"))
        _pos_payments.check_full_payment(txn, doc)
    _pos_payments.check_signs(doc)
    loyalty.check_redemption(txn, doc)


def _fill_row(txn: Txn, doc: Doc, row: Doc, profile: Doc, company: Doc) -> None:
    item = txn.get("Item", row.get("item_code")) or {}
    for key in ("item_name", "description", "item_group", "stock_uom"):
        row.setdefault(key, item.get(key))
    row.setdefault("uom", item.get("stock_uom"))
    row.setdefault("conversion_factor", 1.0)
    row["stock_qty"] = flt(row.get("qty")) * flt(row["conversion_factor"])
    row.setdefault("warehouse", doc.get("set_warehouse"))
    row.setdefault("income_account", company.get("default_income_account"))
    row.setdefault("expense_account", company.get("default_expense_account"))
    row.setdefault("cost_center", profile.get("cost_center") or company.get("cost_center"))
    for key in ("rate", "amount"):  # kept as sent: a consolidated invoice is not repriced
        row.setdefault(f"net_{key}", row.get(key))
        row.setdefault(f"base_{key}", row.get(key))
        row.setdefault(f"base_net_{key}", row.get(key))


def _rounding(txn: Txn, doc: Doc, profile: Doc) -> Any:
    if cint(profile.get("disable_rounded_total")) or cint(doc.get("disable_rounded_total")):
        return None
    currency = txn.get("Currency", doc.get("currency")) or {}
    fraction = dec(currency.get("smallest_currency_fraction_value", "0.01"))
    return lambda value: round_to_fraction(value, fraction)
