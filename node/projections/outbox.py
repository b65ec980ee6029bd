"""What the store owes ERPNext: one row per document to create, from the events behind it.

``customer.created`` -> Customer, ``shift.opened`` -> POS Opening Entry, ``sale.submitted``
and ``sale.returned`` -> POS Invoice, ``shift.closed`` -> POS Closing Entry. Each row names
the event that carries the document and the documents ERPNext must hold first (its
shift's opening entry, the invoice a return is against, every invoice a closing lists).
Delivery order is the HLC order of the events: a return was recorded after its sale, a
closing after the sales it names, so causal order is also the order ERPNext needs.

A sale that reaches the closer after the close (late) is not in that closing: it waits
in the outbox (its shift's closing never lists it) until a supervisor reconciles it, and
is then delivered with a closing of its own (``shift.late_reconciled``).

What has been delivered is ``node.deliveries``; the pure choice of what to send next is
``next_due``. A store that delivers per shift (``erpnext.toml`` ``delivery``) owes the same
rows, planned by ``by_shift``: a shift's closing then stands for the whole shift.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import msgpack
from sqlalchemy import BigInteger, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.projections import deliveries, projector
from tillmesh.node.projections.deliveries import Delivery, State
from tillmesh.node.projections.ledger import (
    final_shifts,
    reconciled_by,
    reconciliation_name,
    shift_of,
)
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import raw

CUSTOMER, OPENING, INVOICE, CLOSING = ("Customer", "POS Opening Entry", "POS Invoice",
                                       "POS Closing Entry")
# Not a document: a member's sale waits for every earlier sale of the customer still owed,
# and the customer's later sales and returns wait for it. ERPNext counts the points they
# earn only once it holds them, and refused a redemption delivered beside them ("You don't
# have enough Loyalty Points"); it takes redeemed points from any entry it holds by then
# (delivered first, a later sale's were taken, and its return was refused, "the Loyalty
# Points earned has been redeemed"); and the tier a sale earns at follows what the
# customer spent in the sales ERPNext entered before it (16 takes the highest tier
# reached: a sale delivered before an earlier one earned at Gold what the till counted
# at Silver).
EARLIER_SALES = "earlier sales of"
Key = tuple[str, str]  # (doctype, name)


class OutboxRow(Base):
    __tablename__ = "outbox"
    doctype: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    hlc: Mapped[int] = mapped_column(BigInteger)  # delivery order
    origin: Mapped[str] = mapped_column(String(32))  # the event carrying the document
    seq: Mapped[int] = mapped_column(BigInteger)
    shift: Mapped[str | None] = mapped_column(String(60))
    after: Mapped[bytes] = mapped_column(LargeBinary)  # [[doctype, name], ...] first
    # Acked or resolved (node.deliveries keeps it up to date): the forwarder reads only
    # the rows still owed, not every document the store ever delivered.
    settled: Mapped[bool] = mapped_column(default=False)
    __table_args__ = (
        Index("ix_outbox_owed", "settled", "hlc"),
        # The closings still owed, whose waits every plan reads (``closing_order``):
        # neither among every invoice owed nor among the closings settled but kept.
        Index("ix_outbox_closings_owed", "hlc",
              sqlite_where=text(f"settled = 0 AND doctype = '{CLOSING}'")),
        {"info": PROJECTION})


_UPSERT = ("INSERT INTO outbox (doctype, name, hlc, origin, seq, shift, after, settled)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (doctype, name) DO UPDATE SET"
           " hlc = excluded.hlc, origin = excluded.origin, seq = excluded.seq,"
           " shift = excluded.shift, after = excluded.after"
           " WHERE (excluded.hlc, excluded.origin) < (outbox.hlc, outbox.origin)")


def _put(session: Session, event: Event, doctype: str, name: str, shift: str | None,
         after: Iterable[Key]) -> None:
    # Two events for one document (two supervisors closed a shift while split): the
    # earliest by (hlc, origin) is the one delivered, as the ledger keeps it. A report
    # that arrived before the document's own event already settled it.
    raw(session).run(_UPSERT, (doctype, name, event.hlc, event.origin, event.seq, shift,
                               _pack(after), deliveries.is_settled(session, doctype, name)))


@projector("customer.created")
def _customer(session: Session, event: Event, body: dict[str, Any]) -> None:
    _put(session, event, CUSTOMER, str(body["name"]), None, ())


@projector("shift.opened")
def _opened(session: Session, event: Event, body: dict[str, Any]) -> None:
    _put(session, event, OPENING, str(body["shift"]), str(body["shift"]), ())


def _pack(keys: Iterable[Key] | Iterable[list[str]]) -> bytes:
    return msgpack.packb([list(k) for k in keys])


def _unpack(data: bytes) -> list[list[str]]:
    return [[str(a), str(b)] for a, b in msgpack.unpackb(data)]


@projector("sale.submitted", "sale.returned")
def _sale(session: Session, event: Event, body: dict[str, Any]) -> None:
    invoice = str(body["invoice"])
    shift = str(body["shift"])
    reconciled = raw(session).one(
        "SELECT reconciliation FROM late_reconciled WHERE invoice = ?", (invoice,))
    if reconciled is not None:  # a late sale whose reconciliation arrived first
        shift = reconciliation_name(shift, reconciled[0])
    after: list[Key] = [(OPENING, shift), (CUSTOMER, str(body["customer"]))]
    if body.get("return_against"):
        after.append((INVOICE, str(body["return_against"])))
    if body.get("redeem_loyalty_points") or body.get("loyalty"):
        after.append((EARLIER_SALES, str(body["customer"])))
    _put(session, event, INVOICE, invoice, shift, after)


@projector("shift.closed")
def _closed(session: Session, event: Event, body: dict[str, Any]) -> None:
    shift = str(body["shift"])
    after = [(OPENING, shift), *((INVOICE, str(i)) for i in body["invoices"])]
    _put(session, event, CLOSING, shift, shift, after)


@projector("shift.late_reconciled")
def _late_reconciled(session: Session, event: Event, body: dict[str, Any]) -> None:
    """Late sales get an opening and a closing entry of their own (their shift's closing
    is already in ERPNext): the invoices move under that opening."""
    name = reconciliation_name(str(body["shift"]), event.id)
    invoices = [str(i) for i in body["invoices"]]
    _put(session, event, OPENING, name, name, ())
    _put(session, event, CLOSING, name, name, [(OPENING, name),
                                               *((INVOICE, i) for i in invoices)])
    sql = raw(session)
    for invoice in invoices:
        if reconciled_by(session, invoice) != event.id:
            continue  # another supervisor reconciled it first (``ledger``): it goes there
        row = sql.one("SELECT after FROM outbox WHERE doctype = ? AND name = ?",
                      (INVOICE, invoice))
        if row is None:
            continue  # the sale has not arrived here yet: its projector will see this
        after = [[OPENING, name] if a == OPENING else [a, b] for a, b in _unpack(row[0])]
        sql.run("UPDATE outbox SET shift = ?, after = ? WHERE doctype = ? AND name = ?",
                (name, _pack(after), INVOICE, invoice))


@dataclass(frozen=True)
class Due:
    """A document the store owes ERPNext: its key, the event that carries it, its shift,
    and the documents ERPNext must hold first."""

    doctype: str
    name: str
    origin: str
    seq: int
    shift: str | None
    after: tuple[Key, ...] = ()
    # Per-shift delivery: this closing carries its whole shift (opening and sales) to
    # ERPNext as consolidated Sales Invoices (``by_shift``).
    per_shift: bool = False


# A late sale waits for its reconciliation (its shift's closing does not list it).
_AWAITING_RECONCILIATION = (
    "coalesce(s.late, 0) AND NOT EXISTS"
    " (SELECT 1 FROM late_reconciled r WHERE r.invoice = o.name)")
# ``settled = 0``, not ``NOT settled``: an equality is what lets ix_outbox_owed find the
# rows still owed without reading every document ever delivered.
_OWED = ("FROM outbox o LEFT JOIN sales s ON o.doctype = 'POS Invoice' AND s.invoice = o.name"
         " WHERE o.settled = 0")


_COLUMNS = "o.hlc, o.origin, o.doctype, o.name, o.seq, o.shift, o.after"
_SENDABLE = f"{_OWED} AND NOT ({_AWAITING_RECONCILIATION})"
_IN_ORDER = "ORDER BY o.hlc, o.origin, o.doctype, o.name"
# The plan reads what is owed a page at a time, the first as long as the batch asked
# for, each next one twice as long up to this: the forwarder plans a batch of 50 every
# few dozen requests, and a store back from a day offline owes thousands (reading all of
# them each time was 54 ms on the loop at 4,000). Sales held back (their opening entry
# refused, say) are read past, a few pages.
PAGE_MOST = 1000


def _as_due(rows: Iterable[tuple[Any, ...]]) -> list[Due]:
    return [Due(d, n, o, s, sh, tuple((str(a), str(b)) for a, b in _unpack(af)))
            for _, o, d, n, s, sh, af in rows]


def pending(session: Session) -> list[Due]:
    """Outbox rows not yet delivered or settled (failed ones included), in HLC order,
    but for late sales that wait for a supervisor's reconciliation."""
    return _as_due(raw(session).run(f"SELECT {_COLUMNS} {_SENDABLE} {_IN_ORDER}"))


