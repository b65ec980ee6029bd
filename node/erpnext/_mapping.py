"""What is pulled from ERPNext and how its rows become Tillmesh events. Pure: no I/O.

A ``Spec`` names a doctype, the fields kept (the catalog, the selling context and the
forwarder need these; ``*`` would carry ~90 Item fields into every event) and its child
tables. Child rows are read in bulk per child doctype and attached to their parents by
``attach``; a child row saved after its parent was listed marks the parent stale, to be
read again whole. Each document becomes a ``master.upserted`` body exactly when it is
newer than what the store holds; a ``Deleted Document`` row becomes a ``master.deleted``
body for a document the store holds; ``Bin`` rows become ``stock.base`` bodies for the
items whose quantity (or base watermark) changed.

Rows are checked here: a row without a usable name or ``modified`` raises ErpNextError,
which the pull logs before it goes on with the other rows. Numbers arrive as Decimal
(``_client`` reads JSON fractions so) and travel in event bodies as strings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tillmesh.node.domain.const import MAX_NAME_CHARS
from tillmesh.node.erpnext._paging import normalise_modified
from tillmesh.node.erpnext._text import printable
from tillmesh.node.erpnext.const import BIN_ITEMS_PER_EVENT
from tillmesh.node.errors import ErpNextError
from tillmesh.node.projections.ledger import nano
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.projections.stock import base_body
from tillmesh.node.projections.stock_keys import TRACKED, batch_key, serial_key

Doc = dict[str, Any]
Held = tuple[str, bool]  # (modified, deleted) of the winning document in the store
HeldStock = tuple[int, frozenset[str]]  # (qty in nano units, shifts the base includes)


@dataclass(frozen=True)
class Child:
    field: str  # the parent's table field, e.g. "barcodes"
    doctype: str  # e.g. "Item Barcode"
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    doctype: str
    fields: tuple[str, ...]
    children: tuple[Child, ...] = ()
    # (field of this doctype, field of the POS Profile): only rows of the profile's
    # company or price list are pulled; the watermark is kept per such scope.
    scoped: tuple[str, str] | None = None

    def filters(self, profile: Mapping[str, Any]) -> list[list[Any]]:
        if self.scoped is None:
            return []
        return [[self.scoped[0], "=", profile.get(self.scoped[1]) or ""]]

    def scope(self, profile: Mapping[str, Any]) -> str:
        """The watermark's key: the doctype, and the company or price list it is for."""
        if self.scoped is None:
            return self.doctype
        return f"{self.doctype}@{profile.get(self.scoped[1]) or ''}"


_TAX_ROW = ("charge_type", "row_id", "account_head", "description", "rate",
            "included_in_print_rate", "cost_center", "tax_amount")

# Every field a counter prices with, and those that tell it a rule is beyond it.
_PRICING_RULE = (
    "title", "disable", "apply_on", "price_or_product_discount", "selling", "buying",
    "rate_or_discount", "rate", "discount_percentage", "discount_amount",
    "apply_discount_on_rate", "apply_multiple_pricing_rules", "priority", "has_priority",
    "min_qty", "max_qty", "min_amt", "max_amt", "valid_from", "valid_upto", "company",
    "customer", "customer_group", "territory", "warehouse", "for_price_list", "currency",
    "margin_type", "margin_rate_or_amount", "coupon_code_based", "validate_applied_rule",
    "mixed_conditions", "is_cumulative", "apply_rule_on_other", "condition", "campaign",
    "sales_partner", "supplier", "supplier_group", "applicable_for", "same_item",
    "free_item", "free_qty", "free_item_uom", "free_item_rate", "is_recursive",
    "recurse_for", "apply_recursion_over", "round_free_qty", "dont_enforce_free_item_qty",
    "promotional_scheme", "apply_discount_on")

