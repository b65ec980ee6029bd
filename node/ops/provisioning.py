"""IT tasks on the store itself: create a counter, read its status, rebuild projections
(sealing its secrets: ``seal``)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tillmesh.node.api._server import ipc_path
from tillmesh.node.api.client import Client
from tillmesh.node.api.cluster import advertised
from tillmesh.node.domain.const import PIN_MIN_DIGITS, PIN_MIN_DIGITS_SUPERVISOR
from tillmesh.node.domain.credentials import SecretKind, new_credential
from tillmesh.node.domain.releases import allows, short_refusal
from tillmesh.node.domain.roles import Role
from tillmesh.node.errors import (
    ConfigError,
    NodeUnavailable,
    StoreError,
    TillmeshError,
    UnknownMethod,
    ValidationError,
)
from tillmesh.node.membership import release
from tillmesh.node.membership.invite import InviteCode
from tillmesh.node.membership.keys import Keypair, create_keypair_file, read_keypair_file
from tillmesh.node.membership.trust import adopt_snapshot
from tillmesh.node.ops import config as config_mod
from tillmesh.node.ops.config import CONFIG_NAME, Config
from tillmesh.node.ops.const import (
    BOOTSTRAP_POLL_S,
    BOOTSTRAP_TIMEOUT_S,
    CLUSTER_ID_BYTES,
    DEMO_STOCK,
    PEERS_TIMEOUT_S,
    PING_TIMEOUT_S,
)
from tillmesh.node.ops.seal import secret_warnings, secrets_held
from tillmesh.node.projections.counters import ENROLLED
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.projections.membership import allowed_releases
from tillmesh.node.projections.stock import BASE, base_body
from tillmesh.node.projections.users import USER_UPSERTED
from tillmesh.node.projections.users import list_users as _list_users
from tillmesh.node.store import create_key_file, open_engine, read_key_file, snapshot_check
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.ownership import open_lock

logger = logging.getLogger("tillmesh.setup")

DEMO_USERS = (("admin", "Demo Admin", "admin", "1234"),
              ("supervisor", "Demo Supervisor", "supervisor", "2222"),
              ("cashier", "Demo Cashier", "cashier", "1111"))
# Written above the setting in a demo store's tillmesh.toml.
DEMO_PIN_NOTE = (f"A demo store only: its published PINs (admin 1234, supervisor 2222) have "
                 f"{PIN_MIN_DIGITS} digits; a real store (`tillmesh init` without --demo) "
                 f"asks {PIN_MIN_DIGITS_SUPERVISOR} of supervisors and admins.")


def _open(config: Config) -> EventLog:
    """The log of a stopped counter, for a command that records events (signed)."""
    return EventLog(open_engine(config.db_path, read_key_file(config.key_path)), config.node_id,
                    signer=read_keypair_file(config.node_key_path).signer)


def _user_event(config: Config, user: str, name: str, role: Role, pin: str) -> dict[str, Any]:
    cred = new_credential(SecretKind.PIN, pin, role, config.min_pin_digits_supervisor)
    return {"user": user, "full_name": name, "role": role.value, "secret_kind": cred.kind.value,
            "secret_hash": cred.secret_hash, "disabled": False}


def _endpoint(config: Config) -> str | None:
    if config.listen.endswith(":0"):
        return None  # a port the kernel picks at start: peers learn it from mDNS
    try:
        return advertised(config.listen, config.advertise)
    except ConfigError:
        return None  # no address to announce yet: peers learn it from mDNS


def ensure_new(config: Config) -> None:
    """Refuse a data dir that already holds a counter (before anyone types a PIN for it)."""
    if (config.data_dir / CONFIG_NAME).exists():
        raise ConfigError(f"{config.data_dir} already holds a counter; not touching it")


def initialise(config: Config, *, admin: str, admin_name: str, pin: str, demo: bool) -> None:
    """Create a new cluster on this first counter: data dir (0700), database key and node
    keypair (0600), config, the counter's enrolment and the first admin."""
    ensure_new(config)
    if not config.cluster:
        config = replace(config, cluster=secrets.token_hex(CLUSTER_ID_BYTES))
    if demo:
        config = replace(config, min_pin_digits_supervisor=PIN_MIN_DIGITS)
    first = _user_event(config, admin, admin_name, Role.ADMIN, pin)  # check it before writing
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config.data_dir.chmod(0o700)
    config.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = create_key_file(config.key_path)
    keypair = create_keypair_file(config.node_key_path)
    log = EventLog(open_engine(config.db_path, key), config.node_id, signer=keypair.signer)
    with log.transaction() as tx:
        # The first counter creates the cluster and enrols itself: the root of trust.
        tx.append(ENROLLED, {"node": config.node_id, "public_key": keypair.public.decode(),
                             "signing_key": keypair.signer.public, "by": admin,
                             "cluster": config.cluster, "endpoint": _endpoint(config)})
        tx.append(USER_UPSERTED, first)
        tx.append("audit.user_changed", {"user": admin, "target": admin, "change": "created",
                                         "role": Role.ADMIN.value, "approver": None})
        if demo:
            from tillmesh.lab.demo_data import WAREHOUSE, demo_master_docs

            for user, name, role, user_pin in DEMO_USERS:
                if user != admin:
                    tx.append(USER_UPSERTED, {
                        **_user_event(config, user, name, Role(role), user_pin), "by": admin})
            docs = demo_master_docs()
            for doctype, doc in docs:
                tx.append("master.upserted", upserted_body(doctype, doc))
            # A stock reading as ERPNext's Bin would give it, so the demo shows stock.
            tx.append(BASE, base_body(WAREHOUSE, {
                doc["name"]: Decimal(DEMO_STOCK) for doctype, doc in docs if doctype == "Item"
            }, [], datetime.now(UTC).isoformat()))
    log.engine.dispose()
    notes = {"min_pin_digits_supervisor": DEMO_PIN_NOTE} if demo else None
    (config.data_dir / CONFIG_NAME).write_text(config.to_toml(notes))


