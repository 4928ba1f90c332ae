"""SecretsManager: the library's face. Each call checks nothing itself and delegates
to one service (``strongroom/services``); opening goes through ``bootstrap``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, cast

from strongroom import bootstrap
from strongroom._store_errors import translate_store_errors
from strongroom.domain import validation as check
from strongroom.domain.generation import Generate
from strongroom.domain.results import (
    Rotation,
    Secret,
)
from strongroom.domain.validation import Value
from strongroom.generating import GeneratingFace
from strongroom.infrastructure.master_key import MasterKeyProvider, as_provider
from strongroom.infrastructure.repository import SecretRepository
from strongroom.infrastructure.store import StrongroomApplication
from strongroom.lifecycle import LifecycleFace
from strongroom.projections.runner import CatchUp
from strongroom.projections.secrets import SecretsProjection, SecretsView
from strongroom.reading import ReadingFace
from strongroom.services.base import UNSET, EventLog, Store
from strongroom.services.changes import Changes
from strongroom.services.environment import Environments
from strongroom.services.feed import Feed
from strongroom.services.keys import KeyAPI
from strongroom.services.lifecycle import Lifecycle
from strongroom.services.patch import Patches
from strongroom.services.reads import Reads
from strongroom.services.requests import Requests
from strongroom.services.tokens import TokenAPI
from strongroom.services.transfer import Transfer
from strongroom.services.writes import Writes
from strongroom.transferring import TransferFace

__all__ = ["UNSET", "SecretsManager"]


@translate_store_errors
class SecretsManager(ReadingFace, TransferFace, GeneratingFace, LifecycleFace):
    """Event-sourced secrets with per-secret crypto-shredding.

    Open with ``SecretsManager.open(...)`` and use as a context manager.
    """

    def __init__(
        self,
        app: StrongroomApplication,
        view: SecretsView,
        *,
        backend: str,
        location: str,
        actor: str | None = None,
        audit_reads: bool = False,
        strict_access: bool = False,
    ) -> None:
        self._app = app
        self._keys = app.keys
        self._view = view
        self._catch_up = CatchUp(app, SecretsProjection(view), app.keys)
        self._backend = backend
        self._location = location
        self._closed = False
        actor = check.check_actor(actor)
        store = Store(
            repo=SecretRepository(app),
            keys=app.keys,
            view=view,
            catch_up=self._catch_up,
            log=cast("EventLog", app.recorder),
            actor=actor,
            audit_reads=bool(audit_reads),
            strict_access=bool(strict_access),
        )
        requests = Requests(store)
        self._reads = Reads(store)
        self._feed = Feed(store)
        self._environments = Environments(store, self._reads)
        self._writes = Writes(store, requests)
        self._changes = Changes(store, requests, self._writes)
        self._patches = Patches(
            store, requests, self._writes, self._reads, self._changes
        )
        self._transfer = Transfer(store, self._reads, self._writes)
        self._lifecycle = Lifecycle(store, self._changes)
        self.keys = KeyAPI(app, actor=actor)
        self.tokens = TokenAPI(app, actor=actor)

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        master_key: MasterKeyProvider | bytes | str | None = None,
        previous_master_keys: Iterable[MasterKeyProvider | bytes | str] | None = None,
        actor: str | None = None,
        audit_reads: bool = False,
        strict_access: bool = False,
    ) -> SecretsManager:
        """Open (creating if needed) the store at ``url``.

        ``url``: ``sqlite:///PATH`` or ``postgresql://user@host:port/db``; None
        means ``STRONGROOM_DATABASE_URL``, else the embedded SQLite store in the
        data dir. ``master_key``: 32 bytes, their base64, or a provider (default:
        the ``STRONGROOM_MASTER_KEY*`` settings). ``actor`` is recorded for every
        write that names none.

        ``previous_master_keys`` (default: ``STRONGROOM_MASTER_KEY_PREVIOUS``) are
        needed only while a master-key rotation is unfinished. With
        ``audit_reads`` every reveal is recorded in the log. With
        ``strict_access`` a secret restricted to apps or envs is revealed only
        when ``reveal`` names an allowed app and env (the HTTP API always asks).
        """
        config = bootstrap.configure(
            url, master_key=master_key, previous_master_keys=previous_master_keys
        )
        app = bootstrap.open_application(config)
        (view,) = app.views
        return cls(
            app,
            view,
            backend=config.backend,
            location=config.location,
            actor=actor,
            audit_reads=audit_reads,
            strict_access=strict_access,
        )

    @property
    def closed(self) -> bool:
        """Whether ``close`` has been called."""
        return self._closed

    def close(self) -> None:
        """Release the database connections (idempotent)."""
        if not self._closed:
            self._closed = True
            self._app.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SecretsManager(backend={self._backend!r}, url={self._location!r})"

    # ------------------------------------------------------------ secrets

    def create(
        self,
        name: str,
        value: Value | Generate,
        *,
        namespace: str | None = None,
        description: str | None = None,
        token_type: str | None = None,
        allowed_apps: Iterable[str] = (),
        envs: Iterable[str] = (),
        expires_at: datetime | None = None,
        tags: Mapping[str, str] | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Secret:
        """Create a secret; SecretExistsError if live, NameReservedError if deleted.

        With ``request_id``, a retry with the same arguments answers the first
        call's secret instead of failing; other arguments raise ConflictError.
        """
        return self._writes.create(
            name,
            value,
            namespace=namespace,
            description=description,
            token_type=token_type,
            allowed_apps=allowed_apps,
            envs=envs,
            expires_at=expires_at,
            tags=tags,
            actor=actor,
            request_id=request_id,
        )

    def create_many(
        self,
        items: Iterable[tuple[str, Value]],
        *,
        namespace: str | None = None,
        actor: str | None = None,
        batch_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Create many secrets from ``(name, value)`` pairs; the number created.

        Each batch is one transaction: a batch holding an invalid item or a taken
        name writes nothing, and the error says how many earlier batches created.
        """
        return self._writes.create_many(
            items,
            namespace=namespace,
            actor=actor,
            batch_size=batch_size,
            progress=progress,
        )

    def put(
        self,
        name: str,
        value: Value | Generate,
        *,
        namespace: str | None = None,
        description: str | None = UNSET,
        token_type: str | None = UNSET,
        allowed_apps: Iterable[str] = UNSET,
        envs: Iterable[str] = UNSET,
        expires_at: datetime | None = UNSET,
        tags: Mapping[str, str] | None = UNSET,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Secret:
        """Create the secret, or add a new value version (and given metadata) to it.

        With ``request_id``, a retry with the same arguments adds no version.
        """
        return self._changes.put(
            name,
            value,
            namespace=namespace,
            description=description,
            token_type=token_type,
            allowed_apps=allowed_apps,
            envs=envs,
            expires_at=expires_at,
            tags=tags,
            actor=actor,
            request_id=request_id,
        )

    def update(
        self,
        name: str,
        *,
        namespace: str | None = None,
        value: Value | Generate = UNSET,
        description: str | None = UNSET,
        token_type: str | None = UNSET,
        allowed_apps: Iterable[str] = UNSET,
        envs: Iterable[str] = UNSET,
        expires_at: datetime | None = UNSET,
        tags: Mapping[str, str] | None = UNSET,
        rotation_interval: timedelta | None = UNSET,
        expected_version: int | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Secret:
        """Change only the given fields; None clears an optional field.

        ``rotation_interval`` (1 hour to 1000 days) makes the secret due for
        rotation that long after its last rotation (or its creation).

        With ``request_id``, a retry with the same arguments changes nothing again.
        """
        return self._changes.update(
            name,
            namespace=namespace,
            value=value,
            description=description,
            token_type=token_type,
            allowed_apps=allowed_apps,
            envs=envs,
            expires_at=expires_at,
            tags=tags,
            rotation_interval=rotation_interval,
            expected_version=expected_version,
            actor=actor,
            request_id=request_id,
        )

    def patch(
        self,
        name: str,
        changes: Mapping[str, Any] | Callable[[dict[str, Any]], dict[str, Any]],
        *,
        namespace: str | None = None,
        retries: int = 5,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Atomic read-modify-write of a JSON-object value; returns the previous value.

        With ``request_id`` (dict changes only), a retry with the same changes
        applies nothing again and returns what the first call returned.
        """
        return self._patches.patch(
            name,
            changes,
            namespace=namespace,
            retries=retries,
            actor=actor,
            request_id=request_id,
        )

    def merge_patch(
        self,
        name: str,
        changes: Mapping[str, Any],
        *,
        namespace: str | None = None,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> Secret:
        """Apply an RFC 7396 JSON merge patch (recursive; null removes a key).

        The HTTP API's ``PATCH``. It is a new value version (cause ``updated``);
        with ``expected_version``, VersionConflictError if the secret moved on.
        """
        return self._patches.merge_patch(
            name,
            changes,
            namespace=namespace,
            expected_version=expected_version,
            actor=actor,
        )

    def rollback(
        self,
        name: str,
        version: int,
        *,
        namespace: str | None = None,
        actor: str | None = None,
    ) -> Secret:
        """Add a new value version carrying the value of ``version``."""
        return self._changes.rollback(name, version, namespace=namespace, actor=actor)

    def rebuild_projections(
        self, *, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Rebuild listing, stats and audit from the event log.

        ``progress`` gets (log position reached, last log position) per batch.
        """
        self._catch_up.rebuild(progress)

    def rotate_master_key(
        self,
        new_key: MasterKeyProvider | bytes | str | None = None,
        *,
        batch_size: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> Rotation:
        """Re-wrap every key of the store under ``new_key`` (default: the current key).

        Runs in batches and never decrypts an event. Until it has finished, open the
        store with the new key as master key and the old one as previous key; run
        it again after a crash to finish. When it returns, the old master key wraps
        nothing any more and can be destroyed, and with it every backup's copy of
        shredded keys.
        """
        batch_size = check.check_count(batch_size, "batch size", minimum=1)
        provider = None if new_key is None else as_provider(new_key)
        return self._keys.rotate(provider, batch_size=batch_size, progress=progress)

    @property
    def master_key_id(self) -> str:
        """The id (never the key) of the master key new keys are wrapped under."""
        return self._keys.master_key_id
