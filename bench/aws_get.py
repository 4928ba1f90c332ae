"""GetSecretValue through boto3 against the native ``GET …/value`` route, in one run.

    python bench/aws_get.py [--url postgresql://postgres@127.0.0.1/postgres]
                            [--seconds 5] [--reps 3] [--threads 4] [--secrets 200]

One `strongroom serve` (one worker) over a scratch store; ``--threads`` client
threads each read random secrets for ``--seconds``, first with httpx and a bearer
token on ``/api/v1/secrets/by-name/{name}/value``, then with boto3's
``get_secret_value`` (Signature Version 4, JSON 1.1), interleaved ``--reps``
times. Both reveals are audited. Prints requests/s per rep, the medians and
their ratio. Figures, not assertions; clients, server and database share the
machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import boto3
import httpx
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from http_load import strongroom_serving
from keys_lifecycle import scratch_store

from strongroom import SecretsManager

KEY = os.urandom(32)


def _rate(
    make: Callable[[], Callable[[str], object]],
    names: list[str],
    args: argparse.Namespace,
) -> float:
    """Requests per second of ``args.threads`` threads each calling its own reader."""
    done = [0] * args.threads
    stop = time.monotonic() + args.seconds

    def work(slot: int) -> None:
        read = make()
        rng = random.Random(slot)
        while time.monotonic() < stop:
            read(rng.choice(names))
            done[slot] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - start)


def main() -> None:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default=os.environ.get("STRONGROOM_TEST_POSTGRES_URL"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--secrets", type=int, default=200)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_store(args.url, tmp, "aws") as url,
    ):
        names = [f"bench/s{i}" for i in range(args.secrets)]
        with SecretsManager.open(url, master_key=KEY) as sm:
            sm.create_many((name, f"value-{name}") for name in names)
            bearer = sm.tokens.create(scopes=["secrets:reveal"]).token
            key = sm.tokens.create(scopes=["secrets:reveal"], aws=True)
        with strongroom_serving(url, KEY) as base:

            def native() -> Callable[[str], object]:
                client = httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {bearer}"}
                )

                def read(name: str) -> object:
                    got = client.get(
                        f"/api/v1/secrets/by-name/{name.replace('/', '%2F')}/value"
                    )
                    got.raise_for_status()
                    return got.json()["value"]

                return read

            def aws() -> Callable[[str], object]:
                client = boto3.session.Session().client(
                    "secretsmanager",
                    endpoint_url=base,
                    region_name="us-east-1",
                    aws_access_key_id=key.access_key_id,
                    aws_secret_access_key=key.secret_access_key,
                    config=Config(retries={"max_attempts": 1}),
                )
                return lambda name: client.get_secret_value(SecretId=name)[
                    "SecretString"
                ]

            rates: dict[str, list[float]] = {
                "native /value": [],
                "boto3 GetSecretValue": [],
            }
            for rep in range(args.reps):
                for label, make in (
                    ("native /value", native),
                    ("boto3 GetSecretValue", aws),
                ):
                    rate = _rate(make, names, args)
                    rates[label].append(rate)
                    print(f"rep {rep + 1}: {label}: {rate:,.0f}/s", flush=True)
    medians = {label: statistics.median(found) for label, found in rates.items()}
    for label, median in medians.items():
        print(f"median {label}: {median:,.0f}/s")
    ratio = medians["boto3 GetSecretValue"] / medians["native /value"]
    print(f"boto3 GetSecretValue / native /value: {ratio:.2f}")


if __name__ == "__main__":
    main()
