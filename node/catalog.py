"""The catalog: what a counter can sell, found by barcode, code, name; prices; customers.

Every table here is a projection of replicated ERPNext master data, written only by the
``@indexer`` callbacks below, which ``node.masterdata`` calls with each new winning
document (or None once it is deleted), so ``tillmesh rebuild`` reproduces them exactly.
The tables depend only on the winning documents, never on the order they arrived in.

Indexers never raise on a malformed document: a bad row is skipped with a log line. An
exception would refuse the whole event, and a peer's event refused forever stalls
replication. They write through the raw DB-API cursor of the session's connection:
SQLAlchemy costs ~10-50 µs a statement and a 100,000-item pull must index in seconds.

Text search is an SQLite FTS5 table, ``catalog_search``, declared in ``Base.metadata``
with ``PROJECTION`` like any other projection, so ``create_all`` creates it (as a virtual
table, see ``_create_table``) and ``projections.reset`` empties it with a plain DELETE:
no extra hook. It is contentless (``contentless_delete=1``): the text lives in
``catalog_items``, the index only maps words to the item's ``id``. That id is a hash of
the item code (``_search_id``), not an insertion counter, so it and the order of search
candidates are the same on every counter whatever order the documents came in.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index, String, Table, bindparam, select
from sqlalchemy import text as sql_text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.compiler import DDLCompiler

from node.barcode import EmbeddedRules, is_gtin, lookup_forms, parse_embedded, validate_gtin
from node.errors import BarcodeError, NotFoundError, StoreError, ValidationError
from node.masterdata import indexer
from node.money import to_decimal
from node.store.base import PROJECTION, Base

log = logging.getLogger(__name__)

SEARCH_WINDOW = 200  # FTS candidates ranked per search: bounds work on 1-letter queries
MAX_SEARCH_WORDS = 8  # words of a query used; more only cost time
MAX_SEARCH_CHARS = 200  # longer input is no search a cashier types
FTS5_OPTIONS = (
    # 1-3 letter prefix indexes keep "b", "be", "ber" fast over 100k items (~0.2 ms
    # instead of 20 ms); remove_diacritics lets "kase" find "Käse".
    "tokenize='unicode61 remove_diacritics 2', prefix='1 2 3', "
    "content='', contentless_delete=1"
)


# --- tables ------------------------------------------------------------------------------


class CatalogItem(Base):
    __tablename__ = "catalog_items"
    __table_args__ = {"info": PROJECTION}
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # see _search_id
    item_code: Mapped[str] = mapped_column(String(140), unique=True)
    item_name: Mapped[str] = mapped_column(String(140))
    item_group: Mapped[str] = mapped_column(String(140))
    stock_uom: Mapped[str] = mapped_column(String(140))
    disabled: Mapped[bool]
    is_stock_item: Mapped[bool]
    item_tax_template: Mapped[str | None] = mapped_column(String(140))
    barcode: Mapped[str | None] = mapped_column(String(140))  # the first one, for display


class CatalogItemUom(Base):
    __tablename__ = "catalog_item_uoms"
    __table_args__ = {"info": PROJECTION}
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    uom: Mapped[str] = mapped_column(String(140), primary_key=True)
    conversion_factor: Mapped[Decimal]


class CatalogBarcode(Base):
    # Keyed by (barcode, item) and not by barcode alone: while a barcode moves from one
    # item to another, the two Item documents may arrive in either order.
    __tablename__ = "catalog_barcodes"
    __table_args__ = (Index("ix_catalog_barcodes_item", "item_code"), {"info": PROJECTION})
    barcode: Mapped[str] = mapped_column(String(140), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    barcode_type: Mapped[str] = mapped_column(String(32))
    uom: Mapped[str | None] = mapped_column(String(140))


class CatalogPrice(Base):
    # Keyed by the Item Price's own name, as ERPNext does: an update may change its
    # item, UOM or price list.
    __tablename__ = "catalog_prices"
    __table_args__ = (
        Index("ix_catalog_prices_item", "item_code", "price_list"),
        {"info": PROJECTION},
    )
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(140))
    uom: Mapped[str] = mapped_column(String(140))  # "" = the item's stock UOM
    price_list: Mapped[str] = mapped_column(String(140))
    price_list_rate: Mapped[Decimal]
    valid_from: Mapped[str | None] = mapped_column(String(10))  # ISO date or None
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
    search_text: Mapped[str] = mapped_column(String)  # casefolded name, email, phone digits


catalog_search = Table(
    "catalog_search",
    Base.metadata,
    Column("item_code", String),
    Column("item_name", String),
    Column("barcodes", String),
    info={**PROJECTION, "fts5": FTS5_OPTIONS},
)


@compiles(CreateTable, "sqlite")
def _create_table(create: CreateTable, compiler: DDLCompiler, **kw: Any) -> str:
    """``CREATE VIRTUAL TABLE … USING fts5`` for tables whose info names fts5 options."""
    table = create.element
    options = table.info.get("fts5")
    if options is None:
        return compiler.visit_create_table(create, **kw)
    columns = ", ".join(compiler.preparer.quote(c.name) for c in table.columns)
    name = compiler.preparer.format_table(table)
    return f"CREATE VIRTUAL TABLE {name} USING fts5({columns}, {options})"


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    item_code: str
    uom: str
    qty: Decimal | None  # the weight of a weighed label, else None (one unit)
    amount: Decimal | None  # the price printed on a price label, else None
    barcode: str


@dataclass(frozen=True)
class UomInfo:
    uom: str
    conversion_factor: Decimal  # stock UOMs in one of this UOM
    must_be_whole_number: bool


@dataclass(frozen=True)
class ItemInfo:
    item_code: str
    item_name: str
    item_group: str
    stock_uom: str
    is_stock_item: bool
    item_tax_template: str | None
    uoms: tuple[UomInfo, ...]  # the stock UOM first
    barcodes: tuple[str, ...]

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


class _Sql:
    """The raw cursor of the session's connection, DB-API errors turned into StoreError."""

    def __init__(self, session: Session) -> None:
        conn = session.connection()
        self._error: type[Exception] = conn.dialect.loaded_dbapi.Error
        self._integrity: type[Exception] = conn.dialect.loaded_dbapi.IntegrityError
        self._cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(self._cur.execute(sql, params).fetchall())
        except self._error as exc:
            raise StoreError(f"catalog index: {exc}") from exc

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            self._cur.executemany(sql, rows)
        except self._error as exc:
            raise StoreError(f"catalog index: {exc}") from exc

    def insert(self, sql: str, params: Sequence[Any]) -> bool:
        """False instead of an error when a unique key is taken."""
        try:
            self._cur.execute(sql, params)
        except self._integrity:
            return False
        except self._error as exc:
            raise StoreError(f"catalog index: {exc}") from exc
        return True


