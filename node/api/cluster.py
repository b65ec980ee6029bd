"""API methods for the store's counters: invite, enrol, revoke, peers, and the releases
the store allows (``domain.releases``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tillmesh.node.api._methods import Auth, api_method
from tillmesh.node.domain.authority import RELEASES
from tillmesh.node.domain.releases import allows, check_releases, stranding
from tillmesh.node.domain.roles import Action, Role
from tillmesh.node.errors import AuthError, ConfigError, ValidationError
from tillmesh.node.membership import invite, release
from tillmesh.node.membership.const import INVITE_DEFAULT_MINUTES, SHORT_MISSES_ALLOWED
from tillmesh.node.membership.join import Enrolment, HolderRefused, JoinRequest, SnapshotAsk
from tillmesh.node.projections import counters
from tillmesh.node.projections.membership import allowed_releases
from tillmesh.node.store import read_key_file, snapshot
from tillmesh.node.store.const import CHUNK_BYTES
from tillmesh.replication.transport import fingerprint

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node

log = logging.getLogger("tillmesh.join")


def advertised(endpoint: str, host: str) -> str:
    """``tcp://0.0.0.0:7611`` as peers should dial it (the advertised host)."""
    scheme, _, rest = endpoint.partition("://")
    bind_host, _, port = rest.rpartition(":")
    if bind_host in ("0.0.0.0", "*", ""):
        if not host:
            raise ConfigError("set `advertise` in tillmesh.toml: the address peers dial")
        bind_host = host
    return f"{scheme}://{bind_host}:{port}"


def enrol(node: Node, request: Enrolment) -> dict[str, Any]:
    """A new counter presents an invite secret, its id and key (from the join listener).

    The secret is checked before anything else: a caller without it hears only the
    listener's generic refusal, one with it why (``HolderRefused``: its id is taken).
    A short code this counter does not know counts against its open short codes.
    """
    new_id = request.node
    with _short_misses_counted(node), node.write() as tx:
        inviter = invite.check(tx.session, request.secret, node.clock())
        if request.cluster != node.config.cluster:
            raise HolderRefused("This invite is for another store's cluster")
        if node.replication_endpoint is None and node.config.listen.endswith(":0"):
            raise HolderRefused("The inviting counter is still starting replication: try "
                                "again")
        if counters.was_enrolled(tx.session, new_id):
            raise HolderRefused(f"Counter id {new_id} is taken in this store: pick another")
        invite.use(tx.session, request.secret, new_id)
        tx.append(counters.ENROLLED, {"node": new_id, "public_key": request.public_key,
                                     "signing_key": request.signing_key, "by": inviter,
                                     "cluster": node.config.cluster,
                                     "endpoint": request.endpoint})
        tx.append("audit.node_enrolled", {"user": None, "node": new_id, "by": node.node_id})
        members = [{"node": m.node, "public_key": m.public_key, "endpoint": m.endpoint}
                   for m in counters.members(tx.session)]
    name, ticket = snapshot.new_ticket(new_id, node.config.data_dir / "snapshots")
    node.snapshot_tickets[name] = ticket
    return {"cluster": node.config.cluster, "members": members,
            # the store's settings a new counter takes unless IT gave its own
            "pos_profile": node.config.pos_profile, "timezone": node.config.timezone,
            "endpoint": node.replication_endpoint
            or advertised(node.config.listen, node.config.advertise),
            "issuer": node.node_id, "snapshot": {"ticket": name, "key": ticket.key}}


@contextmanager
def _short_misses_counted(node: Node) -> Iterator[None]:
    """A short code this counter does not know (a guess) is counted, in a transaction of
    its own: the enrolment's is rolled back."""
    try:
        yield
    except invite.UnknownShortCode:
        with node.write() as tx:
            if invite.missed(tx.session):
                log.warning("short invite codes closed after %d wrong ones: use the full "
                            "code, or make a new invite", SHORT_MISSES_ALLOWED,
                            extra={"code": "invite.short_closed"})
        raise


async def snapshot_chunk(node: Node, request: SnapshotAsk) -> dict[str, Any]:
    """A part of the snapshot a counter enrolled a moment ago asks for (join listener).

    The first request exports it (seconds, in a thread); the export is made durable
    before any of it leaves, so a new counter never holds an event we could still lose.
    """
    now = time.monotonic()
    for name, old in list(node.snapshot_tickets.items()):
        if old.expires < now:
            old.path.unlink(missing_ok=True)
            del node.snapshot_tickets[name]
    ticket = node.snapshot_tickets.get(request.ticket)
    if ticket is None:
        raise AuthError("unknown or expired snapshot ticket: join again with a new invite")
    async with ticket.lock:
        if ticket.size < 0:
            key = read_key_file(node.config.key_path)
            await asyncio.to_thread(snapshot.export, node.config.db_path, key, ticket,
                                    from_checkpoint=node.config.join_from_checkpoint)
            await node.log.flush()
    with open(ticket.path, "rb") as fh:
        fh.seek(request.offset)
        data = fh.read(CHUNK_BYTES)
    if request.offset + len(data) >= ticket.size:  # the last part: it has served its purpose
        ticket.path.unlink(missing_ok=True)
        node.snapshot_tickets.pop(request.ticket, None)
    return {"data": data, "size": ticket.size}


async def join_request(node: Node, request: JoinRequest) -> dict[str, Any]:
    """What the join listener serves: an enrolment, or a part of its snapshot."""
    try:
        if isinstance(request, SnapshotAsk):
            return await snapshot_chunk(node, request)
        return enrol(node, request)
    finally:
        await node.log.flush()


