"""``tillmesh doctor``: checks this counter and says, one line each, what it found and how
to fix what is wrong.

    ok   node       running: active
    warn clock      NTP not synchronised; C02 +12 ms  -> fix: timedatectl set-ntp true
    fail files      2 files not owned by tillmesh (tillmesh.db-wal, …)  -> fix: chown …

Levels: ``ok``; ``warn`` (worth a look, the counter sells on); ``fail`` (broken, or about
to break: the command exits 1); ``--`` when a check cannot run here (the node stopped,
a key only root can open), saying why. ``--json`` prints the same as a list of objects
(``check``, ``level``: ok, warn, fail or unknown, ``what``, ``fix``) for monitoring.

Pure functions turn gathered facts into verdicts (tested on their own); the gathering
is the thin shell at the bottom. With the node running its API answers (peers and their
clocks and releases, the ERPNext queue, where the counter stands); either way the store
is opened for reading, as ``tillmesh status`` does: ``PRAGMA integrity_check`` and every
counter's hash chain, each chain's last event checked against its counter's signature.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import ipaddress
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tillmesh.node.errors import ConfigError, TillmeshError
from tillmesh.node.ops import config as config_mod
from tillmesh.node.ops.config import Config

OK, WARN, FAIL, UNKNOWN = "ok", "warn", "fail", "unknown"
SHOWN = {OK: "ok", WARN: "warn", FAIL: "fail", UNKNOWN: "--"}
MIB, GIB = 2**20, 2**30
DISK_FAIL_BYTES = 256 * MIB  # free space below which the counter is about to stop selling
DISK_WARN_BYTES = 2 * GIB  # below this, or
DISK_WARN_DAYS = 30  # fewer days than this at the store's growth: plan for it now
GROWTH_WINDOW_DAYS = 7  # the store's growth is measured over the last week of events
MIN_WINDOW_DAYS = 1 / 24  # a store younger than an hour has no growth worth telling
NTP_TIMEOUT_S = 5.0  # seconds for `timedatectl show` (it asks systemd over D-Bus)
PROBE_TIMEOUT_S = 3.0  # seconds for a network printer and for ERPNext to answer
API_TIMEOUT_S = 2.0  # seconds per question to the running node (it answers in ms)
MAX_FILES = 10_000  # entries of the data dir looked at; a counter has tens
IFF_UP, IFF_RUNNING, IFF_MULTICAST = 0x1, 0x40, 0x1000  # linux/if.h
NET_CLASS = Path("/sys/class/net")
USB_DEVICES = Path("/sys/bus/usb/devices")
USB_NODES = Path("/dev/bus/usb")  # BUS/DEVICE: what libusb (pyusb) opens


@dataclass(frozen=True)
class Verdict:
    check: str
    level: str
    what: str
    fix: str = ""

    def line(self) -> str:
        fix = f"  -> fix: {self.fix}" if self.fix else ""
        return f"{SHOWN[self.level]:<4} {self.check:<10} {self.what}{fix}"


def exit_code(verdicts: Iterable[Verdict]) -> int:
    return 1 if any(v.level == FAIL for v in verdicts) else 0


# ------------------------------------------------------------------------ pure verdicts


def node_verdict(running: bool, state: Mapping[str, Any] | None) -> Verdict:
    if not running:
        return Verdict("node", WARN, "not running: the store was checked directly; peers, "
                       "the ERPNext queue and releases need the node",
                       "systemctl start tillmesh (or `tillmesh run`)")
    if state is None:
        return Verdict("node", OK, "running")
    name = str(state.get("state", "?"))
    if state.get("selling", True):
        return Verdict("node", OK, f"running: {name.replace('_', ' ')}")
    return Verdict("node", FAIL, f"running but not selling ({name}): {state.get('reason')}",
                   "see the reason; `tillmesh peers`")


def clock_verdict(skews_ms: Mapping[str, int | None] | None, ntp: bool | None, *,
                  max_skew_ms: int, max_ahead_s: int) -> Verdict:
    """Clock skew against each peer (None: the node is stopped) and NTP's state (None:
    unknown here)."""
    parts = ["NTP synchronised" if ntp else "NTP not synchronised" if ntp is False
             else "NTP state unknown (no timedatectl answer)"]
    known = {node: skew for node, skew in (skews_ms or {}).items() if skew is not None}
    if skews_ms is None:
        parts.append("skew against peers unknown (node stopped)")
    elif known:
        parts.append(", ".join(f"{node} {skew:+d} ms" for node, skew in sorted(known.items())))
    else:
        parts.append("no peer's clock heard yet")
    worst = max((abs(s) for s in known.values()), default=0)
    what = "; ".join(parts)
    fix = "synchronise every counter's clock: timedatectl set-ntp true (systemd-timesyncd)"
    if worst > max_ahead_s * 1000:
        return Verdict("clock", FAIL, f"{what}: beyond {max_ahead_s} s events are refused",
                       fix)
    if worst > max_skew_ms or ntp is False:
        return Verdict("clock", WARN, what, fix)
    return Verdict("clock", OK if ntp else WARN, what,
                   "" if ntp else "check that the clock is synchronised (NTP)")


def growth_per_day(db_bytes: int, events: int, recent_events: int,
                   window_days: float) -> float | None:
    """Bytes a day the store grows by, from the events of the last ``window_days`` and
    the bytes an event takes on disk so far; None when there is too little to tell."""
    if events <= 0 or window_days < MIN_WINDOW_DAYS:
        return None
    return db_bytes / events * recent_events / window_days


def disk_verdict(free_bytes: int, growth: float | None) -> Verdict:
    days = None if not growth else free_bytes / growth
    what = f"{free_bytes / GIB:,.1f} GiB free"
    if growth is not None:
        what += f"; the store grows ~{growth / MIB:,.1f} MiB a day"
        if days is not None:
            what += f" (~{days:,.0f} days left)"
    fix = "free space on the data dir's disk or give it a bigger one"
    if free_bytes < DISK_FAIL_BYTES:
        return Verdict("disk", FAIL, f"{what}: selling stops when it is full", fix)
    if free_bytes < DISK_WARN_BYTES or (days is not None and days < DISK_WARN_DAYS):
        return Verdict("disk", WARN, what, fix)
    return Verdict("disk", OK, what)


REPAIR = ("stop the node; `tillmesh restore` a backup, or rebuild this counter from its "
          "peers (revoke it, join a new one)")


def integrity_verdict(rows: Sequence[str]) -> Verdict:
    if list(rows) == ["ok"]:
        return Verdict("store", OK, "PRAGMA integrity_check: ok")
    return Verdict("store", FAIL, f"PRAGMA integrity_check: {'; '.join(rows[:3])[:200]}",
                   REPAIR)


def chains_verdict(checked: int, broken: str | None, unsigned: Sequence[str]) -> Verdict:
    if broken is not None:
        return Verdict("chains", FAIL, f"event {broken} does not chain to the one before it "
                       "(changed or lost on this disk)", REPAIR)
    if unsigned:
        return Verdict("chains", FAIL, f"the last event of {', '.join(unsigned)} is not "
                       "signed by its counter", REPAIR)
    return Verdict("chains", OK, f"{checked:,} events, every counter's hash chain intact "
                   "and signed")


@dataclass(frozen=True)
class FileFact:
    path: str  # relative to the data dir; "." for the data dir itself
    mode: int  # st_mode
    uid: int
    secret: bool = False


def files_verdict(facts: Sequence[FileFact], owner: str, data_dir: Path) -> Verdict:
    """The data dir 0700 and nobody else's; secrets 0600; every file its owner's."""
    top = next((f for f in facts if f.path == "."), None)
    if top is None:
        return Verdict("files", FAIL, f"no data dir at {data_dir}", "tillmesh init or join")
    strangers = [f.path for f in facts if f.uid != top.uid]
    if strangers:
        return Verdict("files", FAIL, f"{len(strangers)} file(s) not owned by {owner}, the "
                       f"data dir's owner: the node cannot open them ({_few(strangers)})",
                       f"chown -R {owner}: {data_dir}")
    if stat.S_IMODE(top.mode) & 0o077:
        return Verdict("files", FAIL, f"the data dir is {stat.S_IMODE(top.mode):04o}: others "
                       "can look into the store", f"chmod 700 {data_dir}")
    open_secrets = [f.path for f in facts if f.secret and stat.S_ISREG(f.mode)
                    and stat.S_IMODE(f.mode) & 0o077]
    if open_secrets:
        return Verdict("files", FAIL, f"secret(s) readable by others: {_few(open_secrets)}",
                       f"chmod 600 {' '.join(str(data_dir / p) for p in open_secrets[:3])}")
    loose = [f.path for f in facts if f.path != "." and stat.S_IMODE(f.mode) & 0o077
             and (stat.S_ISREG(f.mode) or stat.S_ISDIR(f.mode))]
    if loose:
        return Verdict("files", WARN, f"readable by others: {_few(loose)}",
                       f"chmod -R go= {data_dir}")
    return Verdict("files", OK, f"data dir 0700, secrets 0600, all {len(facts)} owned by "
                   f"{owner}")


def _few(paths: Sequence[str]) -> str:
    return ", ".join(paths[:3]) + (", …" if len(paths) > 3 else "")


def secrets_verdict(held: Mapping[str, str], warnings: Sequence[str]) -> Verdict:
    what = ", ".join(f"{name} {how}" for name, how in held.items())
    if warnings:
        fix = warnings[0].split(": run ", 1)[-1].strip("`") if ": run " in warnings[0] else ""
        return Verdict("secrets", WARN, what, fix)
    return Verdict("secrets", OK, what)


@dataclass(frozen=True)
class PrinterFacts:
    kind: str
    where: str  # "network 10.0.0.9:9100"
    reachable: bool | None  # None: cannot tell for this kind
    detail: str = ""  # why not, or what it answered
    pending: int = 0  # receipts waiting in the spool
    drawer_pin: int = 2


def printer_verdicts(p: PrinterFacts) -> list[Verdict]:
    if p.kind == "none":
        return [Verdict("printer", WARN, "none set: no receipts", "set [printer] in "
                        "tillmesh.toml and restart the node"),
                Verdict("drawer", WARN, "opens through the printer: none set")]
    waiting = f"; {p.pending} job(s) waiting in the spool" if p.pending else ""
    if p.reachable is False:
        return [Verdict("printer", FAIL, f"{p.where}: {p.detail}{waiting}",
                        "switch it on, check its cable, or fix [printer] in tillmesh.toml"),
                Verdict("drawer", FAIL, f"opens through the printer (pin {p.drawer_pin}), "
                        "which is not reachable")]
    said = f"{p.where}: {p.detail or ('reachable' if p.reachable else 'not checked')}"
    printer = (Verdict("printer", WARN, said + waiting, "`tillmesh api printer_queue_retry` "
                       "once it prints") if p.pending else Verdict("printer", OK, said))
    return [printer, Verdict("drawer", OK, f"on the printer's kick port, pin {p.drawer_pin} "
                             "(opens on cash sales)")]


@dataclass(frozen=True)
class Interface:
    name: str
    addresses: tuple[str, ...]
    flags: int | None  # /sys/class/net/NAME/flags; None: unknown


def multicast_verdict(mdns: bool, chosen: Sequence[str], interfaces: Sequence[Interface],
                      static_peers: Sequence[str]) -> Verdict:
    """mDNS needs an interface that is up and takes multicast, and that has a link (the
    kernel's RUNNING: a carrier): one holding a chosen address (``mdns_interfaces``),
    else any but loopback."""
    if not mdns:
        static = f" and {len(static_peers)} static peer(s)" if static_peers else ""
        return Verdict("multicast", OK, "mDNS off: other counters are dialled at the "
                       f"addresses they enrolled with{static}")
    if chosen:
        wanted = [i for i in interfaces if set(i.addresses) & set(chosen)]
    else:
        wanted = [i for i in interfaces if not all(
            ipaddress.ip_address(a).is_loopback for a in i.addresses)]
    able = [i for i in wanted if i.flags is not None
            and i.flags & (IFF_UP | IFF_MULTICAST) == IFF_UP | IFF_MULTICAST]
    ready = [i for i in able if i.flags is not None and i.flags & IFF_RUNNING]
    on = f"on {', '.join(chosen)}" if chosen else "on every interface"
    if ready:
        return Verdict("multicast", OK, f"mDNS {on}: " + ", ".join(
            f"{i.name} up with multicast" for i in ready))
    if able:
        return Verdict("multicast", WARN, f"mDNS {on}: {', '.join(i.name for i in able)} up "
                       "with multicast, but the kernel reports no link", "check the cable "
                       "or the switch port (ip link)")
    if not wanted:
        return Verdict("multicast", FAIL, f"mDNS {on}: no interface holds that address",
                       "fix mdns_interfaces in tillmesh.toml (an address of this machine)")
    return Verdict("multicast", FAIL, f"mDNS {on}: {', '.join(i.name for i in wanted)} not up "
                   "with multicast", f"ip link set {wanted[0].name} up multicast on; or set "
                   "static peers")


def erpnext_verdict(outcome: str, detail: str) -> Verdict:
    """``outcome``: "ok" (detail: the API user), "none" (not set up), "unread" (the
    settings cannot be read here), "auth" (refused), "down" (not reachable)."""
    setup = "tillmesh erpnext setup --url URL --key KEY  (the secret is asked)"
    if outcome == "ok":
        return Verdict("erpnext", OK, f"reachable, logged in as {detail}")
    if outcome == "none":
        return Verdict("erpnext", WARN, "not set up on this counter", setup)
    if outcome == "unread":
        return Verdict("erpnext", UNKNOWN, f"settings not read: {detail}",
                       f"run doctor as root where they are sealed; else {setup}")
    if outcome == "auth":
        return Verdict("erpnext", FAIL, f"refuses this counter's API key: {detail}",
                       "a new key and secret for the API user: tillmesh erpnext setup …")
    return Verdict("erpnext", WARN, f"not reachable: {detail}; sales wait, none is lost",
                   "check the network and the URL (tillmesh erpnext status)")


CHECKPOINT_STALE_H = 48  # the nightly run brings it forward every day: two missed is a fault


def checkpoint_verdict(made_at: datetime | None, behind: int, now: datetime,
                       history_from: Mapping[str, int] | None = None) -> Verdict:
    """The checkpoint a rebuild and a joining counter start from (``store.checkpoint``):
    made by the nightly run; ``behind`` events came after it. ``history_from``: the
    counters whose first events this one (joined from a checkpoint) has still to fetch,
    with the event it holds from: until then a reshaping upgrade cannot rebuild it."""
    if history_from:
        from tillmesh.node.store.archive import held_from

        return Verdict("checkpoint", WARN, "joined from a checkpoint: history held "
                       f"{held_from(history_from)}",
                       "leave it linked to the other counters: it fetches the earlier "
                       "events in the background (an upgrade that rebuilds waits for it)")
    if made_at is None:
        return Verdict("checkpoint", OK, "none yet: the nightly run at archive_at makes it "
                       "(rebuild and joining replay every event until then)")
    hours = (now - made_at).total_seconds() / 3600
    what = f"made {hours:.0f} h ago; {behind:,} event(s) after it"
    if hours > CHECKPOINT_STALE_H:
        return Verdict("checkpoint", WARN, f"{what}: the nightly run has not brought it "
                       "forward", "sudo tillmesh archive run (the log says why the nightly "
                       "run failed); rebuild and joining replay everything after it")
    return Verdict("checkpoint", OK, what)


def deliveries_verdict(pending: int | None, late: int, failed: int) -> Verdict:
    if pending is None:
        return Verdict("deliveries", UNKNOWN, "unknown (the store could not be read)")
    what = f"{pending:,} document(s) waiting for ERPNext"
    if failed:
        return Verdict("deliveries", WARN, f"{what}; {failed:,} refused by ERPNext",
                       "`tillmesh exceptions`: fix the cause in ERPNext, then --retry ID "
                       "(or --resolve ID --note …)")
    if late:
        return Verdict("deliveries", WARN, f"{what}; {late:,} late sale(s) wait for a "
                       "supervisor", "a supervisor reconciles the late shift in the app")
    return Verdict("deliveries", OK, what)


def releases_verdict(own: str | None, peers: Mapping[str, str | None] | None,
                     allowed: Sequence[str] = ()) -> Verdict:
    """This counter's release and each peer's (None: the node is stopped; a peer's None:
    not known, an earlier release or not heard)."""
    mine = own or "unknown"
    if allowed and own not in allowed:
        return Verdict("releases", FAIL, f"this counter runs {mine}; the store allows "
                       f"{', '.join(allowed)}", "tillmesh upgrade (or rollback) to an allowed "
                       "release")
    if peers is None:
        return Verdict("releases", UNKNOWN, f"this counter runs {mine}; the others unknown "
                       "(node stopped)")
    by_release: dict[str, list[str]] = {}
    for node, release in sorted({"this counter": own, **peers}.items()):
        by_release.setdefault(release or "unknown", []).append(node)
    what = "; ".join(f"{release}: {', '.join(nodes)}" for release, nodes
                     in sorted(by_release.items()))
    known = {r for r in by_release if r != "unknown"}
    if len(known) > 1:
        return Verdict("releases", WARN, f"mixed: {what}", "finish the upgrade, one counter "
                       "at a time (tillmesh upgrade)")
    if "unknown" in by_release:  # not heard since this node started, or too old to say
        return Verdict("releases", OK, f"{what} (not heard yet, or an earlier release)")
    return Verdict("releases", OK, f"every counter runs {mine}" if peers else
                   f"this counter runs {mine}; no other known")


# --------------------------------------------------------------------------- gathering


@dataclass
class _Running:
    """What the running node says (empty when it is stopped)."""

    running: bool = False
    peers: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] | None = None
    erpnext: dict[str, Any] | None = None


def _ask_node(config: Config) -> _Running:
    from tillmesh.node.api.client import Client
    from tillmesh.node.ops.provisioning import node_running

    if not node_running(config):
        return _Running()
    out = _Running(running=True)
    with Client(config.api_endpoint, timeout=API_TIMEOUT_S) as client:
        for attr, method in (("peers", "peers"), ("state", "counter_state"),
                             ("erpnext", "erpnext_status")):
            with contextlib.suppress(TillmeshError):  # an earlier release lacks a method
                setattr(out, attr, client.call(method))
    return out


def _ntp() -> bool | None:
    if shutil.which("timedatectl") is None:
        return None
    try:
        done = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                              capture_output=True, text=True, timeout=NTP_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = done.stdout.strip()
    return None if done.returncode or answer not in ("yes", "no") else answer == "yes"


@dataclass(frozen=True)
class _StoreChecks:
    disk: Verdict
    store: Verdict
    chains: Verdict
    checkpoint: Verdict
    deliveries: Verdict


def _store_checks(config: Config, running: _Running) -> _StoreChecks:
    """Disk and the store's growth, integrity, chains and (node stopped) the deliveries,
    from the store opened for reading."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from tillmesh.node.projections import counters, deliveries, outbox
    from tillmesh.node.store import EventRow, archive, checkpoint, open_engine, read_key_file
    from tillmesh.replication import hlc
    from tillmesh.replication.signing import signed_by

    free = shutil.disk_usage(config.data_dir).free
    unread = Verdict("chains", UNKNOWN, "not checked: the store could not be read")
    if not config.db_path.exists():
        return _StoreChecks(disk_verdict(free, None), Verdict(
            "store", FAIL, f"no database at {config.db_path}", "tillmesh init or join"),
            unread, _UNREAD_CHECKPOINT, deliveries_verdict(None, 0, 0))
    try:
        engine = open_engine(config.db_path, read_key_file(config.key_path))
    except TillmeshError as exc:
        return _StoreChecks(disk_verdict(free, None), Verdict(
            "store", UNKNOWN, f"cannot open the store: {exc.message}",
            "run doctor as root (sudo) where the key is sealed to this machine"),
            unread, _UNREAD_CHECKPOINT, deliveries_verdict(None, 0, 0))
    try:
        with Session(engine) as s:
            rows = [str(r[0]) for r in s.connection().exec_driver_sql(
                "PRAGMA integrity_check")]
            total = s.scalar(select(func.count()).select_from(EventRow)) or 0
            first = s.scalar(select(func.min(EventRow.hlc))) or 0
            now_ms = int(time.time() * 1000)
            since_ms = max(hlc.physical_ms(first), now_ms - GROWTH_WINDOW_DAYS * 86_400_000)
            recent = s.scalar(select(func.count()).select_from(EventRow).where(
                EventRow.hlc >= hlc.pack(since_ms, 0))) or 0
            keys = {node: t.signing_key for node, t in counters.trust(s).items()}
            conn = s.connection().connection.driver_connection
            chains = archive.live_chains(conn)
            history = archive.history_from(conn)
            checked, broken = chains.checked, chains.broken
            unsigned = [origin for origin, head in sorted(chains.heads.items())
                        if keys.get(origin) and not signed_by(head, keys[origin] or b"")]
            if running.erpnext is None:
                owed, late = outbox.owed_counts(s)
                failed = len(deliveries.exceptions(s))
                pending: int | None = sum(owed.values()) - failed
            else:
                pending = running.erpnext.get("pending")
                late = int(running.erpnext.get("late") or 0)
                failed = int(running.erpnext.get("failed") or 0)
    finally:
        engine.dispose()
    size = sum(p.stat().st_size for p in (config.db_path, Path(f"{config.db_path}-wal"))
               if p.exists())
    growth = growth_per_day(size, total, recent, (now_ms - since_ms) / 86_400_000)
    seal = checkpoint.read_seal(checkpoint.checkpoint_path(config.db_path),
                                read_key_file(config.key_path))
    made = None if seal is None else datetime.fromisoformat(seal.made_at)
    behind = sum(e.seq for e in chains.heads.values()) - (
        0 if seal is None else sum(seal.vector.values()))
    return _StoreChecks(disk_verdict(free, growth), integrity_verdict(rows),
                        chains_verdict(checked, broken, unsigned),
                        checkpoint_verdict(made, behind, datetime.now(UTC), history),
                        deliveries_verdict(pending, late, failed))


_UNREAD_CHECKPOINT = Verdict("checkpoint", UNKNOWN, "not checked: the store could not be read")


def _file_facts(config: Config) -> list[FileFact]:
    secrets_dir = config.key_path.parent
    facts: list[FileFact] = []
    try:
        top = os.lstat(config.data_dir)
    except FileNotFoundError:
        return []
    facts.append(FileFact(".", top.st_mode, top.st_uid))
    for root, dirs, names in os.walk(config.data_dir):
        for name in [*dirs, *names]:
            path = Path(root) / name
            with contextlib.suppress(FileNotFoundError):  # gone meanwhile (a WAL, a job)
                st = os.lstat(path)
                if not stat.S_ISLNK(st.st_mode):
                    facts.append(FileFact(str(path.relative_to(config.data_dir)), st.st_mode,
                                          st.st_uid, secret=path.parent == secrets_dir))
            if len(facts) >= MAX_FILES:
                return facts
    return facts


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _printer_facts(config: Config) -> PrinterFacts:
    from tillmesh.node.printing.const import SPOOL_DIR

    s = config.printer
    spool = config.data_dir / SPOOL_DIR
    pending = sum(1 for p in spool.iterdir() if p.is_file()) if spool.is_dir() else 0
    where, reachable, detail = s.kind, None, ""
    owner = os.stat(config.data_dir).st_uid
    if s.kind == "network":
        where = f"network {s.host}:{s.port}"
        try:
            socket.create_connection((s.host, s.port), PROBE_TIMEOUT_S).close()
            reachable, detail = True, "answers on its port"
        except OSError as exc:
            reachable, detail = False, f"no answer ({exc.strerror or exc})"
    elif s.kind == "usb":
        where = f"usb {s.usb_vendor:04x}:{s.usb_product:04x}"
        reachable, detail = _usb_usable(s.usb_vendor, s.usb_product, owner)
    elif s.kind in ("serial", "file"):
        device = Path(s.serial_device) if s.kind == "serial" else config.data_dir / s.file
        where = f"{s.kind} {device}"
        reachable, detail = _device_usable(device, owner)
    return PrinterFacts(s.kind, where, reachable, detail, pending, s.drawer_pin)


def _usb_usable(vendor: int, product: int, uid: int) -> tuple[bool, str]:
    """Whether the printer is plugged in, and its device node writable by the service
    user (``uid``): the udev rule of the install gives it to the printer's group."""
    for device in USB_DEVICES.glob("*"):
        with contextlib.suppress(OSError, ValueError):
            if (int((device / "idVendor").read_text(), 16) == vendor
                    and int((device / "idProduct").read_text(), 16) == product):
                node = USB_NODES / (f"{int((device / 'busnum').read_text()):03d}/"
                                    f"{int((device / 'devnum').read_text()):03d}")
                usable, why = _device_usable(node, uid)
                return usable, f"plugged in ({device.name}); {why}"
    return False, "not plugged in (no such USB device)"


def _device_usable(device: Path, uid: int) -> tuple[bool, str]:
    """Whether the service user (``uid``) may write ``device``: the node runs as it."""
    try:
        st = os.stat(device)
    except OSError as exc:
        return False, f"{exc.strerror}"
    name = _user(uid)
    groups = set(os.getgrouplist(name, pwd.getpwuid(uid).pw_gid)) if name != str(uid) else set()
    writable = (st.st_uid == uid and st.st_mode & stat.S_IWUSR
                or st.st_gid in groups and st.st_mode & stat.S_IWGRP
                or st.st_mode & stat.S_IWOTH or uid == 0)
    if not writable:
        return False, f"{name} may not write it (owner {_user(st.st_uid)}, mode " \
                      f"{stat.S_IMODE(st.st_mode):04o}): add {name} to its group"
    return True, "present and writable by the node"


def _interfaces() -> list[Interface]:
    import ifaddr

    out = []
    for adapter in ifaddr.get_adapters():
        flags = None
        with contextlib.suppress(OSError, ValueError):
            flags = int((NET_CLASS / adapter.name / "flags").read_text(), 16)
        out.append(Interface(adapter.name, tuple(str(ip.ip) if ip.is_IPv4 else str(ip.ip[0])
                                                  for ip in adapter.ips), flags))
    return out


def _erpnext(config: Config) -> Verdict:
    from dataclasses import replace

    from tillmesh.node.erpnext import (
        ErpNextAuthError,
        ErpNextError,
        load_settings,
        settings_path,
    )
    from tillmesh.node.store import sealing

    if sealing.held(settings_path(config)) is None:
        return erpnext_verdict("none", "")
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        return erpnext_verdict("unread", exc.message)
    brief = replace(settings.limits, request_deadline_s=PROBE_TIMEOUT_S)
    try:
        with settings.client(max_attempts=1, limits=brief) as client:
            user = client.call_method("frappe.auth.get_logged_user")
    except ErpNextAuthError as exc:
        return erpnext_verdict("auth", exc.message)
    except ErpNextError as exc:
        return erpnext_verdict("down", exc.message)
    return erpnext_verdict("ok", str(user))


def _own_release(state: Mapping[str, Any] | None) -> str | None:
    if state and state.get("release"):
        return str(state["release"])
    try:
        return importlib.metadata.version("tillmesh")
    except importlib.metadata.PackageNotFoundError:
        return None


def diagnose(config: Config) -> list[Verdict]:
    """Every check, in the order the lines are printed."""
    from tillmesh.node.ops.seal import secret_warnings, secrets_held

    node = _ask_node(config)
    skews = {str(p["node"]): p.get("skew_ms") for p in node.peers} if node.running else None
    releases = ({str(p["node"]): p.get("release") for p in node.peers}
                if node.running else None)
    store = _store_checks(config, node)
    facts = _file_facts(config)
    return [node_verdict(node.running, node.state),
            clock_verdict(skews, _ntp(), max_skew_ms=config.max_skew_ms,
                          max_ahead_s=config.max_clock_ahead_s),
            store.disk, store.store, store.chains, store.checkpoint,
            files_verdict(facts, _user(facts[0].uid) if facts else "?", config.data_dir),
            secrets_verdict(secrets_held(config), secret_warnings(config)),
            *printer_verdicts(_printer_facts(config)),
            multicast_verdict(config.mdns, config.mdns_interfaces, _interfaces(), config.peers),
            _erpnext(config), store.deliveries,
            releases_verdict(_own_release(node.state), releases,
                             (node.state or {}).get("allowed_releases") or [])]


def cmd_doctor(data_dir: Callable[[argparse.Namespace], Path], args: argparse.Namespace) -> int:
    verdicts = diagnose(config_mod.load(data_dir(args)))
    if args.json:
        print(json.dumps([asdict(v) for v in verdicts], indent=2, ensure_ascii=False))
    else:
        print("\n".join(v.line() for v in verdicts))
    return exit_code(verdicts)


def add_commands(sub: Any, data_dir: Callable[[argparse.Namespace], Path]) -> None:
    from functools import partial

    p = sub.add_parser("doctor", help="check this counter (clock, disk, store, files, keys, "
                       "printer, network, ERPNext, releases) and say how to fix what is "
                       "wrong; exit 1 if something is broken")
    p.add_argument("--json", action="store_true", help="the checks as JSON, for monitoring")
    p.set_defaults(fn=partial(cmd_doctor, data_dir))

