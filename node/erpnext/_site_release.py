"""Which ERPNext a store delivers to, and what that changes in what its counters send. Pure.

Everything that differs between the ERPNext releases this counter knows is here and only
here: ``Release`` is what ``tillmesh erpnext setup`` and the forwarder learn from the site
(Frappe's and ERPNext's versions from ``frappe.utils.change_log.get_versions``, and POS
Settings' ``invoice_type``, which ERPNext 15 does not have); ``capabilities`` turns it into
the one ``Capabilities`` every other module reads. Observed on the real releases:
``shared/erpnext/NOTES.md`` (15.71) and ``NOTES-v16.md`` (16.12).

- ERPNext 15 books a POS sale as a POS Invoice; a POS Closing Entry lists them in
  ``pos_transactions`` and consolidates them into Sales Invoices.
- ERPNext 16 renamed that list ``pos_invoices`` (a body naming ``pos_transactions`` is
  answered 200 with no rows: submitted, it closes the shift and consolidates nothing) and
  holds one Open POS Opening Entry per POS Profile and per user; a sale needs the newest
  Open one to have started on the server's today.
- ERPNext 16 in Sales Invoice mode (POS Settings, the default of a new site) refuses POS
  Invoices: a POS sale is a Sales Invoice ``is_created_using_pos``, stock is checked when
  it is submitted, a closing lists them in ``sales_invoices``, nothing consolidates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tillmesh.node.domain.totals import ERPNEXT_RELEASES, nearest_release

POS_INVOICE = "POS Invoice"
SALES_INVOICE = "Sales Invoice"
INVOICE_TYPES = (POS_INVOICE, SALES_INVOICE)  # POS Settings' invoice_type (ERPNext 16)
INVOICE_TYPE_SINCE = 16  # the first ERPNext whose POS Settings have an invoice type
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Release:
    """An ERPNext site as it says it is."""

    frappe: tuple[int, int, int]
    erpnext: tuple[int, int, int]
    invoice_type: str = POS_INVOICE  # ERPNext 15 has only POS Invoices

    @property
    def major(self) -> int:
        return self.erpnext[0]

    def __str__(self) -> str:
        mode = f", {self.invoice_type} mode" if self.major >= 16 else ""
        return f"ERPNext {_dotted(self.erpnext)} on Frappe {_dotted(self.frappe)}{mode}"


def version(text: object) -> tuple[int, int, int]:
    """(major, minor, patch) of "15.71.1" (a suffix such as "-dev" is ignored);
    ValueError saying what is wrong."""
    found = _VERSION.match(str(text).strip())
    if not found:
        raise ValueError(f"{text!r} is not a release number such as 15.71.1")
    return int(found[1]), int(found[2]), int(found[3])


def release_of(versions: Mapping[str, Any], pos_settings: Mapping[str, Any] | None
               ) -> Release:
    """The release from ``get_versions``' answer (``{app: {"version": …}}``) and the POS
    Settings document (None where the site has none); ValueError saying what is missing."""
    numbers = {}
    for app in ("frappe", "erpnext"):
        entry = versions.get(app)
        if not isinstance(entry, Mapping) or not entry.get("version"):
            raise ValueError(f"the site does not say which {app} it runs (get_versions"
                             f" answered without {app}'s version)")
        numbers[app] = version(entry["version"])
    invoice_type = str((pos_settings or {}).get("invoice_type") or POS_INVOICE)
    if invoice_type not in INVOICE_TYPES:
        raise ValueError(f"POS Settings' invoice type {invoice_type!r} is neither of"
                         f" {', '.join(INVOICE_TYPES)}")
    return Release(numbers["frappe"], numbers["erpnext"], invoice_type)


@dataclass(frozen=True)
class Capabilities:
    """What a site takes, as the forwarder and setup need it."""

    sale_doctype: str  # the doctype a POS sale (and a till return) is booked as
    closing_rows: str  # the POS Closing Entry's table that lists the shift's invoices
    closing_link: str  # the field of that table's row naming the invoice
    # one Open POS Opening Entry per POS Profile and per user, and a sale needs the newest
    # to have started on the server's today
    one_open_shift: bool
    consolidates: bool  # a closing merges its invoices into Sales Invoices
    # a POS Invoice names its coupon: ERPNext 16 validates and counts it again on the
    # Sales Invoice it is consolidated into (refused once used up, counted twice else)
    coupon_on_pos_invoice: bool
    stock_checked_at_submit: bool  # an oversold sale is refused when it is booked
    batches_need_enabling: bool  # batch and serial numbers only with Stock Settings' leave


V15 = Capabilities(sale_doctype=POS_INVOICE, closing_rows="pos_transactions",
                   closing_link="pos_invoice", one_open_shift=False, consolidates=True,
                   coupon_on_pos_invoice=True, stock_checked_at_submit=False,
                   batches_need_enabling=False)
V16_POS_INVOICE = Capabilities(
    sale_doctype=POS_INVOICE, closing_rows="pos_invoices", closing_link="pos_invoice",
    one_open_shift=True, consolidates=True, coupon_on_pos_invoice=False,
    stock_checked_at_submit=False, batches_need_enabling=True)
V16_SALES_INVOICE = Capabilities(
    sale_doctype=SALES_INVOICE, closing_rows="sales_invoices", closing_link="sales_invoice",
    one_open_shift=True, consolidates=False, coupon_on_pos_invoice=True,
    stock_checked_at_submit=True, batches_need_enabling=True)


def capabilities(release: Release) -> Capabilities:
    """What ``release`` takes. A release newer than 16 is taken as 16 (the nearest one
    recorded); ``unknown`` says so to whoever runs setup."""
    if nearest_release(release.major) == ERPNEXT_RELEASES[0]:
        return V15
    return V16_SALES_INVOICE if release.invoice_type == SALES_INVOICE else V16_POS_INVOICE


def unknown(release: Release) -> str | None:
    """What to tell IT of a release whose answers this counter has not been checked
    against, or None."""
    if release.major in ERPNEXT_RELEASES:
        return None
    return (f"this counter was checked against ERPNext"
            f" {' and '.join(map(str, ERPNEXT_RELEASES))} only; it sends what ERPNext"
            f" {nearest_release(release.major)} takes: try a store's day on a copy of the"
            " site before trading on it")


def sends(caps: Capabilities, *, per_shift: bool) -> str:
    """One line: what this store's counters send to ERPNext."""
    if per_shift:
        return ("each closed shift as consolidated Sales Invoices (one per customer and"
                " sort of sale), booked at once; no POS Opening or Closing Entry")
    consolidated = ", which ERPNext consolidates into Sales Invoices" if caps.consolidates \
        else ""
    if caps.one_open_shift:
        return (f"each sale and till return as a {caps.sale_doctype}, under the one POS"
                " Opening Entry the forwarder keeps open for the store (opened on the"
                " server's day, closed by each shift's close); each shift's close as a POS"
                " Closing Entry with the shift's count, listing every invoice delivered"
                f" since the last one in {caps.closing_rows}{consolidated}")
    return (f"each sale and till return as a {caps.sale_doctype}; each shift as a POS"
            " Opening Entry and a POS Closing Entry listing its invoices in"
            f" {caps.closing_rows}{consolidated}")


def must_allow(caps: Capabilities, *, per_shift: bool) -> str:
    """One line: what the site must allow for those documents to be taken."""
    needs = ["the API user may create them (checked below)"]
    if per_shift or caps.stock_checked_at_submit:
        needs.append("their stock is booked as they arrive: allow negative stock, or a sale"
                     " made offline beyond ERPNext's stock waits for it")
    else:
        needs.append("their stock is booked when a closing consolidates them")
    return "; ".join(needs)


def _dotted(numbers: tuple[int, ...]) -> str:
    return ".".join(map(str, numbers))
