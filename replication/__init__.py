"""Event replication between counters: clocks, version vectors, the wire protocol,
anti-entropy, the ZeroMQ transport and mDNS discovery.

Knows nothing about sales: it moves opaque events and merges state, and carries a
counter's questions to the counter that made a sale (``ReturnAsk``, may these rows be
refunded?; ``SaleAsk``, send me that sale, which I do not hold) and their answers,
which the node decides (``asks.ReturnDesk``).
"""

from tillmesh.replication.event import Event
from tillmesh.replication.hlc import HybridClock
from tillmesh.replication.protocol import PROTOCOL_VERSION, ProtocolError, decode, encode
from tillmesh.replication.stores import EventLogStore
from tillmesh.replication.sync import PeerView, Replicator
from tillmesh.replication.vector import VersionVector, dominates, merge, missing

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
