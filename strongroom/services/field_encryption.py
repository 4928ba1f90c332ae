"""Field-level encryption under an aggregate's key (the reSolve encryption pattern):
forgotten with the key."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from strongroom.domain.errors import (
    DecryptionError,
    ValidationError,
)
from strongroom.infrastructure.crypto import Sealer, derive, new_key

if TYPE_CHECKING:
    from strongroom.services.keys import KeyAPI

_FIELD_AAD = b"strongroom/field/"
_TOKEN_PREFIX = "sr1."  # noqa: S105 - a format marker, not a password


class FieldEncryption:
    """Encrypts values of one aggregate under its key; forgotten once the key is deleted.

    ``encrypt`` creates the aggregate's key if it has none (and raises
    KeyDeletedError if it was deleted); ``decrypt`` never creates one and returns
    None once the key is gone.
    """

    __slots__ = ("_api", "_key_id")

    def __init__(self, api: KeyAPI, key_id: str) -> None:
        self._api = api
        self._key_id = key_id

    def __repr__(self) -> str:
        return f"FieldEncryption(key_id={self._key_id!r})"

    def encrypt(self, value: Any) -> str:
        """A token holding ``value`` (anything JSON can carry), sealed to the aggregate."""
        secret = self._api.get_or_create_secret(
            self._key_id, lambda: base64.b64encode(new_key()).decode()
        )
        try:
            plain = json.dumps(value, separators=(",", ":")).encode()
        except (TypeError, ValueError):
            msg = "invalid value: expected something JSON can encode"
            raise ValidationError(msg) from None
        sealed = self._sealer(secret).seal(plain, self._aad())
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(sealed).decode()

    def decrypt(self, token: str) -> Any:
        """The value in ``token``, or None once the aggregate's key was deleted."""
        if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
            msg = "invalid token: not produced by FieldEncryption.encrypt"
            raise ValidationError(msg)
        secret = self._api.get_secret(self._key_id)
        if secret is None:
            return None
        try:
            sealed = base64.urlsafe_b64decode(token[len(_TOKEN_PREFIX) :])
        except (binascii.Error, ValueError):
            raise DecryptionError("stored data failed authentication") from None
        return json.loads(self._sealer(secret).open(sealed, self._aad()))

    def _sealer(self, secret: str) -> Sealer:
        # Any secret string works: host applications may have set their own.
        return Sealer(derive(secret.encode(), "field-encryption"))

    def _aad(self) -> bytes:
        return _FIELD_AAD + self._key_id.encode()
