"""The lifecycle half of SecretsManager's public API: delete (now or after a
recovery window), restore, purge, revoke, reinstate, stages and rotation."""

from __future__ import annotations

from datetime import datetime, timedelta

from strongroom._store_errors import translate_store_errors
from strongroom.domain.generation import Generate
from strongroom.domain.results import Secret, SecretRef
from strongroom.domain.validation import Value
from strongroom.services.changes import Changes
from strongroom.services.lifecycle import Lifecycle, RotationHook


@translate_store_errors
class LifecycleFace:
    """Lifecycle of ``SecretsManager`` (a base class: use ``SecretsManager``)."""

    _changes: Changes
    _lifecycle: Lifecycle

    def delete(
        self,
        name: str,
        *,
        namespace: str | None = None,
        recovery_window: timedelta | None = None,
        actor: str | None = None,
    ) -> bool:
        """Crypto-shred the secret now; False if it is missing or already deleted.

        With a ``recovery_window`` (7 to 30 days) the deletion is scheduled
        instead: the secret is ``pending_deletion`` (nothing is revealed or
        written) until ``restore`` or until ``purge_due`` shreds it after its
        deletion date. Deleting a secret pending deletion shreds it now.
        """
        return self._changes.delete(
            name, namespace=namespace, recovery_window=recovery_window, actor=actor
        )

    def restore(
        self, name: str, *, namespace: str | None = None, actor: str | None = None
    ) -> bool:
        """Cancel a scheduled deletion (every version intact); False if none is."""
        return self._lifecycle.restore(name, namespace=namespace, actor=actor)

    def purge_due(
        self, *, now: datetime | None = None, actor: str | None = None
    ) -> list[SecretRef]:
        """Crypto-shred every secret whose deletion date has passed by ``now``
        (default: the clock), each in its own transaction; those purged.

        A purge racing a restore of the same secret has exactly one winner.
        """
        return self._lifecycle.purge_due(now=now, actor=actor)

    def revoke(
        self, name: str, *, namespace: str | None = None, actor: str | None = None
    ) -> bool:
        """Stop reveals of the secret; False if it is already revoked."""
        return self._changes.revoke(name, namespace=namespace, actor=actor)

    def reinstate(
        self, name: str, *, namespace: str | None = None, actor: str | None = None
    ) -> bool:
        """Allow reveals of a revoked secret again; False if it is not revoked."""
        return self._changes.reinstate(name, namespace=namespace, actor=actor)

    def label(
        self,
        name: str,
        version: int,
        label: str,
        *,
        namespace: str | None = None,
        actor: str | None = None,
    ) -> bool:
        """Put ``label`` on ``version`` (moving it: a label is on one version at
        a time); False if it is there already.

        ``current`` is a stage too: moving it makes reveals return ``version``
        (and moves ``previous`` to the version it leaves).
        """
        return self._lifecycle.label(
            name, version, label, namespace=namespace, actor=actor
        )

    def unlabel(
        self,
        name: str,
        label: str,
        *,
        namespace: str | None = None,
        actor: str | None = None,
    ) -> bool:
        """Take ``label`` off its version; False if no version has it.

        Removing ``pending`` abandons a rotation in progress.
        """
        return self._lifecycle.unlabel(name, label, namespace=namespace, actor=actor)

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
        """Rotate the secret in four recorded steps: (1) a new version staged
        ``pending`` (``value``, or a ``Generate``; default: 32 generated
        characters); (2) ``hook("set", name, value)`` puts it into the target
        system; (3) ``hook("test", name, value)`` checks it; (4) it becomes
        ``current`` and the old current ``previous``.

        A hook fails a step by raising (or returning False): ``current`` stays,
        ``RotationFailed`` is recorded (its reason never holds the value) and
        RotationFailedError is raised. Rotating again resumes at the failed step.
        ``version_id`` names the new version (AWS's ClientRequestToken).
        """
        return self._lifecycle.rotate(
            name,
            namespace=namespace,
            hook=hook,
            value=value,
            actor=actor,
            version_id=version_id,
        )

    def stage_pending(
        self,
        name: str,
        value: Value | Generate,
        *,
        namespace: str | None = None,
        actor: str | None = None,
        version_id: str | None = None,
    ) -> str:
        """Add a new version staged ``pending`` without running any hook (what an
        AWS rotation function's first step does); its version id. ``rotate``
        resumes from it, and ``label(name, version, "current")`` promotes it."""
        return self._lifecycle.stage_pending(
            name, value, namespace=namespace, actor=actor, version_id=version_id
        )
