"""The catalog: what a counter sells, found by barcode, code or name; prices; customers.

Every table here is a projection of replicated ERPNext master data, written only by the
``@indexer`` callbacks below, which ``master_data`` calls with each new winning
document (None once deleted); so ``tillmesh rebuild`` reproduces them. Each table depends
only on the winning documents of its doctype, never on the order they arrived in.

Indexers never raise on a malformed document: a bad row is skipped with a log line. An
exception would refuse the whole event, and a peer's event refused forever stalls
replication. They write through the raw DB-API cursor of the session's connection, as do
the hot look-ups: SQLAlchemy adds 10-50 µs a statement, and 100,000 items must index in
seconds and be found in well under 2 ms.

Search: item names go into ``catalog_search``, an SQLite FTS5 table declared in
``Base.metadata`` with ``PROJECTION`` like every projection, so ``create_all`` creates it
(as a virtual table, see ``_create_table``) and ``projections.reset`` empties it with its
plain DELETE; no other hook is needed. It is contentless (``contentless_delete=1``): the
names live in ``catalog_items``; the index maps words to the item's ``id``, a hash of the
item code (``_search_id``), so ids, and which candidates a broad search ranks, are the
same on every counter. Codes and barcodes are searched by prefix on their B-tree indexes:
exact prefixes, and half the FTS work per item. Search rows are queued on the session and
written sorted by id before every commit (``flush_search``, see ``FTS_BATCH``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index, String, Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.compiler import DDLCompiler

from tillmesh.node.domain.barcode import (
    EmbeddedRules,
    is_gtin,
    lookup_forms,
    parse_embedded,
    validate_gtin,
)
from tillmesh.node.domain.money import to_decimal
from tillmesh.node.errors import BarcodeError, NotFoundError, ValidationError
from tillmesh.node.projections.const import (
    DEFAULT_SEARCH_HITS,
    FTS_BATCH,
    MAX_SEARCH_CHARS,
    MAX_SEARCH_WORDS,
    MIN_BARCODE_PREFIX,
    SEARCH_WINDOW,
)
from tillmesh.node.projections.deferred import Deferred
from tillmesh.node.projections.master_data import indexer
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.raw import Raw, raw

log = logging.getLogger(__name__)

# Prefix indexes for 1-6 letters: without one, FTS5 merges the lists of every word that
# starts with what was typed (over 100k items, "b" took 25 ms and "erdb" 1-5 ms; with
# them 0.1 ms), for ~3 µs more per item indexed. remove_diacritics: "kase" finds "Käse".
FTS5_OPTIONS = ("tokenize='unicode61 remove_diacritics 2', prefix='1 2 3 4 5 6', "
                "content='', contentless_delete=1")
_MAX_ID = 2**63 - 1
_TOP = "\U0010ffff"  # sorts after every character: the end of a prefix range


class CatalogItem(Base):
    __tablename__ = "catalog_items"
    __table_args__ = {"info": PROJECTION}
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # _search_id
    item_code: Mapped[str] = mapped_column(String(140), unique=True)
    item_name: Mapped[str] = mapped_column(String(140))
    item_group: Mapped[str] = mapped_column(String(140))
    stock_uom: Mapped[str] = mapped_column(String(140))
    disabled: Mapped[bool]
    is_stock_item: Mapped[bool]
    item_tax_template: Mapped[str | None] = mapped_column(String(140))
    barcode: Mapped[str | None] = mapped_column(String(140))  # the first, shown in hits


class CatalogItemUom(Base):
    """UOMs other than the stock UOM (whose factor is 1 and needs no row)."""

    __tablename__ = "catalog_item_uoms"
    __table_args__ = {"info": PROJECTION}
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    uom: Mapped[str] = mapped_column(String(140), primary_key=True)
    conversion_factor: Mapped[Decimal]


class CatalogBarcode(Base):
    # Keyed by (barcode, item), not by barcode alone: while a barcode moves from one
    # item to another, the two Item documents may arrive in either order.
    __tablename__ = "catalog_barcodes"
    __table_args__ = (Index("ix_catalog_barcodes_item", "item_code"), {"info": PROJECTION})
    barcode: Mapped[str] = mapped_column(String(140), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    barcode_type: Mapped[str] = mapped_column(String(32))
    uom: Mapped[str | None] = mapped_column(String(140))


class CatalogPrice(Base):
    # Keyed by the Item Price's name, as in ERPNext: an update may change its item or UOM.
    __tablename__ = "catalog_prices"
    __table_args__ = (Index("ix_catalog_prices_item", "item_code", "price_list"),
                      {"info": PROJECTION})
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(140))
    uom: Mapped[str] = mapped_column(String(140))  # "" = the item's stock UOM
    price_list: Mapped[str] = mapped_column(String(140))
    price_list_rate: Mapped[Decimal]
    valid_from: Mapped[str | None] = mapped_column(String(10))  # ISO dates
    valid_upto: Mapped[str | None] = mapped_column(String(10))


class CatalogUom(Base):
    __tablename__ = "catalog_uoms"
    __table_args__ = {"info": PROJECTION}
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    must_be_whole_number: Mapped[bool]


class CatalogCustomer(Base):
    __tablename__ = "catalog_customers"
    __table_args__ = {"info": PROJECTION}
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    customer_name: Mapped[str] = mapped_column(String(140))
    customer_group: Mapped[str | None] = mapped_column(String(140))
    territory: Mapped[str | None] = mapped_column(String(140))
    mobile_no: Mapped[str | None] = mapped_column(String(140))
    email_id: Mapped[str | None] = mapped_column(String(140))
    disabled: Mapped[bool]
    search_text: Mapped[str]  # casefolded name and email, phone digits


catalog_search = Table("catalog_search", Base.metadata, Column("item_name", String),
                       info={**PROJECTION, "fts5": FTS5_OPTIONS})


@compiles(CreateTable, "sqlite")
def _create_table(create: CreateTable, compiler: DDLCompiler, **kw: Any) -> str:
    """``CREATE VIRTUAL TABLE … USING fts5`` for a table whose info names fts5 options."""
    table = create.element
    if "fts5" not in table.info:
        return compiler.visit_create_table(create, **kw)
    columns = ", ".join(compiler.preparer.quote(c.name) for c in table.columns)
    name = compiler.preparer.format_table(table)
    return f"CREATE VIRTUAL TABLE {name} USING fts5({columns}, {table.info['fts5']})"


@dataclass(frozen=True)
class Scan:
    item_code: str
    uom: str
    qty: Decimal | None  # the weight on a weighed label, else None (one unit)
    amount: Decimal | None  # the price on a price label, else None
    barcode: str


@dataclass(frozen=True)
class UomInfo:
    uom: str
    conversion_factor: Decimal  # stock UOMs in one of this UOM
    must_be_whole_number: bool  # False for a UOM whose UOM document is not here


@dataclass(frozen=True)
class ItemInfo:
    item_code: str
    item_name: str
    item_group: str
    stock_uom: str
    is_stock_item: bool
    item_tax_template: str | None
    uoms: tuple[UomInfo, ...]  # the stock UOM first

    def uom(self, name: str) -> tuple[Decimal, bool]:
        """(conversion factor, must be whole number) of one of the item's UOMs."""
        for u in self.uoms:
            if u.uom == name:
                return u.conversion_factor, u.must_be_whole_number
        raise NotFoundError(f"UOM {name} is not set up for item {self.item_code}")

    def uom_names(self) -> list[str]:
        return [u.uom for u in self.uoms]


