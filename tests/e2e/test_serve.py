"""`strongroom serve` as operators run it: several workers over one store, TLS, the
refusal of plain HTTP off loopback, and a graceful stop under write load."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from strongroom import SecretsManager
from tests.conftest import MASTER_KEY

API = "/api/v1/secrets"
ALL = ["admin"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(store_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "STRONGROOM_DATABASE_URL": store_url,
        "STRONGROOM_MASTER_KEY": base64.b64encode(MASTER_KEY).decode(),
    }


@contextmanager
def serving(
    store_url: str, *args: str, scheme: str = "http", verify: str | bool = False
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `strongroom serve` process, once it answers; SIGTERMed at exit."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "strongroom", "serve", "--port", str(port), *args],
        env=_env(store_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1, verify=verify).is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not start")
        yield base, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.wait(60)


def _token(store_url: str) -> str:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        return sm.tokens.create(scopes=ALL).token


def _fresh(base: str, token: str) -> httpx.Client:
    """A client on a new connection (the kernel picks a worker per connection)."""
    return httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


# ------------------------------------------------------------------ listeners


def test_serve_refuses_plain_http_when_the_host_is_not_loopback(
    sqlite_url: str,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "strongroom", "serve", "--host", "0.0.0.0"],
        check=False,
        env=_env(sqlite_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--tls-cert" in done.stderr
    assert "--insecure-http" in done.stderr


def test_serve_listens_in_plain_http_when_a_proxy_is_said_to_terminate_tls(
    sqlite_url: str,
) -> None:
    with serving(sqlite_url, "--host", "0.0.0.0", "--insecure-http") as (base, _):
        assert httpx.get(base + "/healthz").json() == {"status": "ok"}


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_serve_answers_over_tls_when_given_a_certificate(
    sqlite_url: str, tmp_path: Path
) -> None:
    cert, key = _certificate(tmp_path)
    token = _token(sqlite_url)
    with serving(
        sqlite_url,
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        scheme="https",
        verify=ssl.create_default_context(cafile=str(cert)),
    ) as (base, _):
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            base + API,
            json={"name": "tls", "value": "v"},
            headers=headers,
            verify=ssl.create_default_context(cafile=str(cert)),
        )
        assert created.status_code == 201
        with pytest.raises(httpx.TransportError):
            httpx.get(base.replace("https", "http") + "/healthz", timeout=5)


# ------------------------------------------------------------------ several workers


@pytest.fixture
def two_workers(store_url: str) -> Iterator[tuple[str, str]]:
    """Two server processes over one store, and an admin token."""
    token = _token(store_url)
    with serving(store_url, "--workers", "2", "--no-access-log") as (base, _):
        yield base, token


def test_one_create_wins_a_name_when_workers_race_for_it(
    two_workers: tuple[str, str],
) -> None:
    base, token = two_workers

    def create(_: int) -> int:
        with _fresh(base, token) as http:
            return http.post(API, json={"name": "raced", "value": "v"}).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(create, range(32)))
    assert sorted(set(codes)) == [201, 409]
    assert codes.count(201) == 1


def test_one_update_wins_an_if_match_when_workers_race_on_it(
    two_workers: tuple[str, str],
) -> None:
    base, token = two_workers
    with _fresh(base, token) as http:
        created = http.post(API, json={"name": "matched", "value": {"n": 0}})
    version = created.json()["version"]

    def update(n: int) -> int:
        with _fresh(base, token) as http:
            return http.patch(
                API + "/by-name/matched",
                json={"n": n},
                headers={"If-Match": f'"{version}"'},
            ).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(update, range(16)))
    assert codes.count(200) == 1
    assert set(codes) == {200, 412}


def test_revoked_token_is_refused_by_every_worker_when_revoked_elsewhere(
    two_workers: tuple[str, str], store_url: str
) -> None:
    base, admin = two_workers
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        issued = sm.tokens.create(scopes=["secrets:read"])
        for _ in range(8):  # warm both workers up with the live token
            with _fresh(base, issued.token) as http:
                assert http.get(API).status_code == 200
        assert sm.tokens.revoke(issued.info.id) is True
    for _ in range(16):
        with _fresh(base, issued.token) as http:
            assert http.get(API).status_code == 401
    with _fresh(base, admin) as http:
        assert http.get(API).status_code == 200


# ------------------------------------------------------------------ stopping


@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_acknowledged_write_is_kept_when_sigterm_arrives_under_load(
    store_url: str, workers: str
) -> None:
    token = _token(store_url)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        with _fresh(base, token) as http:
            for i in range(100_000):
                if stop.is_set():
                    return
                name = f"w{n}-{i}"
                try:
                    response = http.post(API, json={"name": name, "value": "v"})
                except httpx.TransportError:
                    return
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(name)
                elif response.status_code != 503:
                    return

    with serving(store_url, "--workers", workers, "--no-access-log") as (
        base,
        server,
    ):
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0
        stop.set()
        for thread in threads:
            thread.join(60)

    assert len(acknowledged) > 10
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        for name in acknowledged:
            assert sm.exists(name), name