def _pages(session: Session, size: int) -> Iterator[list[Due]]:
    """``pending``, ``size`` rows first, twice as many each page up to PAGE_MOST, read
    as they are asked for."""
    sql, last = raw(session), None
    while True:
        # The range on hlc is what ix_outbox_owed seeks to; the row value skips the rows
        # of that hlc already read (one event may carry two documents).
        rows = sql.run(f"SELECT {_COLUMNS} {_SENDABLE}" + (
            "" if last is None else " AND o.hlc >= ? AND (o.hlc, o.origin, o.doctype,"
            " o.name) > (?, ?, ?, ?)") + f" {_IN_ORDER} LIMIT ?",
            (*(() if last is None else (last[0], *last)), size))
        if rows:
            yield _as_due(rows)
        if len(rows) < size:
            return
        last, size = tuple(rows[-1][:4]), min(2 * size, PAGE_MOST)


def owed_counts(session: Session) -> tuple[dict[str, int], int]:
    """Everything still owed to ERPNext by doctype, late sales awaiting reconciliation
    included (owed all the same, though not sendable yet); and how many of those."""
    rows = raw(session).run(f"SELECT o.doctype, count(*), sum({_AWAITING_RECONCILIATION})"
                            f" {_OWED} GROUP BY o.doctype")
    return {str(d): int(n) for d, n, _ in rows}, sum(int(late or 0) for _, _, late in rows)


