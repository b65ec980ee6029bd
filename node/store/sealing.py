"""The counter's secrets at rest (database key, node keys, ERPNext secret), and how each
is held. A secret at ``secrets/db.key`` is read from the first of:

    plain       ``db.key`` itself: the legacy form, and the newest when present (written
                after sealing, e.g. by ``erpnext setup``, or left by a seal that stopped)
    service     ``$CREDENTIALS_DIRECTORY/db.key``: systemd opened ``db.key.cred`` for the
                service (``LoadCredentialEncrypted=``) into a private memory-only directory
    systemd     ``db.key.cred``, sealed to this machine by ``systemd-creds`` (TPM2 where
                present, else the host key); only root can open it
    passphrase  ``db.key.sealed``: argon2id (``nacl.pwhash``) and XSalsa20-Poly1305
                (``nacl.secret``); the passphrase from ``$TILLMESH_PASSPHRASE_FILE`` or a
                terminal, never an argument

Pure: the ``.sealed`` format. Adapters: the files, ``systemd-creds``, the passphrase.
"""

from __future__ import annotations

import base64
import binascii
import functools
import getpass
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nacl.exceptions
import nacl.secret
import nacl.utils
from nacl.pwhash import argon2id

from tillmesh.node.errors import StoreError

PLAIN, SERVICE, SYSTEMD, PASSPHRASE = "plain", "service", "systemd", "passphrase"
CRED_SUFFIX, SEALED_SUFFIX = ".cred", ".sealed"
PASSPHRASE_FILE_ENV = "TILLMESH_PASSPHRASE_FILE"
FORMAT, VERSION = "tillmesh-sealed", 1
# Defaults for a secret at rest: a stolen disk gives all the time in the world to guess.
OPSLIMIT, MEMLIMIT = argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE  # 3, 256 MiB
PASSPHRASE_MIN_CHARS = 12
SYSTEMD_CREDS_TIMEOUT_S = 60.0  # a TPM2 can be slow; more is a hung device

logger = logging.getLogger("tillmesh.secrets")
# Heard where the command logs (`run`, once the node holds its data dir and reads its
# keys); elsewhere silent: `tillmesh status` lists the same in its warnings.
logger.addHandler(logging.NullHandler())
_warned: set[Path] = set()  # a plain secret is said once per process


@dataclass(frozen=True)
class PassphraseKey:
    """A key derived from a passphrase, with what a reader needs to derive it again."""

    salt: bytes
    opslimit: int
    memlimit: int
    key: bytes = field(repr=False)


def derive(passphrase: str, salt: bytes, opslimit: int = OPSLIMIT,
           memlimit: int = MEMLIMIT) -> PassphraseKey:
    key = argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt,
                       opslimit=opslimit, memlimit=memlimit)
    return PassphraseKey(salt, opslimit, memlimit, key)


def new_key(passphrase: str, opslimit: int = OPSLIMIT, memlimit: int = MEMLIMIT
            ) -> PassphraseKey:
    return derive(passphrase, nacl.utils.random(argon2id.SALTBYTES), opslimit, memlimit)


def seal_text(data: bytes, key: PassphraseKey) -> str:
    """``data`` as the text of a ``.sealed`` file (a fresh random nonce each time)."""
    box = nacl.secret.SecretBox(key.key).encrypt(data)
    return json.dumps({"format": FORMAT, "version": VERSION, "kdf": "argon2id",
                       "opslimit": key.opslimit, "memlimit": key.memlimit,
                       "salt": base64.b64encode(key.salt).decode(),
                       "box": base64.b64encode(bytes(box)).decode()}, indent=1) + "\n"


@dataclass(frozen=True)
class Sealed:
    salt: bytes
    opslimit: int
    memlimit: int
    box: bytes


def parse_sealed(text: str, where: str) -> Sealed:
    """A ``.sealed`` file's fields, checked (limits within libsodium's bounds, so a
    tampered file cannot ask for terabytes); StoreError naming ``where`` otherwise."""
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError("not a Tillmesh sealed secret")
        if raw.get("version") != VERSION or raw.get("kdf") != "argon2id":
            raise ValueError(f"version {raw.get('version')!r} is not one this release reads")
        ops, mem = raw["opslimit"], raw["memlimit"]
        if not (isinstance(ops, int) and isinstance(mem, int)
                and argon2id.OPSLIMIT_MIN <= ops <= argon2id.OPSLIMIT_MAX
                and argon2id.MEMLIMIT_MIN <= mem <= argon2id.MEMLIMIT_SENSITIVE):
            raise ValueError("its argon2id limits are out of bounds")
        sealed = Sealed(base64.b64decode(raw["salt"], validate=True), ops, mem,
                        base64.b64decode(raw["box"], validate=True))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise StoreError(f"{where} is damaged: {exc}") from exc
    if len(sealed.salt) != argon2id.SALTBYTES:
        raise StoreError(f"{where} is damaged: its salt is not {argon2id.SALTBYTES} bytes")
    return sealed


