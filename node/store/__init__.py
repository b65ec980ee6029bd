"""The encrypted local store: engine, key file, declarative base, column types."""

from node.store._engine import create_key_file, open_engine, read_key_file
from node.store.base import PROJECTION, Base, EventRow, Meta
from node.store.types import DecimalText, UtcDateTime

__all__ = [
    "PROJECTION",
    "Base",
    "DecimalText",
    "EventRow",
    "Meta",
    "UtcDateTime",
    "create_key_file",
    "open_engine",
    "read_key_file",
]
