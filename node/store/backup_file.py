"""A counter's backup: a consistent copy of the live store, and the one encrypted file that
carries it with the counter's settings and secrets (``tillmesh backup`` / ``restore``:
``tillmesh.node.ops.backup``; what a restored counter waits for: ``backup_restored``).

The copy is SQLite's online backup API run in one step, from a connection of its own
into a new SQLCipher file under the same database key: one read transaction of the WAL,
so it is the store exactly as one commit left it, while the node goes on selling (a
writer never waits for it; a copy in several steps would start over at each commit). It
is checked (``PRAGMA integrity_check``, every origin's hash chain) before it is kept.
(``VACUUM INTO`` and ``sqlcipher_export`` give a consistent copy too, but rewrite every
row and index: slower for the same result.)

The file, streamed both ways (a store of hundreds of MB never sits in memory)::

    {"format": "tillmesh-backup", ...}\\n     the header: one line of JSON, in the clear
    24 bytes                                  the secretstream header
    frames: 4-byte big-endian length, then ciphertext (XChaCha20-Poly1305 secretstream)

The key is argon2id of the backup passphrase (``sealing.derive``; salt and limits in the
header). The first frame, which authenticates the header line as its additional data, is
the manifest (JSON: the settings file, the secrets by path, the store's size and events);
the store follows in frames of ``CHUNK_BYTES``; the last frame is tagged FINAL, so a file
cut short is refused, never restored in part. The database pages inside are encrypted
under the database key too (whose only copy in the file is in the manifest).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import sqlcipher3
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_ABYTES,
    crypto_secretstream_xchacha20poly1305_HEADERBYTES,
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
    crypto_secretstream_xchacha20poly1305_TAG_FINAL,
)
from nacl.exceptions import CryptoError
from nacl.pwhash import argon2id

from tillmesh.node.errors import StoreError
from tillmesh.node.store._engine import _connect
from tillmesh.node.store.archive import live_chains
from tillmesh.node.store.const import REBUILD_BATCH
from tillmesh.node.store.sealing import PassphraseKey, derive

FORMAT, VERSION = "tillmesh-backup", 1
CHUNK_BYTES = 1 << 20  # bytes of the store per frame: small next to memory, few frames
MAX_HEADER_BYTES = 4096  # the header line is ~300 bytes; more is not a backup
_LENGTH = struct.Struct(">I")
_MAX_FRAME = CHUNK_BYTES + crypto_secretstream_xchacha20poly1305_ABYTES
_FINAL = crypto_secretstream_xchacha20poly1305_TAG_FINAL


# --- the copy -----------------------------------------------------------------------------


def copy_online(db_path: Path, key: bytes, dest: Path) -> None:
    """The store at ``db_path`` as one commit left it, into the new file ``dest`` (0600,
    the same key), the node running or not. ``dest`` is a whole database on its own (no
    WAL beside it)."""
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = _connect(db_path, key)
    try:
        target = _connect(dest, key)
        try:
            source.backup(target)  # pages=-1: every page in one step, one read snapshot
            target.execute("PRAGMA journal_mode = DELETE").fetchone()  # WAL folded in
        finally:
            target.close()
    except sqlcipher3.Error as exc:
        raise StoreError(f"could not copy the store {db_path}: {exc}") from exc
    finally:
        source.close()


def check(db_path: Path, key: bytes) -> dict[str, int]:
    """``PRAGMA integrity_check`` and every origin's hash chain, 1..n without a gap; the
    store's version vector. StoreError saying what fails."""
    conn = _connect(db_path, key)
    try:
        found = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if found != ["ok"]:
            raise StoreError(f"{db_path} fails SQLite's integrity check: {found[0]}")
        return _chains(conn, db_path)
    except sqlcipher3.Error as exc:
        raise StoreError(f"cannot check {db_path}: {exc}") from exc
    finally:
        conn.close()


def floor(db_path: Path, key: bytes) -> dict[str, tuple[int, bytes]]:
    """The floor of a store copy: where its live events start (``archive``)."""
    conn = _connect(db_path, key)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'event_floor'").fetchone():
            return {}
        return {str(o): (int(s), bytes(h)) for o, s, h in conn.execute(
            "SELECT origin, seq, hash FROM event_floor")}
    finally:
        conn.close()


def _chains(conn: Any, where: Path) -> dict[str, int]:
    chains = live_chains(conn, batch=REBUILD_BATCH)
    if chains.broken is not None:
        raise StoreError(f"{where}: the events do not chain at {chains.broken}")
    return {origin: head.seq for origin, head in chains.heads.items()}


# --- the file -----------------------------------------------------------------------------


def header(key: PassphraseKey, **fields: Any) -> dict[str, Any]:
    """The header line's content: the format, how to derive the key, and ``fields`` (what
    IT may read without the passphrase: which counter, when, how many events)."""
    return {"format": FORMAT, "version": VERSION, "kdf": "argon2id", "opslimit": key.opslimit,
            "memlimit": key.memlimit, "salt": base64.b64encode(key.salt).decode(), **fields}


def write(out: IO[bytes], key: PassphraseKey, head: dict[str, Any],
          manifest: dict[str, Any], files: Sequence[Path]) -> None:
    """The backup file into ``out``: ``head`` in the clear, ``manifest`` and the database
    ``files`` (the store, then its archive and checkpoint if it has them; their sizes in
    the manifest) encrypted, one after the other, frame by frame."""
    line = json.dumps(head, separators=(",", ":")).encode() + b"\n"
    state = crypto_secretstream_xchacha20poly1305_state()
    out.write(line + crypto_secretstream_xchacha20poly1305_init_push(state, key.key))

    def frame(data: bytes, ad: bytes | None = None, tag: int = 0) -> None:
        sealed = crypto_secretstream_xchacha20poly1305_push(state, data, ad, tag)
        out.write(_LENGTH.pack(len(sealed)) + sealed)

    frame(json.dumps(manifest).encode(), line)
    for path in files:
        with path.open("rb") as db:
            while chunk := db.read(CHUNK_BYTES):
                frame(chunk)
    frame(b"", tag=_FINAL)


