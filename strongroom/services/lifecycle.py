"""The lifecycle of secrets: restoring one pending deletion, purging those whose
deletion date has come, stages (labels) on versions, and rotation's four steps."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import partial
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from strongroom.domain import validation as check
from strongroom.domain.errors import (
    RotationFailedError,
    ValidationError,
    VersionConflictError,
    describe,
)
from strongroom.domain.generation import Generate
from strongroom.domain.lifecycle import (
    CURRENT,
    check_stage,
    check_unlabel,
    short_reason,
    steps_after,
)
from strongroom.domain.results import Secret, SecretRef
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.validation import Value
from strongroom.infrastructure.repository import live
from strongroom.services.base import Service, Store, given_value, now
from strongroom.services.changes import Changes

RotationHook = Callable[[str, str, Value], object]
"""``hook(step, name, pending_value)`` for steps ``set`` and ``test``: it raises
(or returns False) when the step failed."""

PURGE_BATCH = 500


class Lifecycle(Service):
    """Restore and purge of scheduled deletions, labels, and rotation."""

    def __init__(self, store: Store, changes: Changes) -> None:
        super().__init__(store)
        self._changes = changes

    def restore(
        self, name: str, *, namespace: str | None = None, actor: str | None = None
    ) -> bool:
        """Cancel the secret's scheduled deletion; False if none is scheduled."""
        who = self._who(actor)
        _, changed = self._changes.mutate(
            name,
            namespace,
            lambda s: s.cancel_deletion(at=now(), actor=who),
            retry=True,
        )
        return bool(changed)

    def purge_due(
        self, *, now: datetime | None = None, actor: str | None = None
    ) -> list[SecretRef]:
        """Crypto-shred, each in its own transaction, every secret whose deletion
        date has passed by ``now`` (default: the clock); the secrets purged."""
        moment = check.check_moment(now, "now") or _clock()
        who = self._who(actor)
        purged: list[SecretRef] = []
        tried: set[UUID] = set()
        while True:
            self._catch_up.run()
            batch = [
                i
                for i in self._view.due_deletions(moment, PURGE_BATCH)
                if i not in tried
            ]
            if not batch:
                return purged
            for secret_id in batch:
                tried.add(secret_id)
                # A restore racing this purge has one winner: the stream's version.
                found = self._changes.shred(
                    partial(self._repo.load, secret_id), who, due=moment
                )
                if found is not None:
                    purged.append(SecretRef(found.id, found.name, found.namespace))

    def label(
        self,
        name: str,
        version: int,
        label: str,
        *,
        namespace: str | None = None,
        actor: str | None = None,
    ) -> bool:
        """Move ``label`` to ``version`` (``current``: reveals return that version
        from now on); False if it is there already."""
        version = check.check_version(version)
        label = check_stage(label)
        who = self._who(actor)

        def move(secret: SecretAggregate) -> bool:
            value = None
            if label == CURRENT and version != secret.value_version:
                value = self._repo.value_at(secret, version)
            return secret.label(label, version, at=now(), actor=who, value=value)

        _, changed = self._changes.mutate(name, namespace, move, retry=True, full=True)
        return bool(changed)

    def unlabel(
        self,
        name: str,
        label: str,
        *,
        namespace: str | None = None,
        actor: str | None = None,
    ) -> bool:
        """Take ``label`` off its version (``pending``: abandons a rotation);
        False if no version has it."""
        label = check_unlabel(label)
        who = self._who(actor)
        _, changed = self._changes.mutate(
            name, namespace, lambda s: s.unlabel(label, at=now(), actor=who), retry=True
        )
        return bool(changed)

    def rotate(
        self,
        name: str,
        *,
        namespace: str | None = None,
        hook: RotationHook | None = None,
        value: Value | Generate | None = None,
        actor: str | None = None,
        version_id: str | None = None,
    ) -> Secret:
        """Rotate: a pending version (``value``, else generated), the hook's
        ``set`` and ``test``, then promote it to current. A failed step records
        RotationFailed and raises RotationFailedError; rotating again resumes."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        who = self._who(actor)
        with self._repo.operation():
            secret = live(
                self._repo.lookup(name, namespace, full=True), name, namespace
            )
            if secret.rotation_step is not None:
                if value is not None:
                    msg = (
                        f"secret {describe(name, namespace)} has a rotation in progress:"
                        " rotate again without a value to resume it, or remove its"
                        " pending stage to abandon it"
                    )
                    raise ValidationError(msg)
                pending = self._repo.value_at(secret, secret.pending_version())
            else:
                given, _ = given_value(Generate() if value is None else value)
                pending = check.check_value(given)
                secret.start_rotation(
                    pending, at=now(), actor=who, version_id=_checked_id(version_id)
                )
                self._save(secret, name, namespace)
            for step in steps_after(secret.rotation_step):
                if step == "promote":
                    secret.finish_rotation(pending, at=now(), actor=who)
                else:
                    self._run_hook(hook, step, secret, pending, who)
                    secret.pass_rotation_step(step, at=now(), actor=who)
                self._save(secret, name, namespace)
        return secret.info(now())

    def stage_pending(
        self,
        name: str,
        value: Value | Generate,
        *,
        namespace: str | None = None,
        actor: str | None = None,
        version_id: str | None = None,
    ) -> str:
        """Add a version staged ``pending`` (a rotation's first step, no hook run);
        its id. ``rotate`` goes on from it; moving ``current`` to it finishes."""
        given, _ = given_value(value)
        pending = check.check_value(given)
        who = self._who(actor)
        checked_id = _checked_id(version_id)

        def stage(secret: SecretAggregate) -> str:
            number = secret.start_rotation(
                pending, at=now(), actor=who, version_id=checked_id
            )
            return secret.version_id(number)

        _, staged = self._changes.mutate(name, namespace, stage, retry=True)
        assert staged is not None
        return staged

    def _run_hook(
        self,
        hook: RotationHook | None,
        step: str,
        secret: SecretAggregate,
        pending: Value,
        who: str | None,
    ) -> None:
        """Run one hook step; on failure record it and raise RotationFailedError."""
        if hook is None:
            return
        try:
            if hook(step, secret.name, pending) is not False:
                return
            reason = "the hook returned False"
        except Exception as exc:  # noqa: BLE001 - any failure of the hook fails the step
            reason = f"{type(exc).__name__}: {exc}"
        text = pending if isinstance(pending, str) else json.dumps(pending)
        reason = short_reason(reason, text)
        secret.fail_rotation(step, reason, at=now(), actor=who)
        self._save(secret, secret.name, secret.namespace)
        where = describe(secret.name, secret.namespace)
        msg = f"rotation of secret {where} failed at step {step!r}: {reason}"
        raise RotationFailedError(msg)

    def _save(self, secret: SecretAggregate, name: str, namespace: str | None) -> None:
        try:
            self._repo.save(secret)
        except IntegrityError:
            msg = (
                f"secret {describe(name, namespace)} changed during its rotation;"
                " rotate again to resume"
            )
            raise VersionConflictError(msg) from None


def _checked_id(version_id: str | None) -> str | None:
    return None if version_id is None else check.check_request_id(version_id)


def _clock() -> datetime:
    return now()
