"""AWS Secrets Manager's wire protocol (JSON 1.1 over ``POST /``, Signature
Version 4), so boto3, the AWS CLI and the AWS SDKs work against strongroom with
their endpoint set to it. Operations map onto ``SecretsManager``'s; the few
parts of AWS's API strongroom does not have answer ``InvalidRequestException``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from strongroom.domain.errors import StrongroomError
from strongroom.http.aws import listing, secrets
from strongroom.http.aws.auth import verify
from strongroom.http.aws.context import Call
from strongroom.http.aws.errors import AwsError, aws_error, not_supported
from strongroom.http.aws.shapes import Place
from strongroom.http.errors import access_log
from strongroom.http.middleware import shallow_enough

__all__ = ["CONTENT_TYPE", "OPERATIONS", "router"]

CONTENT_TYPE = "application/x-amz-json-1.1"
OPERATIONS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "CreateSecret": secrets.create_secret,
    "GetSecretValue": secrets.get_secret_value,
    "PutSecretValue": secrets.put_secret_value,
    "UpdateSecret": secrets.update_secret,
    "DescribeSecret": secrets.describe_secret,
    "ListSecretVersionIds": secrets.list_secret_version_ids,
    "UpdateSecretVersionStage": secrets.update_secret_version_stage,
    "DeleteSecret": secrets.delete_secret,
    "RestoreSecret": secrets.restore_secret,
    "TagResource": secrets.tag_resource,
    "UntagResource": secrets.untag_resource,
    "ListSecrets": listing.list_secrets,
    "BatchGetSecretValue": listing.batch_get_secret_value,
    "GetRandomPassword": listing.get_random_password,
    "RotateSecret": listing.rotate_secret,
    "CancelRotateSecret": listing.cancel_rotate_secret,
}
_NOT_HERE = {
    "GetResourcePolicy": "resource policies",
    "PutResourcePolicy": "resource policies",
    "DeleteResourcePolicy": "resource policies",
    "ValidateResourcePolicy": "resource policies",
    "ReplicateSecretToRegions": "replication",
    "RemoveRegionsFromReplication": "replication",
    "StopReplicationToReplica": "replication",
}
DEFAULT_ACCOUNT = "000000000000"

router = APIRouter()


def answer(status: int, body: dict[str, Any]) -> Response:
    """A response in the protocol's content type."""
    return Response(json.dumps(body), status, media_type=CONTENT_TYPE)


def _error(error: AwsError) -> Response:
    response = answer(error.status, {"__type": error.code, "message": error.message})
    response.headers["x-amzn-ErrorType"] = error.code
    return response


def _operation(target: str) -> Callable[[Call], dict[str, Any]]:
    service, _, name = target.partition(".")
    if service != "secretsmanager" or not name:
        raise AwsError("UnknownOperationException", "X-Amz-Target names no operation")
    found = OPERATIONS.get(name)
    if found is None:
        raise not_supported(_NOT_HERE.get(name, f"the {name} operation"))
    return found


def _parsed(body: bytes) -> dict[str, Any]:
    if not shallow_enough(body):
        raise AwsError("SerializationException", "the request nests too deep")
    try:
        parsed = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise AwsError("SerializationException", "the request is not JSON") from None
    if not isinstance(parsed, dict):
        raise AwsError("SerializationException", "the request is not a JSON object")
    return parsed


@router.post("/", include_in_schema=False)
async def aws(request: Request) -> Response:
    """One AWS Secrets Manager request: verified, dispatched, answered."""
    body = await request.body()
    app = request.app

    def run() -> dict[str, Any]:
        sm = app.state.sm
        signed = verify(
            sm.tokens,
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=request.headers,
            body=body,
        )
        operation = _operation(request.headers.get("x-amz-target", ""))
        place = Place(signed.region, app.state.aws_account)
        call = Call(sm, signed.token, place, _parsed(body), app.state.rotation_hook)
        return operation(call)

    try:
        return answer(200, await run_in_threadpool(run))
    except AwsError as refused:
        return _error(refused)
    except StrongroomError as exc:
        failed = aws_error(exc)
        if failed.status >= 500:
            access_log.error("aws: %s", type(exc).__name__)
        return _error(failed)
