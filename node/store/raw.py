"""Raw SQL on the session's own connection, for the hot paths.

Projection handlers run once per event, also 200,000 times in a row during a rebuild;
SQLAlchemy's ORM costs ~0.3 ms per statement there, the DB-API cursor ~10 µs. Handlers
use this on the transaction's connection, so the event and its projection rows still
commit together. DB-API errors become StoreError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from tillmesh.node.errors import StoreError


class Raw:
    def __init__(self, cursor: Any, error: type[Exception]) -> None:
        self._cur = cursor
        self._error = error  # the driver's base error class

    def run(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        try:
            return list(self._cur.execute(sql, params).fetchall())
        except self._error as exc:
            raise StoreError(f"store: {exc}") from exc

    def one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """The first row, or None."""
        try:
            return self._cur.execute(sql, params).fetchone()
        except self._error as exc:
            raise StoreError(f"store: {exc}") from exc

    @property
    def in_transaction(self) -> bool:
        """Whether the connection's transaction is still open."""
        return bool(self._cur.connection.in_transaction)

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._cur.executemany(sql, rows)
        except self._error as exc:
            raise StoreError(f"store: {exc}") from exc


def raw(session: Session) -> Raw:
    """The cursor for ``session``'s transaction (cached on the session)."""
    cached = session.info.get("raw")
    if cached is None:
        conn = session.connection()
        cached = session.info["raw"] = Raw(
            conn.connection.dbapi_connection.cursor(),  # type: ignore[union-attr]
            conn.dialect.loaded_dbapi.Error)
    return cached
