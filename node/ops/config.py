"""Node configuration: one TOML file, every field with a safe default.

The file lives in the data directory (``tillmesh.toml``); ``tillmesh init`` writes it.
Paths in it are relative to the data directory unless absolute.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, is_dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tillmesh.node.domain.const import (
    IDLE_LOCK_MINUTES,
    LOCKOUT_FAILURES,
    LOCKOUT_FORGET_HOURS,
    LOCKOUT_MAX_MINUTES,
    LOCKOUT_MINUTES,
    PIN_MAX_DIGITS,
    PIN_MIN_DIGITS,
    PIN_MIN_DIGITS_SUPERVISOR,
    SESSION_HOURS,
)
from tillmesh.node.domain.retention import (
    DEFAULT_ARCHIVE_AT,
    DEFAULT_FISCAL_START,
    DEFAULT_KEEP_YEARS,
    archive_time,
    fiscal_start,
)
from tillmesh.node.errors import ConfigError
from tillmesh.node.ops.const import (
    JOIN_PORT,
    MAX_CLOCK_AHEAD_LIMIT_S,
    MAX_CLOCK_AHEAD_S,
    MAX_PRINTER_TIMEOUT_S,
    RECEIPT_WIDTHS,
    REFUSED_STOP_LIMIT_S,
    REFUSED_STOP_S,
    REPLICATION_PORT,
)

CONFIG_NAME = "tillmesh.toml"
DEFAULT_DATA_DIR = Path(os.environ.get("TILLMESH_HOME", "/var/lib/tillmesh"))
PRINTER_KINDS = ("none", "file", "network", "usb", "serial", "dummy")
DRAWER_PINS = (2, 5)  # the two kick pins of a printer's RJ-12 drawer port
_ANSWERING_KINDS = ("network", "usb", "serial")  # links a printer can answer a status on


@dataclass(frozen=True)
class PrinterConfig:
    """The receipt printer and its cash drawer: the ``[printer]`` table (see node/printing)."""

    kind: str = "none"  # none, file, network, usb, serial; dummy keeps the bytes (tests)
    host: str = ""  # network: the printer's address
    port: int = 9100  # network: raw TCP printing (JetDirect)
    usb_vendor: int = 0  # usb: idVendor (TOML takes 0x04b8)
    usb_product: int = 0  # usb: idProduct
    serial_device: str = "/dev/ttyS0"  # serial
    baudrate: int = 9600  # serial
    file: str = "/dev/usb/lp0"  # file: a device (or plain) file, written once per job
    profile: str = "TM-T88V"  # python-escpos printer profile: code pages, cutter, QR
    width: int = 42  # characters per line (RECEIPT_WIDTHS)
    header: list[str] = field(default_factory=list)  # store name, address, VAT id; centred
    footer: list[str] = field(default_factory=list)  # centred under the receipt
    logo: str = ""  # an image printed above the header
    qr: bool = True  # a QR code of the invoice number
    qr_native: bool = True  # the printer draws the QR (GS ( k); false sends an image
    drawer_pin: int = 2  # DRAWER_PINS
    timeout_seconds: int = 5  # per connect or write; a job gets a few of these at most
    auto_print: bool = True  # a receipt for every sale and return, a Z report at close
    paper_check: bool = False  # ask the paper sensor (DLE EOT 4) before each job




@dataclass(frozen=True)
class Config:
    data_dir: Path
    node_id: str = "C01"  # the counter code; prefixes its invoice numbers
    pos_profile: str = "Demo POS"
    timezone: str = "Europe/Berlin"  # the store's local time, for posting dates
    db_file: str = "tillmesh.db"
    key_file: str = "secrets/db.key"
    api_socket: str = "api.sock"
    api_group: str = ""  # a group that may reach the socket (0660); empty: the user's (0600)
    lockout_failures: int = LOCKOUT_FAILURES  # failed logins before a user is locked out
    lockout_minutes: int = LOCKOUT_MINUTES  # the first lock; each next one in a row doubles
    lockout_max_minutes: int = LOCKOUT_MAX_MINUTES  # ... up to this
    min_pin_digits_supervisor: int = PIN_MIN_DIGITS_SUPERVISOR  # supervisors' and admins'
    idle_lock_minutes: int = IDLE_LOCK_MINUTES  # a session idle this long needs the PIN again
    session_hours: int = SESSION_HOURS  # a session older than this ends (longer than any shift)
    max_line_qty: str = "10000"  # a line above this is a typo, not a sale
    max_line_amount: str = "1000000"  # currency units; above this is refused as absurd
    permissions: dict[str, Any] = field(default_factory=dict)  # overrides of the matrix
    embedded_barcodes: list[dict[str, Any]] = field(default_factory=list)  # see barcode.py
    # --- the store's cluster of counters (replication) ---
    cluster: str = ""  # cluster id, set by `tillmesh init` or `tillmesh join`
    node_key_file: str = "secrets/node.key"  # this counter's CurveZMQ keypair (0600)
    listen: str = f"tcp://0.0.0.0:{REPLICATION_PORT}"  # where peers reach this counter (ROUTER)
    advertise: str = ""  # host peers should dial (mDNS A record); empty = this host's IP
    join_listen: str = f"tcp://0.0.0.0:{JOIN_PORT}"  # where a new counter presents its invite code
    peers: list[str] = field(default_factory=list)  # static "NODE@host:port", no multicast
    mdns: bool = True  # announce and find counters with mDNS on the LAN
    mdns_interfaces: list[str] = field(default_factory=list)  # empty: every interface
    mdns_port: int = 5353  # the mDNS port (tests use another one)
    max_skew_ms: int = 2000  # warn in `tillmesh status` when a peer's clock is further off
    max_clock_ahead_s: int = MAX_CLOCK_AHEAD_S  # a peer's event stamped further ahead of
    #   this counter's clock is refused until the clocks agree (a bad clock, or poison)
    refused_stop_s: int = REFUSED_STOP_S  # every other counter refusing this one's key for
    #   this long: it stops selling (its sales could never reach the store)
    # --- how long events stay live (``domain.retention``; ``tillmesh archive``) ---
    keep_fiscal_years: int = DEFAULT_KEEP_YEARS  # the current fiscal year and the one before
    fiscal_year_start: str = DEFAULT_FISCAL_START  # MM-DD, as ERPNext's Fiscal Year starts
    archive_at: str = DEFAULT_ARCHIVE_AT  # HH:MM store time: the node archives daily then
    # A counter this one invites starts from the checkpoint and the events after it
    # (the days since the last archive run, however old the store), and fetches the
    # events before it from the other counters in the background (``history_from`` in
    # its status until it holds them all); false: it copies every live event too.
    join_from_checkpoint: bool = True
    printer: PrinterConfig = field(default_factory=PrinterConfig)  # a [printer] table

    @property
    def db_path(self) -> Path:
        return self.data_dir / self.db_file

    @property
    def key_path(self) -> Path:
        return self.data_dir / self.key_file

    @property
    def api_endpoint(self) -> str:
        return "ipc://" + str(self.data_dir / self.api_socket)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def lockout(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)

    @property
    def node_key_path(self) -> Path:
        return self.data_dir / self.node_key_file

    def to_toml(self, notes: Mapping[str, str] | None = None) -> str:
        """The settings as TOML (tables such as ``permissions`` only when set), each
        ``notes[name]`` as a comment above its setting."""
        lines = ["# Tillmesh counter configuration (see deploy/tillmesh.toml.example)"]
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in ("data_dir", "printer") or (
                    isinstance(value, dict | list) and not value
                    and name in ("permissions", "embedded_barcodes")):
                continue
            if notes and name in notes:
                lines.append(f"# {notes[name]}")
            lines.append(f"{name} = {_toml(value)}")
        if self.printer != PrinterConfig():  # a table: after every top-level key
            lines += ["", "[printer]"] + [f"{name} = {_toml(getattr(self.printer, name))}"
                                          for name in self.printer.__dataclass_fields__]
        return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} to TOML")


_TYPE_NAMES = {str: "string in quotes", int: "whole number", bool: "true or false",
               dict: "table", list: "list"}


def load(data_dir: Path) -> Config:
    path = data_dir / CONFIG_NAME
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"no {CONFIG_NAME} in {data_dir}: run `tillmesh init` first") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return validate(_build(path, Config, raw, "", data_dir=data_dir))


def _build(path: Path, cls: Any, raw: dict[str, Any], prefix: str, **fixed: Any) -> Any:
    """``cls(**fixed, **raw)`` with every key known and of its default's type; a nested
    settings dataclass (``printer``) is read from its TOML table the same way."""
    defaults = cls(**fixed)
    unknown = set(raw) - (set(cls.__dataclass_fields__) - set(fixed))
    if unknown:
        names = ", ".join(sorted(prefix + key for key in unknown))
        raise ConfigError(f"{path}: unknown setting(s) {names}")
    values = {}
    for key, value in raw.items():
        default = getattr(defaults, key)
        if is_dataclass(default):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {prefix}{key} must be a table ([{key}])")
            values[key] = _build(path, type(default), value, f"{prefix}{key}.")
            continue
        want = type(default)
        if not isinstance(value, want) or isinstance(value, bool) != (want is bool):
            raise ConfigError(f"{path}: {prefix}{key} must be a "
                              f"{_TYPE_NAMES.get(want, want.__name__)}, not {value!r}")
        values[key] = value
    try:
        return cls(**fixed, **values)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def validate(config: Config) -> Config:
    if not (config.node_id.isascii() and config.node_id.isalnum()
            and 1 <= len(config.node_id) <= 8):
        raise ConfigError(f"node_id {config.node_id!r} must be 1-8 letters or digits")
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {config.timezone!r}") from exc
    if config.lockout_failures < 1 or not (
            1 <= config.lockout_minutes <= config.lockout_max_minutes
            < LOCKOUT_FORGET_HOURS * 60):
        raise ConfigError("lockout_failures must be >= 1 and 1 <= lockout_minutes <= "
                          f"lockout_max_minutes < {LOCKOUT_FORGET_HOURS * 60}")
    if not PIN_MIN_DIGITS <= config.min_pin_digits_supervisor <= PIN_MAX_DIGITS:
        raise ConfigError(f"min_pin_digits_supervisor must be {PIN_MIN_DIGITS}-{PIN_MAX_DIGITS}")
    if not 1 <= config.max_clock_ahead_s <= MAX_CLOCK_AHEAD_LIMIT_S:
        raise ConfigError(f"max_clock_ahead_s must be 1-{MAX_CLOCK_AHEAD_LIMIT_S}")
    if not 1 <= config.refused_stop_s <= REFUSED_STOP_LIMIT_S:
        raise ConfigError(f"refused_stop_s must be 1-{REFUSED_STOP_LIMIT_S}")
    if config.api_group and _inside(config.data_dir / config.api_socket, config.data_dir):
        raise ConfigError("api_group shares the local API socket with a group: api_socket "
                          "must then lie outside the data directory, which stays private "
                          "(e.g. /run/tillmesh/api.sock)")
    if config.keep_fiscal_years < 1:
        raise ConfigError("keep_fiscal_years must be at least 1 (the current fiscal year); "
                          f"{DEFAULT_KEEP_YEARS} keeps the previous one live too")
    try:
        fiscal_start(config.fiscal_year_start)
        archive_time(config.archive_at)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    _validate_printer(config.printer)
    return config


def _inside(path: Path, directory: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(directory))


def _validate_printer(p: PrinterConfig) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(f"printer.{message}")

    need(p.kind in PRINTER_KINDS, f"kind {p.kind!r} must be one of {', '.join(PRINTER_KINDS)}")
    need(p.width in RECEIPT_WIDTHS, f"width {p.width} must be one of {RECEIPT_WIDTHS}")
    need(p.drawer_pin in DRAWER_PINS, f"drawer_pin {p.drawer_pin} must be 2 or 5")
    need(1 <= p.timeout_seconds <= MAX_PRINTER_TIMEOUT_S,
         f"timeout_seconds must be 1-{MAX_PRINTER_TIMEOUT_S}")
    need(1 <= p.port <= 65535, f"port {p.port} must be 1-65535")
    need(all(isinstance(line, str) for line in p.header + p.footer),
         "header and footer must be lists of strings")
    need(p.kind != "network" or bool(p.host), 'host is needed for kind = "network"')
    need(p.kind != "usb" or (p.usb_vendor > 0 and p.usb_product > 0),
         'usb_vendor and usb_product are needed for kind = "usb"')
    need(not p.paper_check or p.kind in _ANSWERING_KINDS,
         f"paper_check needs a printer that answers: kind {' or '.join(_ANSWERING_KINDS)}")
