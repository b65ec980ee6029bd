"""Hybrid logical clock (Kulkarni et al. 2014), pure.

A stamp is one 64-bit integer: physical milliseconds since the epoch in the high 48
bits, a logical counter in the low 16. Stamps order events consistently with causality
and stay close to wall time, so a sale's stamp is also a good sort key for ERPNext's
posting order. The clock never goes backwards even if the wall clock does.
"""

from __future__ import annotations

from dataclasses import dataclass

LOGICAL_BITS = 16  # 65,536 events per millisecond before the physical part is borrowed
_LOGICAL_MASK = (1 << LOGICAL_BITS) - 1


def pack(physical_ms: int, logical: int) -> int:
    return (physical_ms << LOGICAL_BITS) | logical


def unpack(stamp: int) -> tuple[int, int]:
    return stamp >> LOGICAL_BITS, stamp & _LOGICAL_MASK


def physical_ms(stamp: int) -> int:
    return stamp >> LOGICAL_BITS


@dataclass
class HybridClock:
    """The clock of one node; ``last`` is the highest stamp it has issued or seen."""

    last: int = 0

    def now(self, wall_ms: int) -> int:
        """Stamp for a new local event at wall time ``wall_ms``."""
        last_pt, last_l = unpack(self.last)
        if wall_ms > last_pt:
            self.last = pack(wall_ms, 0)
        elif last_l < _LOGICAL_MASK:
            self.last = pack(last_pt, last_l + 1)
        else:  # counter exhausted within one millisecond: borrow the next one
            self.last = pack(last_pt + 1, 0)
        return self.last

    def observe(self, remote: int, wall_ms: int) -> int:
        """Merge a stamp received from a peer; returns the clock's new value."""
        last_pt, last_l = unpack(self.last)
        rem_pt, rem_l = unpack(remote)
        pt = max(last_pt, rem_pt, wall_ms)
        if pt == last_pt == rem_pt:
            logical = max(last_l, rem_l) + 1
        elif pt == last_pt:
            logical = last_l + 1
        elif pt == rem_pt:
            logical = rem_l + 1
        else:
            logical = 0
        if logical > _LOGICAL_MASK:
            pt, logical = pt + 1, 0
        self.last = pack(pt, logical)
        return self.last
