"""Reads of projection tables kept until the projector that writes them says they changed."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class Cached:
    """Values read from tables whose projector bumps ``generation()`` before it changes
    them, each read once until it moves. For reads between transactions on the node's one
    thread, which sees the tables changed only once their transaction is over."""

    def __init__(self, generation: Callable[[], int]) -> None:
        self._generation = generation
        self._seen = -1
        self._values: dict[Hashable, Any] = {}

    def get(self, key: Hashable, read: Callable[[], T]) -> T:
        now = self._generation()
        if self._seen != now:
            self._seen, self._values = now, {}
        if key not in self._values:
            self._values[key] = read()
        value: T = self._values[key]
        return value
