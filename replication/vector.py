"""Version vectors ``{origin: highest contiguous seq}``, pure.

A node holds for every origin a gap-free prefix ``1..n`` of that origin's events, so
one integer per origin says exactly what it has.
"""

from __future__ import annotations

from collections.abc import Mapping

VersionVector = Mapping[str, int]


def merge(a: VersionVector, b: VersionVector) -> dict[str, int]:
    """The least vector that covers both (what a node has after seeing both).

    An origin at 0 is the same as an absent one and is left out.
    """
    out = {origin: seq for origin, seq in a.items() if seq > 0}
    for origin, seq in b.items():
        if seq > out.get(origin, 0):
            out[origin] = seq
    return out


def dominates(a: VersionVector, b: VersionVector) -> bool:
    """True when ``a`` has every event ``b`` has."""
    return all(a.get(origin, 0) >= seq for origin, seq in b.items())


def missing(have: VersionVector, want: VersionVector) -> dict[str, tuple[int, int]]:
    """Per origin, the inclusive seq range that ``have`` lacks to cover ``want``."""
    return {
        origin: (have.get(origin, 0) + 1, seq)
        for origin, seq in want.items()
        if seq > have.get(origin, 0)
    }
