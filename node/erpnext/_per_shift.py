"""Per-shift delivery: a shift's sales and returns as consolidated Sales Invoices. Pure.

For a store whose ERPNext cannot take a POS Invoice per sale (a chain on one site; see
README "Per-shift delivery"), a closed shift reaches ERPNext as one submitted Sales
Invoice per customer carrying its sales, and one credit note per customer carrying its
returns, instead of a POS Opening Entry, a POS Invoice per sale and a POS Closing Entry.
The documents are shaped as ERPNext's own POS Invoice Merge Log shapes the ones it makes
(``merge_pos_invoice_into``): ``is_pos``, ``is_consolidated``, ``update_stock``; tax rows
of an account summed into one Actual row of their after-discount amounts, marked
``dont_recompute_tax`` (ERPNext 16 keys its per-item tax detail on that flag, no longer on
``is_consolidated``: without it 16.12 spread each row over the items anew and refused a
shift whose items carry other rates, "Item Wise Tax Details do not match"); payments summed
by mode; no invoice discount; no pricing rules. Two differences, both for exactness and
size:

- Rows are aggregated: one row per item, UOM, warehouse and item tax, carrying the sum
  of the sales' net amounts and quantities (ERPNext's merge keeps one row per sold line).
  ``is_consolidated`` makes ERPNext keep each row's amounts as sent
  (``calculate_item_values`` returns early), so the row's ``rate`` is the average and its
  ``amount`` exact.
- ``rounding_adjustment`` carries whatever separates net plus tax from what the customers
  owed (their rounded totals, and the cents by which ERPNext's inclusive-tax totals part
  from net plus tax), so ``rounded_total`` is exactly what the shift's customers owed; a
  consolidated invoice keeps a non-zero adjustment as sent (``set_rounded_total``).

So revenue (per item), VAT (per account), stock (per item and warehouse) and money (per
mode of payment, net of change given) are the shift's sums to the cent. Returns carry no
``return_against``: a credit note of several sales' returns names no single invoice, so
ERPNext checks neither their order nor their rates (rules B and C of ``erpnext/NOTES.md``
do not arise); Tillmesh's own refund ledger keeps a sale from being refunded twice.

Names are the counter's: ``<entry>-S-<tag>`` and ``<entry>-R-<tag>``, ``<tag>`` a digest of
the customer, so the same records always give the same names and a repeat is a 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tillmesh.node.domain.money import ZERO
from tillmesh.node.domain.totals import recorded_due
from tillmesh.node.erpnext._documents import (
    Doc,
    Site,
    _custom,
    _profile,
    as_pos_invoice,
    sales_invoice_rows,
    takings,
)
from tillmesh.node.erpnext._setup import CASHIER_FIELD, ORIGIN_FIELD, SHIFT_FIELD
from tillmesh.node.errors import ValidationError

SALES_INVOICE = "Sales Invoice"
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class ShiftDocument:
    """One Sales Invoice (or credit note) of a shift and the sales it carries."""

    doc: Doc
    invoices: tuple[str, ...]  # the counter's invoice numbers it consolidates

    @property
    def name(self) -> str:
        return str(self.doc["name"])


def tag(customer: str) -> str:
    """A short stable digest of a customer's name, for the documents' names."""
    return hashlib.sha256(customer.encode()).hexdigest()[:6]


def shift_documents(bodies: Iterable[Mapping[str, Any]], *, entry: str, end: datetime,
                    site: Site, origin_event: str, cashier: str | None = None,
                    note: str = "") -> list[ShiftDocument]:
    """The consolidated documents of ``entry`` (a shift, or a reconciliation's pair of late
    sales) from the ``sale.submitted`` / ``sale.returned`` bodies it covers, in the order
    they are sent: the credit notes (one per customer, in order of first sale), then the
    sales' invoices.

    All are posted at ``end`` (the shift's close, site-local, or its last sale if a clock
    put that later): a shift's stock leaves ERPNext's Bin at its close, as the counters'
    on-hand has it, and the returns given back in it count. The last document alone names
    the shift (``SHIFT_FIELD``): the pull takes a shift's stock as in Bin once ERPNext
    holds that one, and it is sent only once the others are in. ``note`` (the drawer
    count, which no field of a Sales Invoice holds) goes into its remarks."""
    ordered = sorted(bodies, key=lambda b: (str(b["posting_date"]), _clock(b),
                                            str(b["invoice"])))
    # A loyalty member's sales and their returns go one by one, as they happened: ERPNext
    # enters, redeems and takes back points only on a Sales Invoice of the sale's own.
    out = [ShiftDocument(member_invoice(body, site=site,
                                        origin_event=f"{origin_event}/{body['invoice']}"),
                         (str(body["invoice"]),))
           for body in ordered if of_member(body)]
    by_customer: dict[str, list[Mapping[str, Any]]] = {}
    for body in ordered:
        if not of_member(body):
            by_customer.setdefault(str(body["customer"]), []).append(body)
    posting = (end.date().isoformat(), end.time().isoformat(timespec="microseconds"))
    for is_return in (True, False):
        for customer, group in by_customer.items():
            chosen = [b for b in group if bool(b.get("is_return")) == is_return]
            if not chosen:
                continue
            suffix = f"{'R' if is_return else 'S'}-{tag(customer)}"
            doc = consolidated(chosen, name=f"{entry}-{suffix}", is_return=is_return,
                               posting=posting, site=site)
            doc.update(_custom(SALES_INVOICE, {ORIGIN_FIELD: f"{origin_event}/{suffix}",
                                               CASHIER_FIELD: cashier}))
            doc["remarks"] = (f"Tillmesh {entry}: {len(chosen)}"
                              f" {'returns' if is_return else 'sales'} consolidated")
            out.append(ShiftDocument(doc, tuple(str(b["invoice"]) for b in chosen)))
    names = [d.name for d in out]
    if len(set(names)) != len(names):  # two customers with one digest: never guess
        raise ValidationError(f"two documents of {entry} would share a name: {names}")
    if out:
        out[-1].doc.update(_custom(SALES_INVOICE, {SHIFT_FIELD: entry}))
        if note:
            out[-1].doc["remarks"] += f". Drawer: {note}"
    return out


def of_member(body: Mapping[str, Any]) -> bool:
    """A sale that earns or redeems loyalty points, or the return of one."""
    return bool(body.get("loyalty") or body.get("redeem_loyalty_points")
                or body.get("member_return"))


def member_invoice(body: Mapping[str, Any], *, site: Site, origin_event: str) -> Doc:
    """A member's sale (or its return, against the sale's own invoice) as a submitted
    Sales Invoice of its own, named by the sale's number, priced as the POS Invoice of a
    per-sale store: ERPNext fills the program in and enters the points, redeems those
    the sale spends, and takes back a returned sale's (recorded:
    erpnext-15.71-per-shift-loyalty.jsonl)."""
    doc = as_pos_invoice(body, site=site, origin_event=origin_event)
    doc["items"] = sales_invoice_rows(doc["items"])
    doc.update(due_date=doc["posting_date"], remarks=f"Tillmesh {body['invoice']}",
               # without it ERPNext books the change at 0 and refuses the sale ("Either
               # debit or credit amount is required for Debtors", recorded)
               base_change_amount=doc.get("change_amount") or ZERO,
               **_custom(SALES_INVOICE, {ORIGIN_FIELD: origin_event,
                                         CASHIER_FIELD: body.get("cashier")}))
    return doc


def consolidated(bodies: Sequence[Mapping[str, Any]], *, name: str, is_return: bool,
                 posting: tuple[str, str], site: Site) -> Doc:
    """One customer's sales (or returns) as one submitted, consolidated Sales Invoice."""
    if not bodies:
        raise ValidationError(f"{name}: nothing to consolidate")
    first = bodies[0]
    for body in bodies:
        if bool(body.get("is_return")) != is_return or body["customer"] != first["customer"]:
            raise ValidationError(f"{name}: {body['invoice']} does not belong with"
                                  f" {first['invoice']}")
        _profile(str(body["pos_profile"]), site)
    items = aggregate_rows(bodies)
    taxes = tax_rows(bodies)
    net = sum((row["amount"] for row in items), ZERO)
    grand = net + sum((row["tax_amount"] for row in taxes), ZERO)
    due = sum((Decimal(recorded_due(b["totals"])) for b in bodies), ZERO)
    payments = payment_rows(bodies)
    paid = sum((p["amount"] for p in payments), ZERO)
    return {
        "name": name, "docstatus": 1, "is_pos": 1, "is_consolidated": 1,
        "is_return": int(is_return), "update_stock": 1, "set_posting_time": 1,
        "posting_date": posting[0], "posting_time": posting[1], "due_date": posting[0],
        "company": site.company, "pos_profile": site.pos_profile,
        "customer": str(first["customer"]), "currency": first["currency"],
        "selling_price_list": first["selling_price_list"], "set_warehouse": first["warehouse"],
        "ignore_pricing_rule": 1, "taxes_and_charges": "",
        "additional_discount_percentage": ZERO, "discount_amount": ZERO,
        "items": items, "taxes": taxes, "payments": payments,
        "total_qty": sum((row["qty"] for row in items), ZERO),
        "net_total": net, "base_net_total": net, "total": net, "base_total": net,
        "grand_total": grand, "base_grand_total": grand,
        # what the customers owed, exactly: kept by ERPNext while the adjustment is not 0
        "rounding_adjustment": due - grand, "base_rounding_adjustment": due - grand,
        "rounded_total": due, "base_rounded_total": due,
        "paid_amount": paid, "base_paid_amount": paid,
    }


