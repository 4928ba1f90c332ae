"""Where the master key comes from, and the providers that wrap keys under it.

A master key reaches strongroom as an argument, from the environment, from a key
file, or from an operator's command (a KMS CLI); whichever it is, a
``MasterKeyProvider`` wraps and unwraps the store's keys under it.
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from strongroom.domain.errors import MasterKeyError
from strongroom.infrastructure.crypto import (
    KEY_BYTES,
    Sealer,
    decode_key,
    key_fingerprint,
    new_key,
)


def parse_master_key(value: bytes | str) -> bytes:
    """32 raw bytes, or their base64 (str or bytes); MasterKeyError otherwise."""
    decoded = decode_key(value)
    if decoded is None:
        msg = f"a master key must be {KEY_BYTES} bytes (raw, or base64-encoded)"
        raise MasterKeyError(msg) from None
    return decoded


def read_key_file(path: Path) -> bytes:
    """The master key stored (base64) in ``path``."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        msg = f"cannot read the master key file {str(path)!r}: {exc.strerror}"
        raise MasterKeyError(msg) from None
    return parse_master_key(content)


def create_key_file(path: Path) -> bytes:
    """Generate a master key into a new file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = new_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key_file(path)
    with os.fdopen(fd, "wb") as file:
        file.write(base64.b64encode(key) + b"\n")
    print(
        f"strongroom: generated a new master key in {path}; back it up - "
        "without it every secret in this store is lost",
        file=sys.stderr,
    )
    return key


# ------------------------------------------------------------------ providers


@runtime_checkable
class MasterKeyProvider(Protocol):
    """Wraps and unwraps key material under one master key, named by ``key_id``.

    ``key_id`` identifies the master key without revealing it; it is stored beside
    every wrapped key so that a store can say which master key it needs. A provider
    backed by a KMS (AWS KMS ``Encrypt``/``Decrypt`` with ``aad`` as the encryption
    context, or Vault transit ``encrypt``/``decrypt`` with ``aad`` as the context)
    implements the same three members; note that strongroom calls ``unwrap`` once
    per data key it reads, so a remote provider should be fronted by a local key
    (see ``CommandKeyProvider``).
    """

    @property
    def key_id(self) -> str:
        """A stable, non-secret identifier of the master key."""
        ...

    def wrap(self, material: bytes, aad: bytes) -> bytes:
        """Encrypt and authenticate ``material`` bound to ``aad``."""
        ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Recover material wrapped by ``wrap``; DecryptionError if it fails."""
        ...


class RawKeyProvider:
    """A master key held in memory (from an argument, the environment or a file)."""

    __slots__ = ("_key_id", "_sealer")

    def __init__(self, key: bytes | str) -> None:
        material = parse_master_key(key)
        self._sealer = Sealer(material)
        self._key_id = "raw:" + key_fingerprint(material)[:8].hex()

    @property
    def key_id(self) -> str:
        """``raw:`` and 16 hex digits of an HMAC of the key (never the key)."""
        return self._key_id

    def wrap(self, material: bytes, aad: bytes) -> bytes:
        """AES-256-GCM under the master key."""
        return self._sealer.seal(material, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Open what ``wrap`` sealed."""
        return self._sealer.open(wrapped, aad)

    def __repr__(self) -> str:
        return f"RawKeyProvider(key_id={self._key_id!r})"


class CommandKeyProvider(RawKeyProvider):
    """A master key printed (base64) by an operator's command, e.g. a KMS CLI.

    The command runs once, without a shell when given as a list, and its output is
    never logged. ``aws kms decrypt --ciphertext-blob fileb://master.enc --query
    Plaintext --output text`` is a typical command.
    """

    __slots__ = ()

    def __init__(self, command: str | Sequence[str], *, timeout: float = 60) -> None:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            msg = "the master key command is empty"
            raise MasterKeyError(msg)
        try:
            done = subprocess.run(  # noqa: S603 - the operator's own command
                argv, capture_output=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            msg = f"the master key command {argv[0]!r} could not run: {type(exc).__name__}"
            raise MasterKeyError(msg) from None
        if done.returncode != 0:
            msg = f"the master key command {argv[0]!r} failed with exit status {done.returncode}"
            raise MasterKeyError(msg)
        super().__init__(done.stdout.strip())

    def __repr__(self) -> str:
        return f"CommandKeyProvider(key_id={self.key_id!r})"


def as_provider(key: MasterKeyProvider | bytes | str) -> MasterKeyProvider:
    """A provider for a provider, raw key bytes, or base64 text."""
    if isinstance(key, (bytes, str)):
        return RawKeyProvider(key)
    if isinstance(key, MasterKeyProvider):
        return key
    msg = "a master key must be 32 bytes, their base64, or a MasterKeyProvider"
    raise MasterKeyError(msg)
