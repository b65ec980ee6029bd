"""The simulated site: Frappe's document life cycle and list API over the store.

Insert, save, submit, cancel and delete run the doctype's controller hooks in Frappe's
order (see ``_controller``) inside a :class:`Txn`; the caller commits. Whitelisted
methods are a table. Not thread-safe: the simulator holds its lock around every call.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from tillmesh.lab.erpnext_simulator._batches import Batch, get_batch_qty
from tillmesh.lab.erpnext_simulator._clock import Clock, stored_time
from tillmesh.lab.erpnext_simulator._const import DEFAULT_PAGE_LENGTH
from tillmesh.lab.erpnext_simulator._controller import BASE, Controller
from tillmesh.lab.erpnext_simulator._coupons import CouponCode
from tillmesh.lab.erpnext_simulator._documents import (
    check_links,
    check_mandatory,
    expand,
    normalize,
    stamp,
)
from tillmesh.lab.erpnext_simulator._errors import (
    DuplicateEntryError,
    FrappeError,
    LinkExistsError,
    NotPermitted,
    UniqueValidationError,
    UpdateAfterSubmitError,
    ValidationError,
)
from tillmesh.lab.erpnext_simulator._lists import Lister
from tillmesh.lab.erpnext_simulator._masters import TREES, CustomField, Item, ItemPrice
from tillmesh.lab.erpnext_simulator._merging import run_consolidation_job
from tillmesh.lab.erpnext_simulator._meta import TIME, V15, DocMeta, Registry, Release, cint
from tillmesh.lab.erpnext_simulator._pos import (
    PosInvoice,
    make_sales_return,
    stock_availability,
)
from tillmesh.lab.erpnext_simulator._pos_settings import PosSettings
from tillmesh.lab.erpnext_simulator._sales_invoice import SalesInvoice
from tillmesh.lab.erpnext_simulator._shift import (
    PosClosingEntry,
    PosOpeningEntry,
    get_invoices,
    get_pos_invoices,
)
from tillmesh.lab.erpnext_simulator._stock import StockEntry
from tillmesh.lab.erpnext_simulator._store import Doc, Store
from tillmesh.lab.erpnext_simulator._txn import Txn

CONTROLLERS: dict[str, Controller] = {
    "POS Invoice": PosInvoice(), "POS Opening Entry": PosOpeningEntry(),
    "POS Closing Entry": PosClosingEntry(), "Stock Entry": StockEntry(), "Item": Item(),
    "Item Price": ItemPrice(), "Custom Field": CustomField(), "Sales Invoice": SalesInvoice(),
    "Coupon Code": CouponCode(), "Batch": Batch(), "POS Settings": PosSettings(),
    **TREES,
}
_POS = "erpnext.accounts.doctype.pos_invoice.pos_invoice."
_CLOSING = "erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry."
_BATCH = "erpnext.stock.doctype.batch.batch."
# Whitelisted methods one release's module has and the other's lacks.
_ONLY_IN_15 = (_CLOSING + "get_pos_invoices",)
_ONLY_IN_16 = (_CLOSING + "get_invoices",)
# Links Frappe does not hold against a delete (ERPNext removes or tolerates these rows).
_IGNORED_ON_DELETE = ("Deleted Document", "Stock Ledger Entry", "Bin")
Method = Callable[["Site", Txn, dict[str, Any]], Any]


class Site:
    def __init__(self, *, clock: Clock, user: str, rng: random.Random,
                 release: Release = V15) -> None:
        self.registry = Registry(release)
        self.store = Store()
        self.clock = clock
        self.user = user
        self.rng = rng
        self._last = datetime.min
        self.lister = Lister(self.store, self.registry)

    def begin(self, host_url: str = "") -> Txn:
        """A unit of work at the next site-local moment (strictly after the previous one,
        so that ``modified`` orders every change); ``host_url``: where the request came
        in, which Frappe's links in messages name."""
        now = self.clock.now()
        self._last = now if now > self._last else self._last + timedelta(microseconds=1)
        txn = Txn(self.store, self.registry, now=self._last, user=self.user, rng=self.rng,
                  host_url=host_url)
        txn.save_and_submit = lambda doctype, body: self.update(
            txn, doctype, self.insert(txn, doctype, {**body, "docstatus": 0})["name"],
            {"docstatus": 1})
        return txn

    def controller(self, doctype: str) -> Controller:
        return CONTROLLERS.get(doctype, BASE)

    # -- documents -----------------------------------------------------------------------
    def insert(self, txn: Txn, doctype: str, body: Mapping[str, Any], *,
               keep_names: bool = True) -> Doc:
        """``keep_names=False``: as a Frappe whose ``set_new_name`` ignores the client's
        ``name`` (all but "Prompt" doctypes draw their own) and renames the child rows."""
        meta = txn.meta(doctype)
        ctrl = self.controller(doctype)
        chosen = str(body.get("__newname") or body.get("name") or "").strip()
        doc = normalize(body, meta, self.registry)
        doc.pop("name", None)
        if not keep_names and meta.naming != "Prompt":
            chosen = ""
            for table in meta.tables:
                for row in doc.get(table) or []:
                    row.pop("name", None)
        if chosen:
            txn.saving.add((doctype, chosen))  # named before Frappe records it as saving
        ctrl.before_links(txn, doc)
        check_links(doc, meta, self.registry, txn.exists)
        _dynamic_defaults(txn, meta, doc)
        doc["name"] = chosen or txn.new_name(meta, doc)
        ctrl.fill(txn, doc, None)
        ctrl.validate(txn, doc, None)
        if not doc.get("docstatus"):
            ctrl.before_save(txn, doc)
        check_mandatory(doc, meta, self.registry)
        if txn.exists(doctype, doc["name"]):
            raise DuplicateEntryError(doctype, doc["name"])
        for field in meta.fields.values():  # after the name, as Frappe's database does
            if field.unique and doc.get(field.name) and txn.find(doctype, field.name,
                                                                 doc[field.name]):
                # Frappe prints the label's message, then raises with MariaDB's words
                # (recorded in tests/lab/recorded/erpnext-15.71-per-shift.jsonl)
                err = UniqueValidationError(
                    f"{field.label or field.name} must be unique",
                    notes=[f"{field.label or field.name} must be unique"],
                    exception=f"('{doctype}', '{doc['name']}', IntegrityError(1062, \"Duplicate"
                              f" entry '{doc[field.name]}' for key '{field.name}'\"))")
                err.raise_message = False
                raise err
        self._save(txn, meta, ctrl, doc, None, chosen_name=bool(chosen))
        return doc

    def update(self, txn: Txn, doctype: str, name: str, body: Mapping[str, Any]) -> Doc:
        meta = txn.meta(doctype)
        ctrl = self.controller(doctype)
        old = txn.require(doctype, name)
        txn.saving.add((doctype, name))
        changes = normalize(body, meta, self.registry)
        changes.pop("name", None)
        status = cint(changes.pop("docstatus", old.get("docstatus")))
        if old.get("docstatus") == 2:
            raise ValidationError("Cannot edit cancelled document")
        if old.get("docstatus") == 1:
            if status == 2:
                return self.cancel(txn, doctype, name)
            for key, value in changes.items():
                if old.get(key) != value:
                    label = meta.fields[key].label or key
                    raise UpdateAfterSubmitError(f"Not allowed to change {label} after "
                                                 "submission")
            return old
        doc = {**copy.deepcopy(old), **changes, "docstatus": status}
        check_links(doc, meta, self.registry, txn.exists)
        ctrl.fill(txn, doc, old)
        ctrl.validate(txn, doc, old)
        if not doc.get("docstatus"):
            ctrl.before_save(txn, doc)
        check_mandatory(doc, meta, self.registry)
        self._save(txn, meta, ctrl, doc, old, chosen_name=False)
        return doc

    def _save(self, txn: Txn, meta: DocMeta, ctrl: Controller, doc: Doc, old: Doc | None, *,
              chosen_name: bool) -> None:
        for field in meta.fields.values():  # MariaDB hands Time columns back as timedelta
            if field.kind == TIME and doc.get(field.name):
                doc[field.name] = stored_time(str(doc[field.name]))
        stamp(doc, user=txn.user, now=txn.now, new_name=txn.hash_name,
              creation=old["creation"] if old else None, owner=old["owner"] if old else None)
        if doc["docstatus"] == 1 and not meta.submittable:
            doc["docstatus"] = 0
        if doc["docstatus"] == 1:
            ctrl.on_submit(txn, doc, chosen_name=chosen_name)
        txn.put(meta.name, doc)

    def prepare(self, txn: Txn, doctype: str, body: Mapping[str, Any], *,
                modified: str | None = None) -> Doc:
        """A document as ERPNext would hold it, without validation (seeds, bulk items,
        test set-up): masters get their server-filled fields, an ``owner`` sent is kept,
        ``modified`` defaults to now. The caller stores it."""
        meta = txn.meta(doctype)
        doc = normalize(body, meta, self.registry)
        doc["name"] = str(body.get("name") or "") or txn.new_name(meta, doc)
        if not meta.submittable:  # a transaction is put as it is
            self.controller(doctype).fill(txn, doc, None)
        old = txn.get(doctype, doc["name"])
        when = modified or txn.now
        stamp(doc, user="Administrator", now=when, new_name=txn.hash_name,
              creation=old["creation"] if old else when,
              owner=body.get("owner") or (old["owner"] if old else "Administrator"))
        return doc

    def cancel(self, txn: Txn, doctype: str, name: str) -> Doc:
        meta = txn.meta(doctype)
        if txn.require(doctype, name).get("docstatus") != 1:
            raise ValidationError("Cannot cancel before submitting. See Transition 0 to 2")
        doc = txn.edit(doctype, name)
        self.controller(doctype).on_cancel(txn, doc)
        doc["docstatus"] = 2
        if "status" in meta.fields:
            doc["status"] = "Cancelled"
        txn.touch(doctype, doc)
        return doc

    def delete(self, txn: Txn, doctype: str, name: str, *, force: bool = False) -> None:
        meta = txn.meta(doctype)
        doc = txn.require(doctype, name)
        if doc.get("docstatus") == 1:
            raise ValidationError(f"{doctype} {name}: Submitted Record cannot be deleted. "
                                  "You must Cancel it first.")
        self.controller(doctype).on_trash(txn, doc)
        if not force:
            self._check_not_linked(txn, doctype, name)
        txn.delete(doctype, name)
        txn.create("Deleted Document", {
            "deleted_name": name, "deleted_doctype": doctype,
            "data": json.dumps(expand(doc, meta, self.registry, nulls=False))})

    def _check_not_linked(self, txn: Txn, doctype: str, name: str) -> None:
        """Frappe's ``check_if_doc_is_linked``: a live document linking here blocks it."""
        for meta in map(self.registry.require, self.registry.names()):
            if meta.istable or meta.name in _IGNORED_ON_DELETE or not self.store.count(
                    meta.name):
                continue
            tables = [(f, self.registry.child(c)) for f, c in meta.tables.items()]
            for doc in txn.all(meta.name):
                if doc.get("docstatus") == 2:
                    continue
                rows = [(meta, doc)] + [(m, r) for f, m in tables for r in doc.get(f) or []]
                if any(link.options == doctype and row.get(link.name) == name
                       for m, row in rows for link in m.links()):
                    raise LinkExistsError(
                        f"Cannot delete or cancel because {doctype} {name} is linked with "
                        f"{meta.name} {doc['name']}")

    def run_method(self, txn: Txn, doctype: str, name: str, method: str) -> Any:
        return self.controller(doctype).run_method(txn, txn.require(doctype, name), method)

    def answer(self, doctype: str, doc: Doc, *, nulls: bool = False) -> Doc:
        return expand(doc, self.registry.require(doctype), self.registry, nulls=nulls)

    def run_job(self, name: str) -> None:
        txn = self.begin()
        try:
            run_consolidation_job(txn, name)
        except FrappeError:
            self.rolled_back(txn)
            return
        txn.commit()

    def rolled_back(self, txn: Txn) -> None:
        """``txn`` failed and is dropped; commit what ERPNext writes after its rollback."""
        if not txn.after_rollback:
            return
        after = self.begin()
        for write in txn.after_rollback:
            write(after)
        after.commit()

    # -- lists ---------------------------------------------------------------------------
    def list_rows(self, doctype: str, params: Mapping[str, str], *,
                  v2: bool = False) -> list[Doc]:
        return self.lister.rows(doctype, params, v2=v2)

    def list_page(self, doctype: str, params: Mapping[str, str]) -> tuple[list[Doc], bool]:
        """Frappe 16's v2 list: a page of ``limit`` rows (20 unless sent, 0 is no row) and
        whether more follow (it reads one row more to know)."""
        limit = cint(params.get("limit", DEFAULT_PAGE_LENGTH))
        rows = self.lister.rows(doctype, {**params, "limit": str(limit + 1)}, v2=True)
        return rows[:limit], len(rows) > limit

    # -- whitelisted methods -------------------------------------------------------------
    def call(self, txn: Txn, method: str, args: dict[str, Any]) -> Any:
        if method in (_ONLY_IN_15 if self.registry.release.major >= 16 else _ONLY_IN_16):
            module, _, attribute = method.rpartition(".")
            raise ValidationError(f"Failed to get method for command {method} with module "
                                  f"'{module}' has no attribute '{attribute}'")
        handler = METHODS.get(method)
        if handler is None:
            raise NotPermitted(f"Function {method} is not whitelisted.")
        return handler(self, txn, args)


