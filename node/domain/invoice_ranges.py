"""Invoice numbers as ranges: a few rows that stand for millions of invoices.

A counter numbers its invoices ``C01-2026-000042`` (``api._inputs.invoice_number``): a
series (counter and year) and a number that only grows. What has left the live store for
good (delivered, consolidated, archived) is nearly every number of a series up to some
point, with a few holes (a late sale, one a supervisor settled by hand), so a set of
closed ranges per series holds it in a handful of rows whatever the store's age.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

Range = tuple[int, int]  # lo, hi: both included, lo <= hi


def split(invoice: str) -> tuple[str, int] | None:
    """(series, number) of a counter's invoice name; None for any other name (a document
    named elsewhere), which never goes into ranges."""
    series, dash, number = invoice.rpartition("-")
    if not dash or not series or not number.isascii() or not number.isdigit():
        return None
    return series, int(number)


def merged(ranges: Iterable[Range], numbers: Iterable[int]) -> list[Range]:
    """``ranges`` with ``numbers`` added: sorted, disjoint, and no two adjacent (3-5 and
    6-9 are one range 3-9), so equal sets always have equal rows."""
    spans = sorted([*ranges, *((n, n) for n in numbers)])
    out: list[Range] = []
    for lo, hi in spans:
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def covered(ranges: Sequence[Range], number: int) -> bool:
    """Whether ``number`` is in one of ``ranges`` (sorted and disjoint, as ``merged``)."""
    at = bisect.bisect_right(ranges, number, key=lambda r: r[0]) - 1  # the last lo <= number
    return at >= 0 and ranges[at][0] <= number <= ranges[at][1]