def _row_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    rates = {str(k): str(Decimal(v).normalize()) for k, v in
             (row.get("item_tax_rate") or {}).items()}
    return (str(row["item_code"]), str(row.get("uom") or ""),
            str(Decimal(row.get("conversion_factor") or 1).normalize()),
            str(row.get("warehouse") or ""), str(row.get("item_tax_template") or ""),
            json.dumps(rates, sort_keys=True), str(row.get("batch_no") or ""))


def aggregate_rows(bodies: Iterable[Mapping[str, Any]]) -> list[Doc]:
    """One row per item, UOM, warehouse, item tax and batch: the sum of the lines'
    quantities and net amounts (revenue after every discount, before tax), in order of
    first sale, with their serial numbers."""
    rows: dict[tuple[str, ...], Doc] = {}
    for body in bodies:
        for line in body["items"]:
            key = _row_key(line)
            row = rows.get(key)
            if row is None:
                rates = {str(k): float(v) for k, v in (line.get("item_tax_rate") or {}).items()}
                row = rows[key] = {
                    "item_code": line["item_code"], "item_name": line.get("item_name")
                    or line["item_code"], "uom": line["uom"], "stock_uom": line["stock_uom"],
                    "conversion_factor": Decimal(line["conversion_factor"]),
                    "warehouse": line.get("warehouse") or body["warehouse"],
                    "item_tax_rate": json.dumps(rates), "qty": ZERO, "stock_qty": ZERO,
                    "amount": ZERO, **({"item_tax_template": line["item_tax_template"]}
                                       if line.get("item_tax_template") else {}),
                    **({"batch_no": line["batch_no"], "use_serial_batch_fields": 1}
                       if line.get("batch_no") else {})}
            if line.get("serial_no"):
                row["serial_no"] = "\n".join(filter(None, (row.get("serial_no"),
                                                           line["serial_no"])))
                row["use_serial_batch_fields"] = 1
            row["qty"] += Decimal(line["qty"])
            row["stock_qty"] += Decimal(line["stock_qty"])
            row["amount"] += Decimal(line["net_amount"])
    out = []
    for row in rows.values():
        if not row["qty"] and not row["amount"]:
            continue  # nothing left to book (cannot happen with whole lines; kept safe)
        rate = (row["amount"] / row["qty"]).quantize(_CENT, ROUND_HALF_EVEN) \
            if row["qty"] else ZERO
        amount = row["amount"]
        out.append({**row, "price_list_rate": ZERO, "base_price_list_rate": ZERO,
                    "discount_percentage": ZERO, "discount_amount": ZERO,
                    "rate": rate, "net_rate": rate, "base_rate": rate, "base_net_rate": rate,
                    "net_amount": amount, "base_amount": amount, "base_net_amount": amount})
    return out


