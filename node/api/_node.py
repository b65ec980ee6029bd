"""The counter's service that every API method is given, and ``Node.call``.

``Node.call(method, params, token)`` is the one entry point (the API server and tests use
it). Methods are plain Python functions registered by the desks (``selling``, ``shifts``,
``people``, ``info``) with ``node.expose``; the parameters a caller sends are bound to the
function's keyword arguments, so an unknown or missing parameter is a clear
MalformedRequest, never a TypeError. Role checks happen here, in the node.

A method that waits for another counter (``return_create`` asks the sale's counter) or
prices a cart (``off_loop``) is an ``async def``: ``call`` returns its coroutine, which
the daemon awaits on its loop, so the wait never blocks other requests. Everything before
the coroutine (the method's existence, the session, the role, the parameters) is checked
when ``call`` is made.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from tillmesh.node.api._agreement import NoLink, OwnerLink
from tillmesh.node.api._methods import Auth, MethodSpec
from tillmesh.node.api.const import LOOP_SLICE_LINES, MAX_TENDER_DRAFTS
from tillmesh.node.domain.barcode import EmbeddedRules, rules_from_config
from tillmesh.node.domain.credentials import (
    Grant,
    LockoutPolicy,
    LockoutState,
    SessionBook,
    check_not_locked,
    dummy_verify,
    lockout_of,
    register_failure,
    verify_secret,
)
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.domain.roles import Action, Authorization, PermissionMatrix, Role, authorize
from tillmesh.node.domain.sale import Tender
from tillmesh.node.erpnext._pull_job import PullJob, at_once
from tillmesh.node.errors import (
    LoginFailed,
    MalformedRequest,
    PermissionDenied,
    SessionExpired,
    UnknownMethod,
)
from tillmesh.node.membership import standing
from tillmesh.node.membership.keys import Keypair
from tillmesh.node.membership.standing import Link
from tillmesh.node.ops.config import Config
from tillmesh.node.printing import PrintService
from tillmesh.node.projections import logins, membership, users
from tillmesh.node.projections.cached import Cached
from tillmesh.node.projections.pos_profile import ContextCache
from tillmesh.node.store.event_log import Clock, EventLog, Transaction, utc_now
from tillmesh.node.store.raw import raw
from tillmesh.node.store.snapshot import Ticket

if TYPE_CHECKING:
    from tillmesh.node.erpnext._forwarder import Forwarder
    from tillmesh.node.erpnext._link import ForwarderLink

T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the user behind the session token, with the role the users table
    gives them at this call."""

    user: str
    role: Role
    token: str


class TenderDrafts:
    """What the cashier has typed as the customer's tender, by cart, before the sale: in
    memory only (nothing happened yet, so no event), for the customer display. One draft a
    cart, kept with the session that typed it, at most ``limit`` carts (the oldest
    forgotten first); checkout drops a cart's draft when it is sold, voided, held or
    changed, and a session's drafts go when it locks, logs out or ends."""

    def __init__(self, limit: int = MAX_TENDER_DRAFTS) -> None:
        self._limit = limit
        self._drafts: dict[str, tuple[str, tuple[Tender, ...]]] = {}  # cart: (token, tender)

    def put(self, cart_id: str, tenders: Sequence[Tender], token: str) -> None:
        """The cart's draft is now ``tenders`` (none: no draft), typed in session ``token``."""
        self._drafts.pop(cart_id, None)  # re-inserted last: the newest
        if tenders:
            self._drafts[cart_id] = (token, tuple(tenders))
        while len(self._drafts) > self._limit:
            del self._drafts[next(iter(self._drafts))]

    def get(self, cart_id: str) -> tuple[Tender, ...]:
        return self._drafts.get(cart_id, ("", ()))[1]

    def live(self, cart_id: str, active: Callable[[str], bool]) -> tuple[Tender, ...]:
        """The cart's draft while ``active(token)`` says the session that typed it is live
        and unlocked; else none, and that session's drafts are dropped (it idled or ran
        out of time with nobody calling in to say so)."""
        token, tenders = self._drafts.get(cart_id, ("", ()))
        if tenders and not active(token):
            self.drop_session(token)
            return ()
        return tenders

    def drop(self, cart_id: str) -> None:
        self._drafts.pop(cart_id, None)

    def drop_session(self, token: str) -> None:
        """Forget what session ``token`` typed: it locked or logged out, so nobody is
        taking a payment there now."""
        self._drafts = {c: d for c, d in self._drafts.items() if d[0] != token}

    def __len__(self) -> int:
        return len(self._drafts)


