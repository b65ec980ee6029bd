"""``tillmesh erpnext setup``: check that ERPNext is ready for this counter, and prepare it.

Each check is one ``Check`` (ok, or missing with what to do about it). Every request is
harmless: documents are read, lists are asked for one row, create permission is asked
with ``frappe.client.has_permission`` (doctype level, no document). The only writes are
the custom fields Tillmesh needs on the doctypes it creates; a field already there counts
as done, so setup can be run again at any time.

The origin event field is ``unique``: the database itself refuses a second document from
one event (417 UniqueValidationError), whatever the site does with the names Tillmesh
sends (``erpnext/NOTES.md``). A field made by an older setup is made unique here; Frappe
then adds the index with an ALTER TABLE, and refuses while two documents share a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from tillmesh.node.erpnext._mapping import SPECS
from tillmesh.node.erpnext._rest import Doc, ErpNextClient
from tillmesh.node.erpnext._site_release import (
    SALES_INVOICE,
    Capabilities,
    capabilities,
    must_allow,
    sends,
    unknown,
)
from tillmesh.node.erpnext._text import printable
from tillmesh.node.errors import (
    ErpNextAuthError,
    ErpNextDuplicate,
    ErpNextError,
    ErpNextNotFound,
    ErpNextUnreachable,
    ErpNextValidation,
)

ORIGIN_FIELD = "tillmesh_origin_event"  # the event a document comes from: unique
CASHIER_FIELD = "tillmesh_cashier"  # who sold or ran the shift (ERPNext's user is ours)
SHIFT_FIELD = "tillmesh_shift"  # per-shift delivery: the shift a Sales Invoice carries


class CustomField(NamedTuple):
    doctype: str
    fieldname: str
    label: str
    after: str  # the field it follows on the form
    unique: bool


# What the forwarder fills: the origin event on every doctype it creates, the cashier on
# the shift's documents and sales.
CUSTOM_FIELDS: tuple[CustomField, ...] = tuple(
    field for dt, first in (("POS Invoice", "pos_profile"), ("POS Opening Entry", "user"),
                            ("POS Closing Entry", "user"), ("Customer", "customer_name"))
    for field in (CustomField(dt, ORIGIN_FIELD, "Tillmesh Origin Event", first, True),
                  CustomField(dt, CASHIER_FIELD, "Tillmesh Cashier", ORIGIN_FIELD, False))
    if dt != "Customer" or field.fieldname == ORIGIN_FIELD
)
# Per-shift delivery's consolidated Sales Invoices also say which shift they carry (the
# pull reads it: their stock is in Bin). Made only when that delivery is chosen: adding a
# column to a big site's Sales Invoice table is an ALTER TABLE of its largest table.
SHIFT_CUSTOM_FIELDS: tuple[CustomField, ...] = (
    CustomField("Sales Invoice", ORIGIN_FIELD, "Tillmesh Origin Event", "pos_profile", True),
    CustomField("Sales Invoice", CASHIER_FIELD, "Tillmesh Cashier", ORIGIN_FIELD, False),
    CustomField("Sales Invoice", SHIFT_FIELD, "Tillmesh Shift", CASHIER_FIELD, False),
)
# What the forwarder reads and creates, and what the pull reads.
WRITTEN = ("POS Invoice", "POS Opening Entry", "POS Closing Entry", "Customer")
READ = ("POS Profile", *(s.doctype for s in SPECS), "Bin", "Deleted Document")
_ROLE_HINT = "give the API user a role that may (Role Permission Manager)"


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str  # ok: what was found; missing: what is wrong and how to fix it

    def line(self) -> str:  # for a terminal; the details quote ERPNext's names
        return printable(f"{'ok' if self.ok else 'MISSING':<8} {self.what}: {self.detail}")


def _found(client: ErpNextClient, doctype: str, name: object) -> Doc | None:
    return client.get_doc(doctype, str(name), missing_ok=True) if name else None


def _connection(client: ErpNextClient) -> Check:
    what = f"ERPNext at {client.url}"
    try:
        user = client.call_method("frappe.auth.get_logged_user")
    except ErpNextAuthError as exc:
        return Check(what, False, f"key or secret refused ({exc.message}): generate them at"
                     " User > Settings > API Access, then pass --key and --secret")
    except ErpNextError as exc:
        return Check(what, False, f"{exc.message}: check --url, the network and --verify")
    return Check(what, True, f"reachable, API user {user}")


def _profile_checks(client: ErpNextClient, name: str) -> Iterator[Check]:
    what = f"POS Profile {name}"
    try:
        profile = client.get_doc("POS Profile", name, missing_ok=True)
    except ErpNextAuthError as exc:
        yield Check(what, False, f"{exc.message}: {_ROLE_HINT} read POS Profile")
        return
    if profile is None:
        yield Check(what, False, "not found: create it in ERPNext (Retail > POS Profile)"
                    " or pass --pos-profile NAME")
        return
    if profile.get("disabled"):
        yield Check(what, False, "disabled: enable it in ERPNext")
        return
    yield Check(what, True, "exists and is enabled")
    company = profile.get("company")
    yield _linked(client, "company", "Company", company)
    yield _linked(client, "warehouse", "Warehouse", profile.get("warehouse"))
    yield _price_list(client, profile.get("selling_price_list"))
    yield from _modes(client, profile, company)
    yield _customer(client, profile.get("customer"))


def _linked(client: ErpNextClient, what: str, doctype: str, name: object) -> Check:
    if _found(client, doctype, name) is None:
        return Check(what, False, f"{doctype} {name!r} not found: set the profile's {what}")
    return Check(what, True, str(name))


def _price_list(client: ErpNextClient, name: object) -> Check:
    doc = _found(client, "Price List", name)
    if doc is None:
        return Check("selling price list", False, f"{name!r} not found: set the profile's"
                     " Selling Price List")
    if not doc.get("enabled", 1) or not doc.get("selling"):
        return Check("selling price list", False, f"{name} is disabled or not for selling")
    return Check("selling price list", True, f"{name} ({doc.get('currency') or '?'})")


def _modes(client: ErpNextClient, profile: Doc, company: object) -> Iterator[Check]:
    rows = profile.get("payments") or []
    if not rows:
        yield Check("modes of payment", False, "the profile has none: add Cash at least")
    for row in rows:
        mode = row.get("mode_of_payment") if isinstance(row, dict) else None
        what = f"mode of payment {mode}"
        doc = _found(client, "Mode of Payment", mode)
        if doc is None:
            yield Check(what, False, "not found in ERPNext")
            continue
        account = next((a.get("default_account") for a in doc.get("accounts") or []
                        if isinstance(a, dict) and a.get("company") == company), None)
        if not doc.get("enabled", 1):
            yield Check(what, False, "disabled: enable it")
        elif not account:
            yield Check(what, False, f"no default account for {company}: add one under"
                        f" Mode of Payment {mode} > Accounts")
        else:
            yield Check(what, True, f"account {account}")


def _customer(client: ErpNextClient, name: object) -> Check:
    if not name:
        return Check("default customer", False, "the profile names none: set Customer"
                     " (e.g. Walk-in Customer) in the POS Profile")
    doc = _found(client, "Customer", name)
    if doc is None or doc.get("disabled"):
        return Check("default customer", False, f"{name} not found or disabled")
    return Check("default customer", True, str(name))


def _permissions(client: ErpNextClient, written: tuple[str, ...]) -> Iterator[Check]:
    for doctype in written:
        read, create = _may_read(client, doctype), _may_create(client, doctype)
        missing = [p for p, ok in (("read", read), ("create", create)) if ok is False]
        detail = f"may not {' or '.join(missing)}: {_ROLE_HINT}" if missing else \
            "read and create" if create else "read (create could not be checked here)"
        yield Check(f"permission on {doctype}", not missing, detail)
    unread = [d for d in READ if not _may_read(client, d)]
    yield Check("reading master data", not unread,
                f"may not read {', '.join(unread)}: {_ROLE_HINT}" if unread
                else f"{len(READ)} doctypes readable")


def _may_read(client: ErpNextClient, doctype: str) -> bool:
    try:
        client.get_list(doctype, page_length=1)
    except ErpNextAuthError:
        return False
    return True


def _may_create(client: ErpNextClient, doctype: str) -> bool | None:
    """Doctype-level create permission; None when the site does not say (Frappe answers
    ``has_permission`` with a 200 either way, so a refusal is of the method itself)."""
    try:
        answer = client.call_method("frappe.client.has_permission",
                                    {"doctype": doctype, "docname": "", "perm_type": "create"})
    except (ErpNextAuthError, ErpNextNotFound):
        return None
    return bool(isinstance(answer, dict) and answer.get("has_permission"))


def _api(client: ErpNextClient) -> Check:
    if client.api_v2():
        return Check("API v2", True, "present: documents are created under Tillmesh's names")
    return Check("API v2", True, "absent: documents go through /api/resource; one stored"
                 " under a name of ERPNext's own is held back as an exception")


def _release_checks(client: ErpNextClient, *, per_shift: bool,
                    found: list[Capabilities]) -> Iterator[Check]:
    """Which ERPNext the site runs, in one line each: what this store's counters will
    send it, and what it must allow (``_site_release``)."""
    try:
        release = client.release()
    except (ErpNextAuthError, ErpNextNotFound) as exc:
        yield Check("ERPNext release", False, f"{exc.message}: {_ROLE_HINT} call"
                    " frappe.utils.change_log.get_versions and read POS Settings")
        return
    caps = capabilities(release)
    found.append(caps)
    yield Check("ERPNext release", True, f"{release}" + (
        f" ({note})" if (note := unknown(release)) else ""))
    yield Check("the counters send", True, sends(caps, per_shift=per_shift))
    yield Check("the site must allow", True, must_allow(caps, per_shift=per_shift))
    settings = _stock_settings(client)
    if per_shift or caps.stock_checked_at_submit:
        yield _negative_stock(settings)
    if caps.batches_need_enabling:
        yield _batches(client, settings)


def _stock_settings(client: ErpNextClient) -> Doc | None:
    """Stock Settings, or None where the API user may not read them."""
    try:
        return client.get_doc("Stock Settings", "Stock Settings", missing_ok=True) or {}
    except ErpNextAuthError:
        return None


def _batches(client: ErpNextClient, settings: Doc | None) -> Check:
    """ERPNext 16 books no batch or serial number, so refuses every sale and return of
    such an item, unless Stock Settings allow them (``validate_allow_to_set_serial_batch``,
    seen on 16.12 in the store day)."""
    what = "batches and serial numbers"
    if settings is not None and settings.get("enable_serial_and_batch_no_for_item"):
        return Check(what, True, "enabled in Stock Settings")
    tracked = any(client.get_list("Item", filters=[[flag, "=", 1], ["disabled", "=", 0]],
                                  page_length=1) for flag in ("has_batch_no", "has_serial_no"))
    if not tracked:
        return Check(what, True, "no item tracks them")
    return Check(what, False, "items track them, and ERPNext refuses every sale of one"
                 " unless Stock Settings > Enable Serial and Batch No for Item is ticked:"
                 " tick it" + ("" if settings is not None else " (may not read Stock"
                               " Settings: check it by hand)"))


def _negative_stock(settings: Doc | None) -> Check:
    """ERPNext books the stock of these invoices when they arrive, and refuses one that
    would take it below zero: a sale made offline beyond what ERPNext knew waits then."""
    if settings is None:
        return Check("negative stock", True, "not known (may not read Stock Settings): a sale"
                     " beyond ERPNext's stock waits in the exceptions list until it has it")
    if settings.get("allow_negative_stock"):
        return Check("negative stock", True, "allowed: a sale beyond ERPNext's stock is booked")
    return Check("negative stock", True, "not allowed (Stock Settings > Allow Negative"
                 " Stock): a sale beyond ERPNext's stock waits in the exceptions list until"
                 " ERPNext has the stock, then a supervisor retries it")


def _custom_fields(client: ErpNextClient, wanted: tuple[CustomField, ...]
                   ) -> Iterator[Check]:
    for field in wanted:
        what = f"custom field {field.doctype}.{field.fieldname}"
        kind = "a unique Data field" if field.unique else "a Data field"
        try:
            found = _custom_field(client, field)
            if found and field.unique and not found[0].get("unique"):
                yield _make_unique(client, what, str(found[0]["name"]))
                continue
            if found:
                yield Check(what, True, "already there")
                continue
            client.insert("Custom Field", {
                "dt": field.doctype, "fieldname": field.fieldname, "label": field.label,
                "fieldtype": "Data", "insert_after": field.after, "no_copy": 1,
                "unique": int(field.unique)})
        except ErpNextDuplicate:
            yield Check(what, True, "already there")
        except ErpNextValidation as exc:
            # Another counter's setup created it a moment ago ("already exists"): look again
            yield (Check(what, True, "already there") if _custom_field(client, field) else
                   Check(what, False, f"{exc.message}: run setup once with a System"
                         f" Manager's key, or add {kind} {field.fieldname!r} to"
                         f" {field.doctype} (Customize Form)"))
        except (ErpNextAuthError, ErpNextNotFound) as exc:
            yield Check(what, False, f"{exc.message}: run setup once with a System Manager's"
                        f" key, or add {kind} {field.fieldname!r} to {field.doctype}"
                        " (Customize Form)")
        else:
            yield Check(what, True, f"created{', unique' if field.unique else ''}")


def _custom_field(client: ErpNextClient, field: CustomField) -> list[dict[str, Any]]:
    return client.get_list("Custom Field", fields=["name", "unique"], filters=[
        ["dt", "=", field.doctype], ["fieldname", "=", field.fieldname]])


def _make_unique(client: ErpNextClient, what: str, name: str) -> Check:
    try:
        client.update("Custom Field", name, {"unique": 1})
    except ErpNextValidation as exc:  # two documents share a value: a person must look
        return Check(what, False, f"{exc.message}: two documents share an origin event"
                     " (one is a second copy): cancel and delete it, then run setup again")
    return Check(what, True, "made unique")


def check_all(client: ErpNextClient, pos_profile: str,
              report: Callable[[Check], None], *, per_shift: bool = False) -> list[Check]:
    """Run every check, reporting each as it completes; stops after the first if ERPNext
    cannot be reached or refuses the key (nothing else could be checked). ``per_shift``:
    the store delivers a Sales Invoice per shift, which needs that doctype too."""
    checks: list[Check] = []
    found: list[Capabilities] = []  # the site's, once its release is read

    def add(check: Check) -> None:
        checks.append(check)
        report(check)

    def writes_sales_invoices() -> bool:
        return per_shift or any(caps.sale_doctype == SALES_INVOICE for caps in found)

    add(_connection(client))
    if checks[0].ok:
        add(_api(client))
        for step in (lambda: _release_checks(client, per_shift=per_shift, found=found),
                     lambda: _profile_checks(client, pos_profile),
                     lambda: _permissions(client, (*WRITTEN, SALES_INVOICE)
                                          if writes_sales_invoices() else WRITTEN),
                     lambda: _custom_fields(client, _wanted(
                         per_shift=per_shift, sales_invoices=writes_sales_invoices()))):
            for check in step():
                add(check)
    return checks


def _wanted(*, per_shift: bool, sales_invoices: bool) -> tuple[CustomField, ...]:
    """The custom fields a store's delivery fills: per shift the shift's too (its Sales
    Invoices name it), per sale as Sales Invoices the origin and cashier on those."""
    if per_shift:
        return (*CUSTOM_FIELDS, *SHIFT_CUSTOM_FIELDS)
    if sales_invoices:
        return (*CUSTOM_FIELDS, *(f for f in SHIFT_CUSTOM_FIELDS if f.fieldname != SHIFT_FIELD))
    return CUSTOM_FIELDS


def setup(client: ErpNextClient, pos_profile: str, report: Callable[[Check], None], *,
          per_shift: bool = False) -> bool:
    """Every check, each reported as it completes; True when nothing is missing."""
    try:
        checks = check_all(client, pos_profile, report, per_shift=per_shift)
    except ErpNextError as exc:  # ERPNext went away or failed in the middle
        kind = "unreachable" if isinstance(exc, ErpNextUnreachable) else "failed"
        report(Check("ERPNext", False, f"{kind} during setup: {exc.message}"))
        return False
    return all(c.ok for c in checks)
