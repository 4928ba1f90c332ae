"""The request parameters routes share, stated with the library's own rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query

from strongroom.domain import validation as check
from strongroom.domain.lifecycle import RECOVERY_DAYS
from strongroom.http.schemas import MOMENT_TEXT, ErrorOut

NameParam = Annotated[
    str,
    Path(
        alias="name",
        # For the schema only: the router sees the segment still encoded, and
        # name_of checks the decoded name.
        json_schema_extra={"pattern": check.NAME_PATTERN, "maxLength": check.MAX_NAME},
        description="The secret's name as one path segment: each / written %2F.",
    ),
]
NamespaceQuery = Annotated[str | None, Query(pattern=check.NAMESPACE_PATTERN)]
LabelQuery = Annotated[
    str | None, Query(max_length=check.MAX_LABEL, pattern=check.LABEL_PATTERN)
]
MomentQuery = Annotated[datetime | None, Query(json_schema_extra=MOMENT_TEXT)]
VersionParam = Annotated[int, Path(ge=1, le=check.MAX_COUNT)]
VersionQuery = Annotated[int | None, Query(ge=1, le=check.MAX_COUNT)]
RecoveryWindowQuery = Annotated[
    int | None,
    Query(
        ge=RECOVERY_DAYS[0],
        le=RECOVERY_DAYS[1],
        description="Schedule the deletion this many days ahead.",
    ),
]
AppQuery = Annotated[
    str | None,
    Query(alias="app", max_length=check.MAX_LABEL, pattern=check.LABEL_PATTERN),
]

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 410, 412)
}
OUT: dict[str, Any] = {"responses": ERRORS, "response_model_exclude_none": True}
"""Route options most routes share: documented errors, no null fields."""
