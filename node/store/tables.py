"""Projection tables as whole things: made and copied between stores attached to one
connection, and their digests for checking that a copy is what it claims (snapshots,
checkpoints)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import Table

from tillmesh.node.errors import StoreError
from tillmesh.node.projections import projection_tables

_ROWS = 5000  # rows fetched and hashed at a time


def columns(conn: Any, schema: str, table: str) -> str:
    names = [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({table})")]
    # FTS5 tables keep their row ids apart from their columns: copy them too.
    virtual = conn.execute(f"SELECT sql FROM {schema}.sqlite_master WHERE name = ?",
                           (table,)).fetchone()
    if virtual and "VIRTUAL TABLE" in (virtual[0] or "").upper():
        names = ["rowid", *names]
    return ", ".join(names)


def create_like(conn: Any, table: str, dest: str, *, schema: str = "main") -> None:
    """A new empty table ``dest`` (schema-qualified) made as ``table`` is in ``schema``."""
    create = conn.execute(f"SELECT sql FROM {schema}.sqlite_master WHERE name = ?",
                          (table,)).fetchone()
    if create is None:
        raise StoreError(f"table {table} missing in {schema}")
    conn.execute(re.sub(rf'TABLE\s+"?{table}"?', f"TABLE {dest}", create[0], count=1))


def copy_rows(conn: Any, table: str, source: str, dest: str, *, schema: str = "main") -> None:
    """Every row of ``source`` (a schema-qualified table, or a FROM clause) into ``dest``,
    by the columns ``table`` has in ``schema``."""
    cols = columns(conn, schema, table)
    conn.execute(f"INSERT INTO {dest} ({cols}) SELECT {cols} FROM {source}")


def table_digest(conn: Any, table: Table, schema: str = "main") -> str:
    """SHA-256 of ``table``'s rows in primary-key order, each row as its ``repr``.

    ``repr`` of a row of SQLite values (None, int, float, str, bytes) names each cell's
    type and escapes every quote and line break, so one row per line is unambiguous. A
    table without a primary key (the FTS5 search index) is ordered by, and includes, its
    rowid: the snapshot copies it and searches join on it.
    """
    keys = [c.name for c in table.primary_key.columns] or ["rowid"]
    cols = ([] if table.primary_key.columns else ["rowid"]) + [c.name for c in table.columns]
    digest = hashlib.sha256(f"{table.name}({','.join(cols)})\n".encode())
    cursor = conn.execute(f"SELECT {', '.join(cols)} FROM {schema}.{table.name} "
                          f"ORDER BY {', '.join(keys)}")
    while rows := cursor.fetchmany(_ROWS):
        digest.update("".join(f"{row!r}\n" for row in rows).encode())
    return digest.hexdigest()


def digests(conn: Any, schema: str = "main") -> dict[str, str]:
    """Every projection table's digest, by name."""
    return {t.name: table_digest(conn, t, schema) for t in projection_tables()}
