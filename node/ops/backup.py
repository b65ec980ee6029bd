"""``tillmesh backup OUT`` and ``tillmesh restore``: a counter whose disk died comes back
on a new machine under its own name, and takes back from the store what it recorded
after the backup.

    backup OUT     while the node runs (or not), as the service user or root, as ``status``
                   is run: the store copied online and checked (``store.backup_file``), the
                   settings and every secret (read as the node reads them, sealed or
                   not) in one file under a backup passphrase (asked twice at a
                   terminal, else the first line of standard input). Mode 0600, and
                   complete or not there at all.
    restore FILE   into an empty data dir only: the settings, the secrets (in plain text,
                   0600: the old machine's seal cannot be opened here, so seal them
                   again) and the store, checked again. When the store has other
                   counters, the restored one records nothing until every one of them
                   has linked to it and given back what it recorded after the backup
                   (``store.backup_restored``); ``--no-peers`` says none holds more. A
                   restore that fails leaves the data dir as it found it. Run as root,
                   the data dir must exist already (the service user's).
    restore --confirm-alone
                   the node stopped: a restored counter still waiting records again
                   without what it recorded after the backup (IT says no counter holds it).

Never restore a counter whose old machine may still run: two machines under one name
fork its chain. A counter lost without a backup is replaced instead: revoke it, join a
new one (README).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from tillmesh.node.errors import ConfigError, StoreError, ValidationError
from tillmesh.node.ops import config as config_mod
from tillmesh.node.ops.config import CONFIG_NAME, Config
from tillmesh.node.ops.provisioning import _made_by_join, _node_stopped, _remove, node_running
from tillmesh.node.ops.seal import _secrets as counter_secrets
from tillmesh.node.projections import counters
from tillmesh.node.store import (
    archive,
    backup_file,
    backup_restored,
    checkpoint,
    open_engine,
    read_key_file,
    sealing,
)
from tillmesh.node.store._engine import archive_path, connect_store
from tillmesh.node.store.const import MAX_DRIFT_MS
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.ownership import own

DataDir = Callable[[argparse.Namespace], Path]
Limits = tuple[int, int]  # argon2id (opslimit, memlimit)
LIMITS: Limits = (sealing.OPSLIMIT, sealing.MEMLIMIT)  # as a sealed secret: a lost file is
#   all the time in the world to guess


# --- backup -------------------------------------------------------------------------------


def backup(config: Config, out: Path, passphrase: str, limits: Limits = LIMITS
           ) -> dict[str, Any]:
    """Write the backup of the counter in ``config`` to ``out``; what was written."""
    if len(passphrase) < sealing.PASSPHRASE_MIN_CHARS:
        raise ValidationError(f"a backup passphrase needs at least "
                              f"{sealing.PASSPHRASE_MIN_CHARS} characters: whoever finds the "
                              "file has all the time in the world to guess it")
    out = out.absolute()
    if out.is_dir():
        raise ConfigError(f"{out} is a folder: name the backup file, e.g. {out}/"
                          f"{config.node_id}.tillmesh-backup")
    if not out.parent.is_dir():
        raise ConfigError(f"{out.parent} does not exist: the backup goes into a folder that does")
    db_key = read_key_file(config.key_path)
    held_secrets = _secrets_of(config)
    settings = (config.data_dir / CONFIG_NAME).read_text()
    started = time.monotonic()
    key = sealing.new_key(passphrase, *limits)
    began = datetime.now(UTC)  # every sale acknowledged before this is in the copy
    # Beside the backup, not in the data dir: a counter's disk may be nearly full.
    tag = secrets.token_hex(4)
    copies = {part: out.with_name(f".{out.name}.{part}-{tag}") for part in _PARTS}
    try:
        vector = copy_parts(config, db_key, copies)
        head = backup_file.header(key, node=config.node_id, cluster=config.cluster,
                                   created_at=began.isoformat(), events=sum(vector.values()))
        held = [part for part in _PARTS if copies[part].exists()]
        manifest = {"config": settings, "vector": vector,
                    "store_bytes": copies["store"].stat().st_size,
                    "files": {part: copies[part].stat().st_size for part in held},
                    "secrets": {name: base64.b64encode(data).decode()
                                for name, data in held_secrets.items()}}
        with backup_file.partial_file(out) as fh:
            backup_file.write(fh, key, head, manifest, [copies[part] for part in held])
    finally:
        for copy in copies.values():
            for leftover in ("", "-journal", "-wal", "-shm"):
                copy.with_name(copy.name + leftover).unlink(missing_ok=True)
    return {"file": str(out), "node": config.node_id, "events": sum(vector.values()),
            "bytes": out.stat().st_size, "seconds": time.monotonic() - started}


# The files a backup carries, in the order it carries them: the store, and once it has a
# checkpoint, the checkpoint and the archive (``store.checkpoint``, ``store.archive``).
_PARTS = ("store", "checkpoint", "archive")
_COPY_TRIES = 3  # an archiving run that moves the floor between two copies: copy again


def copy_parts(config: Config, db_key: bytes, copies: dict[str, Path]) -> dict[str, int]:
    """Consistent copies of the store and, once it has a checkpoint, of the checkpoint and
    the archive (taken last); copied again if an archiving run moved things between the
    copies (the checkpoint must stand on the copied events, the archive hold at least
    what the copied floor says); the store's vector."""
    ckpt = checkpoint.checkpoint_path(config.db_path)
    for _ in range(_COPY_TRIES):
        for copy in copies.values():
            copy.unlink(missing_ok=True)
        backup_file.copy_online(config.db_path, db_key, copies["store"])
        vector = backup_file.check(copies["store"], db_key)
        if not ckpt.exists():
            if backup_file.floor(copies["store"], db_key):
                raise StoreError(f"events were archived but {ckpt} is missing")
            return vector
        backup_file.copy_online(ckpt, db_key, copies["checkpoint"])
        backup_file.copy_online(archive_path(config.db_path), db_key, copies["archive"])
        conn = connect_store(copies["store"], db_key, archive=copies["archive"])
        try:
            whole = checkpoint.stands_on(conn, copies["checkpoint"], db_key) and all(
                archive.archived_heads(conn).get(o, (0, b""))[0] >= seq
                for o, (seq, _) in archive.floors(conn).items())
        finally:
            conn.close()
        if whole:
            return vector
    raise StoreError("the archive kept moving while the backup copied it: run the backup "
                     "again when `tillmesh archive run` is done")


