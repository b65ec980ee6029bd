"""Master data: Item, Item Price, Custom Field, and the tree doctypes.

Only what ERPNext does that a POS sync can see: an Item gets its stock UOM as a UOM row; an
Item Price takes its UOM, names and currency from the item and price list and is unique
per item, list, UOM, party and dates; deleting an Item silently deletes its prices and
Bins (plain SQL in ERPNext: no Deleted Document rows for them); a Custom Field adds a
field the doctype's documents keep from then on.
"""

from __future__ import annotations

import re

from tillmesh.lab.erpnext_simulator._controller import Controller
from tillmesh.lab.erpnext_simulator._errors import (
    ItemPriceDuplicateItem,
    LinkValidationError,
    ValidationError,
)
from tillmesh.lab.erpnext_simulator._meta import FIELDTYPE_KINDS, OTHER, Field
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn

_PRICE_KEYS = ("uom", "valid_from", "valid_upto", "packing_unit", "customer", "supplier",
               "batch_no")
_TREE_PARENT = {"Account": "parent_account", "Cost Center": "parent_cost_center",
                "Warehouse": "parent_warehouse", "Item Group": "parent_item_group",
                "Customer Group": "parent_customer_group", "Territory": "parent_territory"}


class Item(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        doc.setdefault("item_name", doc.get("item_code"))
        doc.setdefault("description", doc.get("item_name"))
        doc["customer_code"] = ",".join(str(r.get("ref_code") or "")
                                        for r in doc.get("customer_items") or [])
        uoms = doc.setdefault("uoms", [])
        if doc.get("stock_uom") and not any(r.get("uom") == doc["stock_uom"] for r in uoms):
            uoms.insert(0, {"uom": doc["stock_uom"], "conversion_factor": 1.0})

    def on_trash(self, txn: Txn, doc: Doc) -> None:
        for doctype in ("Item Price", "Bin"):
            for found in txn.find(doctype, "item_code", doc["name"]):
                txn.delete(doctype, found["name"])


class ItemPrice(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        item = txn.get("Item", doc.get("item_code")) or {}
        price_list = txn.get("Price List", doc.get("price_list")) or {}
        doc.setdefault("uom", item.get("stock_uom"))
        doc.setdefault("item_name", item.get("item_name"))
        doc.setdefault("item_description", item.get("description"))
        doc.setdefault("currency", price_list.get("currency"))
        doc.setdefault("buying", price_list.get("buying", 0))
        doc.setdefault("selling", price_list.get("selling", 0))

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        for other in txn.find("Item Price", "item_code", doc.get("item_code")):
            if other["name"] != doc.get("name") and other.get("price_list") == doc.get(
                    "price_list") and all((other.get(k) or None) == (doc.get(k) or None)
                                          for k in _PRICE_KEYS):
                raise ItemPriceDuplicateItem(
                    "Item Price appears multiple times based on Price List, Supplier/"
                    "Customer, Currency, Item, Batch, UOM, Qty, and Dates.")


class CustomField(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        if not doc.get("fieldname") and doc.get("label"):
            doc["fieldname"] = "custom_" + re.sub(r"\W", "", str(doc["label"]).replace(" ", "_"))
        doc["fieldname"] = str(doc.get("fieldname") or "").lower()

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        meta = txn.registry.get(str(doc.get("dt")))
        if meta is None:
            raise LinkValidationError(f"Could not find DocType: {doc.get('dt')}")
        if old is None and meta.has_field(doc["fieldname"]):
            raise ValidationError(f"A field with the name <strong>{doc['fieldname']}</strong> "
                                  f"already exists in {meta.name}")
        if doc.get("fieldtype") == "Table" and not doc.get("options"):
            raise ValidationError("Options is required for a Table field")
        field = Field(name=doc["fieldname"], label=str(doc.get("label") or doc["fieldname"]),
                      kind=FIELDTYPE_KINDS.get(str(doc.get("fieldtype")), OTHER),
                      options=str(doc.get("options") or ""),
                      default=str(doc.get("default") or ""), reqd=bool(doc.get("reqd")),
                      unique=bool(doc.get("unique")))
        registry = txn.registry
        txn.after_commit.append(lambda: registry.add_field(meta.name, field))


class Tree(Controller):
    """Nested-set doctypes: ``lft``/``rgt`` grow with each insert (the order lists use)."""

    def __init__(self, doctype: str) -> None:
        self.doctype = doctype

    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        if old is None and not doc.get("lft"):
            right = max((int(d.get("rgt") or 0) for d in txn.all(self.doctype)), default=0)
            doc["lft"], doc["rgt"] = right + 1, right + 2
        doc.setdefault("old_parent", doc.get(_TREE_PARENT[self.doctype]) or "")


TREES = {doctype: Tree(doctype) for doctype in _TREE_PARENT}