@dataclass(frozen=True)
class ItemHit:
    item_code: str
    item_name: str
    item_group: str
    stock_uom: str
    barcode: str | None


@dataclass(frozen=True)
class CustomerInfo:
    name: str
    customer_name: str
    customer_group: str | None
    territory: str | None
    mobile_no: str | None
    email_id: str | None


# --- indexers ----------------------------------------------------------------------------


def _search_id(item_code: str) -> int:
    """A 63-bit id from the item code: the same on every counter, whatever came first."""
    return int.from_bytes(hashlib.blake2b(item_code.encode(), digest_size=8).digest()) >> 1


def _str(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _flag(value: Any) -> int:
    try:
        return int(bool(int(value or 0)))
    except (TypeError, ValueError):
        return 0


def _number(value: Any, what: str) -> Decimal | None:
    try:
        return to_decimal(value, what)
    except ValidationError as exc:
        log.warning("catalog: skipping %s", exc.message)
        return None


def _rows(doc: dict[str, Any], field: str) -> list[dict[str, Any]]:
    rows = doc.get(field)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


_INSERT_ITEM = (
    "INSERT INTO catalog_items (item_name, item_group, stock_uom, disabled, is_stock_item,"
    " item_tax_template, barcode, item_code, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING id")
_UPDATE_ITEM = (
    "UPDATE catalog_items SET item_name = ?, item_group = ?, stock_uom = ?, disabled = ?,"
    " is_stock_item = ?, item_tax_template = ?, barcode = ? WHERE item_code = ? RETURNING id")


@indexer("Item")
def index_item(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = raw(session)
    if doc is None:
        for (old_id,) in sql.run("DELETE FROM catalog_items WHERE item_code = ? RETURNING id",
                                 (name,)):
            _queue_search(session, old_id, None)
        sql.run("DELETE FROM catalog_barcodes WHERE item_code = ?", (name,))
        sql.run("DELETE FROM catalog_item_uoms WHERE item_code = ?", (name,))
        return
    stock_uom = _str(doc.get("stock_uom")) or "Nos"
    barcodes: dict[str, tuple[str, str | None]] = {}
    for row in _rows(doc, "barcodes"):
        code = _str(row.get("barcode"))
        if code and code not in barcodes:
            barcodes[code] = (_str(row.get("barcode_type")), _str(row.get("uom")) or None)
    uoms: dict[str, Decimal] = {}
    for row in _rows(doc, "uoms"):
        uom = _str(row.get("uom"))
        factor = _number(row.get("conversion_factor"), f"conversion factor of {uom} in {name}")
        if uom and uom != stock_uom and factor is not None and factor > 0:
            uoms[uom] = factor
    # The template without a tax category is the one ERPNext's POS applies.
    taxes = [r for r in _rows(doc, "taxes") if r.get("item_tax_template")]
    plain = [r for r in taxes if not r.get("tax_category")] or taxes
    item_name = _str(doc.get("item_name")) or name
    disabled = _flag(doc.get("disabled"))
    values = [item_name, _str(doc.get("item_group")), stock_uom, disabled,
              _flag(doc.get("is_stock_item")), _str(plain[0]["item_tax_template"]) or None
              if plain else None, next(iter(barcodes), None), name]
    # A new item (every item, during a rebuild) costs one statement; an update, two.
    found = sql.run(_INSERT_ITEM, (*values, _search_id(name)))
    if not found:
        found = sql.run(_UPDATE_ITEM, values)
        if found:
            sql.run("DELETE FROM catalog_barcodes WHERE item_code = ?", (name,))
            sql.run("DELETE FROM catalog_item_uoms WHERE item_code = ?", (name,))
        else:  # another code has this id: probe the next ones (a 1 in 2^63 event)
            item_id = _search_id(name)
            while not found:
                item_id = (item_id + 1) & _MAX_ID
                found = sql.run(_INSERT_ITEM, (*values, item_id))
    item_id = found[0][0]
    sql.many("INSERT INTO catalog_barcodes (barcode, item_code, barcode_type, uom)"
             " VALUES (?, ?, ?, ?)", [(c, name, k, u) for c, (k, u) in barcodes.items()])
    if uoms:
        sql.many("INSERT INTO catalog_item_uoms (item_code, uom, conversion_factor)"
                 " VALUES (?, ?, ?)", [(name, u, str(f)) for u, f in uoms.items()])
    # A disabled item stays in catalog_items (enabling it is one flag) but leaves the
    # search index, so it never takes a place among the candidates of a search.
    _queue_search(session, item_id, None if disabled else item_name)


def _write_search(session: Session, pending: dict[int, str | None]) -> None:
    sql = raw(session)
    rows = sorted(pending.items())  # FTS5 flushes whenever a rowid is below the last
    sql.many("DELETE FROM catalog_search WHERE rowid = ?",
             [(i,) for i, name in rows if name is None])
    sql.many("INSERT OR REPLACE INTO catalog_search (rowid, item_name) VALUES (?, ?)",
             [(i, name) for i, name in rows if name is not None])


# {item id: name, None = remove}; only ``search`` reads the table, and flushes it first.
_SEARCH = Deferred("catalog.search", _write_search, FTS_BATCH, kept_across=None)


def _queue_search(session: Session, item_id: int, item_name: str | None) -> None:
    _SEARCH.rows(session)[item_id] = item_name
    _SEARCH.check(session)


def flush_search(session: Session) -> None:
    """Write the queued search rows (done before every commit and every search)."""
    _SEARCH.flush(session)


@indexer("Item Price")
def index_item_price(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    row = None if doc is None else _shelf_price(name, doc)
    if row is None:
        raw(session).run("DELETE FROM catalog_prices WHERE name = ?", (name,))
    else:  # one statement, also for a new price (every price, during a rebuild)
        raw(session).run("INSERT OR REPLACE INTO catalog_prices (name, item_code, uom,"
                         " price_list, price_list_rate, valid_from, valid_upto)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)", row)


def _shelf_price(name: str, doc: dict[str, Any]) -> tuple[str | None, ...] | None:
    """The catalog's row of an Item Price that is a shelf price, with a rate, an item and
    a price list; None for a price for one customer, supplier or batch."""
    if doc.get("customer") or doc.get("supplier") or doc.get("batch_no"):
        return None
    rate = _number(doc.get("price_list_rate"), f"price_list_rate of Item Price {name}")
    item_code, price_list = _str(doc.get("item_code")), _str(doc.get("price_list"))
    if rate is None or not item_code or not price_list:
        return None
    return (name, item_code, _str(doc.get("uom")), price_list, str(rate),
            _str(doc.get("valid_from"))[:10] or None, _str(doc.get("valid_upto"))[:10] or None)


@indexer("UOM")
def index_uom(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = raw(session)
    sql.run("DELETE FROM catalog_uoms WHERE name = ?", (name,))
    if doc is not None:
        sql.run("INSERT INTO catalog_uoms (name, must_be_whole_number) VALUES (?, ?)",
                (name, _flag(doc.get("must_be_whole_number"))))


@indexer("Customer")
def index_customer(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = raw(session)
    sql.run("DELETE FROM catalog_customers WHERE name = ?", (name,))
    if doc is None:
        return
    customer_name = _str(doc.get("customer_name")) or name
    mobile, email = _str(doc.get("mobile_no")), _str(doc.get("email_id"))
    digits = "".join(ch for ch in mobile if ch.isdigit())
    search_text = " ".join([name, customer_name, email]).casefold() + " " + digits
    sql.run("INSERT INTO catalog_customers (name, customer_name, customer_group, territory,"
            " mobile_no, email_id, disabled, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, customer_name, _str(doc.get("customer_group")) or None,
             _str(doc.get("territory")) or None, mobile or None, email or None,
             _flag(doc.get("disabled")), search_text))


# --- look-ups ----------------------------------------------------------------------------


def _enabled_item(sql: Raw, item_code: str) -> tuple[Any, ...]:
    rows = sql.run("SELECT item_code, item_name, item_group, stock_uom, disabled,"
                   " is_stock_item, item_tax_template FROM catalog_items WHERE item_code = ?",
                   (item_code,))
    if not rows:
        raise NotFoundError(f"Item {item_code} not found", item_code=item_code)
    if rows[0][4]:
        raise NotFoundError(f"Item {item_code} is disabled", item_code=item_code)
    return tuple(rows[0])


def _by_barcode(sql: Raw, forms: Sequence[str]) -> tuple[str, str] | None:
    """(item, UOM) holding one of these barcodes; an enabled item first, then by code."""
    a, b = (forms[0], forms[-1])
    rows = sql.run("SELECT b.item_code, coalesce(b.uom, i.stock_uom), i.disabled"
                   " FROM catalog_barcodes b JOIN catalog_items i ON i.item_code = b.item_code"
                   " WHERE b.barcode IN (?, ?) ORDER BY i.disabled, b.item_code LIMIT 1", (a, b))
    if rows and rows[0][2]:
        raise NotFoundError(f"Item {rows[0][0]} is disabled", item_code=rows[0][0])
    return (rows[0][0], rows[0][1]) if rows else None


def scan(session: Session, code: str, rules: EmbeddedRules) -> Scan:
    """What a scanned code sells: an item's barcode, else a weighed or price label.

    A registered barcode wins over the embedded rules, so a store may register full
    13-digit codes that start with 2x. A GTIN that is not registered must have a right
    check digit before the rules are tried: a misread never becomes a sale.
    """
    code = code.strip()
    if not code:
        raise BarcodeError("Empty barcode")
    sql = raw(session)
    hit = _by_barcode(sql, lookup_forms(code))
    if hit is not None:
        return Scan(hit[0], hit[1], None, None, code)
    if is_gtin(code):
        validate_gtin(code)
    label = parse_embedded(code, rules)
    if label is None:
        raise BarcodeError(f"Unknown barcode {code}", barcode=code)
    # The PLU is registered as an Item Barcode as the scale prints it ("00042"), or
    # without its leading zeros ("42").
    hit = _by_barcode(sql, [label.item_ref, label.item_ref.lstrip("0") or "0"])
    if hit is None:
        raise BarcodeError(f"Unknown PLU {label.item_ref} in label {code}", barcode=code)
    weight = label.rule.value_kind == "weight"
    return Scan(hit[0], hit[1], label.value if weight else None,
                None if weight else label.value, code)


def get_item(session: Session, item_code: str) -> ItemInfo:
    """A sellable item with its UOMs; NotFoundError if unknown or disabled."""
    sql = raw(session)
    code, name, group, stock_uom, _, is_stock, template = _enabled_item(sql, item_code)
    # the stock UOM first (factor 1), then the item's own UOMs, each with its UOM's flag
    rows = sql.run("SELECT u.uom, u.factor, w.must_be_whole_number FROM (SELECT 0 AS own,"
                   " ? AS uom, '1' AS factor UNION ALL SELECT 1, uom, conversion_factor FROM"
                   " catalog_item_uoms WHERE item_code = ?) AS u"
                   " LEFT JOIN catalog_uoms w ON w.name = u.uom ORDER BY u.own",
                   (stock_uom, item_code))
    stock, *own = [UomInfo(u, Decimal(f), bool(whole)) for u, f, whole in rows]
    return ItemInfo(code, name, group, stock_uom, bool(is_stock), template,
                    (stock, *sorted(own, key=lambda u: (u.conversion_factor, u.uom))))


def barcodes_of(session: Session, item_code: str) -> tuple[str, ...]:
    """The item's barcodes, in order (the item call shows them; a scan needs none)."""
    return tuple(b for (b,) in raw(session).run(
        "SELECT barcode FROM catalog_barcodes WHERE item_code = ? ORDER BY barcode",
        (item_code,)))


def price_for(session: Session, item: ItemInfo, uom: str, price_list: str, *,
              on: date) -> Decimal:
    """The list price of one ``uom`` of the item on the store's day ``on`` (the node's
    clock in the store's zone, as ERPNext's site dates it: not this machine's date).

    ERPNext's rule: the UOM's own Item Price, else the stock UOM's price times the UOM's
    conversion factor (unrounded: the totals engine rounds as ERPNext does). Among valid
    prices the latest ``valid_from`` wins, as in ERPNext's ``get_item_price``.
    """
    sql = raw(session)
    item_code, stock_uom = item.item_code, item.stock_uom
    day = on.isoformat()
    rows = sql.run("SELECT uom, price_list_rate FROM catalog_prices"
                   " WHERE item_code = ? AND price_list = ? AND coalesce(valid_from, '') <= ?"
                   " AND coalesce(valid_upto, '9999') >= ? AND uom IN (?, ?, '')"
                   " ORDER BY valid_from DESC, name DESC",
                   (item_code, price_list, day, day, uom, stock_uom))
    own = [r for u, r in rows if u == uom or (uom == stock_uom and not u)]
    if own:
        return Decimal(own[0])
    if uom != stock_uom:
        factor = sql.run("SELECT conversion_factor FROM catalog_item_uoms"
                         " WHERE item_code = ? AND uom = ?", (item_code, uom))
        if not factor:
            raise NotFoundError(f"UOM {uom} is not set up for item {item_code}")
        if rows:  # only stock-UOM prices are left
            return Decimal(rows[0][1]) * Decimal(factor[0][0])
    raise NotFoundError(f"No price for {item_code} in {price_list}", item_code=item_code)


def _clean(text: str) -> str:
    # Control characters (NUL ends an FTS5 string) and lone surrogates (no UTF-8) go.
    return "".join(ch if ch.isprintable() else " " for ch in text[:MAX_SEARCH_CHARS]).strip()


def fts_query(text: str) -> str | None:
    """A safe FTS5 query: each word a quoted phrase with a prefix star, all ANDed.

    Quoting (``"`` doubled) turns every operator, bracket and keyword typed into plain
    text; a word without a letter or digit would be an empty phrase and is left out.
    """
    words = [w for w in text.split() if any(ch.isalnum() for ch in w)][:MAX_SEARCH_WORDS]
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words) or None


_HIT = "i.item_code, i.item_name, i.item_group, i.stock_uom, i.barcode"


def search(session: Session, text: str, limit: int = DEFAULT_SEARCH_HITS) -> list[ItemHit]:
    """Sellable items by code, barcode or the beginnings of the words of their name.

    Exact code or barcode hits come first, then code or barcode prefixes (by code), then
    names: those starting with the first word typed, then by name. A query matching more
    than ``SEARCH_WINDOW`` names ranks a fixed sample of them (the lowest ids): it stays
    fast, and the cashier types on to narrow it down.
    """
    query = _clean(text)
    if not query or limit <= 0:
        return []
    flush_search(session)
    sql, forms = raw(session), lookup_forms(query)
    found = [(0, r) for r in sql.run(
        f"SELECT {_HIT} FROM catalog_items i WHERE i.item_code = ? AND NOT i.disabled"
        f" UNION SELECT {_HIT} FROM catalog_barcodes b JOIN catalog_items i"
        " ON i.item_code = b.item_code WHERE b.barcode IN (?, ?) AND NOT i.disabled",
        (query, forms[0], forms[-1]))]
    if " " not in query:  # codes as typed and upper-cased ("dai-0" finds "DAI-0001")
        upper = query.upper()
        found += [(1, r) for r in sql.run(
            f"SELECT {_HIT} FROM catalog_items i WHERE NOT i.disabled AND"
            " (i.item_code BETWEEN ? AND ? OR i.item_code BETWEEN ? AND ?) LIMIT ?",
            (query, query + _TOP, upper, upper + _TOP, SEARCH_WINDOW))]
        if query.isdigit() and len(query) >= MIN_BARCODE_PREFIX:
            found += [(1, r) for r in sql.run(
                f"SELECT {_HIT} FROM catalog_barcodes b JOIN catalog_items i ON"
                " i.item_code = b.item_code WHERE b.barcode BETWEEN ? AND ?"
                " AND NOT i.disabled LIMIT ?", (query, query + _TOP, SEARCH_WINDOW))]
    match = fts_query(query)
    if match is not None:
        found += [(2, r) for r in sql.run(
            f"SELECT {_HIT} FROM catalog_search s JOIN catalog_items i ON i.id = s.rowid"
            " WHERE catalog_search MATCH ? AND NOT i.disabled LIMIT ?", (match, SEARCH_WINDOW))]
    first = query.split()[0].casefold()
    hits: dict[str, tuple[tuple[Any, ...], ItemHit]] = {}
    for kind, row in reversed(found):  # the best kind of each item wins
        name = row[1].casefold()
        order = (row[0],) if kind == 1 else (not name.startswith(first), name, row[0])
        hits[row[0]] = ((kind, *order), ItemHit(*row))
    return [hit for _, hit in sorted(hits.values(), key=lambda h: h[0])[:limit]]


_CUSTOMER = ("SELECT name, customer_name, customer_group, territory, mobile_no, email_id,"
             " disabled FROM catalog_customers WHERE")


def get_customer(session: Session, name: str) -> CustomerInfo:
    """An enabled customer; NotFoundError if unknown or disabled (ERPNext refuses those)."""
    row = raw(session).one(f"{_CUSTOMER} name = ?", (name,))
    if row is None:
        raise NotFoundError(f"Customer {name} not found", customer=name)
    if row[6]:
        raise NotFoundError(f"Customer {name} is disabled", customer=name)
    return CustomerInfo(*row[:6])


def search_customers(session: Session, text: str,
                     limit: int = DEFAULT_SEARCH_HITS) -> list[CustomerInfo]:
    """Enabled customers whose name, email or phone contain every word typed.

    A word of digits matches the phone without its leading zeros, so "0151 2345" finds
    "+49 151 2345…". Customers are few (thousands): a scan of their table is fast enough.
    """
    words = _clean(text).casefold().split()[:MAX_SEARCH_WORDS]
    if not words or limit <= 0:
        return []
    likes = []
    for word in words:
        word = (word.lstrip("0") or "0") if word.isdigit() else word
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        likes.append(f"%{escaped}%")
    rows = raw(session).run(
        f"{_CUSTOMER} NOT disabled" + " AND search_text LIKE ? ESCAPE '\\'" * len(likes)
        + " LIMIT ?", (*likes, SEARCH_WINDOW))
    whole = " ".join(words)
    found = sorted((CustomerInfo(*r[:6]) for r in rows), key=lambda c: (
        whole not in (c.customer_name.casefold(), c.name.casefold()), c.customer_name.casefold(),
        c.name))
    return found[:limit]