def _secrets_of(config: Config) -> dict[str, bytes]:
    """Every secret the counter holds (as ``tillmesh seal`` knows them), by its path in the
    data dir, read as the node reads it (plain, or sealed to this machine or a passphrase)."""
    found = {}
    for path in counter_secrets(config):
        if sealing.held(path) is None:
            continue  # not set up here (no ERPNext link yet)
        try:
            name = path.relative_to(config.data_dir)
        except ValueError as exc:
            raise ConfigError(f"{path} lies outside the data dir {config.data_dir}: a backup "
                              "takes only what lies inside it") from exc
        found[str(name)] = sealing.read_secret(path, path.name)
    return found


# --- restore ------------------------------------------------------------------------------


def restore(data_dir: Path, source: Path, passphrase: Callable[[], str], *,
            no_peers: bool = False) -> list[str]:
    """Restore the backup ``source`` into the empty ``data_dir`` (``passphrase()`` asked
    once the file is known to be a backup); what was done, a line each."""
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise ConfigError(f"{data_dir} is not empty: a backup is restored only into an empty "
                          "data dir (a new disk, or move the old one aside first)")
    if os.geteuid() == 0 and not data_dir.exists():
        # Made here it would be root's, and the service could not open its store.
        raise ConfigError(f"{data_dir} does not exist: create it as the service user's first "
                          f"(install -d -o tillmesh -g tillmesh -m 0700 {data_dir}), or use "
                          f"`deploy/install.sh --restore {source}`")
    with backup_file.Reader(source) as reader:
        made_at = _made_at(reader)
        manifest = reader.unlock(passphrase())
        made = _made_by_join(data_dir)
        try:
            return _restore_into(data_dir, reader, manifest, made_at, no_peers)
        except BaseException:
            _remove(data_dir, made)  # as it was: empty, or not there
            raise