@api_method(action=Action.SETTINGS)
def invite_create(node: Node, caller: Caller, minutes: int = INVITE_DEFAULT_MINUTES,
                  approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """A one-time code that lets a new counter join this store (admins)."""
    if node.keypair is None or not node.config.cluster:
        raise ConfigError("This counter has no cluster key: was it made by `tillmesh init`?")
    if node.join_endpoint is None and node.config.join_listen.endswith(":0"):
        raise ConfigError("This counter is still starting its join listener: try again")
    with node.write() as tx:
        auth = node.authorize(tx.session, caller, Action.SETTINGS, approver=approver)
        code, short = invite.issue(
            tx.session, cluster=node.config.cluster, issuer=node.node_id,
            join_endpoint=node.join_endpoint
            or advertised(node.config.join_listen, node.config.advertise),
            issuer_key=node.keypair.public.decode(), created_by=caller.user,
            now=node.clock(), minutes=int(minutes))
        node.audit(tx, "invite_created", auth, expires_at=code.expires_at.isoformat())
    # The short code is found on mDNS: a counter that does not announce itself has none.
    return {"code": code.encode(), "short": short if node.config.mdns else None,
            "expires_at": code.expires_at}


@api_method(action=Action.SETTINGS)
def node_revoke(node: Node, caller: Caller, node_id: str,
                approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Remove a counter from the store for good: peers refuse its key (admins)."""
    with node.write() as tx:
        auth = node.authorize(tx.session, caller, Action.SETTINGS, approver=approver)
        if node_id == node.node_id:
            raise ValidationError("A counter cannot revoke itself: do it from another one")
        if not counters.is_member(tx.session, str(node_id)):
            raise ValidationError(f"{node_id} is not a counter of this store")
        # Its events up to the last one this counter holds stand; anything later it
        # makes (or a thief makes with its key) is refused on every replica.
        tx.append(counters.REVOKED, {"node": str(node_id), "counter": node.node_id,
                                     "by": auth.approver_id or auth.actor_id,
                                     "last_seq": node.log.vector().get(str(node_id), 0)})
        node.audit(tx, "node_revoked", auth, node=str(node_id))
    return {"revoked": str(node_id)}


@api_method()
def members(node: Node, caller: Caller) -> list[dict[str, Any]]:
    """The counters enrolled in this store, revoked ones included."""
    with node.read() as s:
        return [{"node": m.node, "key": fingerprint(m.public_key), "revoked": m.revoked}
                for m in counters.members(s, include_revoked=True)]


@api_method(auth=Auth.NONE)
def peers(node: Node) -> list[dict[str, Any]]:
    """Live view of the other counters: reachable, lag, clock skew and release (for IT,
    no login). Release, replication protocol and store schema are as each said them on
    connecting (None: not said, by a release before protocol 5, or not connected yet)."""
    return node.peer_view()


@api_method(action=Action.SETTINGS)
def replication_pause(node: Node, caller: Caller, paused: bool = True,
                      approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Cut this counter off the other counters (maintenance), or reconnect it; it
    keeps selling and catches up on reconnect (admins)."""
    with node.write() as tx:
        auth = node.authorize(tx.session, caller, Action.SETTINGS, approver=approver)
        if node.cut_off is None:
            raise ConfigError("Replication is not running on this counter")
        node.cut_off(bool(paused))
        node.audit(tx, "replication_paused", auth, paused=bool(paused))
    return {"paused": bool(paused)}


@api_method(auth=Auth.NONE)
def releases(node: Node) -> dict[str, Any]:
    """The releases the store allows, and what each connected counter runs (no login).

    ``allowed`` ([]: any release) and who set it; this counter's release, protocol and
    schema; each counter connected now as it said them, with whether it may sell (None:
    it did not say its release)."""
    return _releases(node)


def _releases(node: Node) -> dict[str, Any]:
    with node.read() as s:
        hold = allowed_releases(s)
    me = {"node": node.node_id, **release.identity()}
    others = [{key: p.get(key) for key in ("node", "release", "protocol", "schema")}
              for p in node.peer_view()]
    return {**me, "allowed": list(hold.releases) if hold else [],
            "set_by": hold.by if hold else None, "set_on": hold.counter if hold else None,
            "counters": [{**c, "allowed": allows(hold, c["release"]) if c["release"] else None}
                         for c in (me, *others)]}


@api_method(roles=(Role.ADMIN,))
def releases_allow(node: Node, caller: Caller, releases: list[str],
                   force: bool = False) -> dict[str, Any]:
    """Hold the store at these releases; [] lets any release sell (admins).

    A counter running another release stops selling until IT installs an allowed one, and
    replicates on. Every counter judges the change as it judges a change to users: made
    by an admin of the moment, the latest one stands. A list without this counter's
    release or a connected counter's is refused unless ``force``."""
    wanted = check_releases(releases)
    running = [release.RELEASE, *(p.get("release") for p in node.peer_view() if p.get("live"))]
    if not force and (why := stranding(wanted, running)):
        raise ValidationError(why)
    with node.write() as tx:
        auth = node.authorize(tx.session, caller, Action.SETTINGS)
        tx.append(RELEASES, {"releases": list(wanted), "by": caller.user,
                             "counter": node.node_id})
        node.audit(tx, "releases_allowed", auth, releases=list(wanted))
    return _releases(node)
