"""How strongroom's secrets look in AWS Secrets Manager's shapes: ARNs, secret ids,
stage names, values (``SecretString`` or ``SecretBinary``) and timestamps."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from strongroom import Secret
from strongroom.domain.errors import SecretNotFoundError, ValidationError
from strongroom.domain.validation import Value
from strongroom.http.aws.errors import AwsError

_ALPHABET = string.ascii_letters + string.digits
BINARY_KEY = "__strongroom_binary__"
"""A ``SecretBinary`` is stored as the object ``{BINARY_KEY: base64}``."""

# AWS's stage names and strongroom's.
_STAGES = {"AWSCURRENT": "current", "AWSPREVIOUS": "previous", "AWSPENDING": "pending"}
_AWS_STAGES = {ours: theirs for theirs, ours in _STAGES.items()}


@dataclass(frozen=True, slots=True)
class Place:
    """Where ARNs point: the request's region and the server's account."""

    region: str
    account: str

    def arn(self, name: str, secret_id: UUID) -> str:
        """A secret's ARN: its name and six characters stable for its life."""
        return (
            f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:"
            f"{name}-{suffix(secret_id)}"
        )


def suffix(secret_id: UUID) -> str:
    """The six characters after a secret's name in its ARN (from its id)."""
    number = int.from_bytes(hashlib.sha256(secret_id.bytes).digest()[:8], "big")
    chars = []
    for _ in range(6):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def secret_name(secret_id: str) -> tuple[str, str | None]:
    """The name a ``SecretId`` gives (a name or an ARN) and the ARN's suffix."""
    if not isinstance(secret_id, str) or not secret_id:
        msg = "SecretId must be a secret's name or ARN"
        raise AwsError("InvalidParameterException", msg)
    if not secret_id.startswith("arn:"):
        return secret_id, None
    parts = secret_id.split(":", 6)
    if len(parts) != 7 or parts[2] != "secretsmanager" or parts[5] != "secret":
        raise AwsError("InvalidParameterException", "SecretId is not a secret's ARN")
    name, dash, tail = parts[6].rpartition("-")
    if not dash or len(tail) != 6:
        raise AwsError("InvalidParameterException", "SecretId is not a secret's ARN")
    return name, tail


def check_suffix(secret: Secret, wanted: str | None) -> None:
    """An ARN names this secret only with its own suffix (not a former one's)."""
    if wanted is not None and wanted != suffix(secret.id):
        raise SecretNotFoundError(f"secret {secret.name!r} not found")


def stage_in(stage: str) -> str:
    """strongroom's stage for an AWS stage name (custom labels are themselves)."""
    return _STAGES.get(stage, stage)


def stages_out(stages: tuple[str, ...] | list[str]) -> list[str]:
    """AWS's names for strongroom's stages."""
    return [_AWS_STAGES.get(stage, stage) for stage in stages]


def value_in(body: dict[str, Any], *, required: bool = True) -> Value | None:
    """The value a request gives: ``SecretString`` as text, ``SecretBinary`` kept
    as base64 in an object, so it comes back as binary."""
    text, binary = body.get("SecretString"), body.get("SecretBinary")
    if text is not None and binary is not None:
        msg = "give SecretString or SecretBinary, not both"
        raise AwsError("InvalidParameterException", msg)
    if binary is not None:
        try:
            base64.b64decode(str(binary), validate=True)
        except (binascii.Error, ValueError):
            raise AwsError(
                "InvalidParameterException", "SecretBinary is not base64"
            ) from None
        return {BINARY_KEY: str(binary)}
    if text is None and required:
        msg = (
            "strongroom secrets always have a value: give SecretString or SecretBinary"
        )
        raise AwsError("InvalidRequestException", msg)
    if text is not None and not isinstance(text, str):
        raise ValidationError("invalid SecretString: expected a string")
    return text


def value_out(value: Value) -> dict[str, str]:
    """``SecretString`` (JSON objects as JSON text) or ``SecretBinary``."""
    if isinstance(value, dict) and set(value) == {BINARY_KEY}:
        return {"SecretBinary": str(value[BINARY_KEY])}
    if isinstance(value, str):
        return {"SecretString": value}
    return {"SecretString": json.dumps(value, separators=(",", ":"))}


def epoch(moment: datetime | None) -> float | None:
    """A moment as AWS's epoch seconds."""
    return None if moment is None else moment.timestamp()


def tags_out(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags as AWS lists them."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tags_in(tags: Any) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` as a mapping (the library checks each)."""
    bad = AwsError("InvalidParameterException", "Tags must be a list of Key/Value")
    if not isinstance(tags, list):
        raise bad
    found: dict[str, str] = {}
    for tag in tags:
        key = tag.get("Key") if isinstance(tag, dict) else None
        value = tag.get("Value", "") if isinstance(tag, dict) else None
        if not isinstance(key, str) or not isinstance(value, str):
            raise bad
        found[key] = value
    return found


def without_none(shape: dict[str, Any]) -> dict[str, Any]:
    """AWS leaves out what is not set."""
    return {key: value for key, value in shape.items() if value is not None}
