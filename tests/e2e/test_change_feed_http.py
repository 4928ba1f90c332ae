"""``GET /api/v1/secrets/changes``: one JSON page with ``wait=false``, and a stream
of Server-Sent Events from a real `strongroom serve` that resumes from
``Last-Event-ID``, keeps to a bound token's namespace and ends when the server
stops."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from strongroom import SecretsManager
from strongroom.http import create_app
from tests.conftest import MASTER_KEY
from tests.e2e.test_http_hardening import _serve
from tests.e2e.test_serve import serving

FEED = "/api/v1/secrets/changes"


@pytest.fixture
def client(sm: SecretsManager) -> Iterator[TestClient]:
    with TestClient(create_app(sm)) as test_client:
        yield test_client


def _bearer(sm: SecretsManager, **options: Any) -> dict[str, str]:
    token = sm.tokens.create(scopes=["secrets:read"], **options).token
    return {"Authorization": f"Bearer {token}"}


def test_a_page_lists_changes_without_values_when_wait_is_false(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("db/password", "s3cret-value")
    sm.update("db/password", value="other-value")
    sm.reveal("db/password", audit=True)

    got = client.get(FEED, params={"wait": "false"}, headers=_bearer(sm))

    assert got.status_code == 200
    body = got.json()
    assert [(c["name"], c["action"]) for c in body["changes"]] == [
        ("db/password", "created"),
        ("db/password", "updated"),
    ]
    assert body["position"] >= body["changes"][-1]["position"]
    assert "s3cret" not in got.text
    assert "other-value" not in got.text
    again = client.get(
        FEED, params={"wait": "false", "after": body["position"]}, headers=_bearer(sm)
    )
    assert again.json()["changes"] == []


def test_a_page_keeps_to_the_tokens_namespace_when_the_token_is_bound(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("k", "v", namespace="team-a")
    sm.create("k", "v", namespace="team-b")
    sm.create("k", "v")
    bound = _bearer(sm, namespace="team-a")

    mine = client.get(FEED, params={"wait": "false"}, headers=bound)
    theirs = client.get(
        FEED, params={"wait": "false", "namespace": "team-b"}, headers=bound
    )

    assert [c["namespace"] for c in mine.json()["changes"]] == ["team-a"]
    assert theirs.status_code in {403, 404}
    assert "team-b" not in json.dumps(mine.json())


@pytest.mark.parametrize(
    "query",
    [
        {"wait": "false", "after": "-1"},
        {"wait": "false", "after": str(2**63)},
        {"wait": "false", "limit": "0"},
        {"wait": "false", "prefix": "a\x00"},
        {"wait": "maybe"},
        {"wait": "false", "since": "x"},
    ],
)
def test_a_bad_query_is_refused_when_given(
    sm: SecretsManager, client: TestClient, query: dict[str, str]
) -> None:
    got = client.get(FEED, params=query, headers=_bearer(sm))

    assert got.status_code == 400


@pytest.mark.parametrize("last_event_id", ["x1", "-1", "1" * 21, "9" * 20])
def test_a_bad_last_event_id_is_refused_when_given(
    sm: SecretsManager, client: TestClient, last_event_id: str
) -> None:
    headers = {**_bearer(sm), "Last-Event-ID": last_event_id}

    got = client.get(FEED, headers=headers)

    assert got.status_code == 400
    assert last_event_id not in got.text


def test_the_feed_is_refused_when_the_token_lacks_read(
    sm: SecretsManager, client: TestClient
) -> None:
    token = sm.tokens.create(scopes=["secrets:write"]).token

    got = client.get(
        FEED, params={"wait": "false"}, headers={"Authorization": f"Bearer {token}"}
    )

    assert got.status_code == 403


# ------------------------------------------------------------------ streams


class Events:
    """Server-Sent Events read from a streaming response, on a thread."""

    def __init__(self, response: httpx.Response) -> None:
        self.events: list[dict[str, Any]] = []
        self.comments = 0
        self.ended = threading.Event()
        self._arrived = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(response,))
        self._thread.start()

    def _read(self, response: httpx.Response) -> None:
        event: dict[str, Any] = {}
        try:
            for line in response.iter_lines():
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("id: "):
                    event["id"] = int(line[4:])
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif not line and event:
                    with self._arrived:
                        self.events.append(event)
                        self._arrived.notify_all()
                    event = {}
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.events) >= count, timeout)
        return self.events


def _stream(
    http: httpx.Client, token: str, headers: dict[str, str] | None = None, **query: Any
) -> Any:
    return http.stream(
        "GET",
        FEED,
        params=query,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        timeout=httpx.Timeout(30, read=60),
    )


def test_a_stream_delivers_a_commit_soon_when_another_process_writes(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        token = sm.tokens.create(scopes=["secrets:read"]).token
        sm.create("before", "v")
    with (
        serving(store_url) as (base, _),
        httpx.Client(base_url=base) as http,
        _stream(http, token) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = Events(response)
        with SecretsManager.open(store_url, master_key=MASTER_KEY) as other:
            other.create("after", "s3cret-value")
            committed = time.monotonic()
        got = events.wait_for(1)
        delay = time.monotonic() - committed
        response.close()

    assert [e["data"]["name"] for e in got] == ["after"]  # from now on
    assert got[0]["id"] == got[0]["data"]["position"]
    assert "s3cret" not in json.dumps(got)
    assert delay < 5


def test_a_stream_resumes_after_the_last_event_id_when_reconnecting(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        token = sm.tokens.create(scopes=["secrets:read"]).token
        for name in ("a", "b", "c"):
            sm.create(name, "v")
        first = sm.changes(limit=1).position
    with (
        serving(store_url) as (base, _),
        httpx.Client(base_url=base) as http,
        _stream(http, token, {"Last-Event-ID": str(first)}) as response,
    ):
        got = Events(response).wait_for(2)
        response.close()

    assert [e["data"]["name"] for e in got] == ["b", "c"]


def test_a_stream_keeps_to_the_tokens_namespace_when_the_token_is_bound(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        token = sm.tokens.create(scopes=["secrets:read"], namespace="team-a").token
    with (
        serving(store_url) as (base, _),
        httpx.Client(base_url=base) as http,
        _stream(http, token) as response,
    ):
        events = Events(response)
        with SecretsManager.open(store_url, master_key=MASTER_KEY) as other:
            other.create("k", "v", namespace="team-b")
            other.create("k", "v")
            other.create("mine", "v", namespace="team-a")
        got = events.wait_for(1)
        time.sleep(0.5)  # anything else would have arrived by now
        response.close()

    assert [(e["data"]["namespace"], e["data"]["name"]) for e in got] == [
        ("team-a", "mine")
    ]


def test_a_stream_sends_heartbeat_comments_when_nothing_changes(
    sm: SecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("strongroom.http.feed.HEARTBEAT_SECONDS", 0.2)
    token = sm.tokens.create(scopes=["secrets:read"]).token
    with (
        contextmanager(_serve)(sm) as base,
        httpx.Client(base_url=base) as http,
        _stream(http, token) as response,
    ):
        events = Events(response)
        time.sleep(1.2)
        response.close()

    assert events.events == []
    assert events.comments >= 1 + 3  # the opening comment, then one per 0.2 s


def test_a_stream_ends_and_the_server_exits_at_once_when_sigtermed(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        token = sm.tokens.create(scopes=["secrets:read"]).token
    with (
        serving(store_url) as (base, server),
        httpx.Client(base_url=base) as http,
        _stream(http, token) as response,
    ):
        events = Events(response)
        time.sleep(0.5)
        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        stopped = time.monotonic() - stopping
        assert events.ended.wait(10)

    assert stopped < 10  # not the 30 s grace a request in flight would get
