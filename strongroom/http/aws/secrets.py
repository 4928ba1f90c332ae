"""AWS operations on one secret: create, get and put values, update, describe,
versions and stages, delete and restore, tags."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from strongroom import Secret
from strongroom.domain.lifecycle import recovery_window_days
from strongroom.http.aws.context import Call
from strongroom.http.aws.errors import AwsError, not_supported
from strongroom.http.aws.shapes import (
    epoch,
    stage_in,
    stages_out,
    tags_in,
    tags_out,
    value_in,
    value_out,
    without_none,
)

_DEFAULT_WINDOW = 30  # days, as AWS's DeleteSecret
_UNSUPPORTED = {
    "KmsKeyId": "choosing a KMS key: each secret has its own data key",
    "AddReplicaRegions": "replication",
    "ForceOverwriteReplicaSecret": "replication",
}


def _refuse_unsupported(call: Call) -> None:
    for key, what in _UNSUPPORTED.items():
        if call.body.get(key) not in (None, False, []):
            raise not_supported(what)


def _named(call: Call, secret: Secret, **extra: Any) -> dict[str, Any]:
    return without_none({"ARN": call.arn(secret), "Name": secret.name, **extra})


def create_secret(call: Call) -> dict[str, Any]:
    """CreateSecret: a secret with its first version (ClientRequestToken: its id)."""
    call.require("secrets:write")
    _refuse_unsupported(call)
    name = call.field("Name", str, required=True)
    value = value_in(call.body)
    assert value is not None
    tags = call.body.get("Tags")
    secret = call.sm.create(
        name,
        value,
        namespace=call.namespace,
        description=call.field("Description", str),
        tags=None if tags is None else tags_in(tags),
        actor=call.actor,
        request_id=call.field("ClientRequestToken", str),
    )
    return _named(call, secret, VersionId=secret.version_id)


def get_secret_value(call: Call) -> dict[str, Any]:
    """GetSecretValue: current, or a VersionId's or a VersionStage's version."""
    call.require("secrets:reveal")
    name, tail = call.name_of(call.field("SecretId", str, required=True))
    if tail is not None:
        call.secret()  # an ARN must be this secret's, checked before the reveal
    stage = call.field("VersionStage", str)
    found = call.sm.reveal_detail(
        name,
        namespace=call.namespace,
        version_id=call.field("VersionId", str),
        stage=None if stage is None else stage_in(stage),
        caller=call.token.caller(None, None),
        actor=call.actor,
        audit=True,
    )
    # One read: the reveal's own (the version's creation time would need its
    # history, so CreatedDate is left out).
    return {
        "ARN": call.place.arn(name, found.secret_id),
        "Name": name,
        "VersionId": found.version_id,
        "VersionStages": stages_out(found.stages),
        **value_out(found.value),
    }


def put_secret_value(call: Call) -> dict[str, Any]:
    """PutSecretValue: a new version, current (default) or pending (AWSPENDING)."""
    call.require("secrets:write")
    secret = call.secret()
    value = value_in(call.body)
    assert value is not None
    token = call.field("ClientRequestToken", str)
    stages = call.field("VersionStages", list) or ["AWSCURRENT"]
    if "AWSCURRENT" in stages:
        extra = [s for s in stages if s != "AWSCURRENT"]
        if extra:
            raise not_supported("more stages than AWSCURRENT on a new version")
        updated = call.sm.update(
            secret.name,
            namespace=call.namespace,
            value=value,
            actor=call.actor,
            request_id=token,
        )
        return _named(
            call, updated, VersionId=updated.version_id, VersionStages=["AWSCURRENT"]
        )
    if stages != ["AWSPENDING"]:
        raise not_supported("a new version staged other than AWSCURRENT or AWSPENDING")
    staged = call.sm.stage_pending(
        secret.name, value, namespace=call.namespace, actor=call.actor, version_id=token
    )
    return _named(call, secret, VersionId=staged, VersionStages=["AWSPENDING"])


def update_secret(call: Call) -> dict[str, Any]:
    """UpdateSecret: the description and/or a new current version."""
    call.require("secrets:write")
    _refuse_unsupported(call)
    secret = call.secret()
    value = value_in(call.body, required=False)
    changes: dict[str, Any] = {}
    if value is not None:
        changes["value"] = value
    if "Description" in call.body:
        changes["description"] = call.field("Description", str)
    if not changes:
        return _named(call, secret)
    updated = call.sm.update(
        secret.name,
        namespace=call.namespace,
        actor=call.actor,
        request_id=call.field("ClientRequestToken", str) if value is not None else None,
        **changes,
    )
    return _named(
        call, updated, VersionId=updated.version_id if value is not None else None
    )


def describe_secret(call: Call) -> dict[str, Any]:
    """DescribeSecret: metadata, versions' stages, rotation and deletion dates."""
    call.require("secrets:read")
    secret = call.secret()
    versions = call.sm.versions(secret.name, namespace=call.namespace)
    interval = secret.rotation_interval
    return _named(
        call,
        secret,
        Description=secret.description,
        CreatedDate=epoch(secret.created_at),
        LastChangedDate=epoch(secret.updated_at),
        DeletedDate=epoch(secret.deletion_date),
        Tags=tags_out(secret.tags),
        VersionIdsToStages={
            v.version_id: stages_out(v.stages) for v in versions if v.stages
        },
        RotationEnabled=interval is not None,
        RotationRules=(
            None
            if interval is None
            else {"AutomaticallyAfterDays": max(1, interval // timedelta(days=1))}
        ),
        LastRotatedDate=epoch(secret.last_rotated_at),
        NextRotationDate=epoch(secret.next_rotation_at),
    )


def list_secret_version_ids(call: Call) -> dict[str, Any]:
    """ListSecretVersionIds: the staged versions (all with IncludeDeprecated)."""
    call.require("secrets:read")
    secret = call.secret()
    everything = bool(call.field("IncludeDeprecated", bool))
    versions = [
        {
            "VersionId": v.version_id,
            "VersionStages": stages_out(v.stages),
            "CreatedDate": epoch(v.created_at),
        }
        for v in call.sm.versions(secret.name, namespace=call.namespace)
        if everything or v.stages
    ]
    return _named(call, secret, Versions=versions)


def update_secret_version_stage(call: Call) -> dict[str, Any]:
    """UpdateSecretVersionStage: move a stage to a version, or take it off one."""
    call.require("secrets:write")
    secret = call.secret()
    stage = stage_in(call.field("VersionStage", str, required=True))
    move_to = call.field("MoveToVersionId", str)
    remove_from = call.field("RemoveFromVersionId", str)
    versions = {
        v.version_id: v for v in call.sm.versions(secret.name, namespace=call.namespace)
    }
    removed = versions.get(remove_from) if remove_from is not None else None
    if remove_from is not None and (removed is None or stage not in removed.stages):
        msg = f"the stage is not on version {remove_from}"
        raise AwsError("InvalidParameterException", msg)
    if move_to is not None:
        if move_to not in versions:
            raise AwsError("ResourceNotFoundException", f"no version {move_to}")
        call.sm.label(
            secret.name,
            versions[move_to].version,
            stage,
            namespace=call.namespace,
            actor=call.actor,
        )
    elif remove_from is not None:
        call.sm.unlabel(secret.name, stage, namespace=call.namespace, actor=call.actor)
    return _named(call, secret)


def delete_secret(call: Call) -> dict[str, Any]:
    """DeleteSecret: scheduled (RecoveryWindowInDays, 7-30; default 30) or now
    (ForceDeleteWithoutRecovery): crypto-shredded either way, the name kept."""
    call.require("secrets:write")
    secret = call.secret()
    days = call.field("RecoveryWindowInDays", int)
    force = bool(call.field("ForceDeleteWithoutRecovery", bool))
    if force and days is not None:
        msg = "give RecoveryWindowInDays or ForceDeleteWithoutRecovery, not both"
        raise AwsError("InvalidParameterException", msg)
    window = None if force else recovery_window_days(days or _DEFAULT_WINDOW)
    call.sm.delete(
        secret.name, namespace=call.namespace, recovery_window=window, actor=call.actor
    )
    after = call.sm.get(secret.name, namespace=call.namespace, include_deleted=True)
    return _named(
        call,
        secret,
        DeletionDate=epoch(after.deletion_date or after.updated_at),
    )


def restore_secret(call: Call) -> dict[str, Any]:
    """RestoreSecret: cancel a scheduled deletion."""
    call.require("secrets:write")
    secret = call.secret()
    call.sm.restore(secret.name, namespace=call.namespace, actor=call.actor)
    return _named(call, secret)


def tag_resource(call: Call) -> dict[str, Any]:
    """TagResource: add or replace tags."""
    call.require("secrets:write")
    secret = call.secret()
    added = tags_in(call.field("Tags", list, required=True))
    call.sm.update(
        secret.name,
        namespace=call.namespace,
        tags={**secret.tags, **added},
        actor=call.actor,
    )
    return {}


def untag_resource(call: Call) -> dict[str, Any]:
    """UntagResource: remove tags by key."""
    call.require("secrets:write")
    secret = call.secret()
    keys = call.field("TagKeys", list, required=True)
    kept = {k: v for k, v in secret.tags.items() if k not in set(map(str, keys))}
    call.sm.update(secret.name, namespace=call.namespace, tags=kept, actor=call.actor)
    return {}
