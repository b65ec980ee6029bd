"""In-memory documents of one site, with the orderings and lookups list queries need.

Documents are kept sparse, as :mod:`_documents` stores them: a field never set is absent
and reads as its doctype default. Per doctype the store keeps a list of ``(modified,
name)`` sorted for paging deltas (updated in place on single writes, rebuilt lazily after
bulk loads), and caches other orderings and ``field -> names`` lookups until the doctype
changes. Not thread-safe: the simulator holds its lock around every use.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

Doc = dict[str, Any]
SortKey = Callable[[Doc], Any]
Parts = Callable[[Doc], Iterable[tuple[Any, float]]]  # what a document adds to a sum, by key


class Store:
    def __init__(self) -> None:
        self._docs: dict[str, dict[str, Doc]] = defaultdict(dict)
        self._version: dict[str, int] = defaultdict(int)
        self._by_modified: dict[str, list[tuple[str, str]] | None] = {}
        self._sorted: dict[tuple[str, str], tuple[int, list[Doc]]] = {}
        self._lookups: dict[tuple[str, str], tuple[int, dict[Any, list[str]]]] = {}
        self._names: dict[str, tuple[int, list[str]]] = {}
        self._series: dict[str, int] = defaultdict(int)
        # doctype -> (sum name -> (its parts of a document, the running sums by key))
        self._sums: dict[str, dict[str, tuple[Parts, defaultdict[Any, float]]]] = {}

    # -- documents ---------------------------------------------------------------------
    def get(self, doctype: str, name: str) -> Doc | None:
        return self._docs[doctype].get(name)

    def exists(self, doctype: str, name: str) -> bool:
        return name in self._docs[doctype]

    def count(self, doctype: str) -> int:
        return len(self._docs[doctype])

    def all(self, doctype: str) -> Iterable[Doc]:
        return self._docs[doctype].values()

    def put(self, doctype: str, doc: Doc) -> None:
        """Insert or replace ``doc`` (the store keeps it; callers must not mutate it)."""
        docs = self._docs[doctype]
        old = docs.get(doc["name"])
        docs[doc["name"]] = doc
        self._version[doctype] += 1
        self._add(doctype, old, -1)
        self._add(doctype, doc, 1)
        keys = self._by_modified.get(doctype)
        if keys is None:
            return
        if old is not None:
            del keys[bisect.bisect_left(keys, (old["modified"], old["name"]))]
        bisect.insort(keys, (doc["modified"], doc["name"]))

    def load(self, doctype: str, docs: Iterable[Doc]) -> None:
        """Bulk insert: orderings are rebuilt once, on the next query."""
        target = self._docs[doctype]
        for doc in docs:
            self._add(doctype, target.get(doc["name"]), -1)
            target[doc["name"]] = doc
            self._add(doctype, doc, 1)
        self._version[doctype] += 1
        self._by_modified[doctype] = None

    def delete(self, doctype: str, name: str) -> Doc | None:
        old = self._docs[doctype].pop(name, None)
        if old is not None:
            self._version[doctype] += 1
            self._add(doctype, old, -1)
            self._by_modified[doctype] = None
        return old

    def version(self, doctype: str) -> int:
        return self._version[doctype]

    # -- running sums --------------------------------------------------------------------
    def sum_of(self, doctype: str, name: str, parts: Parts, key: Any) -> float:
        """The sum of ``parts`` over every document of ``doctype`` at ``key``, kept up to
        date by each write from the first ask on (a read of all of them per ask made a
        simulator holding thousands of POS Invoices the slowest part of a catch-up)."""
        sums = self._sums.setdefault(doctype, {})
        if name not in sums:
            totals: defaultdict[Any, float] = defaultdict(float)
            for doc in self._docs[doctype].values():
                for k, v in parts(doc):
                    totals[k] += v
            sums[name] = (parts, totals)
        return sums[name][1].get(key, 0.0)

    def _add(self, doctype: str, doc: Doc | None, sign: int) -> None:
        if doc is None or doctype not in self._sums:
            return
        for parts, totals in self._sums[doctype].values():
            for k, v in parts(doc):
                totals[k] += sign * v

    # -- orderings and lookups ---------------------------------------------------------
    def by_modified(self, doctype: str) -> list[tuple[str, str]]:
        """``(modified, name)`` of every document, ascending."""
        keys = self._by_modified.get(doctype)
        if keys is None:
            keys = sorted((d["modified"], d["name"]) for d in self._docs[doctype].values())
            self._by_modified[doctype] = keys
        return keys

    def by_modified_docs(self, doctype: str, *, after: str | None = None,
                         descending: bool = False) -> Iterable[Doc]:
        """Documents by ``(modified, name)``; ascending ones may start at the first whose
        ``modified`` is not below ``after`` (a bound from a ``modified >`` filter)."""
        keys = self.by_modified(doctype)
        docs = self._docs[doctype]
        if descending:
            return (docs[name] for _, name in reversed(keys))
        start = bisect.bisect_left(keys, (after, "")) if after is not None else 0
        return (docs[keys[i][1]] for i in range(start, len(keys)))

    def by_name_docs(self, doctype: str, *, after: str | None = None) -> Iterable[Doc]:
        """Documents by name; they may start at the first not below ``after``."""
        version = self._version[doctype]
        cached = self._names.get(doctype)
        if cached is None or cached[0] != version:
            cached = (version, sorted(self._docs[doctype]))
            self._names[doctype] = cached
        names, docs = cached[1], self._docs[doctype]
        start = bisect.bisect_left(names, after) if after is not None else 0
        return (docs[names[i]] for i in range(start, len(names)))

    def sorted_by(self, doctype: str, label: str, key: SortKey) -> list[Doc]:
        """Every document ordered by ``key``; cached under ``label`` until a change."""
        version = self._version[doctype]
        cached = self._sorted.get((doctype, label))
        if cached is None or cached[0] != version:
            cached = (version, sorted(self._docs[doctype].values(), key=key))
            self._sorted[(doctype, label)] = cached
        return cached[1]

    def find(self, doctype: str, field: str, value: Any) -> list[Doc]:
        """Documents whose ``field`` equals ``value`` (a cached index per field)."""
        version = self._version[doctype]
        cached = self._lookups.get((doctype, field))
        if cached is None or cached[0] != version:
            index: dict[Any, list[str]] = defaultdict(list)
            for doc in self._docs[doctype].values():
                index[doc.get(field)].append(doc["name"])
            cached = (version, index)
            self._lookups[(doctype, field)] = cached
        docs = self._docs[doctype]
        return [docs[name] for name in cached[1].get(value, ())]

    # -- naming series -----------------------------------------------------------------
    def series_value(self, prefix: str) -> int:
        return self._series[prefix]

    def set_series(self, prefix: str, value: int) -> None:
        self._series[prefix] = value
