"""The HTTP API's contract (Fluxbase's secrets routes, token scopes), on both backends."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from strongroom import SecretNotFoundError, SecretsManager
from strongroom.domain import validation as check
from strongroom.http import create_app
from tests.conftest import MASTER_KEY
from tests.integration.raw import writer_holding_the_lock

API = "/api/v1/secrets"
ALL = ["secrets:read", "secrets:write", "secrets:reveal"]


@pytest.fixture
def client(sm: SecretsManager) -> Iterator[TestClient]:
    with TestClient(create_app(sm)) as test_client:
        yield test_client


def _auth(
    sm: SecretsManager, *scopes: str, namespace: str | None = None
) -> dict[str, str]:
    token = sm.tokens.create(scopes=list(scopes or ALL), namespace=namespace).token
    return {"Authorization": f"Bearer {token}"}


def _create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(API, json={"value": "v1", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_returns_201_and_metadata_without_the_value_when_valid(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)

    body = _create(client, headers, name="db/password", value="canary-value-1")

    assert "value" not in body
    assert "canary-value-1" not in str(body)
    assert body["name"] == "db/password"
    assert body["scope"] == "global"
    assert body["version"] == 1
    # Optional fields are omitted when null, never sent as null.
    assert "namespace" not in body
    assert "description" not in body
    assert "expires_at" not in body
    assert set(body) >= {"id", "created_at", "updated_at"}


def test_namespace_scope_requires_a_namespace_when_creating(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)

    missing = client.post(
        API, json={"name": "a", "value": "v", "scope": "namespace"}, headers=headers
    )
    scoped = _create(client, headers, name="a", scope="namespace", namespace="payments")

    assert missing.status_code == 400
    assert missing.json()["code"] == "validation_error"
    assert (scoped["scope"], scoped["namespace"]) == ("namespace", "payments")


def test_list_returns_an_empty_array_then_summaries_when_secrets_exist(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)
    assert client.get(API, headers=headers).json() == []

    _create(client, headers, name="g", expires_at="2000-01-01T00:00:00Z")
    _create(client, headers, name="n", namespace="team-a", scope="namespace")

    everything = client.get(API, headers=headers).json()
    assert [(s["name"], s["scope"], s["is_expired"]) for s in everything] == [
        ("g", "global", True),
        ("n", "namespace", False),
    ]
    assert [
        s["name"]
        for s in client.get(API, params={"scope": "global"}, headers=headers).json()
    ] == ["g"]
    assert [
        s["name"]
        for s in client.get(API, params={"namespace": "team-a"}, headers=headers).json()
    ] == ["n"]


def test_by_name_routes_follow_the_contract_when_names_contain_slashes(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)
    created = _create(client, headers, name="svc/db/password", value="one")
    by_name = f"{API}/by-name/svc%2Fdb%2Fpassword"

    assert client.get(by_name, headers=headers).json()["id"] == created["id"]
    updated = client.put(
        by_name, json={"value": "two", "description": "d"}, headers=headers
    )
    assert updated.status_code == 200
    assert (updated.json()["version"], updated.json()["description"]) == (2, "d")
    versions = client.get(f"{by_name}/versions", headers=headers).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert {v["secret_id"] for v in versions} == {created["id"]}
    rolled = client.post(f"{by_name}/rollback/1", headers=headers)
    assert rolled.json()["version"] == 3
    value = client.get(f"{by_name}/value", headers=headers).json()
    assert (value["value"], value["version"]) == ("one", 3)
    assert client.put(by_name, json={}, headers=headers).status_code == 400

    deleted = client.delete(by_name, headers=headers)
    assert (deleted.status_code, deleted.json()) == (
        200,
        {"message": "Secret deleted successfully"},
    )
    assert client.get(by_name, headers=headers).status_code == 410
    assert client.delete(by_name, headers=headers).status_code == 410
    again = client.post(
        API, json={"name": "svc/db/password", "value": "x"}, headers=headers
    )
    assert (again.status_code, again.json()["code"]) == (409, "name_reserved")


def test_by_id_routes_mirror_the_by_name_ones_when_given_an_id(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)
    secret_id = _create(client, headers, name="k", value="one")["id"]

    assert client.get(f"{API}/{secret_id}", headers=headers).json()["name"] == "k"
    assert (
        client.put(f"{API}/{secret_id}", json={"value": "two"}, headers=headers).json()[
            "version"
        ]
        == 2
    )
    assert [
        v["version"]
        for v in client.get(f"{API}/{secret_id}/versions", headers=headers).json()
    ] == [2, 1]
    assert (
        client.post(f"{API}/{secret_id}/rollback/1", headers=headers).json()["version"]
        == 3
    )
    assert (
        client.post(f"{API}/{secret_id}/rollback/9", headers=headers).status_code == 404
    )
    assert client.delete(f"{API}/{secret_id}", headers=headers).status_code == 200
    assert client.get(f"{API}/{secret_id}", headers=headers).status_code == 404
    assert client.get(f"{API}/not-a-uuid", headers=headers).status_code == 400


def test_stats_are_routed_before_ids_and_count_when_asked(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)
    _create(client, headers, name="a")
    _create(client, headers, name="b", expires_at="2000-01-01T00:00:00Z")

    stats = client.get(f"{API}/stats", headers=headers).json()

    assert (stats["total"], stats["expired"], stats["expiring_soon"]) == (2, 1, 0)


def test_errors_have_the_contract_shape_and_never_echo_values_when_input_is_bad(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)
    _create(client, headers, name="dup")

    cases = [
        (
            client.post(API, json={"name": "dup", "value": "v"}, headers=headers),
            409,
            "exists",
        ),
        (
            client.post(
                API, json={"name": "bad name!", "value": "canary-2"}, headers=headers
            ),
            400,
            "validation_error",
        ),
        (
            client.post(API, json={"name": "x", "value": 12345}, headers=headers),
            400,
            "validation_error",
        ),
        (
            client.post(
                API, json={"name": "x", "value": "v", "extra": 1}, headers=headers
            ),
            400,
            "validation_error",
        ),
        (client.get(f"{API}/by-name/missing", headers=headers), 404, "not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
        assert set(response.json()) == {"error", "code"}
        assert "canary-2" not in response.text
        assert "Traceback" not in response.text


def test_tokens_are_required_and_scopes_enforced_when_calling(
    client: TestClient, sm: SecretsManager
) -> None:
    writer = _auth(sm)
    _create(client, writer, name="s", value="v")
    reader = _auth(sm, "secrets:read")

    assert client.get(API).status_code == 401
    assert (
        client.get(API, headers={"Authorization": "Bearer srt_nope"}).status_code == 401
    )
    assert client.get(API, headers=reader).status_code == 200
    denied = client.get(f"{API}/by-name/s/value", headers=reader)
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    assert "secrets:reveal" in denied.json()["error"]
    assert (
        client.post(API, json={"name": "t", "value": "v"}, headers=reader).status_code
        == 403
    )

    token_id = sm.tokens.list()[-1].id
    assert sm.tokens.revoke(token_id) is True
    assert client.get(API, headers=reader).status_code == 401


def test_a_namespace_bound_token_sees_and_touches_only_its_namespace_when_used(
    client: TestClient, sm: SecretsManager
) -> None:
    admin = _auth(sm, "admin")
    _create(client, admin, name="global-one")
    other = _create(client, admin, name="x", namespace="other", scope="namespace")
    bound = _auth(sm, *ALL, namespace="mine")

    _create(client, bound, name="x", namespace="mine", scope="namespace")

    assert [s["namespace"] for s in client.get(API, headers=bound).json()] == ["mine"]
    assert client.get(API, params={"scope": "global"}, headers=bound).json() == []
    assert (
        client.get(
            f"{API}/by-name/x", params={"namespace": "other"}, headers=bound
        ).status_code
        == 403
    )
    assert client.get(f"{API}/by-name/global-one", headers=bound).status_code == 403
    assert client.get(f"{API}/{other['id']}", headers=bound).status_code == 404
    assert (
        client.post(API, json={"name": "y", "value": "v"}, headers=bound).status_code
        == 403
    )


def test_health_and_openapi_need_no_token_when_probed(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        f"{API}",
        f"{API}/stats",
        f"{API}/by-name/{{name}}",
        f"{API}/{{secret_id}}",
    } <= set(paths)


def test_oversized_bodies_are_refused_when_over_a_mebibyte(
    client: TestClient, sm: SecretsManager
) -> None:
    response = client.post(
        API,
        content=b"{" + b" " * (1024 * 1024 + 1) + b"}",
        headers={**_auth(sm), "Content-Type": "application/json"},
    )

    assert response.status_code == 413


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_strongroom_serve_answers_the_contract_when_run_as_a_process(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        token = sm.tokens.create(scopes=ALL).token
    port = _free_port()
    env = {
        **os.environ,
        "STRONGROOM_DATABASE_URL": store_url,
        "STRONGROOM_MASTER_KEY": base64.b64encode(MASTER_KEY).decode(),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "strongroom", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            base + API, json={"name": "live", "value": "over-http"}, headers=headers
        )
        assert created.status_code == 201
        value = httpx.get(base + API + "/by-name/live/value", headers=headers).json()
        assert value["value"] == "over-http"
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert b"over-http" not in err
    lines = [
        json.loads(line) for line in err.decode().splitlines() if line.startswith("{")
    ]
    assert {"method": "POST", "path": API, "status": 201} in [
        {k: line[k] for k in ("method", "path", "status")} for line in lines
    ]


def test_every_reveal_over_http_is_audited_without_the_value_when_read(
    client: TestClient, sm: SecretsManager
) -> None:
    writer = _auth(sm)
    _create(client, writer, name="stripe-key", value="sk-canary-77")
    client.put(
        f"{API}/by-name/stripe-key", json={"value": "sk-canary-78"}, headers=writer
    )
    issued = sm.tokens.create(scopes=["secrets:reveal"], name="billing")
    reader_token, reader_id = issued.token, issued.info.id
    reader = {"Authorization": f"Bearer {reader_token}"}

    client.get(f"{API}/by-name/stripe-key/value", headers=reader)
    client.get(f"{API}/by-name/stripe-key/value", params={"version": 1}, headers=reader)

    reads = list(sm.audit(action="revealed"))
    assert [(e.name, e.actor, e.version) for e in reads] == [
        ("stripe-key", f"token:{reader_id}", 2),
        ("stripe-key", f"token:{reader_id}", 1),
    ]
    assert "sk-canary" not in repr(reads)
    sm.rebuild_projections()
    assert len(list(sm.audit(action="revealed"))) == 2
    # Reads are not writes: the secret's own history is unchanged.
    assert [e.action for e in sm.history("stripe-key")] == ["created", "updated"]


def test_merge_patch_honours_if_match_and_rfc7396_when_patching(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)
    sm.patch("flags", {"a": 1, "nested": {"x": 1, "y": 2}})
    url = f"{API}/by-name/flags"

    patched = client.patch(
        url, json={"a": None, "nested": {"y": None, "z": 3}, "b": 2}, headers=headers
    )

    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2
    assert sm.reveal("flags") == {"nested": {"x": 1, "z": 3}, "b": 2}
    stale = client.patch(url, json={"c": 1}, headers={**headers, "If-Match": "1"})
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    fresh = client.patch(url, json={"c": 1}, headers={**headers, "If-Match": '"2"'})
    assert fresh.status_code == 200
    assert client.patch(url, json=[1], headers=headers).status_code == 400
    assert sm.reveal("flags") == {"nested": {"x": 1, "z": 3}, "b": 2, "c": 1}


def test_history_and_audit_stream_what_happened_when_asked(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)
    _create(client, headers, name="h", value="one")
    client.put(f"{API}/by-name/h", json={"value": "two"}, headers=headers)

    history = client.get(f"{API}/by-name/h/history", headers=headers).json()
    audit = client.get(f"{API}/audit", headers=headers)

    assert [e["action"] for e in history] == ["created", "updated"]
    assert audit.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in audit.text.splitlines()]
    assert [(e["name"], e["action"]) for e in lines] == [
        ("h", "created"),
        ("h", "updated"),
    ]
    assert "one" not in audit.text
    only = client.get(f"{API}/audit", params={"action": "updated"}, headers=headers)
    assert len(only.text.splitlines()) == 1


def test_batch_values_answer_per_item_when_some_fail(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _auth(sm)
    _create(client, headers, name="ok", value="v")
    _create(client, headers, name="gone", value="v")
    client.delete(f"{API}/by-name/gone", headers=headers)

    body = client.post(
        f"{API}/batch/values",
        json={"names": ["ok", "gone", "missing"]},
        headers=headers,
    ).json()

    assert body["results"] == [
        {"name": "ok", "version": 1, "value": "v"},
        {"name": "gone", "error": "secret 'gone' was deleted", "code": "deleted"},
        {"name": "missing", "error": "secret 'missing' not found", "code": "not_found"},
    ]


def test_key_ids_with_control_characters_are_outside_the_schema_when_documented(
    client: TestClient, sm: SecretsManager
) -> None:
    # The schema states the library's key id rule (schemathesis once found
    # "/keys/%0A" answered 400 while the schema allowed it).
    keys = _auth(sm, "keys:read")
    spec = client.get("/openapi.json").json()
    (param,) = spec["paths"]["/api/v1/keys/{key_id}"]["get"]["parameters"]
    assert param["schema"]["pattern"] == check.LABEL_PATTERN
    assert client.get("/api/v1/keys/%0A", headers=keys).status_code == 400
    assert client.get("/api/v1/keys/a%09b", headers=keys).status_code == 400
    assert client.get("/api/v1/keys/a%20b", headers=keys).status_code == 404


def test_key_routes_follow_resolve_semantics_when_used_over_http(
    client: TestClient, sm: SecretsManager
) -> None:
    keys = _auth(sm, "keys:read", "keys:write")
    url = "/api/v1/keys/user-42"

    assert client.get(url, headers=keys).status_code == 404
    assert client.put(url, json={"secret": "k1"}, headers=keys).status_code == 201
    assert client.get(url, headers=keys).json() == {"id": "user-42", "secret": "k1"}
    reused = client.put(url, json={"secret": "k2"}, headers=keys)
    assert (reused.status_code, reused.json()["code"]) == (409, "key_reused")
    assert client.delete(url, headers=keys).status_code == 200
    assert client.delete(url, headers=keys).status_code == 404
    assert client.put(url, json={"secret": "k3"}, headers=keys).status_code == 409
    assert client.get(url, headers=_auth(sm, "secrets:read")).status_code == 403


def test_streamed_bodies_are_cut_off_when_over_a_mebibyte(
    client: TestClient, sm: SecretsManager
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "big", "value": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        API, content=chunks(), headers={**_auth(sm), "Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert not sm.exists("big")


def test_deeply_nested_json_is_refused_not_crashed_on_when_posted(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = {**_auth(sm), "Content-Type": "application/json"}
    sm.patch("flags", {"a": 1})
    deep = b"[" * 100_000 + b"]" * 100_000

    created = client.post(
        API,
        content=b'{"name":"a","value":"v","description":' + deep + b"}",
        headers=headers,
    )
    patched = client.patch(
        f"{API}/by-name/flags", content=b'{"a":' + deep + b"}", headers=headers
    )

    for response in (created, patched):
        assert response.status_code == 400
        assert response.json()["code"] == "validation_error"
    assert sm.reveal("flags") == {"a": 1}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"name": "typed", "value": "v"}'),
        ("application/x-www-form-urlencoded", b"name=typed&value=v"),
        ("application/json", b'{"name": "typed", "value": "v"'),  # truncated
        ("application/json", b"\xff\xfe not utf-8"),
        ("application/json", b'["not", "an", "object"]'),
    ],
)
def test_hostile_bodies_get_a_4xx_and_write_nothing_when_posted(
    client: TestClient, sm: SecretsManager, content_type: str, body: bytes
) -> None:
    response = client.post(
        API, content=body, headers={**_auth(sm), "Content-Type": content_type}
    )

    assert 400 <= response.status_code < 500, response.text
    assert "v" not in response.json().get("error", "").split()
    assert not sm.exists("typed")


def test_a_retried_create_answers_the_first_secret_when_the_idempotency_key_repeats(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = {**_auth(sm), "Idempotency-Key": "create-svc-1"}
    body = {"name": "svc", "value": "s3cret"}

    first = client.post(API, json=body, headers=headers)
    again = client.post(API, json=body, headers=headers)
    other = client.post(API, json={**body, "value": "canary-9f3"}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert (other.status_code, other.json()["code"]) == (409, "conflict")
    assert "canary-9f3" not in other.text
    assert sorted(v.version for v in sm.versions("svc")) == [1]


def test_a_write_answers_503_store_busy_when_another_writer_holds_the_lock(
    store_url: str,
) -> None:
    with (
        SecretsManager.open(store_url + "?lock_timeout=1", master_key=MASTER_KEY) as sm,
        TestClient(create_app(sm)) as client,
    ):
        headers = _auth(sm)
        with writer_holding_the_lock(store_url):
            response = client.post(
                API, json={"name": "busy", "value": "canary-503"}, headers=headers
            )
        assert response.status_code == 503
        assert response.json()["code"] == "store_busy"
        assert "canary-503" not in response.text
        with pytest.raises(SecretNotFoundError):
            sm.reveal("busy")
