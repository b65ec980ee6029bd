"""Frappe's ``get_list`` as pure functions: parse the query string, match, order, page.

Semantics follow MariaDB as Frappe drives it: a null reads as ``''`` (``0`` for numbers) in
comparisons, ``like`` is case-insensitive, ``is set`` means neither null nor empty (nor 0),
a filter or field the doctype lacks is a 417 DataError, malformed JSON a 500.
Without ``order_by`` MariaDB returns rows in the order of the index it scans; the recorded
site showed primary-key (name) order, tree order (``lft``) for tree doctypes, and
``(posting_date, name)`` for POS Invoice, and :func:`default_order` says the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tillmesh.lab.erpnext_simulator._clock import parse_time
from tillmesh.lab.erpnext_simulator._const import DEFAULT_PAGE_LENGTH
from tillmesh.lab.erpnext_simulator._errors import DataError, JSONDecodeError, ValidationError
from tillmesh.lab.erpnext_simulator._meta import (
    DATETIME,
    NUMERIC,
    STANDARD_FIELDS,
    TABLE,
    TIME,
    DocMeta,
    Registry,
    cint,
    flt,
)

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "like", "not like", "in", "not in", "is",
             "between")
AGGREGATES = ("count", "sum", "min", "max", "avg")
_NUMERIC_STANDARD = ("docstatus", "idx")
_DATETIME_STANDARD = ("creation", "modified")
_COLUMN = re.compile(r"^\s*(?:(?P<fn>\w+)\(\s*(?P<arg>[^)]*?)\s*\)|(?P<field>.+?))"
                     r"(?:\s+as\s+(?P<alias>\w+))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Condition:
    doctype: str  # the list's doctype, or one of its child tables
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Column:
    field: str
    key: str  # the key of the answer row
    aggregate: str | None = None


@dataclass(frozen=True)
class ListQuery:
    doctype: str
    columns: list[Column]
    conditions: list[Condition]
    or_conditions: list[Condition]
    order: list[tuple[str, bool]] | None  # (field, descending); None: no order_by sent
    start: int
    page_length: int  # 0: every row

    @property
    def aggregated(self) -> bool:
        return any(c.aggregate for c in self.columns)


def parse_list_query(meta: DocMeta, registry: Registry, params: Mapping[str, str], *,
                     v2: bool = False) -> ListQuery:
    fields = _json(params.get("fields"))
    conditions = _conditions(meta, registry, _json(params.get("filters")))
    or_conditions = _conditions(meta, registry, _json(params.get("or_filters")))
    if v2:
        start = cint(params.get("start"))
        length = cint(params.get("limit", DEFAULT_PAGE_LENGTH))
    else:
        start = cint(params.get("limit_start", params.get("start")))
        length = cint(params.get("limit_page_length", params.get("limit",
                                                               DEFAULT_PAGE_LENGTH)))
    order_by = params.get("order_by")
    return ListQuery(doctype=meta.name, columns=_columns(meta, fields),
                     conditions=conditions, or_conditions=or_conditions,
                     order=_order(meta, order_by) if order_by else None,
                     start=max(start, 0), page_length=max(length, 0))


def _json(raw: str | None) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise JSONDecodeError(str(exc)) from exc


def _clean(name: str) -> str:
    """``\\`tabItem\\`.\\`modified\\``` -> ``modified``."""
    name = name.strip().replace("`", "")
    return name.rsplit(".", 1)[-1].strip() if "." in name else name


def _not_permitted(field: str) -> DataError:
    return DataError(f"Field not permitted in query: {field}")


def _columns(meta: DocMeta, fields: Any) -> list[Column]:
    if fields is None:
        return [Column("name", "name")]
    if isinstance(fields, str):
        fields = [fields]
    columns: list[Column] = []
    for raw in fields:
        match = _COLUMN.match(str(raw))
        if match is None:
            raise _not_permitted(str(raw))
        if match["fn"]:
            fn = match["fn"].lower()
            arg = _clean(match["arg"]) or "*"
            if fn not in AGGREGATES or (arg != "*" and not meta.has_field(arg)):
                raise _not_permitted(str(raw))
            columns.append(Column(arg, match["alias"] or str(raw).strip(), fn))
            continue
        field = _clean(match["field"])
        if field == "*":
            columns.extend(Column(f, f) for f in _all_fields(meta))
        elif meta.has_field(field):
            columns.append(Column(field, match["alias"] or field))
        else:
            raise _not_permitted(field)
    return columns


def _all_fields(meta: DocMeta) -> list[str]:
    extra = ("parent", "parentfield", "parenttype") if meta.istable else ()
    return [*STANDARD_FIELDS, *(f.name for f in meta.fields.values() if f.kind != TABLE),
            *extra]


def _conditions(meta: DocMeta, registry: Registry, filters: Any) -> list[Condition]:
    if not filters:
        return []
    if isinstance(filters, dict):
        items = [[k, *v] if isinstance(v, list) and v and str(v[0]).lower() in OPERATORS
                 else [k, "=", v] for k, v in filters.items()]
    elif isinstance(filters, list):
        items = filters if all(isinstance(f, list) for f in filters) else [filters]
    else:
        raise ValidationError(f"Invalid filters: {filters!r}")
    return [_condition(meta, registry, item) for item in items]


def _condition(meta: DocMeta, registry: Registry, item: list[Any]) -> Condition:
    if len(item) == 2:
        doctype, field, op, value = meta.name, item[0], "=", item[1]
    elif len(item) == 3:
        doctype, (field, op, value) = meta.name, item
    elif len(item) >= 4:
        doctype, field, op, value = item[:4]
    else:
        raise ValidationError(f"Invalid filter: {item!r}")
    op = str(op).lower().strip()
    if op == "==":
        op = "="
    if op not in OPERATORS:
        raise ValidationError(f"Operator must be one of {', '.join(OPERATORS)}")
    field = _clean(str(field))
    target = meta if doctype == meta.name else registry.get(str(doctype))
    if target is None or not target.has_field(field) or (
            target is not meta and target.name not in meta.tables.values()):
        raise _not_permitted(field)
    return Condition(str(doctype), field, op, value)


def _order(meta: DocMeta, order_by: str) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for part in order_by.split(","):
        words = part.split()
        if not words:
            continue
        field = _clean(words[0])
        if not meta.has_field(field):
            raise _not_permitted(field)
        order.append((field, len(words) > 1 and words[1].lower() == "desc"))
    return order


def default_order(meta: DocMeta) -> list[tuple[str, bool]]:
    if "lft" in meta.fields:
        return [("lft", False), ("name", False)]
    if meta.name == "POS Invoice":
        return [("posting_date", False), ("name", False)]
    return [("name", False)]


# -- matching -----------------------------------------------------------------------------
def predicate(query: ListQuery, meta: DocMeta, registry: Registry) -> Predicate | None:
    """A function telling whether a document matches; None when every document does."""
    ands = [_matcher(c, meta, registry) for c in query.conditions]
    ors = [_matcher(c, meta, registry) for c in query.or_conditions]
    if not ands and not ors:
        return None

    def match(doc: Doc) -> bool:
        return all(m(doc) for m in ands) and (not ors or any(m(doc) for m in ors))

    return match


def _matcher(cond: Condition, meta: DocMeta, registry: Registry) -> Predicate:
    if cond.doctype == meta.name:
        return _field_test(cond, meta)
    child = registry.child(cond.doctype)
    test = _field_test(cond, child)
    tables = [f for f, dt in meta.tables.items() if dt == cond.doctype]
    return lambda doc: any(test(row) for f in tables for row in doc.get(f) or [])


def _field_test(cond: Condition, meta: DocMeta) -> Predicate:
    field, op = cond.field, cond.op
    spec = meta.fields.get(field)
    kind = spec.kind if spec is not None else (
        "I" if field in _NUMERIC_STANDARD else DATETIME if field in _DATETIME_STANDARD else "X")
    norm = _normalizer(kind)
    default = meta.defaults.get(field)

    def get(doc: Doc) -> Any:
        return norm(doc.get(field, default))

    if op == "is":
        want_set = str(cond.value).lower() == "set"
        return lambda doc: (get(doc) not in ("", 0.0)) == want_set
    if op in ("in", "not in"):
        values = cond.value if isinstance(cond.value, list | tuple) else \
            [v.strip() for v in str(cond.value or "").split(",")]
        wanted = {norm(v) for v in values}
        inside = op == "in"
        return lambda doc: (get(doc) in wanted) == inside
    if op in ("like", "not like"):
        regex = _like(str(cond.value or ""))
        positive = op == "like"
        return lambda doc: bool(regex.match(str(get(doc)))) == positive
    if op == "between":
        low, high = (list(cond.value) + [None, None])[:2]
        lo, hi = norm(low), _end_of_day(norm(high), kind)
        return lambda doc: lo <= get(doc) <= hi
    value = norm(cond.value)
    compare = _COMPARE[op]
    return lambda doc: compare(get(doc), value)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


def _normalizer(kind: str) -> Callable[[Any], Any]:
    if kind in NUMERIC:
        return flt
    if kind == DATETIME:
        return _datetime_text
    if kind == TIME:
        return lambda v: parse_time(str(v)).isoformat() if v not in (None, "") else ""
    return lambda v: "" if v is None else str(v)


def _datetime_text(value: Any) -> str:
    """Datetimes compare as text once padded to ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    text = "" if value is None else str(value)
    if len(text) == 10:
        return text + " 00:00:00.000000"
    if len(text) == 19:
        return text + ".000000"
    return text


