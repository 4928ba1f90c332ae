"""Moving secrets between stores: export as NDJSON (values sealed to a transport
key, or plaintext on request) and import."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from strongroom._transport import (
    export_sealer,
    field,
    ndjson,
    parse_line,
    seal,
    transport_sealer,
)
from strongroom.domain import validation as check
from strongroom.domain.errors import (
    StrongroomError,
    ValidationError,
)
from strongroom.domain.fields import new_secret_fields
from strongroom.domain.results import Status
from strongroom.domain.secret import SecretAggregate
from strongroom.infrastructure.crypto import Sealer
from strongroom.services.base import (
    MAX_PAGE,
    Service,
    Store,
)
from strongroom.services.reads import Reads
from strongroom.services.writes import Writes

T = TypeVar("T")


class Transfer(Service):
    """Exports and imports secrets."""

    def __init__(self, store: Store, reads: Reads, writes: Writes) -> None:
        super().__init__(store)
        self._reads = reads
        self._writes = writes

    def export_secrets(
        self,
        *,
        plaintext: bool = False,
        transport_key: bytes | str | None = None,
    ) -> Iterator[str]:
        """NDJSON lines, one per live secret: its current value and metadata.

        In listing order, read page by page, so memory stays flat at any size.
        Values leave the store in the clear only with ``plaintext=True``; with a
        ``transport_key`` (32 bytes) each value is sealed to it (``"sealed"``
        replaces ``"value"``), and only ``import_secrets`` with that key reads it.
        Deleted secrets are not exported (their values are shredded), nor are
        those pending deletion (nothing reveals them).
        """
        sealer = export_sealer(
            "values", plaintext=plaintext, transport_key=transport_key
        )
        return self._export(sealer)

    def _export(self, sealer: Sealer | None) -> Iterator[str]:
        cursor: str | None = None
        while True:
            page = self._reads.list(limit=MAX_PAGE, cursor=cursor)
            ids = [info.id for info in page.items]
            with self._repo.operation():
                # One query per page; a secret without a usable head is replayed.
                found = self._repo.load_page(ids)
            for secret in found:
                # Nothing reveals a secret pending deletion: an export neither.
                if (
                    isinstance(secret, SecretAggregate)
                    and secret.status is not Status.PENDING_DELETION
                ):
                    yield ndjson(_export_line(secret, sealer))
            cursor = page.next_cursor
            if cursor is None:
                return

    def import_secrets(
        self,
        lines: Iterable[str | bytes],
        *,
        transport_key: bytes | str | None = None,
        actor: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Create the secrets of an ``export_secrets`` stream; the number created.

        Each secret is created in one transaction, revoked ones already revoked.
        A line that is invalid or names a taken address stops the import with its
        error, which says the line and how many secrets were created before it.
        """
        sealer = None if transport_key is None else transport_sealer(transport_key)
        who = self._who(actor)
        created = 0
        for number, line in enumerate(lines, start=1):
            try:
                item = parse_line(line)
                if item is None:
                    continue
                name, namespace, fields, revoked = _import_line(item, sealer)
                self._writes.create_new(name, namespace, fields, who, revoked=revoked)
            except StrongroomError as exc:
                msg = f"import line {number}: {exc} (secrets created before it: {created})"
                raise type(exc)(msg) from None
            created += 1
            if progress is not None:
                progress(created)
        return created


_EXPORT_AAD = b"strongroom/export/secret/"


_EXPORTED_METADATA = ("description", "token_type", "allowed_apps", "envs", "tags")


def _export_aad(name: str, namespace: str | None) -> bytes:
    return _EXPORT_AAD + json.dumps([namespace, name]).encode()


def _export_line(secret: SecretAggregate, sealer: Sealer | None) -> dict[str, Any]:
    """One secret as an export line (its value sealed when a sealer is given)."""
    line: dict[str, Any] = {"name": secret.name, "namespace": secret.namespace}
    if sealer is None:
        line["value"] = secret.value
    else:
        text = json.dumps(secret.value, ensure_ascii=False)
        line["sealed"] = seal(sealer, text, _export_aad(secret.name, secret.namespace))
    line.update(
        description=secret.description,
        token_type=secret.token_type,
        allowed_apps=list(secret.allowed_apps),
        envs=list(secret.envs),
        expires_at=None if secret.expires_at is None else secret.expires_at.isoformat(),
        tags=dict(secret.tags),
        status=str(secret.status),
    )
    return line


def _import_line(
    item: dict[str, Any], sealer: Sealer | None
) -> tuple[str, str | None, dict[str, Any], bool]:
    """``(name, namespace, fields, revoked)`` of one export line, validated."""
    name = check.check_name(item.get("name"))
    namespace = check.check_namespace(item.get("namespace"))
    value = field(item, sealer, "value", _export_aad(name, namespace))
    if sealer is not None and value is not None:
        try:
            value = json.loads(value)
        except ValueError:
            msg = "invalid value: the sealed text is not JSON"
            raise ValidationError(msg) from None
    status = item.get("status", "active")
    if status not in {"active", "revoked"}:
        msg = "invalid status: expected 'active' or 'revoked'"
        raise ValidationError(msg)
    expires_at = item.get("expires_at")
    if expires_at is not None:
        expires_at = check.parse_moment(expires_at, "expires_at")
    metadata = {
        key: item[key] for key in _EXPORTED_METADATA if item.get(key) is not None
    }
    fields = new_secret_fields(value, expires_at=expires_at, **metadata)
    return name, namespace, fields, status == "revoked"
