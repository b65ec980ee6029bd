"""Node configuration: one TOML file, every field with a safe default.

The file lives in the data directory (``tillmesh.toml``); ``tillmesh init`` writes it.
Paths in it are relative to the data directory unless absolute.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from node.errors import ConfigError

CONFIG_NAME = "tillmesh.toml"
DEFAULT_DATA_DIR = Path(os.environ.get("TILLMESH_HOME", "/var/lib/tillmesh"))


@dataclass(frozen=True)
class Config:
    data_dir: Path
    node_id: str = "C01"  # the counter code; prefixes its invoice numbers
    pos_profile: str = "Demo POS"
    timezone: str = "Europe/Berlin"  # the store's local time, for posting dates
    db_file: str = "tillmesh.db"
    key_file: str = "secrets/db.key"
    api_socket: str = "api.sock"
    lockout_failures: int = 5  # failed logins before a user is locked out
    lockout_minutes: int = 5
    idle_lock_minutes: int = 10  # a session idle this long needs the PIN again
    session_hours: int = 14  # a session older than this ends (longer than any shift)
    max_line_qty: str = "10000"  # a line above this is a typo, not a sale
    max_line_amount: str = "1000000"  # currency units; above this is refused as absurd
    permissions: dict[str, Any] = field(default_factory=dict)  # overrides of the matrix
    embedded_barcodes: list[dict[str, Any]] = field(default_factory=list)  # see barcode.py
    # --- the store's cluster of counters (replication) ---
    cluster: str = ""  # cluster id, set by `tillmesh init` or `tillmesh join`
    node_key_file: str = "secrets/node.key"  # this counter's CurveZMQ keypair (0600)
    listen: str = "tcp://0.0.0.0:7610"  # where peers reach this counter (ROUTER)
    advertise: str = ""  # host peers should dial (mDNS A record); empty = this host's IP
    join_listen: str = "tcp://0.0.0.0:7611"  # where a new counter presents its invite code
    peers: list[str] = field(default_factory=list)  # static "host:port", for no multicast
    mdns: bool = True  # announce and find counters with mDNS on the LAN
    mdns_interfaces: list[str] = field(default_factory=list)  # empty: every interface
    mdns_port: int = 5353  # the mDNS port (tests use another one)
    max_skew_ms: int = 2000  # warn in `tillmesh status` when a peer's clock is further off

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

    def to_toml(self) -> str:
        """The settings as TOML (tables such as ``permissions`` only when set)."""
        lines = ["# Tillmesh counter configuration (see deploy/tillmesh.toml.example)"]
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "data_dir" or (isinstance(value, dict | list) and not value
                                      and name in ("permissions", "embedded_barcodes")):
                continue
            lines.append(f"{name} = {_toml(value)}")
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
    known = set(Config.__dataclass_fields__) - {"data_dir"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
    defaults = Config(data_dir=data_dir)
    for key, value in raw.items():
        want = type(getattr(defaults, key))
        if not isinstance(value, want) or isinstance(value, bool) != (want is bool):
            raise ConfigError(f"{path}: {key} must be a {_TYPE_NAMES.get(want, want.__name__)},"
                              f" not {value!r}")
    try:
        config = Config(data_dir=data_dir, **raw)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return validate(config)


def validate(config: Config) -> Config:
    if not (config.node_id.isascii() and config.node_id.isalnum()
            and 1 <= len(config.node_id) <= 8):
        raise ConfigError(f"node_id {config.node_id!r} must be 1-8 letters or digits")
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {config.timezone!r}") from exc
    if config.lockout_failures < 1 or config.lockout_minutes < 0:
        raise ConfigError("lockout_failures must be >= 1 and lockout_minutes >= 0")
    return config