class Reader:
    """A backup file being read: ``header`` at once, ``unlock`` with the passphrase for the
    manifest, then ``store`` for the database file's bytes. Any damage, a wrong passphrase
    or a file cut short is a StoreError naming the file."""

    def __init__(self, path: Path) -> None:
        self.where = str(path)
        try:
            self._file = path.open("rb")
        except OSError as exc:
            raise StoreError(f"cannot read the backup {path}: {exc.strerror}") from exc
        self._state = crypto_secretstream_xchacha20poly1305_state()
        try:
            self._line = self._file.readline(MAX_HEADER_BYTES)
            self.header = self._parse(self._line)
        except BaseException:
            self._file.close()
            raise

    def _parse(self, line: bytes) -> dict[str, Any]:
        try:
            head = json.loads(line)
            if not isinstance(head, dict) or head.get("format") != FORMAT:
                raise ValueError("not a Tillmesh backup")
            if head.get("version") != VERSION or head.get("kdf") != "argon2id":
                raise ValueError(f"version {head.get('version')!r} is not one this release "
                                 "reads")
            ops, mem = head["opslimit"], head["memlimit"]
            if not (isinstance(ops, int) and isinstance(mem, int)  # no terabytes asked
                    and argon2id.OPSLIMIT_MIN <= ops <= argon2id.OPSLIMIT_MAX
                    and argon2id.MEMLIMIT_MIN <= mem <= argon2id.MEMLIMIT_SENSITIVE):
                raise ValueError("its argon2id limits are out of bounds")
            if len(base64.b64decode(head["salt"], validate=True)) != argon2id.SALTBYTES:
                raise ValueError("its salt has the wrong size")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise StoreError(f"{self.where} is not a Tillmesh backup ({exc})") from exc
        return head

    def unlock(self, passphrase: str) -> dict[str, Any]:
        """The manifest, decrypted with ``passphrase`` (one argon2id derivation)."""
        key = derive(passphrase, base64.b64decode(self.header["salt"]),
                     self.header["opslimit"], self.header["memlimit"])
        start = self._file.read(crypto_secretstream_xchacha20poly1305_HEADERBYTES)
        if len(start) != crypto_secretstream_xchacha20poly1305_HEADERBYTES:
            raise StoreError(f"{self.where} is cut short: it holds no data")
        crypto_secretstream_xchacha20poly1305_init_pull(self._state, start, key.key)
        try:
            data, _ = crypto_secretstream_xchacha20poly1305_pull(self._state, self._frame(),
                                                                 self._line)
        except CryptoError as exc:
            raise StoreError(f"cannot open {self.where}: wrong backup passphrase (or the "
                             "file was altered)") from exc
        try:
            manifest = json.loads(data)
        except ValueError as exc:
            raise StoreError(f"{self.where}: its manifest is unreadable ({exc})") from exc
        if not isinstance(manifest, dict):
            raise StoreError(f"{self.where}: its manifest is unreadable")
        return manifest

    def split(self, sizes: Sequence[int]) -> Iterator[Iterator[bytes]]:
        """The files ``store`` carries one after the other, each ``sizes[i]`` bytes, chunk
        by chunk; StoreError if the stream holds more or less."""
        stream = self.store()
        left = b""
        for size in sizes:
            def one(size: int = size) -> Iterator[bytes]:
                nonlocal left
                while size > 0:
                    chunk = left or next(stream, b"")
                    if not chunk:
                        raise StoreError(f"{self.where} holds less than its manifest says")
                    left, chunk = chunk[size:], chunk[:size]
                    size -= len(chunk)
                    yield chunk
            yield one()
        if left or next(stream, b""):
            raise StoreError(f"{self.where} holds more than its manifest says")

    def store(self) -> Iterator[bytes]:
        """The database files, chunk by chunk (after ``unlock``); ends only at the FINAL
        frame."""
        while True:
            try:
                data, tag = crypto_secretstream_xchacha20poly1305_pull(self._state, self._frame())
            except CryptoError as exc:
                raise StoreError(f"{self.where} is damaged at byte {self._file.tell()}: it "
                                 "was altered or corrupted") from exc
            if data:
                yield data
            if tag == _FINAL:
                if self._file.read(1):
                    raise StoreError(f"{self.where} holds data after its end")
                return

    def _frame(self) -> bytes:
        raw = self._file.read(_LENGTH.size)
        size = _LENGTH.unpack(raw)[0] if len(raw) == _LENGTH.size else None
        if size is not None and size > _MAX_FRAME:
            raise StoreError(f"{self.where} is damaged at byte {self._file.tell()}")
        data = self._file.read(size or 0) if size is not None else b""
        if size is None or len(data) != size:
            raise StoreError(f"{self.where} is cut short (at byte {self._file.tell()}): copy "
                             "it again from where it was kept")
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def partial_file(path: Path) -> Iterator[IO[bytes]]:
    """A new file written 0600 beside ``path`` and renamed over it once whole and fsynced:
    a failure leaves ``path`` as it was, never half a file under its name."""
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when a leftover partial file had looser permissions
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)
