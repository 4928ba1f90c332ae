"""References between secrets: ``${name}`` and ``${namespace/name}`` resolved by
``reveal(expand=True)``, recursively, each read checked and audited; cycles, depth,
and unreadable targets refused naming the chain, never a value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strongroom import (
    AccessDeniedError,
    Action,
    SecretsManager,
    ValidationError,
)


def test_reveal_resolves_references_when_expanding(sm: SecretsManager) -> None:
    sm.create("db/user", "app")
    sm.create("db/password", "hunter2")
    sm.create("stripe", "sk_123", namespace="payments")
    sm.create(
        "dsn", "postgres://${db/user}:${db/password}@db/main?k=${payments/stripe}"
    )

    assert sm.reveal("dsn", expand=True) == "postgres://app:hunter2@db/main?k=sk_123"
    assert sm.reveal("dsn") == (
        "postgres://${db/user}:${db/password}@db/main?k=${payments/stripe}"
    )


def test_reveal_resolves_references_recursively_when_they_nest(
    sm: SecretsManager,
) -> None:
    sm.create("host", "db.internal")
    sm.create("url", "https://${host}/api")
    sm.create("config", "endpoint=${url}")

    assert sm.reveal("config", expand=True) == "endpoint=https://db.internal/api"


def test_reveal_looks_in_the_referencing_namespace_first_when_names_hold_slashes(
    sm: SecretsManager,
) -> None:
    sm.create("payments/key", "global one")
    sm.create("key", "namespaced one", namespace="payments")
    sm.create("a", "${payments/key}")
    sm.create("b", "${key}", namespace="payments")

    assert sm.reveal("a", expand=True) == "global one"
    assert sm.reveal("b", namespace="payments", expand=True) == "namespaced one"


def test_reveal_keeps_a_literal_when_the_reference_is_escaped(
    sm: SecretsManager,
) -> None:
    sm.create("x", "1")
    sm.create("tpl", "$${x} is ${x}; $$ and $ stay")

    assert sm.reveal("tpl", expand=True) == "${x} is 1; $$ and $ stay"


def test_reveal_expands_string_leaves_when_the_value_is_a_json_object(
    sm: SecretsManager,
) -> None:
    sm.create("pw", "hunter2")
    sm.create("obj", {"k": 1})
    sm.create("cfg", {"db": {"password": "${pw}", "port": 5432}, "raw": "${obj}"})

    assert sm.reveal("cfg", expand=True) == {
        "db": {"password": "hunter2", "port": 5432},
        "raw": '{"k":1}',
    }


def test_reveal_refuses_naming_the_chain_when_references_form_a_cycle(
    sm: SecretsManager,
) -> None:
    sm.create("a", "secret-a ${b}")
    sm.create("b", "secret-b ${a}")

    with pytest.raises(ValidationError) as caught:
        sm.reveal("a", expand=True)

    assert "'a' -> 'b' -> 'a'" in str(caught.value)
    assert "cycle" in str(caught.value)
    assert "secret-" not in str(caught.value)


def test_reveal_refuses_when_references_go_deeper_than_eight(
    sm: SecretsManager,
) -> None:
    for i in range(10):
        sm.create(f"r{i}", f"${{r{i + 1}}}")
    sm.create("r10", "end")

    with pytest.raises(ValidationError, match="deeper than 8"):
        sm.reveal("r0", expand=True)
    assert sm.reveal("r2", expand=True) == "end"


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda sm: None, "no secret has that name"),
        (lambda sm: sm.delete("target"), "deleted"),
        (lambda sm: sm.revoke("target"), "revoked"),
        (
            lambda sm: sm.update(
                "target", expires_at=datetime.now(UTC) - timedelta(seconds=1)
            ),
            "expired",
        ),
    ],
)
def test_reveal_refuses_naming_the_chain_when_a_target_cannot_be_read(
    sm: SecretsManager, make: object, why: str
) -> None:
    if why != "no secret has that name":
        sm.create("target", "target-value", expires_at=None)
    make(sm)  # type: ignore[operator]
    sm.create("holder", "x=${target}")

    with pytest.raises(ValidationError) as caught:
        sm.reveal("holder", expand=True)

    assert "'holder' -> 'target'" in str(caught.value)
    assert why in str(caught.value)
    assert "target-value" not in str(caught.value)


def test_reveal_refuses_a_restricted_target_when_the_caller_may_not_read_it(
    sm: SecretsManager,
) -> None:
    sm.create("billing-key", "bk", allowed_apps=["billing"])
    sm.create("open", "k=${billing-key}")

    with pytest.raises(AccessDeniedError, match="'open' -> 'billing-key'"):
        sm.reveal("open", expand=True, app="web", env="prod")
    assert sm.reveal("open", expand=True, app="billing", env="prod") == "k=bk"


def test_reveal_records_each_referenced_read_when_audited(
    sm: SecretsManager,
) -> None:
    sm.create("inner", "v")
    sm.create("outer", "${inner}")

    sm.reveal("outer", expand=True, audit=True, actor="auditor")

    revealed = list(sm.audit(action=Action.REVEALED))
    assert sorted((e.name, e.actor) for e in revealed) == [
        ("inner", "auditor"),
        ("outer", "auditor"),
    ]


def test_reveal_refuses_a_bad_reference_when_it_is_not_a_name(
    sm: SecretsManager,
) -> None:
    sm.create("holder", "x=${}")
    sm.create("spaced", "x=${pass word}")

    for name in ("holder", "spaced"):
        with pytest.raises(ValidationError, match="not a name") as caught:
            sm.reveal(name, expand=True)
        assert "pass word" not in str(caught.value)