def node_running(config: Config) -> bool:
    path = ipc_path(config.api_endpoint)
    if path is not None and not os.path.exists(path):
        return False  # a live node has its socket; skip the ping timeout
    with Client(config.api_endpoint, timeout=PING_TIMEOUT_S) as client:
        try:
            client.call("methods")
        except NodeUnavailable:
            return False
    return True


def store_status(config: Config) -> dict[str, Any]:
    log = _open(config)
    try:
        vector = dict(log.vector())
        running = node_running(config)
        status: dict[str, Any] = {
            "node": config.node_id, "cluster": config.cluster,
            "data_dir": str(config.data_dir), "database": str(config.db_path),
            "events": sum(vector.values()), "vector": vector, "node_running": running}
        if running:
            with Client(config.api_endpoint, timeout=PEERS_TIMEOUT_S) as client:
                peers = client.call("peers")
                with contextlib.suppress(UnknownMethod):  # a node of an earlier release
                    status["counter"] = client.call("counter_state")  # revoked, cut off: why
            status["peers"] = peers
            status["warnings"] = [
                f"clock of {p['node']} is {p['skew_ms']:+d} ms off (limit "
                f"{config.max_skew_ms} ms): check NTP" for p in peers if p["skew_warning"]]
        # The running node's release, protocol and schema (None: a release that does not
        # say them), else this code's: what `tillmesh run` would start.
        said = status.get("counter") if running else release.identity()
        status.update({key: (said or {}).get(key) for key in ("release", "protocol", "schema")})
        # per counter whose first events it has still to fetch (joined from a checkpoint)
        status["history_from"] = log.history_from()
        with log.reading() as s:
            status["snapshot"] = snapshot = snapshot_check.outcome(s)  # a joiner's tables
            hold = allowed_releases(s)
        status["allowed_releases"] = list(hold.releases) if hold else []  # []: any
        status["secrets"] = secrets_held(config)
        status["warnings"] = [*secret_warnings(config), *status.get("warnings", [])]
        mine = status["release"]
        if hold is not None and mine and not allows(hold, mine):
            status["warnings"].append(f"{short_refusal(hold, mine)} (`tillmesh releases`)")
        if snapshot is not None and snapshot.get("state") == "tampered":
            status["warnings"].append(
                "SECURITY: the snapshot this counter joined with held tables its events do "
                f"not build ({', '.join(snapshot.get('tables') or [])}); they were rebuilt "
                "from the events: ask who ran the counter that invited it")
        return status
    finally:
        log.engine.dispose()