def next_due(pending: Iterable[Due], states: Mapping[Key, State], owed: set[Key],
             limit: int, skip: Collection[Key] = frozenset()) -> list[Due]:
    """The next documents to send, pure: not failed, and everything they need is in
    ERPNext; ``pending`` is read only as far as the ``limit``-th (``due`` reads it from
    the store as it goes, and ``states`` and ``owed`` with it). ``owed`` is every key in
    the outbox: a customer that is not ours to create (it came from ERPNext) is no
    prerequisite; an opening entry always is. Those of ``skip`` (being sent, or looked at
    again later) are not counted nor given, though they still hold back what needs them."""
    def settled(key: Key) -> bool:
        state = states.get(key)
        if state is not None and state.delivery in (Delivery.ACKED, Delivery.RESOLVED):
            return True
        return key[0] == CUSTOMER and key not in owed

    out: list[Due] = []
    owing: set[str] = set()  # customers with a sale owed before this point (HLC order)
    redeeming: set[str] = set()  # those with a redemption owed and not refused before it
    for item in pending:
        state = states.get((item.doctype, item.name))
        waits = [k for k in item.after if k[0] != EARLIER_SALES]
        if item.doctype == INVOICE or item.per_shift:  # a sale, or a shift's sales
            buyer = {name for kind, name in item.after if kind == CUSTOMER}
            redeemer = {name for kind, name in item.after if kind == EARLIER_SALES}
            ready = not redeemer & owing and not buyer & redeeming
            owing |= buyer
            if state is None or state.delivery is Delivery.PENDING:
                redeeming |= redeemer
        else:
            ready = True
        if state is not None and state.delivery is not Delivery.PENDING:
            continue  # failed: waits for a supervisor; later documents go on
        if ready and (item.doctype, item.name) not in skip and all(settled(k) for k in waits):
            out.append(item)
            if len(out) == limit:
                break
    return out