def _made_at(reader: backup_file.Reader) -> datetime:
    try:
        made_at = datetime.fromisoformat(str(reader.header["created_at"]))
    except (KeyError, ValueError) as exc:
        raise StoreError(f"{reader.where} does not say when it was made") from exc
    now = datetime.now(UTC)
    if now < made_at - timedelta(milliseconds=MAX_DRIFT_MS):
        # Its clock would stamp new events before the ones it already made.
        raise ConfigError(f"this machine's clock ({now:%Y-%m-%d %H:%M} UTC) is behind the "
                          f"time the backup was made ({made_at:%Y-%m-%d %H:%M} UTC): set it "
                          "(NTP) before restoring")
    return made_at


def _restore_into(data_dir: Path, reader: backup_file.Reader, manifest: dict[str, Any],
                  made_at: datetime, no_peers: bool) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)
    try:
        _write_new(data_dir, CONFIG_NAME, str(manifest["config"]).encode())
        config = config_mod.load(data_dir)
        for name, text in dict(manifest["secrets"]).items():
            _write_new(data_dir, name, base64.b64decode(text))
        size, vector = int(manifest["store_bytes"]), dict(manifest["vector"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{reader.where}: its manifest is incomplete ({exc})") from exc
    db_key = read_key_file(config.key_path)
    sizes = dict(manifest.get("files") or {"store": size})
    places = {"store": config.db_path, "archive": archive_path(config.db_path),
              "checkpoint": checkpoint.checkpoint_path(config.db_path)}
    held = [part for part in _PARTS if part in sizes]
    for part, chunks in zip(held, reader.split([int(sizes[p]) for p in held]), strict=True):
        partial = places[part].with_name(places[part].name + ".restoring")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, places[part])
    if backup_file.check(config.db_path, db_key) != vector:
        raise StoreError(f"{reader.where}: the store in it holds other events than its "
                         "manifest says")
    mine = vector.get(config.node_id, 0)
    log = EventLog(open_engine(config.db_path, db_key), config.node_id)
    try:
        with log.reading() as s:
            others = [m.node for m in counters.members(s) if m.node != config.node_id]
        if others and not no_peers:
            with log.transaction() as tx:
                backup_restored.mark(tx.session, backup_restored.Restored(
                    mine, made_at.isoformat()))
    finally:
        log.engine.dispose()
    for path in [data_dir, *data_dir.rglob("*")]:
        own(path, data_dir)  # restored by root into the service user's data dir
    return _said(config, sum(vector.values()), made_at, others, no_peers)


def _write_new(data_dir: Path, name: str, data: bytes) -> None:
    """``data`` in a new file ``name`` of the data dir, 0600 (its folders 0700)."""
    path = data_dir / name
    if not path.resolve().is_relative_to(data_dir.resolve()):
        raise StoreError(f"the backup names a file outside the data dir: {name}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _said(config: Config, events: int, made_at: datetime, others: list[str],
          no_peers: bool) -> list[str]:
    where = ("" if config.data_dir == config_mod.DEFAULT_DATA_DIR
             else f" --data-dir {config.data_dir}")
    lines = [f"restored counter {config.node_id} into {config.data_dir}: {events:,} events, "
             f"backup of {made_at:%Y-%m-%d %H:%M} UTC"]
    if not others:
        lines.append("it is the store's only counter: what it recorded after the backup is "
                     "lost, and it records again from the backup's state")
    elif no_peers:
        lines.append("--no-peers: it records at once; anything it recorded after the backup "
                     "that another counter still holds can never join the store again")
    else:
        lines.append(f"once started, it records nothing until every other counter ("
                     f"{', '.join(others)}) has linked to it and given back what it recorded "
                     "after the backup (`tillmesh status` says where it stands); if one is "
                     "gone for good and none holds more, stop it and run "
                     f"`tillmesh{where} restore --confirm-alone`")
    lines.append(f"its secrets lie in plain text: run `sudo tillmesh{where} seal --systemd` "
                 "(or --passphrase) before starting it")
    return lines


def confirm_alone(config: Config) -> list[str]:
    """A restored counter still waiting records again without what it recorded after the
    backup (the node stopped); what was done."""
    if node_running(config):
        raise StoreError("the node is running: stop it (systemctl stop tillmesh), then run "
                         "`tillmesh restore --confirm-alone` again")
    with _node_stopped(config, "restore --confirm-alone"):
        log = EventLog(open_engine(config.db_path, read_key_file(config.key_path)),
                       config.node_id)
        try:
            if log.held is None:
                raise ValidationError(f"counter {config.node_id} is not waiting for the other "
                                      "counters: nothing to confirm")
            got = backup_restored.release(log)
        finally:
            log.engine.dispose()
    return [f"counter {config.node_id} records again: {got:,} of its events recorded after "
            "the backup came back before this; whatever else it recorded then is lost"]


# --- the commands -------------------------------------------------------------------------


def _passphrase(prompt: str, confirm: bool = False) -> str:
    from tillmesh.node.ops.cli import _read_pin  # the CLI's one way of asking a secret

    return _read_pin(prompt, confirm=confirm, what="passphrase")


def cmd_backup(data_dir: DataDir, args: argparse.Namespace) -> int:
    config = config_mod.load(data_dir(args))
    done = backup(config, args.out, _passphrase("Passphrase for the backup: ", confirm=True))
    print(f"backup of counter {done['node']} written to {done['file']}: {done['events']:,} "
          f"events, {done['bytes'] / 2**20:,.1f} MiB in {done['seconds']:.1f} s. Keep the "
          "passphrase apart from the file: without it nobody can open the file, not even you")
    return 0


def cmd_restore(data_dir: DataDir, args: argparse.Namespace) -> int:
    if args.confirm_alone == (args.backup is not None):
        raise ValidationError("name the backup file to restore, or give --confirm-alone "
                              "(not both)")
    if args.confirm_alone:
        lines = confirm_alone(config_mod.load(data_dir(args)))
    else:
        lines = restore(data_dir(args), args.backup,
                        partial(_passphrase, "Passphrase of the backup: "),
                        no_peers=args.no_peers)
    print("\n".join(lines))
    return 0


def add_commands(sub: Any, data_dir: DataDir) -> None:
    """Add ``backup`` and ``restore`` to the ``tillmesh`` parser's subparsers."""
    p = sub.add_parser("backup", help="write an encrypted, consistent copy of this counter "
                       "(store, settings, secrets) while it runs; the passphrase is asked "
                       "twice, or read from standard input")
    p.add_argument("out", type=Path, help="the backup file to write (0600)")
    p.set_defaults(fn=partial(cmd_backup, data_dir))

    p = sub.add_parser("restore", help="bring a counter back from its backup into an empty "
                       "data dir; it then takes back from the other counters what it "
                       "recorded after the backup before it records anything")
    p.add_argument("backup", nargs="?", type=Path, help="the file `tillmesh backup` wrote")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--no-peers", action="store_true",
                     help="no other counter holds anything this one recorded after the "
                     "backup: it records at once")
    how.add_argument("--confirm-alone", action="store_true",
                     help="(node stopped) a restored counter still waiting for the other "
                     "counters records again without what it recorded after the backup")
    p.set_defaults(fn=partial(cmd_restore, data_dir))