def open_sealed(sealed: Sealed, key: PassphraseKey, where: str) -> bytes:
    try:
        return bytes(nacl.secret.SecretBox(key.key).decrypt(sealed.box))
    except nacl.exceptions.CryptoError as exc:
        raise StoreError(f"cannot open {where}: wrong passphrase (or the file was "
                         "altered)") from exc


# --- adapters: where a secret lies, and reading it -----------------------------------------


def cred_path(path: Path) -> Path:
    return path.with_name(path.name + CRED_SUFFIX)


def sealed_path(path: Path) -> Path:
    return path.with_name(path.name + SEALED_SUFFIX)


def _service_path(path: Path) -> Path | None:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(directory) / path.name if directory else None


def held(path: Path) -> str | None:
    """How the secret of ``path`` is held (PLAIN, SERVICE, SYSTEMD, PASSPHRASE), the
    first form found in the order read; None when there is none."""
    service = _service_path(path)
    for form, where in ((PLAIN, path), (SERVICE, service), (SYSTEMD, cred_path(path)),
                        (PASSPHRASE, sealed_path(path))):
        if where is not None and where.is_file():
            return form
    return None


def read_secret(path: Path, what: str) -> bytes:
    """The bytes of the secret of ``path`` (``what`` names it in errors), however it is
    held; StoreError with the reason and the way out otherwise. A plain file others may
    read is refused."""
    form = held(path)
    try:
        if form == PLAIN:
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise StoreError(f"{what} {path} is readable by others; run: chmod 600 {path}")
            if path not in _warned:
                _warned.add(path)
                logger.warning("%s lies in plain text (%s): run `sudo tillmesh seal "
                               "--systemd`", path.name, path)
            return path.read_bytes()
        if form == SERVICE:
            return (_service_path(path) or path).read_bytes()
        if form == SYSTEMD:
            return systemd_decrypt(cred_path(path), path.name)
        if form == PASSPHRASE:
            return _unseal(sealed_path(path))
    except OSError as exc:
        raise StoreError(f"cannot read {what} {path}: {exc.strerror}") from exc
    raise StoreError(f"cannot read {what} {path}: it is missing (and neither {path.name}"
                     f"{CRED_SUFFIX} nor {path.name}{SEALED_SUFFIX} lies beside it)")


def _systemd_creds() -> str:
    binary = shutil.which("systemd-creds")
    if binary is None:
        raise StoreError("systemd-creds is not installed (systemd 250 or later has it)")
    return binary


def systemd_creds(args: list[str], data: bytes = b"") -> bytes:
    """Run ``systemd-creds ARGS`` with ``data`` on its standard input; its output, or
    StoreError with its own last line."""
    try:
        done = subprocess.run([_systemd_creds(), *args], input=data, capture_output=True,
                              timeout=SYSTEMD_CREDS_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"systemd-creds {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode(errors="replace").splitlines()
                 if "not located on encrypted media" not in line]  # a notice, not the cause
        raise StoreError(f"systemd-creds {args[0]} failed: "
                         f"{lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout


def systemd_decrypt(cred: Path, name: str) -> bytes:
    try:
        return systemd_creds(["decrypt", f"--name={name}", "--newline=no", str(cred), "-"])
    except StoreError as exc:
        if os.geteuid() != 0 and "Permission denied" in exc.message:
            raise StoreError(f"{cred} is sealed to this machine and only root can open it: "
                             "run this as root (sudo tillmesh …), or let the service "
                             "started by systemd read it") from exc
        raise StoreError(f"cannot open {cred}: {exc.message}") from exc


_derived: dict[tuple[bytes, int, int], PassphraseKey] = {}  # one derivation per salt


@functools.cache  # asked once per process, however many secrets it opens
def passphrase() -> str:
    """The passphrase: the first line of ``$TILLMESH_PASSPHRASE_FILE``, else typed at a
    terminal."""
    source = os.environ.get(PASSPHRASE_FILE_ENV)
    if source:
        try:
            text = Path(source).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"cannot read the passphrase file {source} "
                             f"(${PASSPHRASE_FILE_ENV}): {exc}") from exc
        phrase = text[0] if text else ""
    elif sys.stdin.isatty():
        phrase = getpass.getpass("Passphrase of this counter's secrets: ")
    else:
        raise StoreError(f"this counter's secrets are sealed with a passphrase: name a file "
                         f"holding it in ${PASSPHRASE_FILE_ENV}, or run at a terminal")
    if not phrase:
        raise StoreError("no passphrase given")
    return phrase


def _unseal(path: Path) -> bytes:
    sealed = parse_sealed(path.read_bytes().decode(errors="replace"), str(path))
    limits = (sealed.salt, sealed.opslimit, sealed.memlimit)
    key = _derived.get(limits) or derive(passphrase(), *limits)
    data = open_sealed(sealed, key, str(path))
    _derived[limits] = key
    return data
