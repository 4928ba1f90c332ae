"""The AWS protocol under odd input: every operation, given any JSON object of
its fields (wrong types, odd text, huge numbers), answers an AWS error or a
result, never a 500; nothing without a valid signature reaches an operation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom import SecretsManager
from strongroom.http import create_app
from strongroom.http.aws import OPERATIONS
from tests.odd_input import odd_text

FIELDS = [
    "Name",
    "SecretId",
    "SecretString",
    "SecretBinary",
    "Description",
    "Tags",
    "TagKeys",
    "ClientRequestToken",
    "VersionId",
    "VersionStage",
    "VersionStages",
    "MoveToVersionId",
    "RemoveFromVersionId",
    "RecoveryWindowInDays",
    "ForceDeleteWithoutRecovery",
    "Filters",
    "MaxResults",
    "NextToken",
    "SortOrder",
    "IncludePlannedDeletion",
    "IncludeDeprecated",
    "SecretIdList",
    "PasswordLength",
    "ExcludeCharacters",
    "RotationRules",
    "RotateImmediately",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    odd_text,
    st.sampled_from(["existing", "AWSCURRENT", "AWSPENDING", "name", "all", "asc"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["Key", "Value", "Values", "AutomaticallyAfterDays"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=5)


@pytest.fixture
def signed(sm: SecretsManager) -> Iterator[Any]:
    """Send a signed request to one operation; the response."""
    issued = sm.tokens.create(scopes=["admin"], aws=True)
    sm.create("existing", "the-value")
    credentials = Credentials(str(issued.access_key_id), str(issued.secret_access_key))

    with TestClient(create_app(sm, purge_every=None)) as client:

        def send(operation: str, body: bytes) -> Any:
            request = AWSRequest(
                method="POST",
                url="http://testserver/",
                data=body,
                headers={
                    "Content-Type": "application/x-amz-json-1.1",
                    "X-Amz-Target": f"secretsmanager.{operation}",
                },
            )
            SigV4Auth(credentials, "secretsmanager", "us-east-1").add_auth(request)
            return client.post("/", content=body, headers=dict(request.headers))

        yield send


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_no_operation_answers_500_when_given_odd_fields(
    signed: Any, operation: str
) -> None:
    reveals = operation in {"GetSecretValue", "BatchGetSecretValue"}

    @given(body=bodies)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(body: dict[str, Any]) -> None:
        answered = signed(operation, json.dumps(body).encode())
        assert answered.status_code < 500, answered.text
        if answered.status_code != 200:
            assert answered.json()["__type"], answered.text
        assert reveals or "the-value" not in answered.text

    fuzz()


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"not json", b"{" * 100 + b"}" * 100, b'{"SecretId": "\\ud800"}'],
)
def test_a_malformed_body_is_refused_clearly_when_signed(
    signed: Any, body: bytes
) -> None:
    answered = signed("GetSecretValue", body)

    assert 400 <= answered.status_code < 500
    assert answered.json()["__type"] in {
        "SerializationException",
        "InvalidParameterException",
        "ResourceNotFoundException",
    }


def test_an_unknown_target_is_refused_when_signed(signed: Any) -> None:
    for target in ("NoSuchOperation", ""):
        answered = signed(target, b"{}")
        assert answered.status_code == 400
        assert answered.json()["__type"] in {
            "InvalidRequestException",
            "UnknownOperationException",
        }
