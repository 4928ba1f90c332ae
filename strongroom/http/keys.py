"""Routes of the aggregate key API, ``/api/v1/keys/{id}``: store-wide, so only
tokens bound to no namespace, app or env may use them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from strongroom.domain import validation as check
from strongroom.http.auth import KeysRead, KeysWrite, Manager
from strongroom.http.errors import ApiError
from strongroom.http.params import ERRORS
from strongroom.http.schemas import KeyIn, KeyOut, MessageOut

router = APIRouter()
# The schema states the library's key id rule, so clients know it up front.
KeyIdParam = Annotated[
    str,
    Path(min_length=1, max_length=check.MAX_KEY_ID, pattern=check.LABEL_PATTERN),
]


@router.get("/api/v1/keys/{key_id:path}", response_model=KeyOut, responses=ERRORS)
async def get_key(_: KeysRead, sm: Manager, key_id: KeyIdParam) -> KeyOut:
    """The secret of an aggregate key id (404: never set, or deleted)."""
    found = await run_in_threadpool(sm.keys.get_secret, key_id)
    if found is None:
        raise ApiError(404, f"no key under id {key_id!r}", "not_found")
    return KeyOut(id=key_id, secret=found)


@router.put(
    "/api/v1/keys/{key_id:path}",
    status_code=201,
    response_model=KeyOut,
    responses=ERRORS,
)
async def put_key(_: KeysWrite, sm: Manager, key_id: KeyIdParam, body: KeyIn) -> KeyOut:
    """Set the secret of a never-used id (409 for any id used before)."""
    await run_in_threadpool(sm.keys.set_secret, key_id, body.secret)
    return KeyOut(id=key_id, secret=body.secret)


@router.delete(
    "/api/v1/keys/{key_id:path}", response_model=MessageOut, responses=ERRORS
)
async def delete_key(_: KeysWrite, sm: Manager, key_id: KeyIdParam) -> MessageOut:
    """Destroy the secret of an id; the id stays used forever."""
    if not await run_in_threadpool(sm.keys.delete_secret, key_id):
        raise ApiError(404, f"no live key under id {key_id!r}", "not_found")
    return MessageOut(message="Key deleted successfully")