class Node:
    """One counter's service: what every API method shares (store, clock, sessions,
    permissions, printer, ERPNext link) and ``call``, the one way a method is run.

    ``methods`` is the table of ``@api_method`` functions this node serves
    (``tillmesh.node.api.dispatch.METHODS`` on a real counter).
    """

    def __init__(self, config: Config, log: EventLog, methods: Mapping[str, MethodSpec],
                 clock: Clock = utc_now, keypair: Keypair | None = None) -> None:
        self.config = config
        self.log = log
        self.clock = clock
        self.matrix = PermissionMatrix.from_dict(config.permissions)
        self.sessions = SessionBook(
            idle_timeout=timedelta(minutes=config.idle_lock_minutes),
            max_age=timedelta(hours=config.session_hours),
        )
        self.lockout = LockoutPolicy(config.lockout_failures, config.lockout,
                                     timedelta(minutes=config.lockout_max_minutes))
        self.context_cache = ContextCache(config.pos_profile)
        # the users' grants and this counter's standing, as read until the next refold
        self.fold = Cached(membership.generation)
        self.barcode_rules: EmbeddedRules = rules_from_config(config.embedded_barcodes)
        self._methods = methods
        self._login_events: list[tuple[str, dict[str, Any]]] = []
        self.keypair = keypair
        # Set by the daemon when replication runs: () -> list of peer views.
        self.peer_view: Callable[[], list[dict[str, Any]]] = list
        # Set by the daemon when replication runs: () -> events refused from peers, the
        # latest per counter: {origin: (event id, why)}.
        self.refused_events: Callable[[], dict[str, tuple[str, str]]] = dict
        # ... and () -> counters whose chain it saw in two versions (forks).
        self.forks: Callable[[], list[dict[str, Any]]] = list
        # Set by the daemon: where peers reach this counter (the bound port, advertised).
        self.replication_endpoint: str | None = None
        self.join_endpoint: str | None = None  # likewise for the join listener
        # Set by the daemon when this counter has an ERPNext link (node.erpnext), and
        # the link that starts, replaces or stops it as `erpnext setup` changes settings.
        self.forwarder: Forwarder | None = None
        self.erpnext_link: ForwarderLink | None = None
        # Set by the daemon when replication runs: () -> the counter that forwards.
        self.elected_forwarder: Callable[[], str | None] = lambda: (
            self.node_id if self.forwarder is not None else None)
        # Snapshots promised to counters that just enrolled (node.snapshot), by ticket.
        self.snapshot_tickets: dict[str, Ticket] = {}
        # Set by the daemon: cut this counter off replication (True) or reconnect it.
        self.cut_off: Callable[[bool], None] | None = None
        # ... and () -> what replication knows of the other counters (membership.standing).
        self.link: Callable[[], Link | None] = lambda: None
        # ... and () -> since when every other counter refuses our key (what a sale asks).
        self.refused_since: Callable[[], datetime | None] = lambda: None
        # Set by the daemon when replication runs: asks the counter that made a sale
        # before another counter refunds it (api._agreement); invoices being asked about.
        self.owners: OwnerLink = NoLink()
        self.asking: set[str] = set()
        self.tender_drafts = TenderDrafts()  # the tender being typed, for the display
        # The printer's queue and the hook that prints recorded sales by themselves.
        self.print_service = PrintService(self)
        self.print_service.start()
        # Set by the daemon: what background work (an ERPNext pull's store steps, the
        # forwarder's) waits for before each step it takes on the loop: a lull in the
        # cashier's calls (``ApiServer.lull``).
        self.cashier_first: Callable[[], Awaitable[None]] = at_once
        self.pull_job = PullJob(config, log, lambda: self.cashier_first())  # in the background
        # Prices big carts off the event loop. One thread: pricing holds the GIL, so a
        # second one would only take turns with the first.
        self._pricing = ThreadPoolExecutor(1, thread_name_prefix="tillmesh-pricing")

    @property
    def node_id(self) -> str:
        return self.config.node_id

    # --- dispatch ----------------------------------------------------------------------

    def methods(self) -> dict[str, str]:
        """Method names with the first line of their docstring (for ``tillmesh api``)."""
        return {name: self._methods[name].summary for name in sorted(self._methods)}

    def call(self, method: str, params: dict[str, Any] | None = None,
             token: str | None = None) -> Any:
        spec = self._methods.get(method)
        if spec is None:
            raise UnknownMethod(f"Unknown method {method!r}; `tillmesh api methods` lists them")
        args: tuple[Any, ...] = (self,)
        if spec.auth is Auth.SESSION:
            caller = self.caller(token)
            if caller.role not in spec.roles:
                allowed = " and ".join(r.value + "s" for r in Role if r in spec.roles)
                raise PermissionDenied(f"{method} is for {allowed}")
            args = (self, caller)
        elif spec.auth is Auth.TOKEN:
            args = (self, token)
        params = params or {}
        try:
            spec.signature.bind(*args, **params)
        except TypeError as exc:
            raise MalformedRequest(f"{method}: {exc}") from exc
        if inspect.iscoroutinefunction(spec.fn):
            return self._awaited(spec.fn(*args, **params))
        try:
            return spec.fn(*args, **params)
        finally:
            self._record_logins()

    async def _awaited(self, call: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await call
        finally:
            self._record_logins()

    def caller(self, token: str | None) -> Caller:
        if not token:
            raise SessionExpired("Not logged in", reason="unknown")
        session = self.sessions.touch(token, self.clock())
        return Caller(session.user_id, self.recheck(token, session.user_id), token)

    def check_selling(self, session: Session) -> None:
        """Refuse selling and moving money on a revoked counter, one every other counter
        refuses, or one restored that has not caught up (``membership.standing``)."""
        fold = self.fold.get("selling", lambda: standing.selling_fold(session, self.node_id))
        standing.check_selling(fold, self.refused_since(), self.clock(),
                               timedelta(seconds=self.config.refused_stop_s), self.log.held)

    def recheck(self, token: str, user_id: str) -> Role:
        """The session's user's role now; the session ends (SessionExpired, saying why) if
        the user was disabled, given another role or a new PIN since logging in. Read at
        every call: such a change made on another counter reaches this one only as a
        replicated ``user.upserted`` applied to the users table (``fold``: read again once
        the table changed)."""
        def read() -> Grant | None:
            with self.read() as s:
                return users.grant_of(s, user_id)
        return self.sessions.recheck(token, self.fold.get(("grant", user_id), read)).role

    # --- shared helpers for the desks ---------------------------------------------------

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[Transaction]:
        with self.log.transaction(durable) as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.log.reading() as s:
            yield s

    def context(self, session: Session) -> PosContext:
        return self.context_cache.get(session, self.clock().astimezone(self.config.tz).date())

    async def off_loop(self, work: Callable[[], T], lines: int) -> T:
        """``work()``, pure (pricing ``lines`` cart lines: no store, no node state), run in
        the pricing thread when it is big enough to hold up replication and the other
        requests, else here at once. On the loop only."""
        if lines <= LOOP_SLICE_LINES:
            return work()
        return await asyncio.get_running_loop().run_in_executor(self._pricing, work)

    def close(self) -> None:
        """At a stop, once no request is served: the printer's queue (receipts still
        queued stay in the spool for next time), the pricing thread and the store."""
        self.print_service.close()
        self._pricing.shutdown(wait=True)
        self.log.close()

    def next_number(self, session: Session, key: str) -> int:
        """A local counter (invoice, shift) incremented inside the caller's transaction."""
        row = raw(session).one(
            "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT DO UPDATE"
            " SET value = CAST(value AS INTEGER) + 1 RETURNING value", (key,))
        return int(row[0])

    def check_secret(self, session: Session, user_id: str, secret: str) -> users.User:
        """Verify a user's PIN or password with the store-wide lockout; raises LoginFailed
        / LockedOut.

        The failure (or, after failures, the clearing) is recorded as an event after the
        calling method's transaction ends (see ``call``), so a refused approver PIN still
        counts even though the action it was meant to approve rolls back.
        """
        now = self.clock().astimezone(self.config.tz)
        user = users.find_user(session, user_id)
        if user is None or user.disabled:
            dummy_verify(str(secret))  # same cost, so timing does not reveal who exists
            raise LoginFailed("Wrong user or PIN")
        state = lockout_of(self.lockout, logins.failures(session, user_id, self.config.tz))
        check_not_locked(state, now)
        if not isinstance(secret, str) or not verify_secret(user.secret_hash, secret):
            new = register_failure(self.lockout, state, now)
            self._login_events.append((logins.FAILED, {"user": user_id,
                                                       "failures": new.failures}))
            check_not_locked(new, now)
            raise LoginFailed("Wrong user or PIN", failures=new.failures)
        if state != LockoutState():
            self._login_events.append((logins.CLEARED, {"user": user_id}))
        return user

    def _record_logins(self) -> None:
        pending, self._login_events = self._login_events, []
        if pending:
            with self.write() as tx:
                for kind, body in pending:
                    tx.append(kind, body)

    def authorize(
        self,
        session: Session,
        caller: Caller,
        action: Action,
        *,
        approver: dict[str, Any] | None = None,
        discount_percent: Any = None,
    ) -> Authorization:
        """Allow ``action`` for the caller, or for a supervisor who gave their PIN for it."""
        approver_id = approver_role = None
        if approver is not None:
            if not isinstance(approver, dict) or set(approver) != {"user", "pin"}:
                raise MalformedRequest('approver must be {"user": ..., "pin": ...}')
            if approver["user"] == caller.user:
                raise PermissionDenied("You cannot approve your own action")
            try:
                return authorize(self.matrix, caller.role, action, actor_id=caller.user,
                                 discount_percent=discount_percent)
            except PermissionDenied:
                pass  # the actor's role is not enough: check the approver's PIN
            found = self.check_secret(session, str(approver["user"]), approver["pin"])
            approver_id, approver_role = found.user, found.role
        return authorize(
            self.matrix,
            caller.role,
            action,
            actor_id=caller.user,
            discount_percent=discount_percent,
            approver_id=approver_id,
            approver_role=approver_role,
        )

    def audit(self, tx: Transaction, what: str, auth: Authorization, **detail: Any) -> None:
        """Write ``audit.<what>`` for a sensitive action (in the action's transaction)."""
        body = {**auth.to_audit(), **detail}
        body.setdefault("user", auth.actor_id)
        body["approver"] = auth.approver_id
        tx.append(f"audit.{what}", body)