@dataclass(frozen=True)
class Consolidation:
    """The order of closings as ERPNext's rule B needs it (``consolidation_order``)."""

    pending: list[Due]  # with each closing's waits for other closings added
    carries: dict[str, set[str]]  # closing -> other shifts' sales it consolidates too


def consolidation_order(pending: list[Due], crossings: Iterable[tuple[str, str, str]]
                        ) -> Consolidation:
    """Which closings wait for which, and which carry other shifts' sales; pure.

    ERPNext consolidates a return only with or after the sale it returns (rule B,
    ``../shared/erpnext/NOTES.md``). ``crossings`` are (the return's closing, the sale,
    the sale's closing) for returns booked in another shift than their sale's. A closing
    waits for the closing of every sale it returns, whether that shift has closed yet or
    not. Closings that would wait for each other (two counters returned each other's
    sales) are all closed, since each waits for the others: the earliest in HLC order
    goes first and carries the sales of the later ones that it returns (a sale returned
    in two of them goes with the first); each later one waits for every earlier one, so
    it leaves out what they carried
    (``ledger.carried``). A counter that does not yet hold all of such closings waits,
    so a sale is never listed by two closings.
    """
    waits, carries = _closing_waits([d.name for d in pending if d.doctype == CLOSING],
                                    crossings)
    return Consolidation(_with_waits(pending, waits), carries)


