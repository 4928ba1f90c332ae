"""NDJSON exports, in the clear or sealed to a transport key (keys and secrets alike)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from strongroom.domain.errors import DecryptionError, ValidationError
from strongroom.infrastructure.crypto import Sealer, decode_key


def export_sealer(
    what: str, *, plaintext: bool, transport_key: bytes | str | None
) -> Sealer | None:
    """The sealer an export uses, or None for ``plaintext=True`` (never by default)."""
    if plaintext is not True and transport_key is None:
        msg = (
            f"exported {what} are plaintext: pass plaintext=True, or a "
            "transport_key to seal them to"
        )
        raise ValidationError(msg)
    if plaintext is True and transport_key is not None:
        msg = "pass plaintext=True or a transport_key, not both"
        raise ValidationError(msg)
    return None if transport_key is None else transport_sealer(transport_key)


def transport_sealer(transport_key: bytes | str) -> Sealer:
    """AES-GCM under a 32-byte transport key (or its base64)."""
    material = decode_key(transport_key)
    if material is None:
        msg = "invalid transport key: expected 32 bytes, or their base64"
        raise ValidationError(msg)
    return Sealer(material)


def seal(sealer: Sealer, text: str, aad: bytes) -> str:
    """``text`` sealed to the transport key, as base64."""
    return base64.b64encode(sealer.seal(text.encode(), aad)).decode()


def _unseal(sealed: object, sealer: Sealer, aad: bytes) -> str | None:
    if sealed is None:
        return None
    try:
        raw = base64.b64decode(str(sealed), validate=True)
        return sealer.open(raw, aad).decode()
    except (binascii.Error, ValueError, DecryptionError):
        msg = "does not open with this transport key"
        raise ValidationError(msg) from None


def ndjson(item: dict[str, Any]) -> str:
    """One export line."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n"


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """The object on one import line, or None for a blank line."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except ValueError:
        item = None
    if not isinstance(item, dict):
        msg = "expected a JSON object"
        raise ValidationError(msg)
    return item


def field(item: dict[str, Any], sealer: Sealer | None, name: str, aad: bytes) -> Any:
    """The field ``name`` of a plaintext line, or the text sealed under ``aad``.

    With a sealer the line must hold ``sealed`` (its text opened, or None), not
    ``name``; without one, the other way round. ValidationError if it won't open.
    """
    if sealer is None:
        if "sealed" in item:
            msg = "sealed export, but no transport key given"
            raise ValidationError(msg)
        return item.get(name)
    if name in item:
        msg = "plaintext line in a sealed import"
        raise ValidationError(msg)
    return _unseal(item.get("sealed"), sealer, aad)
