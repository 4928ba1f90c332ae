"""Revealing values under the reveal policy: one secret, or several at once with
their audit records in one transaction; a reveal never answers before its record
is saved."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from uuid import UUID

from strongroom.domain import validation as check
from strongroom.domain.access import Caller, check_reveal
from strongroom.domain.errors import (
    AccessDeniedError,
    SecretDeletedError,
    SecretExpiredError,
    SecretNotFoundError,
    SecretPendingDeletionError,
    SecretRevokedError,
    StrongroomError,
    ValidationError,
    VersionNotFoundError,
    describe,
)
from strongroom.domain.lifecycle import check_stage
from strongroom.domain.reads import Reveal
from strongroom.domain.references import (
    MAX_DEPTH,
    Address,
    candidates,
    chain_error,
    substitute,
)
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Tombstone
from strongroom.domain.validation import Value
from strongroom.infrastructure.crypto import new_id
from strongroom.services.base import Service, now


class Reveals(Service):
    """Reveals values, each checked against the reveal policy (``domain.access``)."""

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
        the version ``stage`` is on.

        With ``audit`` (default: the manager's ``audit_reads``) the reveal is
        recorded in the event log - who, which version, when; never the value.
        With ``expand``, ``${name}`` references in it are replaced by the values
        they name (each such read checked and recorded like this one).
        """
        value, _ = self.reveal_with_version(
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
        return value

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
        caller = self.caller(caller, app, env)
        value, version, found = self._open(name, namespace, version, caller, stage)
        referenced: list[Reveal] = []
        if expand:
            value = self._expanded_at(name, namespace, value, caller, actor, referenced)
        if self._store.audit_reads if audit is None else audit:
            self._repo.save(self._revealed(found.id, version, actor), *referenced)
        return value, version

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
        caller = self.caller(caller, app, env)
        namespace = check.check_namespace(namespace)
        wanted = check.check_names(names)
        results: dict[str, tuple[Value, int] | StrongroomError] = {}
        records = []
        with self._repo.operation():
            # Each name is checked alone: a bad one fails, the others answer.
            ids: dict[str, UUID | ValidationError | None] = {}
            for name in wanted:
                try:
                    ids[name] = self._repo.secret_id(check.check_name(name), namespace)
                except ValidationError as exc:
                    ids[name] = exc
            known = list(dict.fromkeys(i for i in ids.values() if isinstance(i, UUID)))
            # The heads of every named secret in one query, not one per name.
            loaded = dict(zip(known, self._repo.load_page(known), strict=True))
            for name in wanted:
                secret_id = ids[name]
                if isinstance(secret_id, ValidationError):
                    results[name] = secret_id
                    continue
                found = None if secret_id is None else loaded[secret_id]
                try:
                    value, version = self._disclose(
                        found, name, namespace, None, caller
                    )
                except StrongroomError as exc:
                    results[name] = exc
                    continue
                results[name] = (value, version)
                assert found is not None
                records.append(self._revealed(found.id, version, actor))
        if records and (self._store.audit_reads if audit is None else audit):
            self._repo.save(*records)
        return results

    def reveal_many(
        self, names: Iterable[str], *, namespace: str | None = None
    ) -> dict[str, Value | StrongroomError]:
        """Reveal several secrets; each name maps to its value or to its error."""
        found = self.reveal_many_with_versions(names, namespace=namespace)
        return {
            name: result if isinstance(result, StrongroomError) else result[0]
            for name, result in found.items()
        }

    def caller(self, caller: Caller | None, app: str | None, env: str | None) -> Caller:
        """Who a reveal is for: ``caller``, or one made of ``app`` and ``env``."""
        if caller is None:
            return Caller(app=app, env=env, strict=self._store.strict_access)
        if (app, env) != (None, None):
            msg = "give app and env, or a caller, not both"
            raise ValidationError(msg)
        return caller

    def traced(
        self,
        name: str,
        namespace: str | None,
        *,
        caller: Caller,
        actor: str | None,
        expand: bool,
    ) -> tuple[Value, SecretAggregate, list[Reveal]]:
        """A value with the secret it is from and the records of every read
        (references included), which the caller saves: other services' reveals."""
        value, version, found = self._open(name, namespace, None, caller)
        records = [self._revealed(found.id, version, actor)]
        if expand:
            value = self._expanded_at(name, namespace, value, caller, actor, records)
        return value, found, records

    def _open(
        self,
        name: str,
        namespace: str | None,
        version: int | None,
        caller: Caller,
        stage: str | None = None,
    ) -> tuple[Value, int, SecretAggregate]:
        """A value the caller may see: (value, its version, the secret)."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        if version is not None:
            version = check.check_version(version)
        if stage is not None:
            stage = check_stage(stage)
        with self._repo.operation():
            found = self._repo.lookup(name, namespace)
            value, version = self._disclose(
                found, name, namespace, version, caller, stage
            )
        assert isinstance(found, SecretAggregate)
        return value, version, found

    def _disclose(
        self,
        found: SecretAggregate | Tombstone | None,
        name: str,
        namespace: str | None,
        version: int | None,
        caller: Caller,
        stage: str | None = None,
    ) -> tuple[Value, int]:
        """The value of a secret found at an address, if the caller may see it."""
        if isinstance(found, Tombstone):
            msg = f"secret {describe(name, namespace)} was deleted"
            raise SecretDeletedError(msg)
        if found is None:
            raise SecretNotFoundError(f"secret {describe(name, namespace)} not found")
        check_reveal(
            name=name,
            namespace=namespace,
            status=found.status,
            expired=found.is_expired(now()),
            allowed_apps=found.allowed_apps,
            envs=found.envs,
            caller=caller,
        )
        if stage is not None:
            staged = found.stage_version(stage)
            if version not in {None, staged}:
                # Both given: they must name one version (as AWS's VersionId
                # and VersionStage must).
                where = describe(name, namespace)
                msg = f"secret {where} has no version {version} staged {stage!r}"
                raise VersionNotFoundError(msg)
            version = staged
        if version is None or version == found.value_version:
            assert found.value is not None
            return copy.deepcopy(found.value), found.value_version
        history = self._repo.load(found.id, full=True)
        if not isinstance(history, SecretAggregate):
            raise SecretDeletedError(f"secret {describe(name, namespace)} was deleted")
        return self._repo.value_at(history, version), version

    def _expanded_at(
        self,
        name: str,
        namespace: str | None,
        value: Value,
        caller: Caller,
        actor: str | None,
        records: list[Reveal],
    ) -> Value:
        """The value of the secret at an address, its references resolved."""
        home = Address(check.check_namespace(namespace), check.check_name(name))
        # One key-ring scope for every secret read: each key is unwrapped once.
        with self._repo.operation():
            return self._expanded(value, [home], caller, actor, records)

    def _expanded(
        self,
        value: Value,
        chain: list[Address],
        caller: Caller,
        actor: str | None,
        records: list[Reveal],
    ) -> Value:
        """``value`` with its references resolved, recursively, under ``caller``."""

        def resolve(reference: str) -> Value:
            address, found = self._referenced(reference, chain)
            if address in chain:
                raise chain_error([*chain, address], "the references form a cycle")
            if len(chain) > MAX_DEPTH:
                why = f"references go deeper than {MAX_DEPTH}"
                raise chain_error([*chain, address], why)
            try:
                inner, version = self._disclose(
                    found, address.name, address.namespace, None, caller
                )
            except AccessDeniedError:
                # Not a ValidationError: the caller may not read it directly either.
                path = " -> ".join(str(a) for a in [*chain, address])
                raise AccessDeniedError(f"a reference reaches {path}") from None
            except StrongroomError as exc:
                raise chain_error([*chain, address], _reason(exc)) from None
            assert isinstance(found, SecretAggregate)
            records.append(self._revealed(found.id, version, actor))
            return self._expanded(inner, [*chain, address], caller, actor, records)

        return substitute(value, resolve)

    def _referenced(
        self, reference: str, chain: list[Address]
    ) -> tuple[Address, SecretAggregate | Tombstone | None]:
        """The address a reference names, and what is there."""
        for address in candidates(reference, chain[-1].namespace):
            try:
                check.check_name(address.name)
                check.check_namespace(address.namespace)
            except ValidationError:
                continue
            found = self._repo.lookup(address.name, address.namespace)
            if found is not None:
                return address, found
        try:
            missing = Address(chain[-1].namespace, check.check_name(reference))
        except ValidationError:
            # Not a name: part of the value, so it is not repeated here.
            raise chain_error(
                chain, "it holds a reference that is not a name"
            ) from None
        raise chain_error([*chain, missing], "no secret has that name")

    def _revealed(self, secret_id: UUID, version: int, actor: str | None) -> Reveal:
        return Reveal.record(
            record_id=new_id(),
            secret_id=secret_id,
            version=version,
            actor=self._who(actor),
            at=now(),
        )


_REASONS: tuple[tuple[type[StrongroomError], str], ...] = (
    (SecretPendingDeletionError, "it is scheduled for deletion"),
    (SecretDeletedError, "it was deleted"),
    (SecretRevokedError, "it is revoked"),
    (SecretExpiredError, "it has expired"),
    (SecretNotFoundError, "no secret has that name"),
)


def _reason(error: StrongroomError) -> str:
    """Why a referenced secret cannot be read: its state, not its message."""
    for kind, why in _REASONS:
        if isinstance(error, kind):
            return why
    return "it cannot be read"
