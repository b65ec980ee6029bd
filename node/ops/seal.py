"""``tillmesh seal``: the counter's secrets (database key, its keys, the ERPNext settings)
sealed to this machine with systemd-creds or to a passphrase, and how each is held now
(for ``status``). How the node reads each, however held: ``tillmesh.node.store.sealing``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tillmesh.node.errors import StoreError, ValidationError
from tillmesh.node.membership.keys import read_keypair_file
from tillmesh.node.ops import config as config_mod
from tillmesh.node.ops.config import Config
from tillmesh.node.store import read_key_file, sealing
from tillmesh.node.store.ownership import create

HOW_HELD = {sealing.PLAIN: "plain text", sealing.SERVICE: "opened by systemd for the service",
            sealing.SYSTEMD: "sealed to this machine (systemd-creds)",
            sealing.PASSPHRASE: "sealed with a passphrase", None: "none (not set up)"}
DROPIN_DIR = Path("/etc/systemd/system/tillmesh.service.d")  # the unit's drop-ins
DROPIN_FILE = "credentials.conf"


def _secrets(config: Config) -> list[Path]:
    """The database key, this counter's keys, the ERPNext settings (key and secret)."""
    from tillmesh.node.erpnext import settings_path

    return [config.key_path, config.node_key_path, settings_path(config)]


def secrets_held(config: Config) -> dict[str, str]:
    return {path.name: HOW_HELD[sealing.held(path)] for path in _secrets(config)}


def secret_warnings(config: Config) -> list[str]:
    """One line per secret lying in plain text beside the database."""
    where = ("" if config.data_dir == config_mod.DEFAULT_DATA_DIR
             else f" --data-dir {config.data_dir}")
    return [f"{path.name} lies in plain text: run `sudo tillmesh{where} seal --systemd`"
            for path in _secrets(config) if sealing.held(path) == sealing.PLAIN]


def _plain_secrets(config: Config) -> list[Path]:
    """The secrets held in plain text, each read as the node reads it first: nothing is
    sealed that the node could not use (an old node key gets its signing key here)."""
    from tillmesh.node.erpnext import load_settings

    plain = [p for p in _secrets(config) if sealing.held(p) == sealing.PLAIN]
    for path in plain:
        if path == config.key_path:
            read_key_file(path)
        elif path == config.node_key_path:
            read_keypair_file(path)
        else:
            load_settings(config)
    return plain


def _write_beside(config: Config, path: Path, data: bytes) -> Path:
    """``data`` in ``path``.new (0600, owned as the data dir is, fsynced): renamed over
    ``path`` once the caller has checked it."""
    partial = path.with_name(path.name + ".new")
    fd = create(partial, config.data_dir)  # root seals; the service user reads a .sealed file
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return partial


def _shred(path: Path) -> None:
    """Overwrite the plain secret, then remove it (a copy-on-write or flash disk may keep
    the old blocks: README)."""
    with open(path, "r+b") as fh:
        fh.write(b"\0" * path.stat().st_size)
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()


def _seal(config: Config, target: Callable[[Path], Path], seal: Callable[[Path, bytes], bytes],
          opened: Callable[[Path, Path], bytes], then: Callable[[], None]) -> list[Path]:
    """Seal each plain secret into ``target(path)`` (``seal(path, data)``), check that
    ``opened(path, partial)`` gives the same bytes back, run ``then``, and only then
    remove the plain files; returns them. Anything failing first keeps every one."""
    plain = _plain_secrets(config)
    try:
        for path in plain:
            data = path.read_bytes()
            partial = _write_beside(config, target(path), seal(path, data))
            if opened(path, partial) != data:
                raise StoreError(f"{partial} does not open to {path.name}: nothing removed")
            os.replace(partial, target(path))
        then()
    except OSError as exc:
        raise StoreError(f"sealing stopped, every plain file is kept: {exc.filename}: "
                         f"{exc.strerror}") from exc
    for path in plain:
        try:
            _shred(path)
        except OSError as exc:
            raise StoreError(f"{path} is sealed but could not be removed ({exc.strerror}): "
                             "remove it by hand") from exc
    return plain


def seal_systemd(config: Config, dropin_dir: Path = DROPIN_DIR) -> list[str]:
    """Seal each plain secret to this machine with ``systemd-creds`` (root; TPM2 where
    present, else the host key) and name every sealed one in the unit's drop-in; returns
    what was done, a line each."""
    if os.geteuid() != 0:
        raise StoreError("sealing to this machine needs root: run `sudo tillmesh seal "
                         "--systemd`")
    dropin = dropin_dir / DROPIN_FILE

    def machine_sealed() -> list[Path]:
        return [p for p in _secrets(config) if sealing.cred_path(p).is_file()]

    def write_dropin() -> None:
        if not dropin_dir.is_dir():
            dropin_dir.mkdir(parents=True)
            dropin_dir.chmod(0o755)  # as systemd's own unit directories are
        partial = dropin.with_name(dropin.name + ".new")
        partial.write_text(dropin_text(machine_sealed()))
        partial.chmod(0o644)  # a unit file, no secret: `systemctl cat` shows it to anyone
        os.replace(partial, dropin)

    plain = _seal(config, sealing.cred_path,
                  lambda path, data: sealing.systemd_creds(
                      ["encrypt", f"--name={path.name}", "-", "-"], data),
                  lambda path, partial: sealing.systemd_decrypt(partial, path.name),
                  write_dropin)
    return ([f"{p.name}: sealed to this machine in {sealing.cred_path(p)}; the plain file "
             "is removed" for p in plain] or ["no secret lies in plain text"]) + [
        f"{dropin}: the service loads "
        f"{', '.join(p.name for p in machine_sealed()) or 'nothing'}",
        "now: systemctl daemon-reload && systemctl restart tillmesh"]


def dropin_text(secrets: list[Path]) -> str:
    """The unit drop-in handing each sealed secret to the service: systemd opens its .cred
    into $CREDENTIALS_DIRECTORY (memory only, this service only) at every start."""
    lines = ["# Written by `tillmesh seal --systemd`: systemd opens these for the node at",
             "# every start (only this machine can); the node reads $CREDENTIALS_DIRECTORY.",
             "[Service]"]
    lines += [f"LoadCredentialEncrypted={p.name}:{sealing.cred_path(p)}" for p in secrets]
    return "\n".join(lines) + "\n"


def seal_passphrase(config: Config, passphrase: str, opslimit: int = sealing.OPSLIMIT,
                    memlimit: int = sealing.MEMLIMIT) -> list[str]:
    """Seal each plain secret with ``passphrase`` (``.sealed`` files, one argon2id
    derivation for all); returns what was done, a line each."""
    if len(passphrase) < sealing.PASSPHRASE_MIN_CHARS:
        raise ValidationError(f"a passphrase needs at least {sealing.PASSPHRASE_MIN_CHARS} "
                              "characters: a stolen disk gives all the time to guess it")
    key = sealing.new_key(passphrase, opslimit, memlimit)
    plain = _seal(config, sealing.sealed_path,
                  lambda path, data: sealing.seal_text(data, key).encode(),
                  lambda path, partial: sealing.open_sealed(
                      sealing.parse_sealed(partial.read_text(), str(partial)), key,
                      str(partial)),
                  lambda: None)
    return [f"{p.name}: sealed with the passphrase in {sealing.sealed_path(p)}; the plain "
            "file is removed" for p in plain] or ["no secret lies in plain text"]
