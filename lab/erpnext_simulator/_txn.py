"""One request's unit of work: reads see its own writes, nothing reaches the store unless
it commits, so a refused request changes nothing (as a rolled-back Frappe transaction).

Controllers receive a :class:`Txn`. A stored document must never be mutated in place:
:meth:`Txn.edit` hands out a private copy that the transaction will write back.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tillmesh.lab.erpnext_simulator._clock import fmt_date, fmt_datetime, fmt_time
from tillmesh.lab.erpnext_simulator._documents import normalize, stamp
from tillmesh.lab.erpnext_simulator._errors import DoesNotExistError
from tillmesh.lab.erpnext_simulator._meta import DocMeta, Registry
from tillmesh.lab.erpnext_simulator._naming import (
    Fixed,
    Hash,
    NameRule,
    Series,
    hash_name,
    name_rule,
    series_name,
)
from tillmesh.lab.erpnext_simulator._store import Doc, Parts, Store


class Txn:
    def __init__(self, store: Store, registry: Registry, *, now: datetime, user: str,
                 rng: random.Random, host_url: str = "") -> None:
        self.store = store
        self.registry = registry
        self.moment = now
        self.now = fmt_datetime(now)
        self.today = fmt_date(now)
        self.time = fmt_time(now)
        self.user = user
        self.rng = rng
        self.host_url = host_url  # how the client reached the site: links in messages
        self.notes: list[dict[str, Any]] = []  # Frappe's msgprints, for _server_messages
        self.jobs: list[str] = []  # POS Closing Entries to consolidate in the background
        self.after_commit: list[Callable[[], None]] = []  # effects outside the store
        # Writes ERPNext commits after rolling a failed request back (a closing marked
        # Failed): each runs in a fresh transaction, see Site.rolled_back.
        self.after_rollback: list[Callable[[Txn], None]] = []
        # ERPNext's ``doc.save(); doc.submit()`` of a document a controller makes: its
        # whole life cycle, as a client's insert and submit (the site sets it).
        self.save_and_submit: Callable[[str, Doc], Doc] = _no_site
        # Frappe's ``currently_saving``: documents saved under their name (an insert is
        # recorded before it has one); a stock refusal words itself by it.
        self.saving: set[tuple[str, str]] = set()
        self._writes: dict[tuple[str, str], Doc | None] = {}
        self._series: dict[str, int] = {}

    # -- reading -----------------------------------------------------------------------
    def get(self, doctype: str, name: str | None) -> Doc | None:
        if not name:
            return None
        key = (doctype, name)
        if key in self._writes:
            return self._writes[key]
        return self.store.get(doctype, name)

    def require(self, doctype: str, name: str) -> Doc:
        doc = self.get(doctype, name)
        if doc is None:
            raise DoesNotExistError.document(doctype, name)
        return doc

    def exists(self, doctype: str, name: str) -> bool:
        return self.get(doctype, name) is not None

    def all(self, doctype: str) -> Iterable[Doc]:
        pending = {n: d for (dt, n), d in self._writes.items() if dt == doctype}
        for doc in self.store.all(doctype):
            if doc["name"] not in pending:
                yield doc
        yield from (d for d in pending.values() if d is not None)

    def sum_of(self, doctype: str, name: str, parts: Parts, key: Any) -> float:
        """``Store.sum_of`` as this transaction sees the documents (its writes in place of
        what they replace)."""
        total = self.store.sum_of(doctype, name, parts, key)
        for (dt, doc_name), doc in self._writes.items():
            if dt != doctype:
                continue
            for sign, seen in ((-1, self.store.get(doctype, doc_name)), (1, doc)):
                if seen is not None:
                    total += sign * sum(v for k, v in parts(seen) if k == key)
        return round(total, 9)  # what running float sums leave (1e-15s) goes, as in SQL

    def find(self, doctype: str, field: str, value: Any) -> list[Doc]:
        pending = {n: d for (dt, n), d in self._writes.items() if dt == doctype}
        found = [d for d in self.store.find(doctype, field, value) if d["name"] not in pending]
        return found + [d for d in pending.values() if d is not None and d.get(field) == value]

    def meta(self, doctype: str) -> DocMeta:
        return self.registry.require(doctype)

    # -- writing -----------------------------------------------------------------------
    def edit(self, doctype: str, name: str) -> Doc:
        """A private copy of a document; it is written back on commit."""
        doc = copy.deepcopy(self.require(doctype, name))
        self._writes[(doctype, name)] = doc
        return doc

    def put(self, doctype: str, doc: Doc) -> None:
        self._writes[(doctype, doc["name"])] = doc

    def delete(self, doctype: str, name: str) -> None:
        self._writes[(doctype, name)] = None

    def touch(self, doctype: str, doc: Doc) -> None:
        """Mark an edited document modified now, by this user."""
        doc["modified"] = self.now
        doc["modified_by"] = self.user

    def create(self, doctype: str, fields: Doc, *, name: str | None = None) -> Doc:
        """A document the server makes itself (no validation), stored with its rows."""
        meta = self.meta(doctype)
        doc = normalize(fields, meta, self.registry)
        doc["name"] = name or self.new_name(meta, doc)
        stamp(doc, user=self.user, now=self.now, new_name=self.hash_name)
        self.put(doctype, doc)
        return doc

    # -- naming ------------------------------------------------------------------------
    def hash_name(self) -> str:
        return hash_name(self.rng, self.moment)

    def rule(self, meta: DocMeta, doc: Doc) -> NameRule:
        return name_rule(meta, doc, self.abbr, lambda n: self.exists(meta.name, n),
                         self.moment)

    def new_name(self, meta: DocMeta, doc: Doc) -> str:
        rule = self.rule(meta, doc)
        if isinstance(rule, Fixed):
            if rule.note:
                self.notes.append({"message": rule.note, "title": "Note",
                                   "indicator": "yellow"})
            return rule.name
        if isinstance(rule, Series):
            return self.next_in_series(rule.prefix)
        assert isinstance(rule, Hash)
        return self.hash_name()

    def next_in_series(self, prefix: str) -> str:
        number = self._series.get(prefix, self.store.series_value(prefix)) + 1
        self._series[prefix] = number
        return series_name(prefix, number)

    def abbr(self, company: str) -> str:
        doc = self.get("Company", company)
        return str(doc.get("abbr")) if doc else ""

    # -- ending --------------------------------------------------------------------------
    def commit(self) -> None:
        for (doctype, name), doc in self._writes.items():
            if doc is None:
                self.store.delete(doctype, name)
            else:
                self.store.put(doctype, doc)
        for prefix, number in self._series.items():
            self.store.set_series(prefix, number)
        self._writes.clear()
        self._series.clear()
        for effect in self.after_commit:
            effect()


def _no_site(doctype: str, doc: Doc) -> Doc:
    raise AssertionError(f"a {doctype} is saved only inside a site's transaction")
