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
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from strongroom.domain.errors import DecryptionError

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_V1 = b"\x01"


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)


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
        nonce = os.urandom(NONCE_BYTES)
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
