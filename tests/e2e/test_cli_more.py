"""The rest of the command line: patch, update, audit, as-of, rebuild, token."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.cli import invoke


def test_patch_merges_json_and_update_changes_only_what_is_given_when_used(
    home: Path,
) -> None:
    assert invoke("patch", "flags", "--merge", '{"a": 1, "b": 2}')[0] == 0
    assert invoke("patch", "flags", "--merge", '{"b": null}')[0] == 0
    assert json.loads(invoke("reveal", "flags", "--json")[1]) == {"a": 1}
    assert invoke("patch", "flags", "--merge", "[1]")[0] == 2

    code, out, _ = invoke("update", "flags", "--description", "feature flags", "--json")
    assert code == 0
    assert (json.loads(out)["description"], json.loads(out)["version"]) == (
        "feature flags",
        2,
    )
    assert invoke("update", "flags")[0] == 2
    code, _, _ = invoke(
        "update", "flags", "--description", "x", "--expected-version", "1"
    )
    assert code == 4


def test_audit_and_as_of_answer_from_the_log_when_asked(home: Path) -> None:
    invoke("put", "s", stdin="v1")
    middle = datetime.now(UTC).isoformat()
    invoke("put", "s", stdin="v2")

    code, out, _ = invoke("audit", "--json")
    assert code == 0
    assert [e["action"] for e in json.loads(out)] == ["created", "updated"]
    code, out, _ = invoke("as-of", "s", middle, "--json")
    assert (code, json.loads(out)["version"]) == (0, 1)
    assert invoke("as-of", "s", "yesterday")[0] == 2
    assert invoke("rebuild", "--json") == (0, '{\n  "rebuilt": true\n}\n', "")


def test_tokens_are_printed_once_and_listed_without_the_secret_when_created(
    home: Path,
) -> None:
    code, token, _ = invoke(
        "token", "create", "--scope", "secrets:read", "--name", "ci", "--expires", "1d"
    )
    assert code == 0
    assert token.startswith("srt_")

    code, out, _ = invoke("token", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["name"] == "ci"
    assert token.strip() not in out
    assert invoke("token", "create", "--scope", "nope")[0] == 2
    assert invoke("token", "create", "--scope", "admin", "--expires", "soon")[0] == 2
    assert invoke("token", "revoke", listed["id"])[0] == 0
    assert invoke("token", "revoke", listed["id"])[0] == 3
