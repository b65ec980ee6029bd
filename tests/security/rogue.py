"""A stolen till, used by hand: the keys and the copy of the store of an enrolled counter
(stopped, as a thief carries it off), and a CurveZMQ connection to a victim's
replication port on which it sends frames it crafted itself. It can chain an event to
any origin's head it holds and sign it with the one key it has."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import zmq

from tillmesh.node.membership.keys import read_keypair_file
from tillmesh.node.ops.config import load
from tillmesh.node.store import open_engine, read_key_file
from tillmesh.node.store.event_codec import Event, make_event
from tillmesh.node.store.event_log import EventLog
from tillmesh.replication import hlc
from tillmesh.replication.const import PROTOCOL_VERSION
from tillmesh.replication.event import GENESIS
from tillmesh.replication.protocol import Events, Hello, encode
from tillmesh.replication.signing import Signer

T = TypeVar("T")
RESEND_S = 0.3  # between sends: the victim re-greets a silent peer within about a second


class Rogue:
    def __init__(self, stolen_dir: Any) -> None:
        config = load(stolen_dir)
        self.node = config.node_id
        self.cluster = config.cluster
        self.keypair = read_keypair_file(config.node_key_path)
        self.heads: dict[str, tuple[int, bytes]] = {}
        self.learn(stolen_dir)

    def learn(self, data_dir: Any) -> None:
        """Take the heads of the store held in ``data_dir`` (a connected till hears every
        new event, so it always knows them; here they are read off the disk)."""
        config = load(data_dir)
        log = EventLog(open_engine(config.db_path, read_key_file(config.key_path)),
                       config.node_id)
        try:
            self.heads = {origin: (seq, log.range(origin, seq, seq)[0].hash)
                          for origin, seq in log.vector().items()}
        finally:
            log.engine.dispose()

    def forge(self, origin: str, kind: str, body: dict[str, Any], *,
              stamp_ms: int | None = None, signer: Signer | None = None) -> Event:
        """The next event of ``origin``, chained to its head; signed with the stolen key
        (or ``signer``). Held as the new head: the next forgery chains to it."""
        seq, prev = self.heads.get(origin, (0, GENESIS))
        wall = datetime.now(UTC)
        stamp = hlc.pack(stamp_ms if stamp_ms is not None else int(wall.timestamp() * 1000),
                         0)
        event = make_event(origin, seq + 1, stamp, wall, kind, body, prev)
        event = (signer or self.keypair.signer).sign(event)
        self.heads[origin] = (event.seq, event.hash)
        return event

    @contextmanager
    def link(self, victim_dir: Any) -> Iterator[zmq.Socket[Any]]:
        """A DEALER to the victim's replication port, authenticated with the stolen key."""
        victim = load(victim_dir)
        server_key = read_keypair_file(victim.node_key_path).public
        ctx: zmq.Context[Any] = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.curve_publickey = self.keypair.public
        sock.curve_secretkey = self.keypair.secret
        sock.curve_serverkey = server_key
        sock.linger = 1000
        sock.connect(victim.listen)
        try:
            yield sock
        finally:
            ctx.destroy(linger=1000)

    def send(self, sock: zmq.Socket[Any], *events: Event) -> None:
        """Hello, then the events. The victim takes events only from a greeted peer, and
        re-greets a peer it hears while its own link to it is down (the stolen till is
        off), which drops what comes before that: so a caller sends again until seen."""
        sock.send(encode(Hello(PROTOCOL_VERSION, self.cluster, self.node, {},
                               int(time.time() * 1000), False)))
        sock.send(encode(Events(self.node, events)))

    def until(self, sock: zmq.Socket[Any], events: tuple[Event, ...],
              seen: Callable[[], T], deadline_s: float) -> T:
        """Send ``events`` again and again until ``seen()`` says the victim judged them."""
        deadline = time.monotonic() + deadline_s
        while True:
            self.send(sock, *events)
            got = seen()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"the victim showed nothing within {deadline_s} s")
            time.sleep(RESEND_S)