def list_users(config: Config) -> list[dict[str, Any]]:
    log = _open(config)
    try:
        with log.reading() as s:
            return [u.public() for u in _list_users(s)]
    finally:
        log.engine.dispose()


@contextmanager
def _node_stopped(config: Config, command: str) -> Iterator[None]:
    """Hold the node's endpoint lock (``tillmesh.node.api._server``): no node runs or
    starts meanwhile; refused, saying to stop it and run ``tillmesh <command>`` again.

    A ping cannot prove a node is down (a busy node answers late), the kernel's flock can.
    """
    running = StoreError("the node is running: stop it (systemctl stop tillmesh), then run "
                         f"`tillmesh {command}` again")
    path = ipc_path(config.api_endpoint)
    if path is None:  # no lock file to take for a TCP endpoint: ask instead
        if node_running(config):
            raise running
        yield
        return
    # made by root (rebuild): the node must still take it; never through a planted link
    fd = open_lock(Path(path + ".lock"), config.data_dir)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise running from exc
        yield
    finally:
        os.close(fd)  # releases the lock


def rebuild(config: Config) -> tuple[int, float]:
    with _node_stopped(config, "rebuild"):
        log = _open(config)
        try:
            start = time.perf_counter()
            count = log.rebuild()
            return count, time.perf_counter() - start
        finally:
            log.engine.dispose()


Progress = Callable[[str, int, int], None]  # (what: "snapshot" bytes or "events", have, want)


def _install_snapshot(config: Config, code: InviteCode, keypair: Keypair, log: EventLog,
                      ticket: dict[str, Any], progress: Progress) -> None:
    """Fetch and install the inviting counter's snapshot; on any trouble, say why and let
    replication pull the events instead (slower, same result)."""
    from tillmesh.node.membership.join import fetch_snapshot
    from tillmesh.node.store import snapshot

    path = config.data_dir / "snapshot.db"
    installed = None
    try:
        fetch_snapshot(code, keypair, str(ticket["ticket"]), path,
                       lambda have, want: progress("snapshot", have, want))
        installed = snapshot.install(config.db_path, read_key_file(config.key_path), path,
                                     bytes(ticket["key"]))
    except (TillmeshError, KeyError, TypeError, OSError) as exc:
        message = exc.message if isinstance(exc, TillmeshError) else repr(exc)
        logger.warning("no snapshot (%s): pulling the events instead", message)
    finally:
        path.unlink(missing_ok=True)
    if installed is not None:
        try:
            adopt_snapshot(log, installed)
        except StoreError as exc:  # installed already: this store cannot be used
            raise StoreError(f"{exc.message}: this counter's store cannot be trusted; delete "
                             f"{config.data_dir} and join through another counter") from exc


