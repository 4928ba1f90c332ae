"""The read half of SecretsManager's public API: metadata, reveals, versions,
listings, stats, history, audit and as-of, each delegated to the reads service."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from uuid import UUID

from strongroom._store_errors import translate_store_errors, translated_store_errors
from strongroom.domain.access import Caller
from strongroom.domain.errors import StrongroomError
from strongroom.domain.results import (
    AuditEntry,
    ChangePage,
    Injection,
    Page,
    Revealed,
    Secret,
    SecretStats,
    SecretVersion,
)
from strongroom.domain.validation import Value
from strongroom.services.environment import Environments
from strongroom.services.feed import ChangeWatch, Feed
from strongroom.services.reads import Reads


@translate_store_errors
class ReadingFace:
    """Reads of ``SecretsManager`` (a base class: use ``SecretsManager``)."""

    _reads: Reads
    _feed: Feed
    _environments: Environments

    def get(
        self, name: str, *, namespace: str | None = None, include_deleted: bool = False
    ) -> Secret:
        """The secret's metadata (the tombstone too, with ``include_deleted``)."""
        return self._reads.get(
            name, namespace=namespace, include_deleted=include_deleted
        )

    def get_by_id(self, secret_id: UUID | str) -> Secret:
        """The metadata of a live secret by its id."""
        return self._reads.get_by_id(secret_id)

    def exists(self, name: str, *, namespace: str | None = None) -> bool:
        """True for a live secret (active, revoked or expired) at that address."""
        return self._reads.exists(name, namespace=namespace)

    def reveal(
        self,
        name: str,
        *,
        namespace: str | None = None,
        version: int | None = None,
        stage: str | None = None,
        app: str | None = None,
        env: str | None = None,
        actor: str | None = None,
        audit: bool | None = None,
        expand: bool = False,
    ) -> Value:
        """The secret's current value, that of an older ``version``, or that of
        the version a ``stage`` is on (``previous``, ``pending``, a label).

        With ``audit`` (default: the manager's ``audit_reads``) the reveal is
        recorded in the event log - who, which version, when; never the value.
        With ``expand``, each ``${name}`` or ``${namespace/name}`` in it is
        replaced by that secret's value (recursively, at most 8 deep; ``$${`` is
        a literal ``${``); each secret read so is checked and recorded too.
        """
        return self._reads.reveal(
            name,
            namespace=namespace,
            version=version,
            stage=stage,
            app=app,
            env=env,
            actor=actor,
            audit=audit,
            expand=expand,
        )

    def reveal_with_version(
        self,
        name: str,
        *,
        namespace: str | None = None,
        version: int | None = None,
        stage: str | None = None,
        app: str | None = None,
        env: str | None = None,
        actor: str | None = None,
        audit: bool | None = None,
        caller: Caller | None = None,
        expand: bool = False,
    ) -> tuple[Value, int]:
        """Like ``reveal``, with the value version that was revealed.

        ``caller`` replaces ``app`` and ``env`` for adapters that know who asks
        (a bound token): such a caller must name an allowed app and env.
        """
        return self._reads.reveal_with_version(
            name,
            namespace=namespace,
            version=version,
            stage=stage,
            app=app,
            env=env,
            actor=actor,
            audit=audit,
            caller=caller,
            expand=expand,
        )

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
        """Reveal a version named by number, id (``versions()`` shows each one's)
        or stage (default: current) with its id and stages, as AWS's
        ``GetSecretValue`` answers; checked and recorded like ``reveal``."""
        return self._reads.reveal_detail(
            name,
            namespace=namespace,
            version=version,
            version_id=version_id,
            stage=stage,
            caller=caller,
            actor=actor,
            audit=audit,
        )

    def reveal_many(
        self, names: Iterable[str], *, namespace: str | None = None
    ) -> dict[str, Value | StrongroomError]:
        """Reveal several secrets; each name maps to its value or to its error."""
        return self._reads.reveal_many(names, namespace=namespace)

    def reveal_many_with_versions(
        self,
        names: Iterable[str],
        *,
        namespace: str | None = None,
        app: str | None = None,
        env: str | None = None,
        actor: str | None = None,
        audit: bool | None = None,
        caller: Caller | None = None,
    ) -> dict[str, tuple[Value, int] | StrongroomError]:
        """Reveal several secrets: each name maps to (value, version) or its error.

        Audited, the reveals are recorded in one transaction, before any value is
        returned.
        """
        return self._reads.reveal_many_with_versions(
            names,
            namespace=namespace,
            app=app,
            env=env,
            actor=actor,
            audit=audit,
            caller=caller,
        )

    def versions(
        self, name: str, *, namespace: str | None = None
    ) -> list[SecretVersion]:
        """Every value version of the secret, newest first."""
        return self._reads.versions(name, namespace=namespace)

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
        """A page of secrets' metadata in ``(namespace NULLS FIRST, name)`` order.

        ``status`` includes ``pending_deletion``; ``rotation_due`` lists only the
        secrets whose ``next_rotation_at`` has come.
        """
        return self._reads.list(
            namespace=namespace,
            scope=scope,
            prefix=prefix,
            app=app,
            env=env,
            status=status,
            tag=tag,
            rotation_due=rotation_due,
            limit=limit,
            cursor=cursor,
        )

    def stats(
        self, *, namespace: str | None = None, soon: timedelta = timedelta(days=7)
    ) -> SecretStats:
        """Counts of live (active, revoked, pending deletion), expired, expiring,
        due for rotation and deleted secrets."""
        return self._reads.stats(namespace=namespace, soon=soon)

    def history(
        self, name: str, *, namespace: str | None = None
    ) -> builtins.list[AuditEntry]:
        """Every recorded action on the secret, oldest first (deleted ones too)."""
        return self._reads.history(name, namespace=namespace)

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
        return self._reads.audit(
            since=since, until=until, actor=actor, namespace=namespace, action=action
        )

    def changes(
        self,
        after: int | None = None,
        *,
        namespace: str | None = None,
        prefix: str | None = None,
        limit: int = 100,
    ) -> ChangePage:
        """Committed changes after log position ``after``, in log order.

        Metadata only (never a value); reveals are not changes. Pass the page's
        ``position`` back as ``after`` to go on.
        """
        return self._feed.changes(
            after, namespace=namespace, prefix=prefix, limit=limit
        )

    def environment(
        self,
        *,
        namespace: str | None = None,
        prefixes: Iterable[str] = (),
        names: Iterable[str] = (),
        app: str | None = None,
        env: str | None = None,
        expand: bool = False,
        actor: str | None = None,
    ) -> Injection:
        """Secrets as environment variables (what ``strongroom run`` injects).

        ``names`` are ``NAME``, ``NAME=VAR``, ``NAME#field`` or ``NAME#field=VAR``;
        ``prefixes`` add every live secret under them (all of the namespace when
        neither is given), named by ``db/password`` -> ``DB_PASSWORD`` without the
        prefix. Two secrets for one variable, or a variable that is not an
        identifier, is a ValidationError before any value is read. Every read is
        recorded in the audit log, in one commit.
        """
        return self._environments.environment(
            namespace=namespace,
            prefixes=prefixes,
            names=names,
            app=app,
            env=env,
            expand=expand,
            actor=actor,
        )

    def log_position(self) -> int:
        """The log's last position: pass it as ``after`` for later changes only."""
        return self._feed.position()

    def watch(
        self,
        after: int | None = None,
        *,
        namespace: str | None = None,
        prefix: str | None = None,
    ) -> ChangeWatch:
        """An iterator that blocks and yields changes as they commit.

        From ``after`` (default: from now on); ``close()`` it, from any thread,
        or use it in a ``with`` block, to end it.
        """
        return self._feed.watch(
            after, namespace=namespace, prefix=prefix, guard=translated_store_errors
        )

    def as_of(self, name: str, at: datetime, *, namespace: str | None = None) -> Secret:
        """The secret's metadata as it was at instant ``at``."""
        return self._reads.as_of(name, at, namespace=namespace)