def tax_rows(bodies: Iterable[Mapping[str, Any]]) -> list[Doc]:
    """One Actual row per tax account: the sum of its after-discount amounts (what the
    customers were charged), with ERPNext's per-item detail summed as the merge does."""
    rows: dict[str, Doc] = {}
    for body in bodies:
        for tax in body["taxes"]:
            amount = Decimal(tax.get("tax_amount_after_discount_amount") or tax["tax_amount"])
            account = str(tax["account_head"])
            row = rows.get(account)
            if row is None:
                row = rows[account] = {"charge_type": "Actual", "account_head": account,
                                       "description": tax.get("description") or account,
                                       "rate": ZERO, "included_in_print_rate": 0,
                                       "dont_recompute_tax": 1, "tax_amount": ZERO,
                                       "detail": {}}
            row["tax_amount"] += amount
            for code, pair in (tax.get("item_wise_tax_detail") or {}).items():
                rate, part = (Decimal(str(pair[0])), Decimal(str(pair[1])))
                before = row["detail"].get(code)
                row["detail"][code] = (before[0], before[1] + part) if before else (rate, part)
    return [{**{k: v for k, v in row.items() if k != "detail"},
             "tax_amount_after_discount_amount": row["tax_amount"],
             "base_tax_amount": row["tax_amount"],
             "base_tax_amount_after_discount_amount": row["tax_amount"],
             "item_wise_tax_detail": json.dumps(
                 {code: [float(rate), float(part)] for code, (rate, part) in
                  row["detail"].items()}, separators=(",", ":"))}
            for row in rows.values()]


def payment_rows(bodies: Sequence[Mapping[str, Any]]) -> list[Doc]:
    """What each mode of payment took (a refund is negative), net of the change given
    in cash: the drawer's and the card terminal's takings. A mode that took nothing
    has no row (ERPNext refuses a zero payment on a return and shows it on a sale)."""
    seen: dict[str, Mapping[str, Any]] = {}
    for body in bodies:
        for payment in body["payments"]:
            seen.setdefault(str(payment["mode_of_payment"]), payment)
    out = []
    for mode, amount in takings(bodies).items():
        if not amount:
            continue
        model = seen.get(mode, {})
        out.append({"mode_of_payment": mode, "amount": amount, "base_amount": amount,
                    **{k: model[k] for k in ("account", "type") if model.get(k)}})
    return out


def _clock(body: Mapping[str, Any]) -> str:
    """The posting time with microseconds, so times sort as text."""
    clock = str(body["posting_time"])
    return clock if "." in clock else f"{clock}.000000"


def covered(documents: Sequence[ShiftDocument]) -> dict[str, str]:
    """Invoice number -> the name of the document that carries it."""
    return {invoice: d.name for d in documents for invoice in d.invoices}
