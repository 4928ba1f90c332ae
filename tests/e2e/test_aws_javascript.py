"""The note's own pattern in JavaScript: a Lambda-style handler that fetches its
secrets with a variadic ``getSecrets(...)`` over ``@aws-sdk/client-secrets-manager``
(installed from the npm registry), names from environment variables, against a
real `strongroom serve` with the endpoint overridden."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from strongroom import SecretsManager
from tests.conftest import MASTER_KEY
from tests.e2e.test_serve import _env, serving

HANDLER = """\
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

// The endpoint comes from AWS_ENDPOINT_URL_SECRETS_MANAGER, as for any AWS SDK.
const client = new SecretsManagerClient({});

// One promise per name, all at once.
const getSecrets = (...names) =>
  Promise.all(
    names.map(async (name) => {
      const found = await client.send(new GetSecretValueCommand({ SecretId: name }));
      return found.SecretString;
    }),
  );

export const handler = async () => {
  const [dbPassword, apiKey] = await getSecrets(
    process.env.DB_PASSWORD_SECRET_NAME,
    process.env.API_KEY_SECRET_NAME,
  );
  return { dbPassword, apiKey };
};

try {
  console.log(JSON.stringify(await handler()));
} catch (error) {
  console.log(JSON.stringify({ error: error.name }));
}
"""


def _node(directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", "handler.mjs"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_a_javascript_handler_gets_its_secrets_when_pointed_at_strongroom(
    store_url: str, tmp_path: Path
) -> None:
    installed = subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "@aws-sdk/client-secrets-manager@3",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    (tmp_path / "handler.mjs").write_text(HANDLER)
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("stack-a/db-password", "s3cret")
        sm.create("stack-a/api-key", "k3y")
        issued = sm.tokens.create(scopes=["secrets:reveal"], aws=True)

    with serving(store_url) as (base, _):
        env = {
            **_env(store_url),
            "AWS_ACCESS_KEY_ID": str(issued.access_key_id),
            "AWS_SECRET_ACCESS_KEY": str(issued.secret_access_key),
            "AWS_REGION": "eu-central-1",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": base,
            "DB_PASSWORD_SECRET_NAME": "stack-a/db-password",
            "API_KEY_SECRET_NAME": "stack-a/api-key",
        }
        ran = _node(tmp_path, env)
        env["API_KEY_SECRET_NAME"] = "stack-a/missing"
        missing = _node(tmp_path, env)

    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"dbPassword": "s3cret", "apiKey": "k3y"}
    assert json.loads(missing.stdout) == {"error": "ResourceNotFoundException"}
