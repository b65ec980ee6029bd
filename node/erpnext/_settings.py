"""Where this counter reaches ERPNext, kept as a secret: DATA_DIR/secrets/erpnext.toml.

The file holds the API key and secret, so it is written with mode 0600 (atomically:
a crash never leaves half a file) and refused when group or others may read it, as the
database key is; ``tillmesh seal`` may seal it to the machine or a passphrase
(``tillmesh.node.store.sealing``), and a setup after that writes it plain again.
``tillmesh erpnext setup`` writes it; the pull and the forwarder read it.

A plain ``http://`` URL is refused, saved or loaded, unless the settings say
``--insecure`` (``verify = false``: a lab, where TLS is not checked either): the key and
secret would cross the network in clear. Loopback is no exception, so there is one rule.
A ``[limits]`` table, written only when it differs from ``const``'s, widens the caps and
deadlines of ``_limits.Limits`` for a slow site (or narrows them in tests).

``delivery`` says how sales reach ERPNext: ``per-sale`` (default) or ``per-shift``
(``_per_shift``). It is a store's choice: set it alike on every counter that may forward
(each forwards in the mode its own file names). ``shift_invoices`` stays true once a
counter delivered per shift, so the pull keeps reading those shifts' Sales Invoices (their
stock is in Bin) after a return to per-sale.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tillmesh.node.erpnext._limits import Limits
from tillmesh.node.erpnext._rest import ErpNextClient, Verify, check_url
from tillmesh.node.erpnext.const import DELIVERIES, PER_SALE, PER_SHIFT, SETTINGS_FILE
from tillmesh.node.errors import ConfigError, StoreError
from tillmesh.node.ops.config import Config
from tillmesh.node.store import sealing
from tillmesh.node.store.ownership import create


@dataclass(frozen=True)
class ErpNextSettings:
    url: str
    api_key: str
    api_secret: str
    pos_profile: str
    verify: Verify = True  # True, False (--insecure) or the path of a private CA
    limits: Limits = field(default_factory=Limits)
    delivery: str = PER_SALE  # or PER_SHIFT
    shift_invoices: bool = False  # delivered per shift once: the pull reads those too

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERIES:
            raise ConfigError(f"ERPNext delivery {self.delivery!r} is neither of"
                              f" {', '.join(DELIVERIES)}")
        if urlsplit(self.url).scheme == "http" and not self.insecure:
            raise ConfigError(
                f"ERPNext URL {self.url} is plain http: the API key and secret would cross"
                " the network in clear. Use https://, or `tillmesh erpnext setup … --insecure`"
                " for a lab")

    @property
    def per_shift(self) -> bool:
        return self.delivery == PER_SHIFT

    @property
    def reads_shift_invoices(self) -> bool:
        """The pull reads per-shift Sales Invoices: now, or once delivered that way."""
        return self.per_shift or self.shift_invoices

    @property
    def insecure(self) -> bool:
        """--insecure: TLS certificates are not checked, plain http is accepted."""
        return self.verify is False

    def security(self) -> str:
        """How the link to ERPNext is protected, in words (``erpnext status``)."""
        if not self.insecure:
            ca = f"against {self.verify}" if isinstance(self.verify, str) else "(system CAs)"
            return f"TLS, certificates verified {ca}"
        if urlsplit(self.url).scheme == "http":
            return "INSECURE (--insecure): plain http, the API key and secret in clear"
        return "INSECURE (--insecure): TLS certificates not verified"

    def client(self, **options: Any) -> ErpNextClient:
        """A client for this site (``options`` as ErpNextClient takes them)."""
        options.setdefault("limits", self.limits)
        return ErpNextClient(self.url, self.api_key, self.api_secret, verify=self.verify,
                             **options)

    def public(self) -> dict[str, Any]:
        """What may be shown: everything but the secret."""
        return {"url": self.url, "api_key": self.api_key, "pos_profile": self.pos_profile,
                "verify": self.verify, "insecure": self.insecure, "delivery": self.delivery}

    def to_toml(self) -> str:
        verify = self.verify if isinstance(self.verify, str) else str(self.verify).lower()
        lines = ["# ERPNext link of this counter (`tillmesh erpnext setup`); keep it 0600",
                 f"url = {_quoted(self.url)}", f"api_key = {_quoted(self.api_key)}",
                 f"api_secret = {_quoted(self.api_secret)}",
                 f"pos_profile = {_quoted(self.pos_profile)}",
                 f"verify = {_quoted(verify) if isinstance(self.verify, str) else verify}"]
        if self.per_shift:
            lines.append(f"delivery = {_quoted(self.delivery)}")
        elif self.shift_invoices:
            lines.append("shift_invoices = true")
        # Only what differs from const: a later release's defaults then apply to the rest.
        changed = [f"{f.name} = {getattr(self.limits, f.name)!r}" for f in fields(Limits)
                   if getattr(self.limits, f.name) != getattr(Limits(), f.name)]
        if changed:
            lines += ["", "[limits]", *changed]
        return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def settings_path(config: Config) -> Path:
    return config.key_path.parent / SETTINGS_FILE


def save(config: Config, settings: ErpNextSettings) -> Path:
    path = settings_path(config)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = create(tmp, config.data_dir)  # `sudo tillmesh erpnext setup`: the node reads it
        with os.fdopen(fd, "w") as fh:
            fh.write(settings.to_toml())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
    return path


def load(config: Config) -> ErpNextSettings:
    """The saved settings; ConfigError if missing, unsafe or malformed."""
    path = settings_path(config)
    if sealing.held(path) is None:
        raise ConfigError("ERPNext is not set up on this counter: run `tillmesh erpnext setup"
                          " --url URL --key KEY --secret SECRET`")
    try:
        data = tomllib.loads(sealing.read_secret(path, "ERPNext settings").decode())
    except StoreError as exc:  # unreadable, readable by others, or sealed and not opened
        raise ConfigError(exc.message) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    needed = ("url", "api_key", "api_secret", "pos_profile")
    missing = [f for f in needed if not isinstance(data.get(f), str) or not data[f]]
    verify, limits = data.get("verify", True), data.get("limits", {})
    delivery, shift_invoices = data.get("delivery", PER_SALE), data.get("shift_invoices", False)
    if not isinstance(verify, bool | str):
        missing.append("verify")
    if delivery not in DELIVERIES:
        missing.append("delivery")
    if not isinstance(shift_invoices, bool):
        missing.append("shift_invoices")
    if not isinstance(limits, dict) or not limits.keys() <= {f.name for f in fields(Limits)}:
        missing.append("limits")
    if missing:
        raise ConfigError(f"{path}: {', '.join(missing)} missing or malformed;"
                          " run `tillmesh erpnext setup` again")
    try:
        return ErpNextSettings(check_url(data["url"]), data["api_key"], data["api_secret"],
                               data["pos_profile"], verify, Limits(**limits), delivery,
                               shift_invoices or delivery == PER_SHIFT)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}") from exc
