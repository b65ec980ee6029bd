"""Event replication between counters: clocks, version vectors, the wire protocol,
anti-entropy, the ZeroMQ transport and mDNS discovery.

Knows nothing about sales: it moves opaque events and merges state.
"""

from replication.event import Event
from replication.hlc import HybridClock
from replication.protocol import PROTOCOL_VERSION, ProtocolError, decode, encode
from replication.sync import EventLogStore, PeerView, Replicator
from replication.vector import VersionVector, dominates, merge, missing

__all__ = [
    "PROTOCOL_VERSION",
    "Event",
    "EventLogStore",
    "HybridClock",
    "PeerView",
    "ProtocolError",
    "Replicator",
    "VersionVector",
    "decode",
    "dominates",
    "encode",
    "merge",
    "missing",
]