def _search_id(item_code: str) -> int:
    """A 63-bit id from the item code: equal on every counter, whatever the arrival order."""
    return int.from_bytes(hashlib.blake2b(item_code.encode(), digest_size=8).digest()) >> 1


def _str(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _flag(value: Any) -> bool:
    try:
        return bool(int(value or 0))
    except (TypeError, ValueError):
        return False


def _number(value: Any, what: str) -> Decimal | None:
    try:
        return to_decimal(value, what)
    except ValidationError as exc:
        log.warning("catalog: skipping %s: %s", what, exc.message)
        return None


def _rows(doc: dict[str, Any], field: str) -> list[dict[str, Any]]:
    rows = doc.get(field)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


@indexer("Item")
def index_item(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = _Sql(session)
    found = sql.run("SELECT id FROM catalog_items WHERE item_code = ?", (name,))
    old_id = found[0][0] if found else None
    if old_id is not None:
        sql.run("DELETE FROM catalog_barcodes WHERE item_code = ?", (name,))
        sql.run("DELETE FROM catalog_item_uoms WHERE item_code = ?", (name,))
    if doc is None:
        if old_id is not None:
            sql.run("DELETE FROM catalog_items WHERE id = ?", (old_id,))
            sql.run("DELETE FROM catalog_search WHERE rowid = ?", (old_id,))
        return
    stock_uom = _str(doc.get("stock_uom")) or "Nos"
    barcodes: dict[str, tuple[str, str | None]] = {}
    for row in _rows(doc, "barcodes"):
        code = _str(row.get("barcode"))
        if code and code not in barcodes:
            barcodes[code] = (_str(row.get("barcode_type")), _str(row.get("uom")) or None)
    uoms = {stock_uom: Decimal(1)}
    for row in _rows(doc, "uoms"):
        factor = _number(row.get("conversion_factor"), f"conversion factor of {name}")
        uom = _str(row.get("uom"))
        if uom and uom != stock_uom and factor is not None and factor > 0:
            uoms[uom] = factor
    # The template that applies without a tax category: the one ERPNext's POS picks.
    taxes = [r for r in _rows(doc, "taxes") if r.get("item_tax_template")]
    plain = [r for r in taxes if not r.get("tax_category")] or taxes
    values = (
        _str(doc.get("item_name")) or name,
        _str(doc.get("item_group")),
        stock_uom,
        int(_flag(doc.get("disabled"))),
        int(_flag(doc.get("is_stock_item"))),
        _str(plain[0]["item_tax_template"]) if plain else None,
        next(iter(barcodes), None),
    )
    if old_id is not None:
        item_id = old_id
        sql.run(
            "UPDATE catalog_items SET item_name = ?, item_group = ?, stock_uom = ?, disabled = ?,"
            " is_stock_item = ?, item_tax_template = ?, barcode = ? WHERE id = ?",
            (*values, item_id),
        )
    else:
        item_id = _insert_item(sql, name, values)
    sql.many(
        "INSERT INTO catalog_barcodes (barcode, item_code, barcode_type, uom) VALUES (?, ?, ?, ?)",
        [(code, name, kind, uom) for code, (kind, uom) in barcodes.items()],
    )
    sql.many(
        "INSERT INTO catalog_item_uoms (item_code, uom, conversion_factor) VALUES (?, ?, ?)",
        [(name, uom, str(factor)) for uom, factor in uoms.items()],
    )
    if _flag(doc.get("disabled")):
        # Disabled items stay in catalog_items (enabling them again is one flag) but leave
        # the search index, so they never take a place among the search candidates.
        sql.run("DELETE FROM catalog_search WHERE rowid = ?", (item_id,))
    else:
        sql.run(
            "INSERT OR REPLACE INTO catalog_search (rowid, item_code, item_name, barcodes)"
            " VALUES (?, ?, ?, ?)",
            (item_id, name, values[0], " ".join(barcodes)),
        )


def _insert_item(sql: _Sql, name: str, values: tuple[Any, ...]) -> int:
    item_id = _search_id(name)
    for _ in range(64):  # two codes with one 63-bit hash: probe the next id
        if sql.insert(
            "INSERT INTO catalog_items (id, item_code, item_name, item_group, stock_uom,"
            " disabled, is_stock_item, item_tax_template, barcode)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item_id, name, *values),
        ):
            return item_id
        item_id = (item_id + 1) & (2**63 - 1)
    raise StoreError(f"catalog index: no free id for item {name}")


@indexer("Item Price")
def index_item_price(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = _Sql(session)
    sql.run("DELETE FROM catalog_prices WHERE name = ?", (name,))
    if doc is None:
        return
    if doc.get("customer") or doc.get("supplier") or doc.get("batch_no"):
        return  # a price for one customer, supplier or batch is no shelf price
    rate = _number(doc.get("price_list_rate"), f"price_list_rate of Item Price {name}")
    item_code, price_list = _str(doc.get("item_code")), _str(doc.get("price_list"))
    if rate is None or not item_code or not price_list:
        return
    sql.run(
        "INSERT INTO catalog_prices (name, item_code, uom, price_list, price_list_rate,"
        " valid_from, valid_upto) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, item_code, _str(doc.get("uom")), price_list, str(rate),
         _str(doc.get("valid_from"))[:10] or None, _str(doc.get("valid_upto"))[:10] or None),
    )


@indexer("UOM")
def index_uom(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = _Sql(session)
    sql.run("DELETE FROM catalog_uoms WHERE name = ?", (name,))
    if doc is not None:
        sql.run(
            "INSERT INTO catalog_uoms (name, must_be_whole_number) VALUES (?, ?)",
            (name, int(_flag(doc.get("must_be_whole_number")))),
        )


@indexer("Customer")
def index_customer(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = _Sql(session)
    sql.run("DELETE FROM catalog_customers WHERE name = ?", (name,))
    if doc is None:
        return
    customer_name = _str(doc.get("customer_name")) or name
    mobile, email = _str(doc.get("mobile_no")), _str(doc.get("email_id"))
    search_text = " ".join(
        [name.casefold(), customer_name.casefold(), email.casefold(), _digits(mobile)]
    )
    sql.run(
        "INSERT INTO catalog_customers (name, customer_name, customer_group, territory,"
        " mobile_no, email_id, disabled, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (name, customer_name, _str(doc.get("customer_group")) or None,
         _str(doc.get("territory")) or None, mobile or None, email or None,
         int(_flag(doc.get("disabled"))), search_text),
    )


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


# --- look-ups ----------------------------------------------------------------------------

_ITEM_COLUMNS = "item_code, item_name, item_group, stock_uom, barcode"


def _enabled_item(session: Session, item_code: str) -> Any:
    row = session.execute(
        sql_text(f"SELECT {_ITEM_COLUMNS}, disabled, is_stock_item, item_tax_template"
             " FROM catalog_items WHERE item_code = :code"),
        {"code": item_code},
    ).first()
    if row is None:
        raise NotFoundError(f"Item {item_code} not found", item_code=item_code)
    if row.disabled:
        raise NotFoundError(f"Item {item_code} is disabled", item_code=item_code)
    return row


def _by_barcode(session: Session, forms: Sequence[str]) -> Any:
    """The item holding one of these barcodes: an enabled one first, then by code."""
    rows = session.execute(
        sql_text("SELECT b.item_code, b.uom, i.stock_uom, i.disabled FROM catalog_barcodes b"
             " JOIN catalog_items i ON i.item_code = b.item_code"
             " WHERE b.barcode IN :forms ORDER BY i.disabled, b.item_code LIMIT 1")
        .bindparams(bindparam("forms", expanding=True)),
        {"forms": list(forms)},
    ).first()
    if rows is not None and rows.disabled:
        raise NotFoundError(f"Item {rows.item_code} is disabled", item_code=rows.item_code)
    return rows


def scan(session: Session, code: str, rules: EmbeddedRules) -> Scan:
    """What a scanned code sells: an item's barcode, else a weighed or price label.

    A registered barcode wins over the embedded rules, so a store may register full
    13-digit codes that start with 2x. A GTIN that is not registered must have a
    correct check digit before the rules are tried: a misread never becomes a sale.
    """
    code = code.strip()
    if not code:
        raise BarcodeError("Empty barcode")
    hit = _by_barcode(session, lookup_forms(code))
    if hit is not None:
        return Scan(hit.item_code, hit.uom or hit.stock_uom, None, None, code)
    if is_gtin(code):
        validate_gtin(code)
    embedded = parse_embedded(code, rules)
    if embedded is None:
        raise BarcodeError(f"Unknown barcode {code}", barcode=code)
    ref = embedded.item_ref
    hit = _by_barcode(session, [ref, ref.lstrip("0") or "0"])
    if hit is None:
        raise BarcodeError(f"Unknown PLU {ref} in weighed barcode {code}", barcode=code)
    weight = embedded.rule.value_kind == "weight"
    return Scan(
        hit.item_code,
        hit.uom or hit.stock_uom,
        embedded.value if weight else None,
        None if weight else embedded.value,
        code,
    )


def get_item(session: Session, item_code: str) -> ItemInfo:
    """A sellable item with its UOMs; NotFoundError if unknown or disabled."""
    row = _enabled_item(session, item_code)
    uoms = session.execute(
        sql_text("SELECT u.uom, u.conversion_factor, coalesce(m.must_be_whole_number, 0) AS whole"
             " FROM catalog_item_uoms u LEFT JOIN catalog_uoms m ON m.name = u.uom"
             " WHERE u.item_code = :code"),
        {"code": item_code},
    ).all()
    infos = sorted(
        (UomInfo(u.uom, Decimal(u.conversion_factor), bool(u.whole)) for u in uoms),
        key=lambda u: (u.uom != row.stock_uom, u.conversion_factor, u.uom),
    )
    barcodes = session.scalars(
        sql_text("SELECT barcode FROM catalog_barcodes WHERE item_code = :code ORDER BY barcode"),
        {"code": item_code},
    ).all()
    return ItemInfo(
        row.item_code, row.item_name, row.item_group, row.stock_uom, bool(row.is_stock_item),
        row.item_tax_template, tuple(infos), tuple(barcodes),
    )


def price_for(
    session: Session, item_code: str, uom: str, price_list: str, *, on: date | None = None
) -> Decimal:
    """The list price of one ``uom`` of the item on day ``on`` (default today).

    ERPNext's rule: the UOM's own Item Price, else the stock UOM's price times the UOM's
    conversion factor (unrounded: the totals engine rounds as ERPNext does). Among valid
    prices the latest ``valid_from`` wins, as in ERPNext's ``get_item_price``.
    """
    item = _enabled_item(session, item_code)
    day = (on or date.today()).isoformat()
    rows = session.execute(
        sql_text("SELECT uom, price_list_rate, valid_from, valid_upto, name FROM catalog_prices"
             " WHERE item_code = :code AND price_list = :pl"),
        {"code": item_code, "pl": price_list},
    ).all()
    valid = sorted(
        (r for r in rows
         if (r.valid_from or "") <= day and (r.valid_upto is None or day <= r.valid_upto)),
        key=lambda r: (r.valid_from or "", r.name),
        reverse=True,
    )
    stock = item.stock_uom
    for r in valid:
        if r.uom == uom or (uom == stock and not r.uom):
            return Decimal(r.price_list_rate)
    if uom != stock:
        factor = session.scalar(
            sql_text("SELECT conversion_factor FROM catalog_item_uoms"
                 " WHERE item_code = :code AND uom = :uom"),
            {"code": item_code, "uom": uom},
        )
        if factor is None:
            raise NotFoundError(f"UOM {uom} is not set up for item {item_code}")
        for r in valid:
            if r.uom in (stock, ""):
                return Decimal(r.price_list_rate) * Decimal(factor)
    raise NotFoundError(f"No price for {item_code} in {price_list}", item_code=item_code)


_WORD = re.compile(r"\S+")


def _fts_query(text: str) -> str | None:
    """A safe FTS5 query: every word a quoted phrase with a prefix star, ANDed.

    Quoting (with ``"`` doubled) makes every operator, bracket and keyword in the input
    plain text; a word without letters or digits would be an empty phrase and is dropped.
    """
    words = [w for w in _WORD.findall(text) if any(ch.isalnum() for ch in w)]
    if not words:
        return None
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words[:MAX_SEARCH_WORDS])


def _clean(text: str) -> str:
    # Control characters (NUL ends an FTS5 string) and lone surrogates (not UTF-8) go.
    return "".join(ch if ch.isprintable() else " " for ch in text[:MAX_SEARCH_CHARS]).strip()


def search(session: Session, text: str, limit: int = 20) -> list[ItemHit]:
    """Sellable items whose code, name or barcode words start with the words typed.

    Exact code or barcode hits come first, then names starting with the first word, then
    by name. A query matching more than ``SEARCH_WINDOW`` items ranks a fixed sample of
    them (the lowest ids): it stays fast, and the cashier types on to narrow it down.
    """
    query_text = _clean(text)
    if not query_text or limit <= 0:
        return []
    exact = session.execute(
        sql_text(f"SELECT {_ITEM_COLUMNS} FROM catalog_items WHERE disabled = 0 AND item_code IN"
             " (SELECT :t UNION SELECT item_code FROM catalog_barcodes WHERE barcode IN :forms)")
        .bindparams(bindparam("forms", expanding=True)),
        {"t": query_text, "forms": list(lookup_forms(query_text))},
    ).all()
    fts = _fts_query(query_text)
    found: Sequence[Any] = ()
    if fts is not None:
        found = session.execute(
            sql_text(f"SELECT {', '.join('i.' + c for c in _ITEM_COLUMNS.split(', '))}"
                 " FROM catalog_search s JOIN catalog_items i ON i.id = s.rowid"
                 " WHERE catalog_search MATCH :q AND i.disabled = 0 LIMIT :n"),
            {"q": fts, "n": SEARCH_WINDOW},
        ).all()
    exact_codes = {r.item_code for r in exact}
    first = query_text.split()[0].casefold()
    hits = {r.item_code: ItemHit(*r) for r in [*exact, *found]}
    ranked = sorted(
        hits.values(),
        key=lambda h: (
            h.item_code not in exact_codes,
            not h.item_name.casefold().startswith(first),
            h.item_name.casefold(),
            h.item_code,
        ),
    )
    return ranked[:limit]


def get_customer(session: Session, name: str) -> CustomerInfo:
    row = session.get(CatalogCustomer, name)
    if row is None:
        raise NotFoundError(f"Customer {name} not found", customer=name)
    if row.disabled:
        raise NotFoundError(f"Customer {name} is disabled", customer=name)
    return _customer(row)


def _customer(row: CatalogCustomer) -> CustomerInfo:
    return CustomerInfo(row.name, row.customer_name, row.customer_group, row.territory,
                        row.mobile_no, row.email_id)


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_customers(session: Session, text: str, limit: int = 20) -> list[CustomerInfo]:
    """Enabled customers whose name, email or phone contain every word typed.

    A word of digits matches the phone without its leading zeros, so "0151 2345" finds
    "+49 151 2345…" too. Customers are few (thousands), so a scan is fast enough.
    """
    words = _clean(text).casefold().split()[:MAX_SEARCH_WORDS]
    if not words or limit <= 0:
        return []
    query = select(CatalogCustomer).where(CatalogCustomer.disabled.is_(False))
    for word in words:
        if word.isdigit():
            word = word.lstrip("0") or "0"
        query = query.where(CatalogCustomer.search_text.like(_like(word), escape="\\"))
    rows = list(session.scalars(query.limit(SEARCH_WINDOW)))
    whole = " ".join(words)
    rows.sort(key=lambda r: (r.customer_name.casefold() != whole and r.name.casefold() != whole,
                             r.customer_name.casefold(), r.name))
    return [_customer(r) for r in rows[:limit]]
