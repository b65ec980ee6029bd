"""``tillmesh run``: open the store, build the node, serve the local API until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import grp
import inspect
import logging
import os
import shutil
import signal
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tillmesh.node.api import Node
from tillmesh.node.api._server import ApiServer, ipc_path
from tillmesh.node.api._wire import Request
from tillmesh.node.api.dispatch import new_node
from tillmesh.node.erpnext.const import LULL_QUIET_S, LULL_WAITS_AT_MOST_S
from tillmesh.node.errors import ConfigError, NodeUnavailable
from tillmesh.node.membership.keys import read_keypair_file
from tillmesh.node.membership.trust import announce_key
from tillmesh.node.ops.config import Config
from tillmesh.node.ops.const import API_WORKERS, SWITCH_INTERVAL_S
from tillmesh.node.printing import spool_key
from tillmesh.node.store import open_engine, read_key_file, snapshot_check
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.wal import WalCheckpoints

if TYPE_CHECKING:
    from tillmesh.node.erpnext._link import ForwarderLink

log = logging.getLogger("tillmesh.node")


def open_node(config: Config) -> Node:
    db_key = read_key_file(config.key_path)
    engine = open_engine(config.db_path, db_key)
    keypair = read_keypair_file(config.node_key_path)
    events = EventLog(engine, config.node_id, signer=keypair.signer)
    if announce_key(events, keypair.signer.public):
        log.warning("this counter was made before events were signed: it announced its "
                    "signing key; its earlier events are trusted on their hash chain")
    events.enable_group_commit(config.db_path)
    node = new_node(config, events, keypair=keypair)
    node.print_service.open_spool(spool_key(db_key))  # receipts on disk are sealed with it
    return node


async def answer(node: Node, request: Request) -> Any:
    """The node's answer to a local API request, once what the call recorded is on disk
    (one fsync is shared by every request waiting at that moment: group commit). A call
    that recorded nothing does not wait for others' commits: a scan while a pull wrote
    waited for the pull's fsyncs (a whole sale took 130 ms instead of 10)."""
    before = node.log.committed
    try:
        result = node.call(request.method, dict(request.params), request.token)
        if inspect.isawaitable(result):  # a method that waits for another counter
            result = await result
        return result
    finally:
        if node.log.committed != before:  # also when the call failed after recording
            await node.log.flush()


async def serve(config: Config) -> None:
    node: Node | None = None

    async def handle(request: Request) -> Any:
        if node is None:  # not reachable: the loop first runs after the store is open
            raise NodeUnavailable("the node is still opening its store; try again")
        return await answer(node, request)

    # Take the endpoint's one-node lock before touching the store, so a second
    # `tillmesh run` (or one started during `tillmesh rebuild`) refuses without opening it.
    server = ApiServer(config.api_endpoint, handle, workers=API_WORKERS)
    await server.start()
    try:
        _share_api_socket(config)
        node = open_node(config)
    except BaseException:
        await server.close()
        raise
    replication = None
    join = None
    if config.cluster and node.keypair is not None:
        from tillmesh.node.api.cluster import advertised, join_request
        from tillmesh.node.membership.join import JoinListener
        from tillmesh.node.membership.replicate import Replication

        replication = Replication(node)
    # Before replication starts (mDNS probing takes a second or two), while the API already
    # answers: `tillmesh erpnext setup` run meanwhile reaches the link. It forwards only
    # once elected, and a counter that just started elects nobody for a while.
    node.cashier_first = functools.partial(server.lull, LULL_QUIET_S, LULL_WAITS_AT_MOST_S)
    link = _erpnext_link(node, replication)
    link.reload()  # forwards when `tillmesh erpnext setup` was run; `setup` reloads it later
    if replication is not None and node.keypair is not None:
        shutil.rmtree(config.data_dir / "snapshots", ignore_errors=True)  # a stop's leftovers
        join = JoinListener(config.join_listen, node.keypair,
                            functools.partial(join_request, node))
        try:
            await join.start()
            with contextlib.suppress(ConfigError):
                node.join_endpoint = advertised(join.endpoint, config.advertise)
            await replication.start()  # mDNS probing takes a second or two
        except BaseException:
            await link.close()
            await server.close()
            raise
    snapshot_check.start(node)  # the tables a snapshot brought, checked in the background
    archiver = asyncio.create_task(_archive_daily(node)) if node.keypair is not None else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # What start-up made lives as long as the process: kept out of every full garbage
    # collection, one takes ~2-14 ms of the loop instead of 50-75 ms (measured while a
    # cashier scanned a 500-line cart, which sets one off every few scans).
    gc.freeze()
    wal = WalCheckpoints(node.log.engine)  # off the loop: a checkpoint held it 5-80 ms
    wal.start()
    log.info("counter %s ready: %d events held", node.node_id, sum(node.log.vector().values()))
    print(f"tillmesh node {node.node_id} serving {config.api_endpoint}", flush=True)
    try:
        await stop.wait()
    finally:
        if archiver is not None:
            archiver.cancel()
        await link.close()
        if join is not None:
            await join.close()
        if replication is not None:
            await replication.close()
        await server.close()
        wal.close()
        node.close()
        log.info("counter %s stopped", node.node_id)


