"""How ERPNext names a new document when the client does not choose the name.

:func:`name_rule` is pure: it says whether the name is fixed by the document's fields,
drawn from a naming series (``ACC-PSINV-.YYYY.-`` -> ``ACC-PSINV-2026-00001``) or random
(Frappe's 10-character hash names, time-prefixed like ``ud0tdkl7bh``). The engine
allocates series numbers only when the document is committed, as a failed insert in
Frappe rolls its series increment back.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tillmesh.lab.erpnext_simulator._const import HASH_NAME_LENGTH, SERIES_DIGITS
from tillmesh.lab.erpnext_simulator._errors import ValidationError
from tillmesh.lab.erpnext_simulator._meta import DocMeta

_HASH_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # base32hex, as Frappe's hash names
_TIME_CHARS = 3  # leading characters taken from the clock, so names sort roughly by time
_TEMPLATE_DOCTYPES = ("Item Tax Template", "Sales Taxes and Charges Template")


@dataclass(frozen=True)
class Fixed:
    name: str
    note: str = ""  # what ERPNext prints about the name it chose


@dataclass(frozen=True)
class Series:
    prefix: str


@dataclass(frozen=True)
class Hash:
    pass


NameRule = Fixed | Series | Hash


def series_prefix(pattern: str, now: datetime) -> str:
    """``ACC-PSINV-.YYYY.-`` or ``POS-OPE-.YYYY.-.#####`` -> ``ACC-PSINV-2026-``."""
    parts = {"YYYY": now.strftime("%Y"), "YY": now.strftime("%y"), "MM": now.strftime("%m"),
             "DD": now.strftime("%d")}
    return "".join(parts.get(p, p) for p in pattern.split(".") if not p.startswith("#"))


def series_name(prefix: str, number: int) -> str:
    return f"{prefix}{number:0{SERIES_DIGITS}d}"


def hash_name(rng: random.Random, now: datetime) -> str:
    tick = int(now.timestamp() * 10)  # tenths of a second
    head = ""
    for _ in range(_TIME_CHARS):
        head = _HASH_ALPHABET[tick % 32] + head
        tick //= 32
    tail = "".join(rng.choices(_HASH_ALPHABET, k=HASH_NAME_LENGTH - _TIME_CHARS))
    return head + tail


def name_rule(meta: DocMeta, doc: Mapping[str, Any], abbr: Callable[[str], str],
              exists: Callable[[str], bool], now: datetime) -> NameRule:
    """How a new ``meta.name`` document without a chosen name gets its name."""
    rule = meta.naming
    if meta.name == "Customer":  # ERPNext's default "Customer Naming By: Customer Name"
        wanted = _required(doc, "customer_name", "Customer Name")
        name = _unique(wanted, exists)
        return Fixed(name, "" if name == wanted else
                     f"Changed customer name to '{name}' as '{wanted}' already exists.")
    if meta.name in _TEMPLATE_DOCTYPES:
        return Fixed(f"{_required(doc, 'title', 'Title')} - {abbr(doc.get('company') or '')}")
    if rule == "hash":
        return Hash()
    if rule == "single":
        return Fixed(meta.name)
    if rule == "Prompt":
        raise ValidationError("Name not set via prompt")
    if rule.startswith("field:"):
        fieldname = rule[len("field:"):]
        label = meta.fields[fieldname].label or fieldname
        return Fixed(_required(doc, fieldname, label))
    if rule.startswith("series:"):
        return Series(series_prefix(doc.get("naming_series") or rule[len("series:"):], now))
    if "." in rule:
        return Series(series_prefix(rule, now))
    abbreviated = {"account": ("account_name", "Account Name"),
                   "cost_center": ("cost_center_name", "Cost Center Name"),
                   "warehouse": ("warehouse_name", "Warehouse Name")}
    if rule in abbreviated:
        fieldname, label = abbreviated[rule]
        base = _required(doc, fieldname, label)
        if rule == "account" and doc.get("account_number"):
            base = f"{doc['account_number']} - {base}"
        return Fixed(f"{base} - {abbr(doc.get('company') or '')}")
    if rule == "custom_field":
        return Fixed(f"{doc.get('dt')}-{doc.get('fieldname')}")
    raise AssertionError(f"unknown naming rule {rule!r} of {meta.name}")


def _required(doc: Mapping[str, Any], fieldname: str, label: str) -> str:
    value = str(doc.get(fieldname) or "").strip()
    if not value:
        raise ValidationError(f"{label} is required")
    return value


def _unique(name: str, exists: Callable[[str], bool]) -> str:
    """ERPNext appends " - 1", " - 2" … to a customer name that is taken."""
    if not exists(name):
        return name
    count = 1
    while exists(f"{name} - {count}"):
        count += 1
    return f"{name} - {count}"
