"""Read auditing in the library: off by default, on with audit_reads=True or audit=True."""

from __future__ import annotations

from strongroom import SecretsManager
from tests.conftest import MASTER_KEY


def test_reveals_are_not_recorded_when_read_auditing_is_off(sm: SecretsManager) -> None:
    sm.create("a", "v")

    sm.reveal("a")

    assert list(sm.audit(action="revealed")) == []


def test_reveals_are_recorded_with_reader_and_version_when_audit_reads_is_on(
    store_url: str,
) -> None:
    with SecretsManager.open(
        store_url, master_key=MASTER_KEY, actor="svc-a", audit_reads=True
    ) as sm:
        sm.create("a", "v1")
        sm.update("a", value="v2")

        sm.reveal("a")
        sm.reveal("a", version=1, actor="svc-b")
        sm.reveal("a", audit=False)

        entries = [(e.action, e.actor, e.version) for e in sm.audit(action="revealed")]
        assert entries == [("revealed", "svc-a", 2), ("revealed", "svc-b", 1)]
        assert [e.action for e in sm.audit(actor="svc-b")] == ["revealed"]
        sm.delete("a")
        # Who read what stays answerable after the secret is shredded.
        assert len(list(sm.audit(action="revealed"))) == 2
