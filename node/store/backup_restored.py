"""A counter restored from a backup, until it has caught up with itself.

Its log may be behind what the other counters hold of its OWN events: what it recorded
after the backup reached them before its disk died. Recording anything now would reuse
those sequence numbers (a second version of its chain, which every other counter refuses:
the sale would never reach the store) and its invoice numbers (ERPNext takes a repeated
name as delivered). So ``tillmesh restore`` leaves a mark in meta; while it is there the
log records no event of its own (``EventLog.held`` says why, the cashier sees it as the
counter's standing) and the replication gate takes this counter's own events from peers,
signed with its key, which it refuses at any other time.

The mark goes (``release``) once every other enrolled, unrevoked counter has been linked
to it since it started, holding nothing it lacks, and none held more of its events than it
does (``caught_up``): one peer holding no more proves nothing, as a counter away since the
backup holds less than the restored one while another, offline, holds what it recorded
after it. Or when IT says no counter holds more (``tillmesh restore --confirm-alone``).
Releasing moves the invoice, shift and customer numbers past those its events got back
used, and its clock past their stamps, so what it records next follows them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from tillmesh.node.store.base import Meta
from tillmesh.node.store.const import REBUILD_BATCH
from tillmesh.node.store.event_codec import Event, data

if TYPE_CHECKING:
    from tillmesh.node.store.event_log import EventLog

KEY = "restored"  # meta: the mark of a restored counter that has not caught up yet
# Kinds that number a document with a local counter (meta, ``Node.next_number``): the
# body field holding the name, whose last "-" part is the number, and the counter's key.
NUMBERED = {"sale.submitted": ("invoice", "invoice_seq"),
            "sale.returned": ("invoice", "invoice_seq"),
            "shift.opened": ("shift", "shift_seq"),
            "customer.created": ("name", "customer_seq")}


@dataclass(frozen=True)
class Restored:
    seq: int  # this counter's last event in the backup
    backup_at: str  # when the backup was made (ISO 8601)


def mark(session: Session, restored: Restored) -> None:
    session.merge(Meta(key=KEY, value=json.dumps(asdict(restored))))


def held(session: Session) -> Restored | None:
    row = session.get(Meta, KEY)
    return None if row is None else Restored(**json.loads(row.value))


def reason(session: Session) -> str | None:
    """Why this counter records nothing of its own yet, for the cashier and IT; None when
    it may."""
    restored = held(session)
    if restored is None:
        return None
    made = datetime.fromisoformat(restored.backup_at)
    return (f"This counter was restored from a backup of {made:%Y-%m-%d %H:%M} UTC: it "
            "records nothing (no sale, no login) until every other counter of the store "
            "has linked to it and given back what it recorded after the backup, so no "
            "invoice number is used twice. Start the other counters; if one is gone for "
            "good and none holds more, IT runs `tillmesh restore --confirm-alone` with the "
            "node stopped.")


def caught_up(have: int, members: Iterable[str], linked: Mapping[str, int]) -> bool:
    """Whether a restored counter holding its events 1..``have`` has caught up: every one
    of ``members`` (the store's other enrolled, unrevoked counters; at least one) is in
    ``linked`` (the most of its events each counter linked since the restore was seen to
    hold) and none held more than ``have``."""
    others = set(members)
    return bool(others) and all(node in linked and linked[node] <= have for node in others)


def numbers_used(events: Iterable[Event]) -> dict[str, int]:
    """The highest number each local counter (``NUMBERED``) gave in ``events``."""
    used: dict[str, int] = {}
    for event in events:
        if event.kind not in NUMBERED:
            continue
        field, key = NUMBERED[event.kind]
        try:
            number = int(str(data(event)[field]).rsplit("-", 1)[-1])
        except (KeyError, ValueError):
            continue  # not a number this counter gave: nothing to move past
        used[key] = max(used.get(key, 0), number)
    return used


def release(log: EventLog) -> int:
    """Lift the mark: the local numbers past those of this counter's events since the
    backup, the clock past their stamps; returns how many such events it holds. Outside
    any transaction (it reads, then writes)."""
    with log.reading() as s:
        restored = held(s)
    head = log.vector().get(log.origin, 0)
    if restored is None:
        log.held = None
        return 0
    used: dict[str, int] = {}
    last_stamp = 0
    for first in range(restored.seq + 1, head + 1, REBUILD_BATCH):
        batch = log.range(log.origin, first, min(first + REBUILD_BATCH - 1, head))
        for key, number in numbers_used(batch).items():
            used[key] = max(used.get(key, 0), number)
        last_stamp = max([last_stamp, *(e.hlc for e in batch)])
    with log.transaction() as tx:
        for key, number in used.items():
            row = tx.session.get(Meta, key)
            if row is None or int(row.value) < number:
                tx.session.merge(Meta(key=key, value=str(number)))
        row = tx.session.get(Meta, KEY)
        if row is not None:
            tx.session.delete(row)
    log.hlc.observe(last_stamp, int(log.clock().timestamp() * 1000))
    log.held = None
    return max(head - restored.seq, 0)