def _end_of_day(value: Any, kind: str) -> Any:
    if kind == DATETIME and isinstance(value, str) and value.endswith(" 00:00:00.000000"):
        return value[:10] + " 23:59:59.999999"
    return value


def _like(pattern: str) -> re.Pattern[str]:
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts) + r"\Z", re.IGNORECASE | re.DOTALL)


# -- ordering, paging, projecting -----------------------------------------------------------
def sort_key(meta: DocMeta, field: str) -> Callable[[Doc], Any]:
    """Ascending key of one field; nulls first, as MariaDB sorts them."""
    spec = meta.fields.get(field)
    numeric = (spec is not None and spec.kind in NUMERIC) or field in _NUMERIC_STANDARD
    default = meta.defaults.get(field)
    if numeric:
        return lambda doc: flt(doc.get(field, default))
    return lambda doc: (doc.get(field, default) is not None, str(doc.get(field, default) or ""))


def ordered(docs: Iterable[Doc], meta: DocMeta, order: list[tuple[str, bool]]) -> list[Doc]:
    rows = list(docs)
    for field, descending in reversed(order):
        rows.sort(key=sort_key(meta, field), reverse=descending)
    return rows


def page(rows: Iterable[Doc], match: Predicate | None, start: int, length: int) -> list[Doc]:
    """Rows ``start .. start+length`` of those that match (``length`` 0: all of them)."""
    out: list[Doc] = []
    skipped = 0
    for row in rows:
        if match is not None and not match(row):
            continue
        if skipped < start:
            skipped += 1
            continue
        out.append(row)
        if length and len(out) >= length:
            break
    return out


def project(rows: list[Doc], query: ListQuery, meta: DocMeta) -> list[Doc]:
    """The answer rows: the asked columns, nulls kept (list rows carry no child tables)."""
    defaults = meta.defaults
    if query.aggregated:
        return [{c.key: _aggregate(c, rows, defaults) for c in query.columns}]
    return [{c.key: row.get(c.field, defaults.get(c.field)) for c in query.columns}
            for row in rows]


def _aggregate(column: Column, rows: list[Doc], defaults: Mapping[str, Any]) -> Any:
    if column.aggregate is None:
        return rows[0].get(column.field, defaults.get(column.field)) if rows else None
    if column.aggregate == "count":
        return len(rows)
    values = [flt(r.get(column.field, defaults.get(column.field))) for r in rows]
    if not values:
        return None
    if column.aggregate == "sum":
        return sum(values)
    if column.aggregate == "avg":
        return sum(values) / len(values)
    return min(values) if column.aggregate == "min" else max(values)
