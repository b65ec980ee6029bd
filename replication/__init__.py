"""Event replication between counters: clocks, version vectors, CRDT state.

Knows nothing about sales: it moves opaque events and merges state.
"""

from replication.hlc import HybridClock
from replication.vector import VersionVector, dominates, merge, missing

__all__ = ["HybridClock", "VersionVector", "dominates", "merge", "missing"]
