"""Reading secrets: metadata, reveals under the reveal policy, versions, listings,
stats, history, audit and the past (as-of)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from strongroom.domain import validation as check
from strongroom.domain.access import Caller
from strongroom.domain.errors import (
    SecretDeletedError,
    SecretNotFoundError,
    VersionNotFoundError,
    describe,
)
from strongroom.domain.lifecycle import stages_of
from strongroom.domain.results import (
    Action,
    AuditEntry,
    Page,
    Revealed,
    Secret,
    SecretStats,
    SecretVersion,
    Status,
)
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import (
    IncompleteStreamError,
    Tombstone,
    action_of,
    replay,
    value_version_of,
)
from strongroom.infrastructure.repository import live
from strongroom.projections.rows import (
    ACTIONS,
    STATUSES,
    AuditFilter,
    ListFilter,
    Row,
    decode_cursor,
    encode_cursor,
)
from strongroom.projections.secrets import iter_audit
from strongroom.services.base import MAX_PAGE, now
from strongroom.services.reveals import Reveals

T = TypeVar("T")


class Reads(Reveals):
    """Reads secrets (reveals included) and the projections."""

    def get(
        self, name: str, *, namespace: str | None = None, include_deleted: bool = False
    ) -> Secret:
        """The secret's metadata (the tombstone too, with ``include_deleted``)."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        with self._repo.operation():
            found = self._repo.lookup(name, namespace)
        if isinstance(found, Tombstone) and include_deleted:
            return found.info()
        if not isinstance(found, SecretAggregate):
            raise SecretNotFoundError(f"secret {describe(name, namespace)} not found")
        return found.info(now())

    def get_by_id(self, secret_id: UUID | str) -> Secret:
        """The metadata of a live secret by its id."""
        try:
            key = secret_id if isinstance(secret_id, UUID) else UUID(str(secret_id))
        except ValueError:
            raise SecretNotFoundError(f"secret {secret_id!s} not found") from None
        with self._repo.operation():
            found = self._repo.load(key)
        if not isinstance(found, SecretAggregate):
            raise SecretNotFoundError(f"secret {key} not found")
        return found.info(now())

    def reveal_detail(
        self,
        name: str,
        *,
        namespace: str | None = None,
        version: int | None = None,
        version_id: str | None = None,
        stage: str | None = None,
        caller: Caller | None = None,
        actor: str | None = None,
        audit: bool | None = None,
    ) -> Revealed:
        """Reveal the value of a version named by number, id or stage (default:
        current), with that version's id and stages; recorded as any reveal."""
        if version_id is not None:
            found = self._version_with_id(name, namespace, version_id)
            if version not in {None, found}:
                msg = f"secret {describe(name, namespace)} version {version} is not {version_id!r}"
                raise VersionNotFoundError(msg)
            version = found
        caller = self.caller(caller, None, None)
        value, number, secret = self._open(name, namespace, version, caller, stage)
        if self._store.audit_reads if audit is None else audit:
            self._repo.save(self._revealed(secret.id, number, actor))
        return Revealed(
            value=value,
            version=number,
            version_id=secret.version_id(number),
            stages=stages_of(number, secret.value_version, secret.labels),
            secret_id=secret.id,
        )

    def _version_with_id(
        self, name: str, namespace: str | None, version_id: str
    ) -> int:
        """The version of a secret that has ``version_id`` (a replay if need be)."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        version_id = check.check_request_id(version_id)  # ids are request ids
        with self._repo.operation():
            secret = live(self._repo.lookup(name, namespace), name, namespace)
            found = secret.version_with_id(version_id)
            if found is None:
                full = live(
                    self._repo.lookup(name, namespace, full=True), name, namespace
                )
                found = full.version_with_id(version_id)
        if found is None:
            msg = f"secret {describe(name, namespace)} has no version {version_id!r}"
            raise VersionNotFoundError(msg)
        return found

    def exists(self, name: str, *, namespace: str | None = None) -> bool:
        """True for a live secret (active, revoked or expired) at that address."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        with self._repo.operation():
            return isinstance(self._repo.lookup(name, namespace), SecretAggregate)

    def versions(
        self, name: str, *, namespace: str | None = None
    ) -> list[SecretVersion]:
        """Every value version of the secret, newest first."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        with self._repo.operation():
            found = self._repo.lookup(name, namespace, full=True)
        return live(found, name, namespace).versions()

    def list(
        self,
        *,
        namespace: str | None = None,
        scope: str | None = None,
        prefix: str | None = None,
        app: str | None = None,
        env: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        rotation_due: bool = False,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """A page of secrets' metadata in ``(namespace NULLS FIRST, name)`` order;
        with ``rotation_due``, only those whose next rotation time has come."""
        moment = now()
        filters = ListFilter(
            namespace=check.check_namespace(namespace),
            scope=check.check_one_of(scope, {"global", "namespace"}, "scope"),
            prefix=check.check_optional_label(prefix or None, "prefix"),
            app=check.check_optional_label(app, "app"),
            env=check.check_optional_label(env, "env"),
            status=check.check_one_of(status, STATUSES, "status"),
            tag=check.check_tag_filter(tag),
            rotation_due=moment if rotation_due else None,
        )
        limit = check.check_count(limit, "limit", minimum=1, maximum=MAX_PAGE)
        after = None if cursor is None else decode_cursor(cursor)
        self._catch_up.run()
        rows = self._view.list_rows(filters, after, limit + 1)
        items = [_info(row, moment) for row in rows[:limit]]
        next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    def stats(
        self, *, namespace: str | None = None, soon: timedelta = timedelta(days=7)
    ) -> SecretStats:
        """Counts of live, revoked, expired, expiring and deleted secrets."""
        namespace = check.check_namespace(namespace)
        soon = check.check_duration(soon, "soon")
        self._catch_up.run()
        moment = now()
        counts = self._view.counts(namespace, moment, moment + soon)
        active = counts.by_status.get("active", 0)
        revoked = counts.by_status.get("revoked", 0)
        pending = counts.by_status.get("pending_deletion", 0)
        return SecretStats(
            total=active + revoked + pending,
            active=active,
            revoked=revoked,
            expired=counts.expired,
            expiring_soon=counts.expiring_soon,
            deleted=counts.by_status.get("deleted", 0),
            by_namespace=counts.by_namespace,
            pending_deletion=pending,
            rotation_due=counts.rotation_due,
        )

    def history(
        self, name: str, *, namespace: str | None = None
    ) -> builtins.list[AuditEntry]:
        """Every recorded action on the secret, oldest first (deleted ones too)."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        with self._repo.operation():
            secret_id = self._repo.secret_id(name, namespace)
            if secret_id is None:
                raise SecretNotFoundError(
                    f"secret {describe(name, namespace)} not found"
                )
            return [
                _entry(item, name, namespace)
                for item in list(self._repo.events(secret_id))
            ]

    def audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        namespace: str | None = None,
        action: str | None = None,
    ) -> Iterator[AuditEntry]:
        """Stream recorded actions across the store, in log order."""
        filters = AuditFilter(
            since=check.check_moment(since, "since"),
            until=check.check_moment(until, "until"),
            actor=check.check_actor(actor),
            namespace=check.check_namespace(namespace),
            action=check.check_one_of(action, ACTIONS, "action"),
        )
        self._catch_up.run()
        return (
            AuditEntry(
                at=row.at,
                actor=row.actor,
                action=Action(row.action),
                secret_id=row.secret_id,
                name=name,
                namespace=ns,
                version=row.version,
            )
            for row, name, ns in iter_audit(self._view, filters)
        )

    def as_of(self, name: str, at: datetime, *, namespace: str | None = None) -> Secret:
        """The secret's metadata as it was at instant ``at``."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        moment = check.check_moment(at, "at")
        assert moment is not None
        with self._repo.operation():
            secret_id = self._repo.secret_id(name, namespace)
            events = [] if secret_id is None else list(self._repo.events(secret_id))
            prefix = []
            for item in events:
                # Shredded placeholders have no timestamp.
                stamp = getattr(item, "timestamp", None)
                if stamp is None or stamp > moment:
                    break
                prefix.append(item)
        if not prefix:
            msg = f"secret {describe(name, namespace)} did not exist at {moment.isoformat()}"
            raise SecretNotFoundError(msg)
        try:
            found = replay(prefix)
        except IncompleteStreamError:
            msg = (
                f"secret {describe(name, namespace)} was deleted: its past is shredded"
            )
            raise SecretDeletedError(msg) from None
        if isinstance(found, Tombstone):
            return found.info()
        assert isinstance(found, SecretAggregate)
        return found.info(moment)


def _info(row: Row, now: datetime) -> Secret:
    status = Status(row.status)
    return Secret(
        id=row.id,
        name=row.name,
        namespace=row.namespace,
        version=row.version,
        description=row.description,
        token_type=row.token_type,
        allowed_apps=tuple(row.allowed_apps),
        envs=tuple(row.envs),
        expires_at=row.expires_at,
        tags=dict(row.tags),
        status=status,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        is_expired=(
            status is not Status.DELETED
            and row.expires_at is not None
            and row.expires_at <= now
        ),
        deletion_date=row.deletion_date,
        rotation_interval=(
            None
            if row.rotation_interval is None
            else timedelta(seconds=row.rotation_interval)
        ),
        last_rotated_at=row.last_rotated_at,
        next_rotation_at=row.next_rotation_at,
    )


def _entry(item: Any, name: str, namespace: str | None) -> AuditEntry:
    return AuditEntry(
        at=item.timestamp,
        actor=item.actor,
        action=action_of(item),
        secret_id=item.originator_id,
        name=name,
        namespace=namespace,
        version=value_version_of(item),
    )