def _closing_waits(closings: list[str], crossings: Iterable[tuple[str, str, str]]
                   ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``consolidation_order`` over the owed closings alone, in delivery order: which
    other closings each waits for, and which sales each carries."""
    position = {name: i for i, name in enumerate(closings)}
    waits: dict[str, set[str]] = {}
    returned: dict[tuple[str, str], set[str]] = {}  # (closing, sale's closing) -> sales
    for returned_in, sale, sold_in in crossings:
        if returned_in in position:
            waits.setdefault(returned_in, set()).add(sold_in)
            returned.setdefault((returned_in, sold_in), set()).add(sale)
    carries: dict[str, set[str]] = {}
    for cycle in _cycles(waits, set(position)):
        ordered, taken = sorted(cycle, key=position.__getitem__), set[str]()
        for i, closing in enumerate(ordered):
            for later in ordered[i + 1:]:
                if later in waits.get(closing, ()):
                    waits[closing].discard(later)
                    sales = returned[(closing, later)] - taken  # an earlier one has the rest
                    carries.setdefault(closing, set()).update(sales)
                    taken |= sales
            waits.setdefault(closing, set()).update(ordered[:i])
    return waits, carries


def _with_waits(items: list[Due], waits: Mapping[str, set[str]]) -> list[Due]:
    return [replace(d, after=d.after + tuple((CLOSING, c) for c in sorted(waits[d.name])))
            if d.doctype == CLOSING and waits.get(d.name) else d for d in items]


def _cycles(waits: Mapping[str, set[str]], nodes: set[str]) -> list[set[str]]:
    """The groups of ``nodes`` that wait for each other, directly or not (the strongly
    connected components of more than one; a day has a handful of open closings)."""
    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in waits.get(todo.pop(), ()):
                if nxt in nodes and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
    reached = {n: reach(n) for n in nodes}
    groups = {frozenset({n} | {m for m in reached[n] if n in reached[m]}) for n in nodes}
    return [set(g) for g in groups if len(g) > 1]


def crossings(session: Session, closings: Iterable[str]) -> list[tuple[str, str, str]]:
    """(the return's closing, the sale, the sale's closing) for every return booked in
    another shift than the sale it returns, whose closing is one of ``closings`` (those
    still owed): only those order closings (``consolidation_order``). Read per closing,
    from the returns of its shift (ix_sales_returns), never from every return the store
    ever took."""
    sql = raw(session)
    out: list[tuple[str, str, str]] = []
    for closing in closings:
        out += [(str(a), str(b), str(c)) for a, b, c in sql.run(
            # Named: with no statistics SQLite started from every invoice in the outbox
            # (a year's store: seconds per closing, in every cycle until it is in).
            "SELECT ro.shift, s.return_against, so.shift FROM sales s INDEXED BY"
            f" ix_sales_returns JOIN outbox ro ON ro.doctype = '{INVOICE}' AND ro.name = s.invoice"
            f" JOIN outbox so ON so.doctype = '{INVOICE}' AND so.name = s.return_against"
            " WHERE s.shift = ? AND s.return_against IS NOT NULL AND ro.shift = ?"
            " AND ro.shift != so.shift", (shift_of(str(closing)), closing))]
    return out


def by_shift(pending: list[Due], opened: Mapping[Key, State]) -> list[Due]:
    """The plan of a store that delivers per shift; pure. ``opened`` holds the delivery
    states of the shifts' opening entries.

    A shift's opening entry and sales are not sent: its closing is, marked ``per_shift``,
    once the customers its sales name are in ERPNext (its sales carry no link to another
    shift's), and in the order ``next_due`` keeps for a member's points, as a sale's. A
    shift whose opening entry ERPNext already holds (delivered
    per sale before the store changed its mode, or settled by a supervisor) goes on per
    sale, so no shift is ever booked both ways."""
    customers: dict[str, set[Key]] = {}  # and the customers whose points a sale redeems
    for item in pending:
        if item.doctype == INVOICE and item.shift and not _per_sale(opened, item.shift):
            customers.setdefault(item.shift, set()).update(
                k for k in item.after if k[0] in (CUSTOMER, EARLIER_SALES))
    out = []
    for item in pending:
        if item.doctype in (OPENING, INVOICE) and item.shift and not _per_sale(opened, item.shift):
            continue  # the shift's closing carries it
        if item.doctype == CLOSING and not _per_sale(opened, item.name):
            item = replace(item, after=tuple(sorted(customers.get(item.name, ()))),
                           per_shift=True)
        out.append(item)
    return out


def _per_sale(opened: Mapping[Key, State], shift: str | None) -> bool:
    """Whether ``shift`` goes per sale in a store that delivers per shift: ERPNext holds
    its opening entry (``by_shift``; ``opened``: the openings' delivery states)."""
    state = opened.get((OPENING, shift)) if shift else None
    return state is not None and state.delivery in (Delivery.ACKED, Delivery.RESOLVED)


def by_session(pending: list[Due]) -> list[Due]:
    """The plan of a store that delivers per sale to an ERPNext that holds one open POS
    Opening Entry per POS Profile (16); pure. The forwarder keeps that one open for the
    whole store (``erpnext._sessions``): a shift's opening entry is not sent (its closing
    acks it, or it waits for its closing to be settled), its sales need only their
    customer and what they return, and a closing lists every invoice delivered since the
    last closing, so rule B holds without the waits and carries of
    ``consolidation_order``. Closings go one after another: one formed while the one
    before is being consolidated (or before its ack is recorded) would list that one's
    invoices again, and ERPNext refuses them as consolidated."""
    return [item for items in _by_session_pages([pending]) for item in items]


def _by_session_pages(pages: Iterable[list[Due]]) -> Iterator[list[Due]]:
    """``by_session`` over ``pending`` read a page at a time."""
    before: Key | None = None  # the closing owed before this one
    for items in pages:
        out: list[Due] = []
        for item in items:
            if item.doctype == OPENING:
                # Acked along with its closing; due on its own only once a supervisor
                # settled that closing outside Tillmesh (then acked with nothing sent).
                out.append(replace(item, after=((CLOSING, item.name),)))
                continue
            after = tuple(k for k in item.after if k[0] != OPENING)
            if item.doctype == CLOSING:
                after, before = after + ((before,) if before else ()), (CLOSING, item.name)
            out.append(replace(item, after=after))
        yield out


class ClosingOrder(NamedTuple):
    waits: dict[str, set[str]]  # closing -> the other closings it waits for
    carries: dict[str, set[str]]  # closing -> other shifts' sales it consolidates too


def closing_order(session: Session, *, per_shift: bool = False) -> ClosingOrder:
    """The waits and carries of rule B among the owed closings delivered per sale
    (``consolidation_order``), read from those closings and their returns alone; with
    ``per_shift``, a shift delivered whole (``by_shift``) is in none of them."""
    closings = [str(n) for (n,) in raw(session).run(
        # Named: with no statistics SQLite reads every row owed by ix_outbox_owed.
        "SELECT o.name FROM outbox o INDEXED BY ix_outbox_closings_owed WHERE"
        f" o.settled = 0 AND o.doctype = '{CLOSING}' {_IN_ORDER}")]
    crossed = crossings(session, closings)
    if per_shift:
        opened = deliveries.states(session, {(OPENING, c) for c in closings})
        whole = {c for c in closings if not _per_sale(opened, c)}
        crossed = [c for c in crossed if c[0] not in whole and c[2] not in whole]
    return ClosingOrder(*_closing_waits(closings, crossed))


def plan(session: Session, *, per_shift: bool = False, sessions: bool = False
         ) -> Consolidation:
    """What is owed, in delivery order, with the waits and carries of rule B among the
    closings delivered per sale (``consolidation_order``); ``per_shift`` as ``by_shift``,
    ``sessions`` (and not per shift) as ``by_session``. All of it: ``due`` reads only as
    far as the next documents to send."""
    items = pending(session)
    if sessions and not per_shift:
        return Consolidation(by_session(items), {})
    if per_shift:
        shifts = {(OPENING, item.shift) for item in items if item.shift}
        items = by_shift(items, deliveries.states(session, shifts))
    order = closing_order(session, per_shift=per_shift)
    return Consolidation(_with_waits(items, order.waits), order.carries)


def forget(session: Session, invoices: list[str]) -> None:
    """The rows of delivered invoices whose sales left the ledger (``ledger.compact``):
    nothing will be owed for them again (an invoice has one event)."""
    raw(session).run(f"DELETE FROM outbox WHERE doctype = '{INVOICE}' AND settled = 1 AND name"
                     " IN (SELECT value FROM json_each(?))", (json.dumps(invoices),))


def forget_shifts(session: Session) -> None:
    """The rows of the openings and closings of shifts nothing is owed for any more
    (``ledger.final_shifts``): each closing's row names every invoice of its shift (tens
    of KiB), so kept for good they grew the store by every day of its age."""
    sql = raw(session)
    settled = f"settled = 1 AND doctype IN ('{OPENING}', '{CLOSING}')"
    named = [str(n) for (n,) in sql.run(f"SELECT DISTINCT name FROM outbox WHERE {settled}")]
    sql.run(f"DELETE FROM outbox WHERE {settled} AND name IN (SELECT value FROM json_each(?))",
            (json.dumps(final_shifts(session, named)),))


def owed(session: Session) -> set[Key]:
    return {(d, n) for d, n in raw(session).run("SELECT doctype, name FROM outbox")}


def due(session: Session, limit: int, *, per_shift: bool = False, sessions: bool = False,
        page: int | None = None, skip: Collection[Key] = frozenset(),
        ) -> tuple[list[Due], dict[Key, State]]:
    """``next_due`` over what is still owed (``plan``), read a page at a time (the first
    of ``page`` rows, or ``limit``) up to the ``limit``-th document to send but for those
    of ``skip``, and the delivery states of those rows and of what they need only; and
    those states (the forwarder's input). A store that delivers per shift reads all of it
    (a shift's closing names the customers of all its sales)."""
    states: dict[Key, State] = {}
    customers: set[Key] = set()  # the customers owed: ours to create first

    def read(items: list[Due]) -> list[Due]:
        keys = {(p.doctype, p.name) for p in items} | {k for p in items for k in p.after}
        states.update(deliveries.states(session, keys))
        customers.update(k for k in keys if k[0] == CUSTOMER and source(session, *k))
        return items

    if per_shift:
        return next_due(read(plan(session, per_shift=True).pending), states, customers,
                        limit, skip), states
    pages = _pages(session, max(1, page or limit))
    if sessions:
        pages = _by_session_pages(pages)
    else:
        waits = closing_order(session).waits
        pages = (_with_waits(items, waits) for items in pages)
    return next_due((item for items in pages for item in read(items)), states, customers,
                    limit, skip), states


def source(session: Session, doctype: str, name: str) -> tuple[str, int] | None:
    """The event (origin, seq) that carries a document the store owes ERPNext."""
    row = raw(session).one("SELECT origin, seq FROM outbox WHERE doctype = ? AND name = ?",
                           (doctype, name))
    return None if row is None else (str(row[0]), int(row[1]))
