"""Doctype metadata: which fields a doctype has, their types, defaults and rules.

Built from the compact specs in ``_doctypes_v15`` (ERPNext's own definitions) and
``_doctypes_site`` (the rest). A :class:`Registry` belongs to one simulator, because
custom fields created through the REST API change its doctypes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tillmesh.lab.erpnext_simulator._doctypes_site import SITE_DOCTYPES
from tillmesh.lab.erpnext_simulator._doctypes_v15 import V15_DOCTYPES
from tillmesh.lab.erpnext_simulator._doctypes_v16 import V16_CHANGES, V16_DOCTYPES
from tillmesh.lab.erpnext_simulator._errors import DoesNotExistError

LINK, TABLE, CHECK, INT, FLOAT, DATE, TIME, DATETIME, SELECT, OTHER = "LTCIFDMZSX"
NUMERIC = (CHECK, INT, FLOAT)
# Frappe field types a Custom Field may name, mapped to the kinds above.
FIELDTYPE_KINDS = {"Link": LINK, "Table": TABLE, "Check": CHECK, "Int": INT, "Float": FLOAT,
                   "Currency": FLOAT, "Percent": FLOAT, "Date": DATE, "Time": TIME,
                   "Datetime": DATETIME, "Select": SELECT}
STANDARD_FIELDS = ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx")
CHILD_FIELDS = ("parent", "parentfield", "parenttype")
DYNAMIC_DEFAULTS = ("Today", "Now")  # filled at insert time, never by a read


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str
    options: str = ""
    label: str = ""
    default: str = ""
    reqd: bool = False
    unique: bool = False  # a Custom Field's "unique": the database refuses a second value

    def coerce(self, value: Any) -> Any:
        """A value as Frappe stores it: Check and Int as int, Float kinds as float (their
        columns are NOT NULL DEFAULT 0, so an empty number reads back as zero)."""
        if self.kind in (CHECK, INT):
            return cint(value)
        if self.kind == FLOAT:
            return flt(value)
        return value

    @property
    def read_default(self) -> Any:
        """The value a stored document has when the field was never set."""
        if self.default and not self.dynamic_default:
            return self.coerce(self.default)
        if self.kind in (CHECK, INT):
            return 0
        if self.kind == SELECT:  # the first option, here an empty one
            return ""
        return 0.0 if self.kind == FLOAT else None

    @property
    def dynamic_default(self) -> bool:
        return (self.default in DYNAMIC_DEFAULTS or self.default.startswith(":")
                or self.default.startswith("{"))


@dataclass(frozen=True)
class DocMeta:
    name: str
    fields: Mapping[str, Field]
    naming: str = "hash"
    sort_field: str = "modified"
    sort_order: str = "desc"
    istable: bool = False
    submittable: bool = False
    single: bool = False
    open: bool = False  # no definition known: keep whatever keys a client sends
    tables: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # read defaults, by field

    def has_field(self, name: str) -> bool:
        return (self.open or name in self.fields or name in STANDARD_FIELDS
                or (self.istable and name in CHILD_FIELDS))

    def value(self, doc: Mapping[str, Any], name: str) -> Any:
        """A field of a stored (sparse) document, its read default when never set."""
        return doc.get(name, self.defaults.get(name))

    def links(self) -> Iterator[Field]:
        return (f for f in self.fields.values() if f.kind == LINK)


def cint(value: Any) -> int:
    """Frappe's cint: anything to an int, 0 when it is not a number."""
    try:
        return int(float(value or 0))
    except (TypeError, ValueError):
        return 0


def flt(value: Any) -> float:
    """Frappe's flt: anything to a float, 0.0 when it is not a number."""
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _field(token: str) -> Field:
    parts = [p.replace("~", " ") for p in token.split("|")] + ["", "", ""]
    name, code, options, label, default = parts[:5]
    return Field(name=name, kind=code[0], options=options, label=label, default=default,
                 reqd=code.endswith("!"))


def parse_spec(doctype: str, header: str, body: str) -> DocMeta:
    flags = header.split()
    opts = dict(f.split("=", 1) for f in flags if "=" in f)
    return with_fields(DocMeta(
        name=doctype, fields={}, naming=opts.get("naming", "hash"),
        sort_field=opts.get("sort", "modified"), sort_order=opts.get("order", "desc"),
        istable="table" in flags, submittable="submittable" in flags,
        single="single" in flags), [_field(token) for token in body.split()])


def with_fields(meta: DocMeta, new: list[Field], gone: tuple[str, ...] = ()) -> DocMeta:
    """``meta`` with ``new`` fields added (or replaced) and ``gone`` ones dropped, derived
    mappings rebuilt."""
    fields = {name: f for name, f in {**meta.fields, **{f.name: f for f in new}}.items()
              if name not in gone}
    return replace(meta, fields=fields,
                   tables={f.name: f.options for f in fields.values() if f.kind == TABLE},
                   defaults={f.name: f.read_default for f in fields.values()})


_BUILTIN = {name: parse_spec(name, *spec) for name, spec in {**V15_DOCTYPES,
                                                            **SITE_DOCTYPES}.items()}
_V16 = {**_BUILTIN,
        **{name: with_fields(_BUILTIN[name], [_field(t) for t in added.split()], gone)
           for name, (gone, added) in V16_CHANGES.items()},
        **{name: parse_spec(name, *spec) for name, spec in V16_DOCTYPES.items()}}


@dataclass(frozen=True)
class Release:
    """The ERPNext and Frappe a simulated site runs, and the POS invoice mode it starts in
    (POS Settings' ``invoice_type``, ERPNext 16 only; the site may switch it)."""

    frappe: str = "15.72.4"
    erpnext: str = "15.71.1"
    invoice_type: str = "POS Invoice"

    @property
    def major(self) -> int:
        return int(self.erpnext.split(".")[0])

    @property
    def frappe_major(self) -> int:
        return int(self.frappe.split(".")[0])


V15 = Release()
V16 = Release(frappe="16.13.0", erpnext="16.12.0", invoice_type="Sales Invoice")


class Registry:
    """The doctypes of one simulated site, as its release defines them."""

    def __init__(self, release: Release = V15) -> None:
        self.release = release
        self._metas: dict[str, DocMeta] = dict(_BUILTIN if release.major < 16 else _V16)

    def get(self, doctype: str) -> DocMeta | None:
        return self._metas.get(doctype)

    def require(self, doctype: str) -> DocMeta:
        meta = self._metas.get(doctype)
        if meta is None:
            raise DoesNotExistError(f"DocType {doctype} not found")
        return meta

    def names(self) -> list[str]:
        return list(self._metas)

    def child(self, doctype: str) -> DocMeta:
        """A child table's meta; an undefined one keeps rows as sent."""
        known = self._metas.get(doctype)
        return known or DocMeta(name=doctype, fields={}, istable=True, open=True)

    def parents_of(self, child: str) -> list[tuple[str, str]]:
        """(parent doctype, table field) pairs whose rows are of doctype ``child``."""
        return [(m.name, fieldname) for m in self._metas.values()
                for fieldname, options in m.tables.items() if options == child]

    def add_field(self, doctype: str, new: Field) -> None:
        self._metas[doctype] = with_fields(self._metas[doctype], [new])
