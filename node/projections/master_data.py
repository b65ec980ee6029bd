"""ERPNext master data (Item, Item Price, Customer, POS Profile …) as replicated documents.

A ``master.upserted`` event carries one ERPNext document; ``master.deleted`` removes one.
The winner per (doctype, name) is the write with the highest ``(modified, hlc, origin)``:
ERPNext's own ``modified`` first, so a stale pull never overwrites a newer one. Deletions
stay as tombstones so that a late upsert older than the deletion cannot resurrect it.

Domain modules that need an index of a doctype (the catalog's search and barcode tables)
register with ``@indexer(doctype)`` and are told the new winning document, or None.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.projections import projector
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event, pack_body, unpack_body
from tillmesh.node.store.raw import raw

Indexer = Callable[[Session, str, dict[str, Any] | None], None]
_INDEXERS: dict[str, list[Indexer]] = defaultdict(list)

UPSERTED = "master.upserted"
DELETED = "master.deleted"


class MasterDoc(Base):
    __tablename__ = "master_docs"
    __table_args__ = {"info": PROJECTION}
    doctype: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    modified: Mapped[str] = mapped_column(String(32))  # ERPNext's site-local modified
    hlc: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(32))
    deleted: Mapped[bool] = mapped_column(default=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


def indexer(doctype: str) -> Callable[[Indexer], Indexer]:
    def register(fn: Indexer) -> Indexer:
        _INDEXERS[doctype].append(fn)
        return fn

    return register


def upserted_body(doctype: str, doc: dict[str, Any], modified: str | None = None) -> dict[str, Any]:
    """The body of a ``master.upserted`` event for an ERPNext document."""
    stamp = modified or str(doc.get("modified") or datetime.min.isoformat())
    return {"doctype": doctype, "name": str(doc["name"]), "modified": stamp, "doc": doc}


# The latest write by (modified, hlc, origin) wins, in one statement: a row comes back
# only when this one did.
_UPSERT = ("INSERT INTO master_docs (doctype, name, modified, hlc, origin, deleted, data)"
           " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (doctype, name) DO UPDATE SET"
           " modified = excluded.modified, hlc = excluded.hlc, origin = excluded.origin,"
           " deleted = excluded.deleted, data = excluded.data"
           " WHERE (excluded.modified, excluded.hlc, excluded.origin)"
           " > (master_docs.modified, master_docs.hlc, master_docs.origin) RETURNING 1")


@projector(UPSERTED, DELETED, "customer.created")
def _apply(session: Session, event: Event, body: dict[str, Any]) -> None:
    doctype, name, modified = body["doctype"], body["name"], str(body.get("modified", ""))
    is_delete = event.kind == DELETED
    doc = None if is_delete else body["doc"]
    if not raw(session).run(_UPSERT, (doctype, name, modified, event.hlc, event.origin,
                                      int(is_delete), b"" if doc is None else pack_body(doc))):
        return  # an equal or newer write already won
    for fn in _INDEXERS.get(doctype, []):
        fn(session, name, doc)


def get_doc(session: Session, doctype: str, name: str) -> dict[str, Any] | None:
    row = raw(session).one(
        "SELECT data FROM master_docs WHERE doctype = ? AND name = ? AND deleted = 0",
        (doctype, name))
    return None if row is None else unpack_body(row[0])


def all_docs(session: Session, doctype: str) -> list[dict[str, Any]]:
    """Every live document of a (small) doctype: rules and trees, not items."""
    rows = raw(session).run("SELECT data FROM master_docs WHERE doctype = ? AND deleted = 0"
                            " ORDER BY name", (doctype,))
    return [unpack_body(row[0]) for row in rows]