def _dynamic_defaults(txn: Txn, meta: DocMeta, doc: Doc) -> None:
    """Defaults Frappe computes when a document is created: Today, Now, {field}."""
    for field in meta.fields.values():
        if field.name in doc or not field.dynamic_default:
            continue
        if field.default == "Today":
            doc[field.name] = txn.today
        elif field.default == "Now":
            doc[field.name] = txn.time if field.kind == TIME else txn.now
        elif field.default.startswith("{") and doc.get(field.default.strip("{}")):
            doc[field.name] = doc[field.default.strip("{}")]


def _versions(release: Release) -> dict[str, dict[str, str]]:
    """``get_versions`` as a site without git checkouts answers it (the branch is
    whatever the bench says; Tillmesh reads only the versions)."""
    return {"frappe": {"title": "Frappe Framework", "description": "Full stack web framework",
                       "branch": f"version-{release.frappe.split('.')[0]}",
                       "version": release.frappe},
            "erpnext": {"title": "ERPNext", "description": "ERP made simple",
                        "branch": f"version-{release.major}", "version": release.erpnext}}


def _single_value(txn: Txn, args: dict[str, Any]) -> Any:
    """``frappe.client.get_single_value``: one field of a Single doctype."""
    doctype = str(args.get("doctype"))
    return txn.meta(doctype).value(txn.get(doctype, doctype) or {}, str(args.get("field")))


def _cancel(site: Site, txn: Txn, args: dict[str, Any]) -> Doc:
    doctype, name = str(args.get("doctype")), str(args.get("name"))
    return site.answer(doctype, site.cancel(txn, doctype, name), nulls=True)


METHODS: dict[str, Method] = {
    _POS + "get_stock_availability": lambda site, txn, a: stock_availability(
        txn, str(a.get("item_code")), str(a.get("warehouse"))),
    _POS + "make_sales_return": lambda site, txn, a: make_sales_return(
        txn, str(a.get("source_name"))),
    _CLOSING + "get_pos_invoices": lambda site, txn, a: get_pos_invoices(txn, a),
    _CLOSING + "get_invoices": lambda site, txn, a: get_invoices(txn, a),
    _BATCH + "get_batch_qty": lambda site, txn, a: get_batch_qty(txn, a),
    "frappe.client.cancel": _cancel,
    "frappe.client.get_single_value": lambda site, txn, a: _single_value(txn, a),
    "frappe.auth.get_logged_user": lambda site, txn, a: txn.user,
    "frappe.utils.change_log.get_versions": lambda site, txn, a: _versions(
        site.registry.release),
}
