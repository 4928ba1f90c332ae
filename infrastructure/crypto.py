"""Envelope encryption primitives: AES-256-GCM sealing, key wrapping, derived ids.

Every ciphertext is ``FORMAT || nonce(12) || AES-GCM(ciphertext || tag)``; the
associated data always names what the bytes belong to, so a ciphertext copied to
another row, position or purpose fails authentication.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from strongroom.domain.errors import DecryptionError

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_V1 = b"\x01"


_RANDOM_CHUNK = 4096


class _RandomPool(threading.local):
    """Per-thread operating-system randomness, fetched a page at a time.

    os.urandom releases the GIL for its system call; with many threads, each
    release hands the GIL away and waiting to get it back cost more than the call
    (a create drew randomness seven times). Bytes are handed out once, in order.
    """

    buffer = b""
    offset = 0


_pool = _RandomPool()


def _forget_after_fork() -> None:
    # A forked child must never hand out the bytes its parent will also use.
    global _pool  # noqa: PLW0603
    _pool = _RandomPool()


os.register_at_fork(after_in_child=_forget_after_fork)


def random_bytes(count: int) -> bytes:
    """``count`` bytes from the operating system's CSPRNG, each used only once."""
    pool = _pool
    buffer, offset = pool.buffer, pool.offset
    if offset + count > len(buffer):
        buffer, offset = os.urandom(max(_RANDOM_CHUNK, count)), 0
        pool.buffer = buffer
    pool.offset = offset + count
    return buffer[offset : offset + count]


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return random_bytes(KEY_BYTES)


def new_id() -> uuid.UUID:
    """A fresh random (version 4) UUID."""
    return uuid.UUID(bytes=random_bytes(16), version=4)


def decode_key(value: object) -> bytes | None:
    """32 raw bytes, or their base64 (str or bytes); None for anything else."""
    if isinstance(value, bytes) and len(value) == KEY_BYTES:
        return value
    if not isinstance(value, (bytes, str)):
        return None
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else value
        decoded = base64.b64decode(text.strip(), validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == KEY_BYTES else None


class Sealer:
    """AES-256-GCM under one key, with a random 96-bit nonce per message."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Sealer(<key hidden>)"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext`` bound to ``aad``."""
        nonce = random_bytes(NONCE_BYTES)
        return FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt ``sealed``; DecryptionError (opaque) if it fails authentication."""
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != FORMAT_V1:
            raise DecryptionError("stored data failed authentication") from None
        try:
            return self._aead.decrypt(sealed[1 : 1 + NONCE_BYTES], sealed[13:], aad)
        except InvalidTag:
            raise DecryptionError("stored data failed authentication") from None


def derive(key: bytes, purpose: str) -> bytes:
    """A sub-key of ``key`` for one purpose (HKDF-SHA256)."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=b"strongroom/" + purpose.encode(),
    ).derive(key)


def key_fingerprint(key: bytes) -> bytes:
    """An identifier of a key that reveals nothing about it (HMAC-SHA256)."""
    return hmac.new(key, b"strongroom master key id v1", hashlib.sha256).digest()


def derived_uuid(key: bytes, *parts: str) -> uuid.UUID:
    """A stream id derived from ``parts`` under ``key``: not guessable without it."""
    message = "\x00".join(parts).encode("utf-8", "surrogatepass")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=4)
