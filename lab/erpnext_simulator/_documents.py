"""Documents in three forms: as a client sends them, as the store keeps them, as Frappe
answers them.

Stored documents are sparse: standard fields, the fields that were set, and child rows
holding only their own name, idx and set fields; everything else reads as the doctype's
default. :func:`expand` turns one back into Frappe's full shape (standard fields,
every field, ``doctype``, then child tables whose rows carry ``parent``, ``parentfield``
and ``parenttype``). Frappe's REST answers drop null values; list rows and method answers
keep them. Mandatory and link checks are here too, phrased as Frappe 15 phrases them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tillmesh.lab.erpnext_simulator._errors import LinkValidationError, MandatoryError
from tillmesh.lab.erpnext_simulator._meta import (
    CHILD_FIELDS,
    STANDARD_FIELDS,
    TABLE,
    DocMeta,
    Registry,
    cint,
)

Doc = dict[str, Any]
_RESERVED = frozenset((*STANDARD_FIELDS, *CHILD_FIELDS, "doctype"))  # set by the server


def normalize(body: Mapping[str, Any], meta: DocMeta, registry: Registry) -> Doc:
    """A client's JSON as the store keeps it: unknown keys dropped (as ERPNext silently
    does), values coerced to their field types, child rows likewise (an undefined child
    doctype keeps the keys it was sent)."""
    doc: Doc = {}
    for key, value in body.items():
        if key in meta.tables:
            child = registry.child(meta.tables[key])
            rows = value if isinstance(value, list) else []
            doc[key] = [normalize(row, child, registry) for row in rows if isinstance(row, dict)]
        elif key in meta.fields:
            doc[key] = meta.fields[key].coerce(value)
        elif key == "name" and value not in (None, ""):
            doc["name"] = str(value).strip()
        elif key == "docstatus" and not meta.istable:
            doc["docstatus"] = cint(value)
        elif meta.open and key not in _RESERVED and not key.startswith("__"):
            doc[key] = value
    return doc


def stamp(doc: Doc, *, user: str, now: str, new_name: Callable[[], str],
          creation: str | None = None, owner: str | None = None) -> Doc:
    """Set the standard fields of a document being saved, and name its new child rows."""
    doc["owner"] = owner or user
    doc["creation"] = creation or now
    doc["modified"] = now
    doc["modified_by"] = user
    doc["docstatus"] = int(doc.get("docstatus") or 0)
    doc.setdefault("idx", 0)
    for value in doc.values():
        rows = [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []
        for idx, row in enumerate(rows, 1):
            row["idx"] = idx
            if not row.get("name"):
                row["name"] = new_name()
    return doc


def expand(doc: Mapping[str, Any], meta: DocMeta, registry: Registry, *,
           nulls: bool) -> Doc:
    """The document as Frappe answers it (``nulls=False``: as its REST API does)."""
    out: Doc = {key: doc.get(key) for key in STANDARD_FIELDS}
    defaults = meta.defaults
    for field in meta.fields.values():
        if field.kind != TABLE:
            out[field.name] = doc.get(field.name, defaults[field.name])
    for key, value in doc.items():
        if key not in out and key not in meta.tables:
            out[key] = value
    out["doctype"] = meta.name
    for fieldname, child in meta.tables.items():
        child_meta = registry.child(child)
        out[fieldname] = [child_row(row, child_meta, doc, meta.name, fieldname, nulls=nulls)
                          for row in doc.get(fieldname) or []]
    return out if nulls else _drop_nulls(out)


def child_row(row: Mapping[str, Any], meta: DocMeta, parent: Mapping[str, Any],
              parenttype: str, parentfield: str, *, nulls: bool) -> Doc:
    """A stored child row in Frappe's shape; it shares its parent's standard fields."""
    out: Doc = {"name": row.get("name"), "owner": parent.get("owner"),
                "creation": parent.get("creation"), "modified": parent.get("modified"),
                "modified_by": parent.get("modified_by"),
                "docstatus": parent.get("docstatus", 0), "idx": row.get("idx")}
    defaults = meta.defaults
    for field in meta.fields.values():
        out[field.name] = row.get(field.name, defaults[field.name])
    for key, value in row.items():
        out.setdefault(key, value)
    out.update(parent=parent.get("name"), parentfield=parentfield, parenttype=parenttype,
               doctype=meta.name)
    return out if nulls else _drop_nulls(out)


def _drop_nulls(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if v is not None}


def check_mandatory(doc: Mapping[str, Any], meta: DocMeta, registry: Registry) -> None:
    """Frappe's ``_validate_mandatory``: an empty string, None or empty table is missing
    (a number is never missing: ``0`` has content)."""
    missing: list[tuple[str, str]] = []
    for field in meta.fields.values():
        if not field.reqd:
            continue
        if field.kind == TABLE:
            if not doc.get(field.name):
                missing.append((field.name, f"Error: Data missing in table: {field.label}"))
        elif _empty(meta.value(doc, field.name)):
            missing.append((field.name,
                            f"Error: Value missing for {meta.name}: {field.label}"))
    for fieldname, child in meta.tables.items():
        child_meta = registry.child(child)
        for idx, row in enumerate(doc.get(fieldname) or [], 1):
            for field in child_meta.fields.values():
                if field.reqd and _empty(child_meta.value(row, field.name)):
                    missing.append((field.name, row_missing(child, idx, field.label)))
    if missing:
        raise MandatoryError(
            missing[0][1], notes=[m for _, m in missing],
            exception=f"[{meta.name}, {doc.get('name')}]: {', '.join(f for f, _ in missing)}")


def row_missing(child_doctype: str, idx: Any, label: str) -> str:
    return f"Error: <strong>{child_doctype}</strong> Row #{idx}: Value missing for: {label}"


def _empty(value: Any) -> bool:
    return value is None or value == [] or str(value).strip() == ""


def check_links(doc: Mapping[str, Any], meta: DocMeta, registry: Registry,
                exists: Callable[[str, str], bool]) -> None:
    """Frappe's ``_validate_links``, for links to doctypes this site defines."""
    invalid: list[str] = []

    def check(d: Mapping[str, Any], m: DocMeta, row: int | None) -> None:
        for field in m.links():
            value = d.get(field.name)
            target = registry.get(field.options)
            if not value or target is None or target.single:
                continue
            if not exists(field.options, str(value)):
                where = f"Row #{row}: " if row is not None else ""
                invalid.append(f"{where}{field.label}: {value}")

    check(doc, meta, None)
    for fieldname, child in meta.tables.items():
        child_meta = registry.child(child)
        for idx, row in enumerate(doc.get(fieldname) or [], 1):
            check(row, child_meta, idx)
    if invalid:
        raise LinkValidationError(f"Could not find {', '.join(invalid)}")