async def _archive_daily(node: Node) -> None:
    """``tillmesh archive run`` at ``archive_at`` every day, in a worker thread on its own
    connections (the node sells on; each of its writes is a short transaction)."""
    from tillmesh.node.domain import retention
    from tillmesh.node.ops import archiving as archive

    config = node.config
    at = retention.archive_time(config.archive_at)
    while True:
        now = datetime.now(UTC)
        await asyncio.sleep((retention.next_run(now, config.tz, at) - now).total_seconds())
        assert node.keypair is not None
        try:
            moved = await asyncio.to_thread(archive.run, config, node.clock(),
                                            node.keypair.signer)
        except Exception:  # a full disk, a damaged archive: said; tried again tomorrow
            log.exception("archiving old events failed; `tillmesh archive verify` says why")
            continue
        log.info("checkpoint at %d events, %d sales rows to the archive, %d events"
                 " archived (live from %s) in %.1f s", sum(moved.checkpoint.values()),
                 moved.sales, moved.events, moved.cutoff.date(), moved.seconds)


def _share_api_socket(config: Config) -> None:
    """Give the local API socket to ``api_group`` (0660), so that the till's app user, a
    member, reaches the node without any right on the data dir. Group first, mode second:
    the socket is never open to another group."""
    path = ipc_path(config.api_endpoint)
    if not config.api_group or path is None:
        return  # 0600, the service user's alone (ApiServer)
    try:
        gid = grp.getgrnam(config.api_group).gr_gid
    except KeyError as exc:
        raise ConfigError(f"api_group {config.api_group!r} is no group on this machine") from exc
    try:
        if os.stat(path).st_gid != gid:  # else the directory's setgid bit gave it already
            os.chown(path, -1, gid)
        os.chmod(path, 0o660)
    except OSError as exc:
        raise ConfigError(
            f"cannot give the local API socket {path} to group {config.api_group}: "
            f"{exc.strerror}; its directory should belong to that group with the setgid bit "
            "(deploy/tillmesh.tmpfiles makes /run/tillmesh so)") from exc


def _erpnext_link(node: Node, replication: Any) -> ForwarderLink:
    """The counter's forwarder, started and restarted as its ERPNext settings come and
    go; it sends only while this counter is the elected one (alone, it always is)."""
    from tillmesh.node.erpnext._link import ForwarderLink

    if replication is None:
        link = ForwarderLink(node, lambda: True, lambda ok: None)
    else:
        engine = replication.engine
        node.elected_forwarder = engine.forwarder
        link = ForwarderLink(node, lambda: engine.forwarder() == node.node_id,
                             engine.set_erpnext)
    node.erpnext_link = link
    return link


def run(config: Config) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    asyncio.run(serve(config))
