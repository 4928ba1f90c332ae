"""Where the master key comes from: an argument, the environment, or a key file."""

from __future__ import annotations

import base64
import binascii
import os
import sys
from pathlib import Path

from strongroom.domain.errors import MasterKeyError
from strongroom.infrastructure.crypto import KEY_BYTES, new_key


def parse_master_key(value: bytes | str) -> bytes:
    """32 raw bytes, or their base64 (str or bytes); MasterKeyError otherwise."""
    if isinstance(value, bytes) and len(value) == KEY_BYTES:
        return value
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else value
        decoded = base64.b64decode(text.strip(), validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != KEY_BYTES:
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
