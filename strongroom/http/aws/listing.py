"""AWS operations on many secrets and on none: ListSecrets and
BatchGetSecretValue (filters, pages), GetRandomPassword, RotateSecret and
CancelRotateSecret."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

from strongroom import Generate, Page, Secret, StrongroomError
from strongroom.domain.lifecycle import rotation_interval_days
from strongroom.http.aws.context import Call
from strongroom.http.aws.errors import AwsError, aws_error, not_supported
from strongroom.http.aws.secrets import get_secret_value
from strongroom.http.aws.shapes import epoch, tags_out, without_none

_FILTER_KEYS = {"name", "description", "tag-key", "tag-value", "all"}
MAX_RESULTS = 100
MAX_SCANS = 20  # listing pages one ListSecrets request reads at most


def _listing(call: Call, limit: int, cursor: str | None) -> Page:
    """One listing page of what the key may see: a bound key its namespace, an
    unbound one the global scope."""
    return call.sm.list(
        namespace=call.namespace,
        scope="global" if call.namespace is None else None,
        limit=limit,
        cursor=cursor,
    )


def _all(call: Call, *, planned: bool) -> Iterator[Secret]:
    """Every secret the key may see, in name order."""
    cursor: str | None = None
    while True:
        page = _listing(call, 1000, cursor)
        for secret in page.items:
            if planned or secret.status != "pending_deletion":
                yield secret
        cursor = page.next_cursor
        if cursor is None:
            return


def _in_order(
    call: Call, keep: Callable[[Secret], bool], limit: int
) -> tuple[list[Secret], str | None]:
    """Up to ``limit`` secrets ``keep`` accepts, in name order from NextToken on,
    and the token of the rest. Each listing page asks for no more than are still
    wanted, so all its matches fit and the next page starts where it ended; a
    request reads at most ``MAX_SCANS`` pages (fewer results, and a NextToken)."""
    cursor = call.field("NextToken", str)
    found: list[Secret] = []
    for _ in range(MAX_SCANS):
        page = _listing(call, limit - len(found), cursor)
        found += [secret for secret in page.items if keep(secret)]
        cursor = page.next_cursor
        if cursor is None or len(found) >= limit:
            break
    return found, cursor


def _filters(call: Call) -> list[tuple[str, list[str]]]:
    given = call.field("Filters", list) or []
    found = []
    for item in given:
        key = item.get("Key") if isinstance(item, dict) else None
        values = item.get("Values") if isinstance(item, dict) else None
        if (
            not isinstance(key, str)
            or key not in _FILTER_KEYS
            or not isinstance(values, list)
            or not values
        ):
            msg = f"a filter's Key is one of {', '.join(sorted(_FILTER_KEYS))}, with Values"
            raise AwsError("InvalidParameterException", msg)
        found.append((key, [str(v) for v in values]))
    return found


def _texts(secret: Secret, key: str) -> list[str]:
    """What a filter key looks at (AWS: prefix matches, case-insensitive)."""
    tags = secret.tags
    return {
        "name": [secret.name],
        "description": [secret.description or ""],
        "tag-key": list(tags),
        "tag-value": list(tags.values()),
        "all": [secret.name, secret.description or "", *tags, *tags.values()],
    }[key]


def _matches(secret: Secret, filters: list[tuple[str, list[str]]]) -> bool:
    """Every filter holds; a value starting with ``!`` negates its match."""
    for key, values in filters:
        texts = [text.lower() for text in _texts(secret, key)]
        hits = False
        for value in values:
            negated = value.startswith("!")
            prefix = value.removeprefix("!").lower()
            found = any(text.startswith(prefix) for text in texts)
            hits = hits or (found != negated)
        if not hits:
            return False
    return True


def _max_results(call: Call) -> int:
    limit: int = call.field("MaxResults", int) or MAX_RESULTS
    if not 1 <= limit <= MAX_RESULTS:
        raise AwsError("InvalidParameterException", "MaxResults is from 1 to 100")
    return limit


def _page(call: Call, items: list[Any]) -> tuple[list[Any], str | None]:
    """One page of ``items`` after NextToken, and the token of the next."""
    limit = _max_results(call)
    token = call.field("NextToken", str)
    start = 0
    if token is not None:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise AwsError(
                "InvalidNextTokenException", "NextToken is not ours"
            ) from None
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    next_token = (
        base64.urlsafe_b64encode(json.dumps({"after": start + limit}).encode()).decode()
        if more
        else None
    )
    return chunk, next_token


def list_secrets(call: Call) -> dict[str, Any]:
    """ListSecrets: Filters, MaxResults, NextToken, SortOrder (by name: ``desc``
    reads the whole scope), IncludePlannedDeletion."""
    call.require("secrets:read")
    filters = _filters(call)
    order = call.field("SortOrder", str) or "asc"
    if order not in {"asc", "desc"}:
        raise AwsError("InvalidParameterException", "SortOrder is asc or desc")
    planned = bool(call.field("IncludePlannedDeletion", bool))

    def keep(secret: Secret) -> bool:
        planned_ok = planned or secret.status != "pending_deletion"
        return planned_ok and _matches(secret, filters)

    if order == "asc":
        # Keyset pages of the listing: a page costs the same at any depth.
        chunk, next_token = _in_order(call, keep, _max_results(call))
    else:
        found = [s for s in _all(call, planned=True) if keep(s)]
        chunk, next_token = _page(call, found[::-1])
    entries = []
    for secret in chunk:
        interval = secret.rotation_interval
        entries.append(
            without_none(
                {
                    "ARN": call.arn(secret),
                    "Name": secret.name,
                    "Description": secret.description,
                    "Tags": tags_out(secret.tags),
                    "CreatedDate": epoch(secret.created_at),
                    "LastChangedDate": epoch(secret.updated_at),
                    "DeletedDate": epoch(secret.deletion_date),
                    "RotationEnabled": interval is not None,
                    "LastRotatedDate": epoch(secret.last_rotated_at),
                    "NextRotationDate": epoch(secret.next_rotation_at),
                }
            )
        )
    return without_none({"SecretList": entries, "NextToken": next_token})


def batch_get_secret_value(call: Call) -> dict[str, Any]:
    """BatchGetSecretValue: by SecretIdList or Filters; errors per secret."""
    call.require("secrets:reveal")
    ids = call.field("SecretIdList", list)
    filters = call.field("Filters", list)
    if (ids is None) == (filters is None):
        msg = "give SecretIdList or Filters, one of them"
        raise AwsError("InvalidParameterException", msg)
    if ids is None:
        wanted: list[Any] = [
            s.name for s in _all(call, planned=False) if _matches(s, _filters(call))
        ]
    else:
        wanted = list(ids)
    chunk, next_token = _page(call, wanted)
    values, errors = [], []
    for secret_id in chunk:
        single = Call(call.sm, call.token, call.place, {"SecretId": secret_id})
        try:
            values.append(get_secret_value(single))
        except (AwsError, StrongroomError) as exc:
            error = exc if isinstance(exc, AwsError) else aws_error(exc)
            errors.append(
                {
                    "SecretId": str(secret_id),
                    "ErrorCode": error.code,
                    "Message": error.message,
                }
            )
    return without_none(
        {"SecretValues": values, "Errors": errors, "NextToken": next_token}
    )


def get_random_password(call: Call) -> dict[str, Any]:
    """GetRandomPassword: AWS's parameters and rules."""
    rules = Generate(
        length=call.field("PasswordLength", int) or 32,
        exclude_characters=call.field("ExcludeCharacters", str) or "",
        exclude_numbers=bool(call.field("ExcludeNumbers", bool)),
        exclude_punctuation=bool(call.field("ExcludePunctuation", bool)),
        exclude_uppercase=bool(call.field("ExcludeUppercase", bool)),
        exclude_lowercase=bool(call.field("ExcludeLowercase", bool)),
        include_space=bool(call.field("IncludeSpace", bool)),
        require_each_included_type=call.field("RequireEachIncludedType", bool)
        is not False,
    )
    return {"RandomPassword": call.sm.generate_value(**dataclasses.asdict(rules))}


