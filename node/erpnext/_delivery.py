"""What the forwarder does in ERPNext with one document, in a worker thread (blocking I/O).

- ``insert``: create it once, under its name. 200, or 409 (the name is there: a repeat
  after a time-out, a forwarder killed before its ack, two forwarders at once) is
  delivered. Any other refusal is looked into before it counts: ERPNext validates before
  it looks at the name or the unique origin event, so a repeat can be refused ("no open
  POS Opening Entry" after the closing, "cannot return more", UniqueValidationError)
  although ERPNext holds the document. Found under its name: delivered. Found by its
  origin event under a name of ERPNext's own (a Frappe that drops client names): held
  back with that reason, never acked, since every return and closing names it. A
  document retried after a refusal is looked up first, so no retry books another copy.
- ``insert_sale``: a sale as ``insert`` does it; refused for the coupon it names (used
  up by counters cut off from each other, expired by ERPNext's date), sent once more
  without the coupon and delivered, the refusal noted on its ack (``domain.coupons``);
  refused for redeeming more points than ERPNext holds, held with what to do. A sale
  (or a shift's Sales Invoice: ``create``) with batch or serial rows is inserted as a
  draft and submitted with a PUT, as a closing is (ERPNext 15 cannot submit those rows
  under our name in one request).
- ``close``: a POS Closing Entry is inserted as a draft and submitted with a PUT
  (``erpnext/NOTES.md``); with 10+ invoices ERPNext consolidates in the background
  (Queued), so it is delivered only once Submitted; Failed is refused, and a supervisor's
  retry asks ERPNext to ``run_method=retry`` it.
- ``insert_shift``: a shift delivered per shift, its consolidated Sales Invoices one after
  another, each as ``insert`` does it; the last one, which names the shift, only once
  the others are in.
- ``check_settled_elsewhere``: a document that names something a supervisor resolved
  outside Tillmesh (the sale a return is against, a shift's opening) is sent only when
  ERPNext holds that under the name the document gives; otherwise it is held back with
  the reason, instead of being sent to be refused (LinkValidationError).

Each returns an ``Outcome`` or raises ``Refused`` (a person must look: recorded as
``forward.failed``); ErpNextUnreachable, ErpNextServerError and ErpNextAuthError pass
through (the forwarder backs off and records nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tillmesh.node.domain import coupons
from tillmesh.node.erpnext._documents import without_coupon
from tillmesh.node.erpnext._per_shift import SALES_INVOICE, ShiftDocument
from tillmesh.node.erpnext._rest import Doc, ErpNextClient, name_not_kept
from tillmesh.node.erpnext._setup import ORIGIN_FIELD
from tillmesh.node.erpnext._site_release import V15, Capabilities
from tillmesh.node.erpnext._text import plain_text, printable
from tillmesh.node.errors import (
    ErpNextAuthError,
    ErpNextDuplicate,
    ErpNextError,
    ErpNextNameNotKept,
    ErpNextServerError,
    ErpNextUnreachable,
)
from tillmesh.node.projections.outbox import CLOSING, INVOICE, Key

SUBMITTED, QUEUED, FAILED = "Submitted", "Queued", "Failed"
# Not about the document: ERPNext is away or refuses us as a whole. Nothing is recorded.
TRANSIENT = (ErpNextUnreachable, ErpNextServerError, ErpNextAuthError)


class Refused(Exception):
    """A document waits for a person: ERPNext refused it, or it cannot be sent as it is.
    ``stage`` says where: form, prerequisite, insert, name, submit, consolidation, send,
    internal."""

    def __init__(self, message: str, *, stage: str, status: int | None = None,
                 exc_type: str | None = None) -> None:
        # What the exceptions list shows: it quotes ERPNext and the records it sent.
        message = printable(message)
        super().__init__(message)
        self.message, self.stage, self.status = message, stage, status
        self.exc_type = None if exc_type is None else printable(exc_type)

    @classmethod
    def of(cls, error: ErpNextError, stage: str) -> Refused:
        return cls(error.message, stage=stage, status=error.status, exc_type=error.exc_type)

    def report(self) -> dict[str, Any]:
        """The body of its ``forward.failed`` event (without the document's key)."""
        return {"status": self.status, "exc_type": self.exc_type, "message": self.message,
                "stage": self.stage}


@dataclass(frozen=True)
class Outcome:
    acked: str | None = None  # ERPNext's name
    waiting: bool = False  # a consolidation still running: look again later
    origin_event: str | None = None  # for a closing: the event ERPNext's copy was made from
    documents: tuple[str, ...] = ()  # per shift: the Sales Invoices that carry the shift
    along: tuple[tuple[Key, str], ...] = ()  # per shift: what they carry -> where it went
    coupon_refused: str | None = None  # a sale delivered without its coupon: ERPNext's words
    listed: tuple[str, ...] = ()  # a closing: the invoices ERPNext's copy lists
    opening: str | None = None  # a closing: the opening entry it closed


def insert(client: ErpNextClient, doctype: str, doc: Doc, *, look_first: bool) -> Outcome:
    """Create ``doc`` once; ``look_first`` when it was refused before (it may be there)."""
    if look_first and (found := _held(client, doctype, doc)) is not None:
        return found
    try:
        answer = client.insert(doctype, doc)
    except ErpNextDuplicate:
        return Outcome(acked=str(doc["name"]))
    except TRANSIENT:
        raise
    except ErpNextNameNotKept as exc:
        raise Refused.of(exc, "name") from exc
    except ErpNextError as exc:
        if (found := _held(client, doctype, doc)) is not None:
            return found
        raise Refused.of(exc, "insert") from exc
    return Outcome(acked=str(answer["name"]))


_OVERSPENT = "You don't have enough Loyalty Points to redeem"  # ERPNext 15's words
# ERPNext 15's refusals of a unit or a batch already sold (recorded: batch-cases.json),
# and what a supervisor does about them
_SOLD_OUT = {
    "SerialNoWarehouseError": "this serial number was sold twice (counters cut off from each"
    " other, or it left the warehouse in ERPNext): check the unit the customer took, sell"
    " that serial number in ERPNext or correct its stock there, then retry or resolve",
    "BatchNegativeStockError": "this batch was sold beyond what ERPNext holds (counters cut off"
    " from each other, or stock moved in ERPNext): book the units from the batch they came"
    " from in ERPNext (or receive the missing stock), then retry or resolve",
    # ERPNext 16 in Sales Invoice mode books a sale's stock as it arrives
    "NegativeStockError": "this sale was made beyond what ERPNext holds in the warehouse (sold"
    " offline, or stock not yet received in ERPNext): receive the stock in ERPNext (or allow"
    " negative stock in Stock Settings), then retry",
}
# ... and refuses a serial number sold twice as a plain ValidationError, in these words
_SOLD_OUT_WORDS = {"You cannot outward following Serial No": "SerialNoWarehouseError"}


def insert_sale(client: ErpNextClient, doc: Doc, *, look_first: bool,
                doctype: str = INVOICE) -> Outcome:
    """A sale as a ``doctype`` (the site's: ``Capabilities.sale_doctype``): ``insert``;
    refused for the coupon it names, inserted once more without it (a refused insert
    leaves nothing behind: ERPNext rolls the request back)."""
    try:
        return create(client, doctype, doc, look_first=look_first)
    except Refused as refused:
        _overspent(refused, doc)
        sold_out = refused.exc_type if refused.exc_type in _SOLD_OUT else next(
            (kind for words, kind in _SOLD_OUT_WORDS.items() if words in refused.message),
            None)
        if sold_out is not None:
            raise Refused(f"{refused.message}: {_SOLD_OUT[sold_out]}",
                          stage=refused.stage, status=refused.status,
                          exc_type=refused.exc_type) from refused
        if not doc.get("coupon_code") or refused.stage != "insert" \
                or not coupons.refused_link(refused.message):
            raise
        outcome = create(client, doctype, without_coupon(doc, refused.message),
                         look_first=False)
        return replace(outcome, coupon_refused=refused.message)


def create(client: ErpNextClient, doctype: str, doc: Doc, *, look_first: bool) -> Outcome:
    """A submitted invoice created once: ``insert``. One with batch or serial rows goes as
    a draft, then is submitted: ERPNext 15 fails to submit such rows in the request that
    creates the invoice under a name of ours ("Serial and Batch Entry Row #1: Value
    missing for: parent", recorded on 15.71 through /api/resource and API v2 alike)."""
    if not any(row.get("batch_no") or row.get("serial_no") for row in doc["items"]):
        return insert(client, doctype, doc, look_first=look_first)
    name = str(doc["name"])
    current = _draft(client, doctype, {**doc, "docstatus": 0}, look_first=look_first)
    # ERPNext clears an Actual row's rate when it saves the draft, and the submit then
    # rates the items without a tax template of their own at 0 (16 refused a restated
    # return: "Item Wise Tax Details do not match"): the rows go again with the submit.
    actual = {"taxes": doc["taxes"]} if any(
        t.get("charge_type") == "Actual" and t.get("rate") for t in doc.get("taxes") or ()) \
        else {}
    if int(current.get("docstatus") or 0) == 0:
        try:
            client.update(doctype, name, {"docstatus": 1, **actual})
        except TRANSIENT:
            raise
        except ErpNextError as exc:
            raise Refused.of(exc, "submit") from exc
    return Outcome(acked=name)


def _overspent(refused: Refused, doc: Doc) -> None:
    """Raise ``refused`` with what to do when ERPNext refused the points a sale redeems."""
    if doc.get("redeem_loyalty_points") and _OVERSPENT in refused.message:
        raise Refused(f"{refused.message}: {doc.get('customer')}'s points were redeemed in"
                      f" {doc['name']} for more than ERPNext holds (counters cut off from"
                      " each other redeemed the same points, or a sale that earned them was"
                      " refused): collect the points' worth from the customer or book it"
                      " otherwise, then resolve", stage=refused.stage,
                      status=refused.status, exc_type=refused.exc_type) from refused


def insert_shift(client: ErpNextClient, documents: Sequence[ShiftDocument], *,
                 opening: Key, look_first: bool) -> Outcome:
    """Create a shift's Sales Invoices once each, in order; delivered when all are in. A
    refusal stops there: those already in are found again (409) on the retry, so none
    is booked twice."""
    names = tuple(_shift_document(client, d, look_first=look_first) for d in documents)
    last = names[-1] if names else None
    along = ((opening, last or ""),
             *(((INVOICE, invoice), name) for d, name in zip(documents, names, strict=True)
               for invoice in d.invoices))
    return Outcome(acked=last, documents=names, along=along)


def _shift_document(client: ErpNextClient, document: ShiftDocument, *,
                    look_first: bool) -> str:
    try:
        return create(client, SALES_INVOICE, document.doc, look_first=look_first).acked \
            or document.name
    except Refused as refused:  # a member's sale of its own: what to do about its points
        _overspent(refused, document.doc)
        raise


def _held(client: ErpNextClient, doctype: str, doc: Doc) -> Outcome | None:
    """ERPNext's copy of ``doc``: under its name, delivered; by its origin event under
    another name, refused (never acked); None when ERPNext holds no copy."""
    name = str(doc["name"])
    if client.exists(doctype, name):
        return Outcome(acked=name)
    origin = doc.get(ORIGIN_FIELD)
    rows = client.get_list(doctype, filters=[[ORIGIN_FIELD, "=", origin]],
                           page_length=1) if origin else []
    if rows:
        error = name_not_kept(doctype, name, str(rows[0]["name"]), api_v2=client.api_v2())
        raise Refused.of(error, "name")
    return None


def _draft(client: ErpNextClient, doctype: str, doc: Doc, *, look_first: bool) -> Doc:
    """ERPNext's copy of ``doc`` (a draft), inserted first if it has none (a 409 on the
    insert: inserted a moment ago), to be submitted with a PUT."""
    current = client.get_doc(doctype, str(doc["name"]), missing_ok=True)
    if current is None:
        insert(client, doctype, doc, look_first=look_first)
        current = client.get_doc(doctype, str(doc["name"])) or {}
    return current


def close(client: ErpNextClient, doc: Doc, *, retrying: bool, retried: set[str],
          caps: Capabilities = V15) -> Outcome:
    """Insert the draft closing if ERPNext has none, check it lists the invoices sent,
    submit it, follow its consolidation. ``retried`` (the forwarder's) names closings
    asked to re-run whose outcome is not yet seen: a supervisor's retry re-runs a Failed
    consolidation once."""
    name = str(doc["name"])
    current = _draft(client, CLOSING, doc, look_first=retrying)
    try:
        if int(current.get("docstatus") or 0) == 0:
            _check_listed(client, doc, current, caps)
            current = client.update(CLOSING, name, {"docstatus": 1})
        elif current.get("status") == FAILED and retrying and name not in retried:
            client.run_doc_method(CLOSING, name, "retry")
            retried.add(name)
            current = client.get_doc(CLOSING, name) or {}
    except TRANSIENT:
        raise
    except ErpNextError as exc:
        raise Refused.of(exc, "submit") from exc
    status = current.get("status")
    if status == SUBMITTED:
        retried.discard(name)
        # A supervisor's second closing of the shift may have come in since the draft was
        # posted: ERPNext's copy says which one it holds.
        return Outcome(acked=name, origin_event=str(current.get(ORIGIN_FIELD)
                                                    or doc.get(ORIGIN_FIELD) or "") or None,
                       listed=tuple(_listed(current, caps)))
    if status == FAILED:
        retried.discard(name)  # failed again: back to the supervisor
        raise Refused(plain_text(str(current.get("error_message") or "consolidation failed")),
                      stage="consolidation", exc_type="ConsolidationFailed")
    return Outcome(waiting=True)  # Queued: the background job runs


def consolidating(client: ErpNextClient, name: str) -> bool:
    """Whether ERPNext still consolidates the closing ``name`` (submitted, Queued): its
    status alone, where ``close`` reads the whole closing, every invoice it lists."""
    rows = client.get_list(CLOSING, fields=("docstatus", "status"), filters=[["name", "=", name]],
                           page_length=1)
    return bool(rows) and int(rows[0].get("docstatus") or 0) == 1 \
        and rows[0].get("status") not in (SUBMITTED, FAILED)


def _listed(closing: Doc, caps: Capabilities) -> list[str]:
    return sorted(str(row.get(caps.closing_link)) for row in closing.get(caps.closing_rows)
                  or [] if isinstance(row, dict))


def _check_listed(client: ErpNextClient, doc: Doc, draft: Doc, caps: Capabilities) -> None:
    """Refused unless ERPNext's draft lists exactly the invoices ``doc`` lists. A draft
    an earlier attempt left with another list is given this one first. A site that keeps
    none of them names the list otherwise (ERPNext 16 answers a v15 body 200 and drops
    its ``pos_transactions``): submitted, the closing would end the shift in ERPNext and
    consolidate nothing, so it is not submitted."""
    sent = _listed(doc, caps)
    if _listed(draft, caps) == sent:
        return
    draft = client.update(CLOSING, str(doc["name"]), {caps.closing_rows: doc[caps.closing_rows]})
    held = _listed(draft, caps)
    if held != sent:
        raise Refused(
            f"ERPNext keeps {len(held)} of the {len(sent)} invoices this closing lists in"
            f" {caps.closing_rows} (it may call that list otherwise: run `tillmesh erpnext"
            " setup` to see which release it runs), so it was not submitted: submitted, it"
            " would end the shift in ERPNext and consolidate only those",
            stage="submit", exc_type="InvoicesNotListed")


def check_settled_elsewhere(client: ErpNextClient, doctype: str,
                            resolved: Iterable[Key], caps: Capabilities = V15) -> None:
    """Refused unless ERPNext holds, under its name, each of ``resolved``: what a
    ``doctype`` document names that a supervisor resolved outside Tillmesh (a sale as
    the site books POS sales, ``caps``)."""
    for other_type, other in resolved:
        other_type = caps.sale_doctype if other_type == INVOICE else other_type
        if client.exists(other_type, other):
            continue  # entered in ERPNext by hand under its own name: go on
        if doctype == INVOICE and other_type == caps.sale_doctype:
            what = (f"the sale it returns, {other}, was settled outside Tillmesh and ERPNext"
                    f" holds no {other_type} {other}, so this return cannot be booked against"
                    " it: refund it the way that sale was settled and resolve this, or retry"
                    f" once {other} is in ERPNext under that name")
        else:
            what = (f"{other_type} {other}, which it needs, was settled outside Tillmesh and"
                    f" ERPNext holds no {other_type} {other}: create it in ERPNext under that"
                    " name and retry, or settle this one as well and resolve it")
        raise Refused(what, stage="prerequisite", exc_type="SettledOutsideTillmesh")