# In dependency order: a counter that has the Items already has their UOMs and groups.
SPECS: tuple[Spec, ...] = (
    Spec("UOM", ("uom_name", "enabled", "must_be_whole_number")),
    Spec("Item Group", ("item_group_name", "is_group", "parent_item_group")),
    Spec("Mode of Payment", ("mode_of_payment", "type", "enabled"), (
        Child("accounts", "Mode of Payment Account", ("company", "default_account")),)),
    Spec("Item Tax Template", ("title", "company", "disabled"), (
        Child("taxes", "Item Tax Template Detail", ("tax_type", "tax_rate")),),
        scoped=("company", "company")),
    Spec("Sales Taxes and Charges Template",
         ("title", "company", "is_default", "disabled", "tax_category"),
         (Child("taxes", "Sales Taxes and Charges", _TAX_ROW),), scoped=("company", "company")),
    Spec("Customer Group", ("customer_group_name", "is_group", "parent_customer_group")),
    Spec("Territory", ("territory_name", "is_group", "parent_territory")),
    Spec("Loyalty Program", ("loyalty_program_name", "loyalty_program_type", "from_date",
                             "to_date", "customer_group", "customer_territory", "auto_opt_in",
                             "conversion_factor", "expiry_duration", "expense_account",
                             "cost_center", "company"), (
        Child("collection_rules", "Loyalty Program Collection",
              ("tier_name", "min_spent", "collection_factor")),), scoped=("company", "company")),
    Spec("Customer", ("customer_name", "customer_type", "customer_group", "territory",
                      "mobile_no", "email_id", "tax_id", "default_price_list", "disabled",
                      "loyalty_program", "loyalty_program_tier")),
    # every customer's points (their balance at the till), as ERPNext entered them
    Spec("Loyalty Point Entry", ("loyalty_program", "loyalty_program_tier", "customer",
                                 "redeem_against", "loyalty_points", "purchase_amount",
                                 "expiry_date", "posting_date", "company", "invoice_type",
                                 "invoice"), scoped=("company", "company")),
    Spec("Item", ("item_code", "item_name", "item_group", "stock_uom", "disabled",
                  "is_stock_item", "is_sales_item", "has_variants", "variant_of",
                  "has_batch_no", "has_serial_no", "brand", "max_discount"), (
        Child("barcodes", "Item Barcode", ("barcode", "barcode_type", "uom")),
        Child("uoms", "UOM Conversion Detail", ("uom", "conversion_factor")),
        Child("taxes", "Item Tax", ("item_tax_template", "tax_category", "valid_from",
                                    "minimum_net_rate", "maximum_net_rate")))),
    # batches (their expiry) and serial numbers of the items sold by them; what the
    # warehouse holds of each is read with Bin (``Puller._bins``)
    Spec("Batch", ("batch_id", "item", "expiry_date", "disabled")),
    Spec("Serial No", ("item_code", "batch_no")),
    Spec("Item Price", ("item_code", "uom", "price_list", "price_list_rate", "currency",
                        "selling", "buying", "customer", "supplier", "batch_no",
                        "valid_from", "valid_upto"), scoped=("price_list", "selling_price_list")),
    Spec("Pricing Rule", _PRICING_RULE, (
        Child("items", "Pricing Rule Item Code", ("item_code", "uom")),
        Child("item_groups", "Pricing Rule Item Group", ("item_group", "uom")),
        Child("brands", "Pricing Rule Brand", ("brand", "uom")))),
    Spec("Coupon Code", ("coupon_name", "coupon_code", "coupon_type", "customer",
                         "pricing_rule", "valid_from", "valid_upto", "maximum_use", "used")),
)
PULLED_DOCTYPES = ("POS Profile", "Currency", "Global Defaults", *(s.doctype for s in SPECS))
CHILD_BOOKKEEPING = ("name", "parent", "idx", "modified")  # asked for with every child row
BIN_FIELDS = ("name", "item_code", "warehouse", "actual_qty", "modified")
# A warehouse's batches, as its stock ledger holds them (moved by consolidated closings,
# like Bin; with ``item_code`` ERPNext would also take unconsolidated POS Invoices off)
BATCH_QTY_METHOD = "erpnext.stock.doctype.batch.batch.get_batch_qty"
DELETED_FIELDS = ("name", "deleted_doctype", "deleted_name", "creation")


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS:
        raise ErpNextError(f"{what} has no usable name: {value!r}")
    return value


def parse_parent(spec: Spec, row: Mapping[str, Any]) -> Doc:
    """A listed row as the document Tillmesh keeps: its fields, empty child tables."""
    name = _name(row.get("name"), spec.doctype)
    try:
        modified = normalise_modified(row.get("modified"))
    except ErpNextError as exc:
        raise ErpNextError(f"{spec.doctype} {name}: {exc.message}") from exc
    doc: Doc = {"name": name, "modified": modified}
    doc.update((f, row.get(f)) for f in spec.fields)
    doc.update((c.field, []) for c in spec.children)
    return doc


def _idx(row: Mapping[str, Any]) -> int:
    try:
        return int(row.get("idx") or 0)
    except (TypeError, ValueError, InvalidOperation):
        return 0


