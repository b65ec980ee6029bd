"""API methods for the receipt printer: reprints, X/Z reports, status, test page.

None of them waits for the printer: they queue a job and answer (``printer_status`` says
how it went). What prints by itself is the print service's (``tillmesh.node.printing``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tillmesh.node.api import _agreement as agreement
from tillmesh.node.api._methods import api_method
from tillmesh.node.domain.roles import Action
from tillmesh.node.printing import sale_receipt, self_test_receipt, shift_receipt
from tillmesh.node.projections import ledger
from tillmesh.node.projections.audit import AuditRow
from tillmesh.node.store.event_codec import unpack_body

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node


def _printed_before(session: Session, sale: ledger.SaleRow) -> bool:
    """Has ``receipt_print`` printed this invoice before (on any counter)? Only prints
    recorded after the sale can be, so the scan is of those few audit rows."""
    details = session.scalars(select(AuditRow.detail).where(
        AuditRow.kind == "audit.receipt_printed", AuditRow.hlc > sale.hlc))
    return any(unpack_body(detail).get("invoice") == sale.invoice for detail in details)


@api_method(action=Action.REPRINT)
async def receipt_print(node: Node, caller: Caller, invoice: str) -> dict[str, Any]:
    """Print the receipt of any sale or return held here; every print but the one
    original is marked COPY (audited).

    One this counter does not hold (it joined later) is fetched from the counter that
    made it, as ``invoice_get`` does.
    """
    service = node.print_service
    service.require()  # before anything is recorded
    row, body = await agreement.sale_of(node, str(invoice))
    with node.write() as tx:
        s = tx.session
        auth = node.authorize(s, caller, Action.REPRINT)
        # The original comes from the counter that sold: by itself (auto_print), else
        # at the first request there. Any other print is a copy, so a second
        # "original" can never back a second refund.
        copy = (row.origin != node.node_id or service.settings.auto_print
                or _printed_before(s, row))
        receipt = sale_receipt(body, service.style, counter=row.origin, copy=copy)
        node.audit(tx, "receipt_printed", auth, invoice=row.invoice, copy=copy,
                   counter=node.node_id)
    return {**service.submit(receipt), "copy": copy}


@api_method()
def report_print(node: Node, caller: Caller, shift_id: str | None = None) -> dict[str, Any]:
    """Print the X report of a shift, or its Z report once closed (this counter's
    open shift by default)."""
    service = node.print_service
    service.require()
    view = node.call("shift_report", {"shift_id": shift_id} if shift_id else {},
                     caller.token)
    return service.submit(shift_receipt(view, service.style, printed_at=node.clock()))


@api_method()
def printer_status(node: Node, caller: Caller) -> dict[str, Any]:
    """The printer: kind, online, pending jobs and the last error (for the banner)."""
    return node.print_service.status()


@api_method()
def printer_queue_retry(node: Node, caller: Caller) -> dict[str, Any]:
    """Try the waiting jobs now (the printer is back); returns the status."""
    service = node.print_service
    service.require().retry_now()
    return service.status()


@api_method()
def printer_test(node: Node, caller: Caller) -> dict[str, Any]:
    """Print a test page: width, styles, QR code and cutter."""
    service = node.print_service
    service.require()
    return service.submit(self_test_receipt(service.style, counter=node.node_id,
                                            printer=service.where,
                                            printed_at=node.clock()))
