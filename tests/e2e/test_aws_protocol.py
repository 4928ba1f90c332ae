"""AWS Secrets Manager's protocol with real clients: boto3 against a real
`strongroom serve` on loopback, on both backends — every supported operation,
pages and filters, stages through a rotation, the recovery window, idempotent
ClientRequestTokens, scopes and namespace binding, and signature failures."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from strongroom import SecretsManager
from tests.conftest import MASTER_KEY
from tests.e2e.test_serve import _env, serving

REGION = "eu-west-1"


def _key(store_url: str, *scopes: str, **binding: Any) -> tuple[str, str]:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        issued = sm.tokens.create(scopes=list(scopes) or ["admin"], aws=True, **binding)
    assert issued.access_key_id is not None
    assert issued.secret_access_key is not None
    return issued.access_key_id, issued.secret_access_key


def _client(base: str, key: tuple[str, str]) -> Any:
    return boto3.client(
        "secretsmanager",
        endpoint_url=base,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[str]:
    """A `strongroom serve` whose rotation command logs each step."""
    hook = tmp_path / "hook.sh"
    hook.write_text(
        f'cat > /dev/null; echo "$STRONGROOM_ROTATION_STEP" >> {tmp_path}/steps\n'
    )
    with serving(store_url, "--rotation-command", f"sh {hook}") as (base, _):
        yield base


@pytest.fixture
def aws(store_url: str, server: str) -> Any:
    """boto3 with an admin access key."""
    return _client(server, _key(store_url))


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_the_value_round_trips_when_created_put_and_got(aws: Any) -> None:
    created = aws.create_secret(
        Name="db/password",
        SecretString="hunter2",
        Description="primary",
        Tags=[{"Key": "team", "Value": "payments"}],
    )
    put = aws.put_secret_value(SecretId="db/password", SecretString="hunter3")
    current = aws.get_secret_value(SecretId=created["ARN"])
    previous = aws.get_secret_value(SecretId="db/password", VersionStage="AWSPREVIOUS")
    by_id = aws.get_secret_value(SecretId="db/password", VersionId=created["VersionId"])

    assert created["ARN"].startswith(
        f"arn:aws:secretsmanager:{REGION}:000000000000:secret:db/password-"
    )
    assert len(created["ARN"].rsplit("-", 1)[1]) == 6
    assert (current["SecretString"], current["VersionStages"]) == (
        "hunter3",
        ["AWSCURRENT"],
    )
    assert current["VersionId"] == put["VersionId"]
    assert current["ARN"] == created["ARN"]
    assert (previous["SecretString"], previous["VersionId"]) == (
        "hunter2",
        created["VersionId"],
    )
    assert by_id["SecretString"] == "hunter2"
    described = aws.describe_secret(SecretId="db/password")
    assert described["Description"] == "primary"
    assert described["Tags"] == [{"Key": "team", "Value": "payments"}]
    assert described["VersionIdsToStages"] == {
        put["VersionId"]: ["AWSCURRENT"],
        created["VersionId"]: ["AWSPREVIOUS"],
    }


def test_binary_and_json_values_come_back_as_they_went_when_got(aws: Any) -> None:
    aws.create_secret(Name="cert", SecretBinary=b"\x00\x01\xfe")
    aws.create_secret(Name="cfg", SecretString=json.dumps({"user": "app"}))

    assert aws.get_secret_value(SecretId="cert")["SecretBinary"] == b"\x00\x01\xfe"
    assert json.loads(aws.get_secret_value(SecretId="cfg")["SecretString"]) == {
        "user": "app"
    }


def test_a_client_request_token_makes_a_retry_idempotent_when_repeated(
    aws: Any,
) -> None:
    token = "4f6b2c5e-0d5b-4a8b-9c1e-2f3a4b5c6d7e"
    first = aws.create_secret(Name="k", SecretString="v1", ClientRequestToken=token)
    again = aws.create_secret(Name="k", SecretString="v1", ClientRequestToken=token)
    put_token = "0f6b2c5e-0d5b-4a8b-9c1e-2f3a4b5c6d7e"
    put = aws.put_secret_value(
        SecretId="k", SecretString="v2", ClientRequestToken=put_token
    )
    put_again = aws.put_secret_value(
        SecretId="k", SecretString="v2", ClientRequestToken=put_token
    )

    assert first["VersionId"] == again["VersionId"] == token
    assert put["VersionId"] == put_again["VersionId"] == put_token
    versions = aws.list_secret_version_ids(SecretId="k", IncludeDeprecated=True)[
        "Versions"
    ]
    assert sorted(v["VersionId"] for v in versions) == sorted([token, put_token])
    with pytest.raises(ClientError) as refused:
        aws.put_secret_value(
            SecretId="k", SecretString="other", ClientRequestToken=put_token
        )
    assert _code(refused) == "ResourceExistsException"


def test_stages_move_through_a_rotation_when_driven_as_a_rotation_function(
    aws: Any,
) -> None:
    aws.create_secret(Name="app/db", SecretString="old")
    # An AWS rotation function's createSecret and finishSecret steps.
    pending = aws.put_secret_value(
        SecretId="app/db", SecretString="new", VersionStages=["AWSPENDING"]
    )
    staged = aws.get_secret_value(SecretId="app/db", VersionStage="AWSPENDING")
    assert (staged["SecretString"], staged["VersionId"]) == (
        "new",
        pending["VersionId"],
    )
    assert aws.get_secret_value(SecretId="app/db")["SecretString"] == "old"
    current = aws.describe_secret(SecretId="app/db")["VersionIdsToStages"]
    (old_id,) = [v for v, stages in current.items() if "AWSCURRENT" in stages]

    aws.update_secret_version_stage(
        SecretId="app/db",
        VersionStage="AWSCURRENT",
        MoveToVersionId=pending["VersionId"],
        RemoveFromVersionId=old_id,
    )

    assert aws.get_secret_value(SecretId="app/db")["SecretString"] == "new"
    assert aws.describe_secret(SecretId="app/db")["VersionIdsToStages"] == {
        pending["VersionId"]: ["AWSCURRENT"],
        old_id: ["AWSPREVIOUS"],
    }
    aws.update_secret_version_stage(
        SecretId="app/db", VersionStage="golden", MoveToVersionId=old_id
    )
    assert (
        aws.get_secret_value(SecretId="app/db", VersionStage="golden")["SecretString"]
        == "old"
    )
    aws.update_secret_version_stage(
        SecretId="app/db", VersionStage="golden", RemoveFromVersionId=old_id
    )
    with pytest.raises(ClientError) as gone:
        aws.get_secret_value(SecretId="app/db", VersionStage="golden")
    assert _code(gone) == "ResourceNotFoundException"


def test_rotate_secret_runs_the_servers_command_when_asked(
    aws: Any, tmp_path: Path
) -> None:
    aws.create_secret(Name="k", SecretString="old")

    rotated = aws.rotate_secret(
        SecretId="k", RotationRules={"AutomaticallyAfterDays": 30}
    )

    assert (tmp_path / "steps").read_text().split() == ["set", "test"]
    got = aws.get_secret_value(SecretId="k")
    assert got["VersionId"] == rotated["VersionId"]
    assert got["SecretString"] != "old"
    described = aws.describe_secret(SecretId="k")
    assert described["RotationEnabled"] is True
    assert described["RotationRules"] == {"AutomaticallyAfterDays": 30}
    assert described["LastRotatedDate"] < described["NextRotationDate"]
    aws.cancel_rotate_secret(SecretId="k")
    assert aws.describe_secret(SecretId="k")["RotationEnabled"] is False


def test_list_secrets_pages_and_filters_when_asked(aws: Any) -> None:
    for i in range(7):
        aws.create_secret(
            Name=f"app/s{i}",
            SecretString="v",
            Description="web" if i % 2 else "batch",
            Tags=[{"Key": "tier", "Value": "gold" if i < 3 else "silver"}],
        )
    aws.create_secret(Name="other", SecretString="v")

    names, token = [], None
    while True:
        page = aws.list_secrets(MaxResults=3, **({"NextToken": token} if token else {}))
        names += [s["Name"] for s in page["SecretList"]]
        token = page.get("NextToken")
        if token is None:
            break
    by_name = aws.list_secrets(Filters=[{"Key": "name", "Values": ["app/"]}])
    by_tag = aws.list_secrets(Filters=[{"Key": "tag-value", "Values": ["gold"]}])
    not_web = aws.list_secrets(
        Filters=[
            {"Key": "description", "Values": ["!web"]},
            {"Key": "name", "Values": ["app/"]},
        ]
    )
    last_first = aws.list_secrets(SortOrder="desc", MaxResults=1)  # by name
    gold_pages = []
    token = None
    while True:
        page = aws.list_secrets(
            MaxResults=2,
            Filters=[{"Key": "tag-value", "Values": ["gold"]}],
            **({"NextToken": token} if token else {}),
        )
        gold_pages.append([s["Name"] for s in page["SecretList"]])
        token = page.get("NextToken")
        if token is None:
            break

    assert sorted(names) == sorted([f"app/s{i}" for i in range(7)] + ["other"])
    assert len(by_name["SecretList"]) == 7
    assert sorted(s["Name"] for s in by_tag["SecretList"]) == [
        "app/s0",
        "app/s1",
        "app/s2",
    ]
    assert sorted(s["Name"] for s in not_web["SecretList"]) == [
        "app/s0",
        "app/s2",
        "app/s4",
        "app/s6",
    ]
    assert last_first["SecretList"][0]["Name"] == "other"
    assert [name for page in gold_pages for name in page] == [
        "app/s0",
        "app/s1",
        "app/s2",
    ]
    assert all(len(page) <= 2 for page in gold_pages)
    with pytest.raises(ClientError) as bad:
        aws.list_secrets(Filters=[{"Key": "owning-service", "Values": ["x"]}])
    assert _code(bad) == "InvalidParameterException"


def test_batch_get_answers_values_and_errors_per_secret_when_asked(aws: Any) -> None:
    aws.create_secret(
        Name="a", SecretString="1", Tags=[{"Key": "batch", "Value": "yes"}]
    )
    aws.create_secret(
        Name="b", SecretString="2", Tags=[{"Key": "batch", "Value": "yes"}]
    )

    by_ids = aws.batch_get_secret_value(SecretIdList=["a", "b", "missing"])
    by_filter = aws.batch_get_secret_value(
        Filters=[{"Key": "tag-key", "Values": ["batch"]}]
    )

    assert {v["Name"]: v["SecretString"] for v in by_ids["SecretValues"]} == {
        "a": "1",
        "b": "2",
    }
    assert [(e["SecretId"], e["ErrorCode"]) for e in by_ids["Errors"]] == [
        ("missing", "ResourceNotFoundException")
    ]
    assert sorted(v["Name"] for v in by_filter["SecretValues"]) == ["a", "b"]


def test_deletion_waits_for_its_window_and_restore_cancels_it_when_asked(
    aws: Any,
) -> None:
    aws.create_secret(Name="k", SecretString="v")

    deleted = aws.delete_secret(SecretId="k", RecoveryWindowInDays=7)
    described = aws.describe_secret(SecretId="k")
    with pytest.raises(ClientError) as refused:
        aws.get_secret_value(SecretId="k")
    hidden = [s["Name"] for s in aws.list_secrets()["SecretList"]]
    planned = [
        s["Name"] for s in aws.list_secrets(IncludePlannedDeletion=True)["SecretList"]
    ]
    aws.restore_secret(SecretId="k")

    now = datetime.datetime.now(datetime.UTC)
    left = deleted["DeletionDate"] - now
    assert datetime.timedelta(days=6, hours=23) < left <= datetime.timedelta(days=7)
    assert described["DeletedDate"] == deleted["DeletionDate"]
    assert _code(refused) == "InvalidRequestException"
    assert (hidden, planned) == ([], ["k"])
    assert aws.get_secret_value(SecretId="k")["SecretString"] == "v"
    for days in (6, 31):
        with pytest.raises(ClientError) as bad:
            aws.delete_secret(SecretId="k", RecoveryWindowInDays=days)
        assert _code(bad) == "InvalidParameterException"


def test_a_forced_deletion_shreds_now_and_keeps_the_name_when_asked(aws: Any) -> None:
    aws.create_secret(Name="k", SecretString="v")

    aws.delete_secret(SecretId="k", ForceDeleteWithoutRecovery=True)

    with pytest.raises(ClientError) as gone:
        aws.get_secret_value(SecretId="k")
    assert _code(gone) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as taken:
        aws.create_secret(Name="k", SecretString="again")
    assert _code(taken) == "ResourceExistsException"
    assert "reserves" in taken.value.response["Error"]["Message"]


def test_tags_are_added_and_removed_when_tagged(aws: Any) -> None:
    aws.create_secret(Name="k", SecretString="v", Tags=[{"Key": "a", "Value": "1"}])

    aws.tag_resource(SecretId="k", Tags=[{"Key": "b", "Value": "2"}])
    aws.untag_resource(SecretId="k", TagKeys=["a"])

    assert aws.describe_secret(SecretId="k")["Tags"] == [{"Key": "b", "Value": "2"}]


def test_get_random_password_keeps_awss_rules_when_asked(aws: Any) -> None:
    password = aws.get_random_password(PasswordLength=24, ExcludePunctuation=True)

    assert len(password["RandomPassword"]) == 24
    assert password["RandomPassword"].isalnum()
    with pytest.raises(ClientError) as impossible:
        aws.get_random_password(
            ExcludeNumbers=True,
            ExcludePunctuation=True,
            ExcludeUppercase=True,
            ExcludeLowercase=True,
        )
    assert _code(impossible) == "InvalidParameterException"


def test_unsupported_operations_answer_clearly_when_called(aws: Any) -> None:
    aws.create_secret(Name="k", SecretString="v")

    for call in (
        lambda: aws.get_resource_policy(SecretId="k"),
        lambda: aws.replicate_secret_to_regions(
            SecretId="k", AddReplicaRegions=[{"Region": "us-east-1"}]
        ),
        lambda: aws.create_secret(Name="kms", SecretString="v", KmsKeyId="alias/x"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert _code(refused) == "InvalidRequestException"
        assert "does not support" in refused.value.response["Error"]["Message"]


def test_signatures_are_refused_when_wrong_unknown_expired_or_absent(
    store_url: str, server: str
) -> None:
    key_id, secret = _key(store_url)
    cases = {
        "InvalidSignatureException": _client(server, (key_id, secret + "x")),
        "UnrecognizedClientException": _client(server, ("SRAK" + "0" * 32, secret)),
    }
    for code, client in cases.items():
        with pytest.raises(ClientError) as refused:
            client.list_secrets()
        assert _code(refused) == code
    late = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=6)
    with (
        mock.patch.object(botocore.auth, "get_current_datetime", return_value=late),
        pytest.raises(ClientError) as expired,
    ):
        _client(server, (key_id, secret)).list_secrets()
    assert _code(expired) == "InvalidSignatureException"
    assert "expired" in expired.value.response["Error"]["Message"]
    import httpx

    unsigned = httpx.post(
        server + "/",
        content=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "secretsmanager.ListSecrets",
        },
    )
    assert unsigned.json()["__type"] == "MissingAuthenticationTokenException"


def test_a_revoked_key_stops_working_when_revoked(store_url: str, server: str) -> None:
    key = _key(store_url)
    client = _client(server, key)
    client.list_secrets()
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.tokens.revoke(key[0].removeprefix("SRAK").lower())

    with pytest.raises(ClientError) as refused:
        client.list_secrets()
    assert _code(refused) == "UnrecognizedClientException"


def test_scopes_and_namespaces_bind_a_key_when_it_is_bound(
    store_url: str, server: str
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("global-secret", "g")
        sm.create("theirs", "t", namespace="team-b")
    bound = _client(
        server,
        _key(
            store_url,
            "secrets:read",
            "secrets:reveal",
            "secrets:write",
            namespace="team-a",
        ),
    )
    reader = _client(server, _key(store_url, "secrets:read"))

    bound.create_secret(Name="mine", SecretString="m")

    assert [s["Name"] for s in bound.list_secrets()["SecretList"]] == ["mine"]
    assert bound.get_secret_value(SecretId="mine")["SecretString"] == "m"
    for name in ("global-secret", "theirs"):
        with pytest.raises(ClientError) as hidden:
            bound.get_secret_value(SecretId=name)
        assert _code(hidden) == "ResourceNotFoundException"
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        assert sm.reveal("mine", namespace="team-a") == "m"
    assert sorted(s["Name"] for s in reader.list_secrets()["SecretList"]) == [
        "global-secret"
    ]
    with pytest.raises(ClientError) as denied:
        reader.get_secret_value(SecretId="global-secret")
    assert _code(denied) == "AccessDeniedException"
    with pytest.raises(ClientError) as denied:
        reader.put_secret_value(SecretId="global-secret", SecretString="x")
    assert _code(denied) == "AccessDeniedException"


def test_the_aws_cli_reads_and_writes_when_pointed_at_strongroom(
    store_url: str, server: str
) -> None:
    key_id, secret = _key(store_url)
    env = {
        **_env(store_url),
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": server,
    }
    aws_cli = [sys.executable, "-m", "awscli", "secretsmanager"]

    def run(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [*aws_cli, *args, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout or "{}")  # type: ignore[no-any-return]

    created = run(
        "create-secret", "--name", "cli/secret", "--secret-string", "from-cli"
    )
    got = run("get-secret-value", "--secret-id", "cli/secret")
    listed = run("list-secrets")

    assert got["SecretString"] == "from-cli"
    assert got["ARN"] == created["ARN"]
    assert [s["Name"] for s in listed["SecretList"]] == ["cli/secret"]


def test_update_secret_changes_the_description_and_value_when_given(aws: Any) -> None:
    created = aws.create_secret(Name="k", SecretString="v1", Description="old")

    described_only = aws.update_secret(SecretId="k", Description="new")
    with_value = aws.update_secret(SecretId=created["ARN"], SecretString="v2")

    assert "VersionId" not in described_only
    assert with_value["VersionId"] != created["VersionId"]
    assert aws.describe_secret(SecretId="k")["Description"] == "new"
    got = aws.get_secret_value(SecretId="k")
    assert (got["SecretString"], got["VersionId"]) == ("v2", with_value["VersionId"])
    with pytest.raises(ClientError) as wrong_arn:
        aws.update_secret(SecretId=created["ARN"][:-6] + "XXXXXX", Description="x")
    assert _code(wrong_arn) == "ResourceNotFoundException"