def rotate_secret(call: Call) -> dict[str, Any]:
    """RotateSecret: the rotation rules, then (RotateImmediately, default) the
    rotation's four steps through the server's configured hook."""
    call.require("secrets:write")
    secret = call.secret()
    rules = call.field("RotationRules", dict)
    if rules is not None:
        if set(rules) - {"AutomaticallyAfterDays"}:
            raise not_supported("rotation schedules other than AutomaticallyAfterDays")
        interval = rotation_interval_days(rules.get("AutomaticallyAfterDays"))
        secret = call.sm.update(
            secret.name,
            namespace=call.namespace,
            rotation_interval=interval,
            actor=call.actor,
        )
    if call.field("RotateImmediately", bool) is False:
        return {"ARN": call.arn(secret), "Name": secret.name}
    rotated = call.sm.rotate(
        secret.name,
        namespace=call.namespace,
        hook=call.hook,
        actor=call.actor,
        version_id=call.field("ClientRequestToken", str),
    )
    return {
        "ARN": call.arn(rotated),
        "Name": rotated.name,
        "VersionId": rotated.version_id,
    }


def cancel_rotate_secret(call: Call) -> dict[str, Any]:
    """CancelRotateSecret: no more scheduled rotations; a pending version is dropped
    from its stage."""
    call.require("secrets:write")
    secret = call.secret()
    call.sm.unlabel(secret.name, "pending", namespace=call.namespace, actor=call.actor)
    call.sm.update(
        secret.name, namespace=call.namespace, rotation_interval=None, actor=call.actor
    )
    return {"ARN": call.arn(secret), "Name": secret.name}