def join(config: Config, code_text: str, *, progress: Progress,
         timeout_s: float = BOOTSTRAP_TIMEOUT_S, given: Collection[str] = ()) -> int:
    """Enrol this new counter with an invite code, then pull the store's whole state.

    Returns the number of events pulled. The POS Profile and time zone are the inviting
    counter's unless named in ``given`` (set by IT). Once enrolled, the counter's
    settings are written at once: a pull that stops half-way simply continues when
    ``tillmesh run`` starts. A join that fails before that removes what it made, so it
    can be tried again.
    """
    from tillmesh.node.membership.invite import decode

    code = decode(code_text)
    if code.expires_at < datetime.now(UTC):
        raise ValidationError("This invite code has expired: make a new one with "
                              "`tillmesh invite` on a running counter")
    if (config.data_dir / CONFIG_NAME).exists():
        raise ConfigError(f"{config.data_dir} already holds a counter; not touching it")
    config = replace(config, cluster=code.cluster)
    config_mod.validate(config)
    made = _made_by_join(config.data_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        config.data_dir.chmod(0o700)
        config.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        keypair = create_keypair_file(config.node_key_path)
        log = EventLog(open_engine(config.db_path, create_key_file(config.key_path)),
                       config.node_id, signer=keypair.signer)
        try:
            return asyncio.run(_bootstrap(config, code, log, keypair, progress, timeout_s,
                                          set(given)))
        finally:
            log.engine.dispose()
    except BaseException:
        if not (config.data_dir / CONFIG_NAME).exists():  # not enrolled: leave nothing
            _remove(config.data_dir, made)
        raise


def _made_by_join(data_dir: Path) -> bool | None:
    """Whether a join about to start makes ``data_dir`` (True), finds it empty (False),
    or finds something in it (None: it removes nothing of it if it fails)."""
    if not data_dir.exists():
        return True
    return False if not any(data_dir.iterdir()) else None


def _remove(data_dir: Path, made: bool | None) -> None:
    """Undo a failed join: the folder it made, or what it put in the empty one it got."""
    if made is None:
        return
    if made:
        shutil.rmtree(data_dir, ignore_errors=True)
        return
    for child in data_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


async def _bootstrap(config: Config, code: InviteCode, log: EventLog, keypair: Keypair,
                     progress: Progress, timeout_s: float, given: set[str]) -> int:
    from tillmesh.node.api.dispatch import new_node
    from tillmesh.node.membership.join import request_join
    from tillmesh.node.membership.replicate import Replication

    node = new_node(config, log, keypair=keypair)
    replication = Replication(node)
    # Listen first, so the enrolment names the address peers can really dial us at, and
    # admit the inviting counter's key (from the code): it dials us as soon as we enrol.
    # The others dial us as soon as they hear of it, which may be before the inviting
    # counter's answer names them: their handshakes wait for that answer.
    # Quiet until the snapshot is in: it needs a store without events.
    replication.paused = True
    await replication.start()
    replication.seed_members([{"node": code.issuer, "public_key": code.issuer_key}],
                             complete=False)
    try:
        answer = await asyncio.to_thread(request_join, code, config.node_id, keypair,
                                         node.replication_endpoint)
        # Every member may dial us from now on (each as it hears of our enrolment): let
        # them in at once, not only once the snapshot is in (paused, we dial nobody).
        replication.seed_members(answer["members"])
        # Enrolled: its settings are written now (the store's, where IT named none), so
        # whatever stops the rest, `tillmesh run` goes on from here.
        issuer = answer["endpoint"].removeprefix("tcp://")
        config = replace(config, peers=[*config.peers, f"{answer['issuer']}@{issuer}"])
        if "pos_profile" not in given and isinstance(answer.get("pos_profile"), str):
            config = replace(config, pos_profile=answer["pos_profile"])
        if "timezone" not in given and isinstance(answer.get("timezone"), str):
            with contextlib.suppress(ConfigError):  # a zone this machine lacks: ours stays
                config = config_mod.validate(replace(config, timezone=answer["timezone"]))
        (config.data_dir / CONFIG_NAME).write_text(config.to_toml())
        if isinstance(answer.get("snapshot"), dict):
            await asyncio.to_thread(_install_snapshot, config, code, keypair, log,
                                    answer["snapshot"], progress)
        replication.paused = False
        # Dial the inviting counter directly until mDNS or enrolment records say more.
        replication.set_config(config)
        # Until our own log holds the members, trust the list the inviting counter sent.
        replication.seed_members(answer["members"])
        deadline = time.monotonic() + timeout_s
        while True:
            have, want = replication.progress(answer["issuer"])
            progress("events", have, want)
            if want and have >= want:
                return have
            if time.monotonic() > deadline:
                raise NodeUnavailable(f"the store's state did not arrive within {timeout_s:.0f}"
                                      f" s ({have} of {want} events): `tillmesh run` goes on")
            await asyncio.sleep(BOOTSTRAP_POLL_S)
    finally:
        await replication.close()
