"""What every AWS operation works with: the manager, the signing key (its scopes
and namespace binding) and where ARNs point, and how a ``SecretId`` resolves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from strongroom import Secret, SecretsManager
from strongroom.domain.errors import AccessDeniedError
from strongroom.domain.tokens import ApiToken
from strongroom.http.aws.errors import AwsError
from strongroom.http.aws.shapes import Place, check_suffix, secret_name
from strongroom.services.lifecycle import RotationHook


@dataclass(frozen=True, slots=True)
class Call:
    """One AWS request: who signed it, where ARNs point, what it asks."""

    sm: SecretsManager
    token: ApiToken
    place: Place
    body: dict[str, Any]
    hook: RotationHook | None = None

    @property
    def namespace(self) -> str | None:
        """Where the key acts: its namespace when bound, else the global scope."""
        return self.token.namespace

    @property
    def actor(self) -> str:
        """How the log records the key's actions."""
        return self.token.actor

    def require(self, scope: str) -> None:
        """AccessDeniedException unless the key carries ``scope`` (or admin)."""
        if not self.token.allows(scope, datetime.now(UTC)):
            msg = f"the access key lacks the {scope} scope"
            raise AwsError("AccessDeniedException", msg)

    def field(
        self, key: str, kind: type | tuple[type, ...], *, required: bool = False
    ) -> Any:
        """A request field of the given JSON type (InvalidParameterException else)."""
        value = self.body.get(key)
        if value is None:
            if required:
                raise AwsError("InvalidParameterException", f"{key} is required")
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise AwsError("InvalidParameterException", f"{key} has the wrong type")
        return value

    def name_of(self, secret_id: Any) -> tuple[str, str | None]:
        """The name a SecretId (a name or an ARN) gives, and the ARN's suffix."""
        return secret_name(secret_id)

    def secret(self, key: str = "SecretId") -> Secret:
        """The live secret a request names (pending deletion included)."""
        name, tail = self.name_of(self.field(key, str, required=True))
        try:
            found = self.sm.get(name, namespace=self.namespace)
        except AccessDeniedError as exc:
            raise AwsError("AccessDeniedException", str(exc)) from None
        check_suffix(found, tail)
        return found

    def arn(self, secret: Secret) -> str:
        """The secret's ARN."""
        return self.place.arn(secret.name, secret.id)