def attach(docs: Mapping[str, Doc], child: Child, rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """Put child rows into their parents' tables (in ``idx`` order).

    Returns the parents that are stale: a child row saved after the parent was listed
    (its ``modified`` is later) means the parent changed since; it is read again whole.
    Rows of parents not in ``docs`` (unchanged or not pulled) are ignored.
    """
    stale: set[str] = set()
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        parent = row.get("parent")
        if isinstance(parent, str) and parent in docs:
            grouped[parent].append(row)
    for parent, group in grouped.items():
        doc = docs[parent]
        for row in sorted(group, key=_idx):
            try:
                if normalise_modified(row.get("modified")) > doc["modified"]:
                    stale.add(parent)
            except ErpNextError:
                stale.add(parent)  # read the whole document instead of a strange row
            doc[child.field].append({"idx": _idx(row), **{f: row.get(f) for f in child.fields}})
    return stale


def project(spec: Spec, full: Mapping[str, Any]) -> Doc:
    """A whole document (``get_doc``) cut to what the list pull would have kept."""
    doc = parse_parent(spec, full)
    for child in spec.children:
        rows = full.get(child.field)
        for row in sorted(rows if isinstance(rows, list) else [], key=_idx):
            if isinstance(row, dict):
                doc[child.field].append({"idx": _idx(row),
                                         **{f: row.get(f) for f in child.fields}})
    return doc


def single(doctype: str, full: Mapping[str, Any]) -> Doc:
    """A document pulled whole (POS Profile, Currency, Global Defaults), checked."""
    name = _name(full.get("name"), doctype)
    try:
        return {**full, "name": name, "modified": normalise_modified(full.get("modified"))}
    except ErpNextError as exc:  # it may end the pull: its message goes out as it is
        raise ErpNextError(f"{doctype} {printable(name)}: {exc.message}") from exc


def is_newer(modified: str, held: Held | None) -> bool:
    """Emit a document only when the store holds nothing as new (deleted or not)."""
    return held is None or modified > held[0]


def upserts(doctype: str, docs: Iterable[Doc]) -> list[dict[str, Any]]:
    """``master.upserted`` bodies, oldest first (the order ERPNext changed them in)."""
    return [upserted_body(doctype, doc)
            for doc in sorted(docs, key=lambda d: (d["modified"], d["name"]))]


def deletion(row: Mapping[str, Any], held: Mapping[str, Held]) -> tuple[str, dict[str, Any] | None]:
    """When a Deleted Document row was deleted, and the ``master.deleted`` body for it if
    the store holds that document undeleted and not newer (it may have been re-created)."""
    doctype = _name(row.get("deleted_doctype"), "Deleted Document's doctype")
    name = _name(row.get("deleted_name"), f"Deleted {doctype}")
    when = normalise_modified(row.get("creation"))
    current = held.get(name)
    if current is None or current[1] or current[0] > when:
        return when, None
    return when, {"doctype": doctype, "name": name, "modified": when}


def _qty(row: Mapping[str, Any]) -> tuple[str, Decimal]:
    item = _name(row.get("item_code"), "Bin's item")
    value = row.get("actual_qty")
    try:
        qty = Decimal(str(value)) if isinstance(value, int | Decimal | str) \
            and not isinstance(value, bool) else None
    except InvalidOperation:
        qty = None
    if qty is None or not qty.is_finite():
        raise ErpNextError(f"Bin of {item}: actual_qty {value!r} is not a number")
    return item, qty


def tracked_stock(batches: Iterable[Mapping[str, Any]], serials: Iterable[str],
                  held: Iterable[str]) -> list[dict[str, Any]]:
    """Bin-shaped rows of a warehouse's batches (``BATCH_QTY_METHOD``'s answer, which
    leaves out a batch it holds none of) and serial numbers (those in the warehouse: 1);
    a batch or serial number the store held that the answers leave out: 0."""
    rows = [{"item_code": batch_key(_name(b.get("batch_no"), "batch")),
             "actual_qty": b.get("qty")} for b in batches]
    rows += [{"item_code": serial_key(s), "actual_qty": 1} for s in serials]
    listed = {row["item_code"] for row in rows}
    return [*rows, *({"item_code": key, "actual_qty": 0} for key in sorted(held)
                     if key.startswith(TRACKED) and key not in listed)]


def stock_changes(rows: Iterable[Mapping[str, Any]], held: Mapping[str, HeldStock],
                  consolidated: Collection[str]) -> tuple[dict[str, Decimal], list[str]]:
    """Items whose base reading would change, and the errors of malformed Bin rows.

    An item whose held base has the same quantity and the same consolidated shifts
    needs no new reading: on-hand would come out the same.
    """
    shifts = frozenset(consolidated)
    # Each held set of shifts (one per reading, shared by its items: ``held_stock``) is
    # compared once, not once per item: it holds every closing consolidated so far.
    same: dict[int, bool] = {}
    out: dict[str, Decimal] = {}
    errors = []
    for row in rows:
        try:
            item, qty = _qty(row)
        except ErpNextError as exc:
            errors.append(exc.message)
            continue
        base = held.get(item)
        if base is not None and id(base[1]) not in same:
            same[id(base[1])] = base[1] == shifts
        if base is None or base[0] != nano(qty) or not same[id(base[1])]:
            out[item] = qty
    return out, errors


def stock_bodies(warehouse: str, quantities: Mapping[str, Decimal],
                 consolidated: Collection[str], read_at: str) -> list[dict[str, Any]]:
    """``stock.base`` bodies of at most ``BIN_ITEMS_PER_EVENT`` items each."""
    items = sorted(quantities.items())
    return [base_body(warehouse, dict(items[i:i + BIN_ITEMS_PER_EVENT]), list(consolidated),
                      read_at) for i in range(0, len(items), BIN_ITEMS_PER_EVENT)]
