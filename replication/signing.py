"""Who wrote an event: each counter signs the chain hash of every event it records with
its own Ed25519 key (libsodium, through PyNaCl), and every replica checks the signature
with the key the store enrolled for that origin before it stores or relays the event.

The hash covers every field and the previous hash, so one signature per event binds the
whole event and its place in its origin's chain; a replica that holds an origin's chain
up to a signed head needs only that head's signature to trust the prefix (snapshots).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from nacl.exceptions import BadSignatureError
from nacl.exceptions import ValueError as NaclValueError
from nacl.signing import SigningKey, VerifyKey

from tillmesh.replication.const import SIGNATURE_BYTES
from tillmesh.replication.event import Event

SEED_BYTES = 32  # an Ed25519 private key is a 32-byte seed
PUBLIC_BYTES = 32  # and its public half 32 bytes


class Signer:
    """This counter's signing key: signs the events it records."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"a signing key is {SEED_BYTES} bytes, got {len(seed)}")
        self._key = SigningKey(seed)
        self.public = bytes(self._key.verify_key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(bytes(SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    def sign(self, event: Event) -> Event:
        return dataclasses.replace(event, sig=self.sign_digest(event.hash))

    def sign_digest(self, digest: bytes) -> bytes:
        """The signature of a digest this counter vouches for (an event's hash, or a
        checkpoint's)."""
        return bytes(self._key.sign(digest).signature)


@lru_cache(maxsize=1024)  # a store has tens of counters; building a key costs a third of a check
def _verify_key(public: bytes) -> VerifyKey:
    return VerifyKey(public)


def signed_by(event: Event, public: bytes) -> bool:
    """True when ``event.sig`` is ``public``'s signature of the event's hash (the caller
    checks the hash itself against the chain)."""
    return digest_signed_by(event.hash, event.sig, public)


def digest_signed_by(digest: bytes, sig: bytes, public: bytes) -> bool:
    """True when ``sig`` is ``public``'s signature of ``digest``."""
    if len(sig) != SIGNATURE_BYTES or len(public) != PUBLIC_BYTES:
        return False
    try:
        _verify_key(public).verify(digest, sig)
    except (BadSignatureError, NaclValueError):
        return False
    return True
