"""The print spool on disk: one sealed file per pending receipt.

A receipt names the customer, the items and the amounts, so each spool file is sealed
(nacl SecretBox: XSalsa20-Poly1305) with the spool key, which ``spool_key`` derives from
the database key: a stolen disk yields no receipts without that key. Whoever opened the
store hands the key over (``tillmesh.node.ops.daemon``); nothing here reads a key file.

A file cut short by a power cut, altered, or sealed with another key fails its check:
``load`` sets it aside as ``.bad`` and says so, and the receipt is reprinted with
``receipt_print``. Plain JSON files spooled by a release before the seal are read once:
sealed anew, and the plain file removed. The directory is kept 0700 and every file is
created 0600, whatever the umask.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from tillmesh.node.printing.const import (
    LEGACY,
    SEALED,
    SPOOL_DIR_MODE,
    SPOOL_FILE_MODE,
    SPOOL_KEY_CONTEXT,
    SPOOL_MAGIC,
)

log = logging.getLogger("tillmesh.printing")

T = TypeVar("T")

TMP = ".tmp"  # a write in progress; a leftover is a write cut short
BAD = ".bad"  # set aside: unreadable


def spool_key(db_key: bytes) -> bytes:
    """The spool's key: BLAKE2b keyed with the database key (a PRF), so the spool key
    tells nothing of the database key, and the database key never seals a file."""
    return hashlib.blake2b(SPOOL_KEY_CONTEXT, key=db_key,
                           digest_size=SecretBox.KEY_SIZE).digest()


def seal(key: bytes, record: Mapping[str, Any]) -> bytes:
    return SPOOL_MAGIC + SecretBox(key).encrypt(json.dumps(record).encode())


def unseal(key: bytes, blob: bytes) -> dict[str, Any]:
    """The record ``seal`` wrote; ValueError for anything else (cut short, altered,
    another key's)."""
    if not blob.startswith(SPOOL_MAGIC):
        raise ValueError("not a sealed spool file")
    try:
        plain = SecretBox(key).decrypt(blob[len(SPOOL_MAGIC):])
    except CryptoError as exc:
        raise ValueError("cut short, altered or sealed with another key") from exc
    return _record(json.loads(plain))


def _record(data: object) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ValueError("not a spooled job")
    return data


class Spool:
    """The spool directory: records (maps with a string ``id``) sealed one per file."""

    def __init__(self, path: Path, key: bytes) -> None:
        if len(key) != SecretBox.KEY_SIZE:
            raise ValueError(f"a spool key has {SecretBox.KEY_SIZE} bytes, not {len(key)}")
        self.path = path
        self._key = key
        self._made = False  # the directory made and its mode set, by this spool

    def write(self, record: Mapping[str, Any]) -> None:
        """Seal ``record`` into its file, whole or not at all; OSError if the disk
        refuses."""
        if not self._made:
            self._make()
        path = self._file(record["id"], SEALED)
        tmp = path.with_suffix(TMP)
        blob = seal(self._key, record)
        try:
            self._create(tmp, blob)
        except FileNotFoundError:  # the directory was removed meanwhile
            self._make()
            self._create(tmp, blob)
        # Renamed whole, so a crash leaves the old state or the new, never half a job
        # (and a file the disk lost in part fails its check at load). Not fsynced: a
        # power cut may cost a pending printout, never a sale.
        os.replace(tmp, path)

    def _make(self) -> None:
        # once, not at every receipt: a receipt is written while the next sale is scanned
        self.path.mkdir(parents=True, exist_ok=True, mode=SPOOL_DIR_MODE)
        self.path.chmod(SPOOL_DIR_MODE)  # made by an earlier release, or under a umask
        self._made = True

    @staticmethod
    def _create(tmp: Path, blob: bytes) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(tmp, flags, SPOOL_FILE_MODE), "wb") as fh:
            os.fchmod(fh.fileno(), SPOOL_FILE_MODE)  # exact, even for a leftover .tmp
            fh.write(blob)

    def remove(self, record_id: str) -> None:
        for suffix in (SEALED, LEGACY):  # LEGACY: a plain file that could not be resealed
            _quietly(self._file(record_id, suffix).unlink, True)

    def load(self, parse: Callable[[dict[str, Any]], T]) -> list[T]:
        """What the spool holds, oldest first, each record through ``parse``; a file that
        cannot be read or parsed is set aside as ``.bad``. Plain files of an earlier
        release are sealed anew."""
        if self.path.is_dir():
            _quietly(self.path.chmod, SPOOL_DIR_MODE)
        for leftover in self.path.glob(f"*{TMP}"):
            _quietly(leftover.unlink)  # a write cut short: its job never existed
        files = list(self.path.glob(f"*{SEALED}"))
        sealed = {path.stem for path in files}
        for path in self.path.glob(f"*{LEGACY}"):
            if path.stem in sealed:  # sealed anew, then a crash before the plain one went
                _quietly(path.unlink)
            else:
                files.append(path)
        loaded = []
        for path in sorted(files, key=lambda p: p.stem):  # ids sort in submission order
            try:
                blob = path.read_bytes()
                record = (_record(json.loads(blob)) if path.suffix == LEGACY
                          else unseal(self._key, blob))
                if record["id"] != path.stem:  # a file renamed: not the job it says
                    raise ValueError(f"it holds job {record['id']}")
                loaded.append(parse(record))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("spooled job %s is unreadable, set aside: %s", path.name, exc)
                _quietly(path.replace, path.with_suffix(BAD))
                continue
            if path.suffix == LEGACY:
                self._reseal(path, record)
        return loaded

    def _reseal(self, path: Path, record: Mapping[str, Any]) -> None:
        try:
            self.write(record)
        except OSError as exc:  # it stays plain until printed, then goes (``remove``)
            log.warning("cannot seal the plain spooled job %s: %s", path.name, exc)
            return
        _quietly(path.unlink)

    def _file(self, record_id: str, suffix: str) -> Path:
        return self.path / f"{record_id}{suffix}"


def _quietly(action: Callable[..., object], *args: object) -> None:
    """Tidy the spool if possible; a read-only disk must not stop the node from selling."""
    try:
        action(*args)
    except OSError as exc:
        log.warning("cannot tidy the print spool: %s", exc)
