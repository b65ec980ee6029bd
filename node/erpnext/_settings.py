"""Where this counter reaches ERPNext, kept as a secret: DATA_DIR/secrets/erpnext.toml.

The file holds the API key and secret, so it is written with mode 0600 (atomically:
a crash never leaves half a file) and refused when group or others may read it, as the
database key is. ``tillmesh erpnext setup`` writes it; the pull and the forwarder read it.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tillmesh.node.erpnext._rest import ErpNextClient, Verify, check_url
from tillmesh.node.erpnext.const import SETTINGS_FILE
from tillmesh.node.errors import ConfigError
from tillmesh.node.ops.config import Config


@dataclass(frozen=True)
class ErpNextSettings:
    url: str
    api_key: str
    api_secret: str
    pos_profile: str
    verify: Verify = True  # True, False (--insecure) or the path of a private CA

    def client(self, **options: Any) -> ErpNextClient:
        """A client for this site (``options`` as ErpNextClient takes them)."""
        return ErpNextClient(self.url, self.api_key, self.api_secret, verify=self.verify,
                             **options)

    def public(self) -> dict[str, Any]:
        """What may be shown: everything but the secret."""
        return {"url": self.url, "api_key": self.api_key, "pos_profile": self.pos_profile,
                "verify": self.verify}

    def to_toml(self) -> str:
        verify = self.verify if isinstance(self.verify, str) else str(self.verify).lower()
        lines = ["# ERPNext link of this counter (`tillmesh erpnext setup`); keep it 0600",
                 f"url = {_quoted(self.url)}", f"api_key = {_quoted(self.api_key)}",
                 f"api_secret = {_quoted(self.api_secret)}",
                 f"pos_profile = {_quoted(self.pos_profile)}",
                 f"verify = {_quoted(verify) if isinstance(self.verify, str) else verify}"]
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
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when an older tmp file had looser permissions
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
    try:
        mode = path.stat().st_mode
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError("ERPNext is not set up on this counter: run `tillmesh erpnext setup"
                          " --url URL --key KEY --secret SECRET`") from exc
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} is readable by others; run: chmod 600 {path}")
    fields = ("url", "api_key", "api_secret", "pos_profile")
    missing = [f for f in fields if not isinstance(data.get(f), str) or not data[f]]
    verify = data.get("verify", True)
    if missing or not isinstance(verify, bool | str):
        raise ConfigError(f"{path}: {', '.join(missing) or 'verify'} missing or malformed;"
                          " run `tillmesh erpnext setup` again")
    return ErpNextSettings(check_url(data["url"]), data["api_key"], data["api_secret"],
                           data["pos_profile"], verify)
