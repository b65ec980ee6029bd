"""Answering list requests: candidate rows in the asked order, fast for the puller.

The puller pages by key (``modified > m`` ordered by modified and name, ``name > n``
ordered by name) and reads child rows per batch of parents (``parent in [...]``). Those
shapes start from a bisection of a sorted index or from a parent's rows, so a page of a
100,000-row list costs its page, not the list; any other query scans in order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tillmesh.lab.erpnext_simulator._documents import child_row
from tillmesh.lab.erpnext_simulator._errors import NotPermitted
from tillmesh.lab.erpnext_simulator._meta import DocMeta, Registry
from tillmesh.lab.erpnext_simulator._query import (
    ListQuery,
    default_order,
    ordered,
    page,
    parse_list_query,
    predicate,
    project,
    sort_key,
)
from tillmesh.lab.erpnext_simulator._store import Doc, Store

_BY_MODIFIED = ([("modified", False)], [("modified", False), ("name", False)])
_BY_MODIFIED_DESC = ([("modified", True)], [("modified", True), ("name", True)])
_BY_NAME = [("name", False)]


@dataclass
class _Children:
    """Every row of one child doctype, flattened as Frappe lists them."""

    versions: tuple[int, ...]
    by_modified: list[Doc]  # by (modified, parent, idx)
    by_name: list[Doc] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    by_parent: dict[str, list[Doc]] = field(default_factory=dict)


class Lister:
    def __init__(self, store: Store, registry: Registry) -> None:
        self._store = store
        self._registry = registry
        self._children: dict[str, _Children] = {}

    def rows(self, doctype: str, params: Mapping[str, str], *, v2: bool) -> list[Doc]:
        meta = self._registry.require(doctype)
        if meta.istable:
            parent = params.get("parent")
            if parent not in {p for p, _ in self._registry.parents_of(meta.name)}:
                raise NotPermitted("Parent is required to get child table data"
                                   if not parent else f"Insufficient Permission for {parent}")
        query = parse_list_query(meta, self._registry, params, v2=v2)
        match = predicate(query, meta, self._registry)
        candidates = self._candidates(meta, query)
        if query.aggregated:
            return project(page(candidates, match, 0, 0), query, meta)
        return project(page(candidates, match, query.start, query.page_length), query, meta)

    def _candidates(self, meta: DocMeta, query: ListQuery) -> Iterable[Doc]:
        """Every row that may match, in the query's order (the predicate still decides)."""
        order = query.order or default_order(meta)
        if meta.istable:
            return self._child_candidates(meta, query, order)
        if order in _BY_MODIFIED or order in _BY_MODIFIED_DESC:
            return self._store.by_modified_docs(meta.name, descending=order[0][1],
                                                after=_lower_bound(query, "modified"))
        if order == _BY_NAME:
            return self._store.by_name_docs(meta.name, after=_lower_bound(query, "name"))
        if all(desc == order[0][1] for _, desc in order):
            keys = [sort_key(meta, f) for f, _ in order]
            docs = self._store.sorted_by(meta.name, repr(order),
                                         lambda d: tuple(k(d) for k in keys))
            return reversed(docs) if order[0][1] else docs
        return ordered(self._store.all(meta.name), meta, order)

    def _child_candidates(self, meta: DocMeta, query: ListQuery,
                          order: list[tuple[str, bool]]) -> Iterable[Doc]:
        children = self._index(meta)
        parents = _parents(query)
        if parents is not None:
            rows = [r for p in dict.fromkeys(parents) for r in children.by_parent.get(p, [])]
            return ordered(rows, meta, order)
        if order in _BY_MODIFIED:
            return children.by_modified
        if order == _BY_NAME:
            after = _lower_bound(query, "name")
            start = bisect.bisect_left(children.names, after) if after is not None else 0
            return children.by_name[start:]
        return ordered(children.by_modified, meta, order)

    def _index(self, meta: DocMeta) -> _Children:
        """The flattened rows, rebuilt when a parent doctype has changed."""
        parents = self._registry.parents_of(meta.name)
        versions = tuple(self._store.version(p) for p, _ in parents)
        cached = self._children.get(meta.name)
        if cached is not None and cached.versions == versions:
            return cached
        rows = [child_row(row, meta, doc, parent, fieldname, nulls=True)
                for parent, fieldname in parents for doc in self._store.all(parent)
                for row in doc.get(fieldname) or []]
        rows.sort(key=lambda r: (r["modified"], r["parent"], r["idx"]))
        index = _Children(versions, rows)
        index.by_name = sorted(rows, key=lambda r: str(r["name"]))
        index.names = [str(r["name"]) for r in index.by_name]
        for row in rows:
            index.by_parent.setdefault(str(row["parent"]), []).append(row)
        self._children[meta.name] = index
        return index


def _lower_bound(query: ListQuery, fieldname: str) -> str | None:
    """The highest ``>``/``>=`` bound the query sets on one of its doctype's fields."""
    bounds = [str(c.value) for c in query.conditions if c.doctype == query.doctype
              and c.field == fieldname and c.op in (">", ">=")]
    return max(bounds, default=None)


def _parents(query: ListQuery) -> list[str] | None:
    """The parents a child list is restricted to by ``parent =`` or ``parent in``."""
    for cond in query.conditions:
        if cond.field == "parent" and cond.op == "=":
            return [str(cond.value)]
        if cond.field == "parent" and cond.op == "in":
            values = cond.value if isinstance(cond.value, list | tuple) else \
                str(cond.value).split(",")
            return [str(v).strip() for v in values]
    return None
