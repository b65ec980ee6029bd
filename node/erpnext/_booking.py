"""Sales ERPNext is booking, kept apart from the pull's reading of Bin on one counter.

Where ERPNext books a sale's stock as the sale arrives (ERPNext 16 in Sales Invoice mode),
the pull reads Bin between two readings of the sales no closing lists yet, and adds
back what those took (``_pull``): a sale booked meanwhile makes it read again. At a busy
store the forwarder books a sale every few seconds and a big warehouse's Bin takes
longer than that to read, so the pull would seldom get a reading. On the counter that
both forwards and pulls, sales wait while Bin is read (seconds), and the reading waits
for the sales already being booked.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class StockBooking:
    """Many sales booked at once, or one reading of Bin, never both."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._booking = 0  # sales being booked now
        self._reading = False

    @contextlib.contextmanager
    def booking(self) -> Iterator[None]:
        """Around sending a sale: waits while Bin is read."""
        with self._changed:
            self._changed.wait_for(lambda: not self._reading)
            self._booking += 1
        try:
            yield
        finally:
            with self._changed:
                self._booking -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Around reading Bin: no sale starts meanwhile, and those being booked end first."""
        with self._changed:
            self._changed.wait_for(lambda: not self._reading)
            self._reading = True
            self._changed.wait_for(lambda: not self._booking)
        try:
            yield
        finally:
            with self._changed:
                self._reading = False
                self._changed.notify_all()
