"""Crypto-shredding for host eventsourcing applications, configured by environment only.

eventsourcing's own ApplicationTestCase and ExampleApplicationTestCase (BankAccounts,
snapshots, custom transcodings) run through strongroom's shredding mapper on SQLite
and PostgreSQL, in every configuration: the topics over eventsourcing's persistence,
and the shredding persistence modules with the keys in the application's database
or in another one.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.system import ProcessApplication, SingleThreadedRunner, System
from eventsourcing.tests import application as library_tests

from strongroom import AggregateShreddedError, SecretsManager
from strongroom.shredding import (
    CryptoShredding,
    Shredded,
    ShreddingMapper,
    StrongroomKeys,
    close_key_stores,
    forget,
    keys_of,
)
from tests.conftest import MASTER_KEY
from tests.integration import hosts
from tests.integration.hosts import CONFIGURATIONS
from tests.integration.raw import query

SNAPSHOTS = "bankaccounts_snapshots"


@pytest.fixture(params=CONFIGURATIONS)
def configuration(request: pytest.FixtureRequest) -> str:
    """How the host application is configured for shredding."""
    return str(request.param)


@pytest.fixture
def host_env(
    backend: str, configuration: str, tmp_path: Path, request: pytest.FixtureRequest
) -> dict[str, str]:
    """A host application's environment: its own event store plus strongroom's keys."""
    return hosts.host_env(backend, configuration, tmp_path, request)


# ----------------------------------------------------- eventsourcing's own test cases


class _InEnvironment:
    """Sets a host environment the way an operator would: process variables only."""

    backend: ClassVar[str]
    configuration: ClassVar[str]

    @pytest.fixture(autouse=True)
    def _environment(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest,
    ) -> Iterator[None]:
        env = hosts.host_env(self.backend, self.configuration, tmp_path, request)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield
        close_key_stores()


class _ThroughShredding(_InEnvironment, library_tests.ExampleApplicationTestCase):
    """eventsourcing's BankAccounts test, then proof it ran sealed and can forget."""

    __test__ = False

    def test_example_application(self) -> None:
        super().test_example_application()

        app = library_tests.BankAccounts(env={"IS_SNAPSHOTTING_ENABLED": "y"})
        try:
            notifications = app.notification_log["1,10"].items
            assert len(notifications) == 4
            assert all(b"Alice" not in n.state for n in notifications)
            assert all(b"alice@example.com" not in n.state for n in notifications)
            account_id = notifications[0].originator_id
            assert app.get_balance(account_id) == Decimal("65.00")
            snapshots = list(app.snapshots.get(account_id))  # type: ignore[union-attr]
            assert len(snapshots) == 2

            assert forget(app, account_id) == [account_id]

            with pytest.raises(AggregateShreddedError, match=str(account_id)):
                app.repository.get(account_id)
            placeholders = [app.mapper.to_domain_event(n) for n in notifications]
            assert all(isinstance(p, Shredded) for p in placeholders)
            assert [p.originator_version for p in placeholders] == [1, 2, 3, 4]
            assert all(isinstance(s, Shredded) for s in app.snapshots.get(account_id))  # type: ignore[union-attr]
            assert forget(app, account_id) == []
        finally:
            app.close()


class _ApplicationThroughShredding(_InEnvironment, library_tests.ApplicationTestCase):
    """eventsourcing's own application tests, with a shredding configuration set."""

    __test__ = False


_FACTORIES = {
    ("sqlite", "topics"): "eventsourcing.sqlite:SQLiteFactory",
    ("postgres", "topics"): "eventsourcing.postgres:PostgresFactory",
    ("sqlite", "module"): "strongroom.shredding.sqlite:ShreddingSQLiteFactory",
    ("postgres", "module"): "strongroom.shredding.postgres:ShreddingPostgresFactory",
}
for _backend in ("sqlite", "postgres"):
    for _configuration in CONFIGURATIONS:
        _kind = "topics" if _configuration == "topics" else "module"
        _suffix = f"{_backend.title()}{_configuration.title().replace('_', '')}"
        for _base in (_ThroughShredding, _ApplicationThroughShredding):
            _name = _base.__name__.lstrip("_").replace("Through", "On") + _suffix
            globals()["Test" + _name] = type(
                "Test" + _name,
                (_base,),
                {
                    "__test__": True,
                    "backend": _backend,
                    "configuration": _configuration,
                    "expected_factory_topic": _FACTORIES[_backend, _kind],
                },
            )


# ----------------------------------------------------- a small host of our own


class Profile(Aggregate):
    """A person's profile: personal data that must be forgettable."""

    class Registered(Aggregate.Created):
        name: str
        email: str

    class Closed(Aggregate.Event):
        """Stays readable after shredding: the log keeps that the account closed."""

        SHREDDABLE: ClassVar[bool] = False

    @event(Registered)
    def __init__(self, name: str, email: str) -> None:
        self.name = name
        self.email = email
        self.closed = False

    @event("EmailChanged")
    def change_email(self, email: str) -> None:
        self.email = email

    @event(Closed)
    def close(self) -> None:
        self.closed = True


class Profiles(CryptoShredding, Application[UUID]):
    """Configured by the mixin: only strongroom's URL and master key come from env."""

    is_snapshotting_enabled = True

    def register(self, name: str, email: str) -> UUID:
        profile = Profile(name=name, email=email)
        self.save(profile)
        return profile.id

    def change_email(self, profile_id: UUID, email: str) -> None:
        profile: Profile = self.repository.get(profile_id)
        profile.change_email(email)
        self.save(profile)

    def close_account(self, profile_id: UUID) -> None:
        profile: Profile = self.repository.get(profile_id)
        profile.close()
        self.save(profile)


class Directory(POPOTrackingRecorder):
    """A projection's view: who is registered, or that they were forgotten."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[UUID, str] = {}

    def record(self, key: UUID, text: str, tracking: Tracking) -> None:
        with self._database_lock:
            self._insert_tracking(tracking)
            self.entries[key] = text


class DirectoryProjection(Projection[Directory]):
    name = "directory"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, Shredded):
            self.view.record(domain_event.originator_id, "<forgotten>", tracking)
        elif isinstance(domain_event, Profile.Registered):
            self.view.record(domain_event.originator_id, domain_event.email, tracking)
        elif isinstance(domain_event, Profile.Closed):
            self.view.record(domain_event.originator_id, "<closed>", tracking)
        else:
            self.view.insert_tracking(tracking)


@pytest.fixture
def profiles_env(host_env: dict[str, str]) -> Iterator[dict[str, str]]:
    yield host_env
    close_key_stores()


def test_mixin_seals_events_and_keeps_unshreddable_ones_when_an_aggregate_is_forgotten(
    profiles_env: dict[str, str],
) -> None:
    app = Profiles(env=profiles_env)
    try:
        alice = app.register("Alice", "alice@example.com")
        bob = app.register("Bob", "bob@example.com")
        app.change_email(alice, "alice@new.example")
        app.close_account(alice)
        app.take_snapshot(bob)
        assert type(app.mapper).__name__ == "ShreddingMapper"

        assert app.forget(alice) == [alice]

        with pytest.raises(AggregateShreddedError):
            app.repository.get(alice)
        events = list(app.events.get(alice))
        assert [type(e).__name__ for e in events] == ["Shredded", "Shredded", "Closed"]
        assert app.repository.get(bob).email == "bob@example.com"
        # New events for a forgotten aggregate are refused, never sealed under a new key.
        with pytest.raises(AggregateShreddedError):
            app.change_email(alice, "z")
    finally:
        app.close()
    with SecretsManager.open(hosts.keys_url(profiles_env), master_key=MASTER_KEY) as sm:
        assert sm.keys.get_secret(str(alice)) is None
        assert sm.keys.get_secret(str(bob)) is not None


# eventsourcing's SQLite recorder has no subscriptions, so ProjectionRunner needs
# PostgreSQL; the follower test below covers pull-based processing on both.
@pytest.mark.parametrize("backend", ["postgres"])
def test_projection_runner_receives_placeholders_instead_of_crashing_when_forgotten(
    profiles_env: dict[str, str],
) -> None:
    app = Profiles(env=profiles_env)
    try:
        alice = app.register("Alice", "alice@example.com")
        bob = app.register("Bob", "bob@example.com")
        app.forget(alice)
        last = app.recorder.max_notification_id()
    finally:
        app.close()

    env = {**profiles_env, "DIRECTORY_PERSISTENCE_MODULE": "eventsourcing.popo"}
    with ProjectionRunner(
        application_class=Profiles,
        projection_class=DirectoryProjection,
        view_class=Directory,
        env=env,
    ) as runner:
        assert last is not None
        runner.wait(last, timeout=30)
        assert runner.view.entries == {alice: "<forgotten>", bob: "bob@example.com"}


class Mailer(CryptoShredding, ProcessApplication[UUID]):
    """A follower: counts welcome mails, and what it could not read."""

    sent: ClassVar[list[str]] = []
    skipped: ClassVar[list[UUID]] = []

    def policy(self, domain_event: Any, processing_event: Any) -> None:
        if isinstance(domain_event, Shredded):
            Mailer.skipped.append(domain_event.originator_id)
        elif isinstance(domain_event, Profile.Registered):
            Mailer.sent.append(domain_event.email)


def test_follower_processes_placeholders_when_the_leader_forgot_an_aggregate(
    profiles_env: dict[str, str],
) -> None:
    Mailer.sent, Mailer.skipped = [], []
    env = {
        **{f"PROFILES_{k}": v for k, v in profiles_env.items()},
        **{f"MAILER_{k}": v for k, v in profiles_env.items()},
    }
    if "SQLITE_DBNAME" in profiles_env:
        env["MAILER_SQLITE_DBNAME"] = profiles_env["SQLITE_DBNAME"] + ".mailer"
        # The mailer's keys (none) may live anywhere, but the leader's it reads
        # must come from the leader's store.
        env["MAILER_STRONGROOM_DATABASE_URL"] = hosts.keys_url(profiles_env)
    leader = Profiles(env=env)
    try:
        alice = leader.register("Alice", "alice@example.com")
        leader.register("Bob", "bob@example.com")
        leader.forget(alice)
    finally:
        leader.close()

    runner = SingleThreadedRunner(System(pipes=[[Profiles, Mailer]]), env=env)
    runner.start()
    try:
        mailer = runner.get(Mailer)
        mailer.pull_and_process(leader_name="Profiles")
        # The follower's reader mapper was rebuilt by the factory, not construct_mapper.
        reader = mailer.mappers["Profiles"]
        assert isinstance(reader, ShreddingMapper)
        assert isinstance(reader.keys, StrongroomKeys)
    finally:
        runner.stop()
    assert Mailer.sent == ["bob@example.com"]
    assert Mailer.skipped == [alice]


def test_host_events_hold_no_plaintext_when_stored(
    profiles_env: dict[str, str], backend: str, request: pytest.FixtureRequest
) -> None:
    app = Profiles(env=profiles_env)
    try:
        app.register("Carol", "carol-canary@example.com")
    finally:
        app.close()
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(profiles_env["SQLITE_DBNAME"]) as conn:
            states = [row[0] for row in conn.execute("SELECT state FROM stored_events")]
    else:
        states = [
            bytes(row[0])
            for row in query(
                str(request.getfixturevalue("postgres_url")),
                "SELECT state FROM profiles_events",
            )
        ]
    assert states
    assert all(b"carol-canary" not in state for state in states)


def test_keys_of_explains_the_configuration_when_an_app_is_not_shredding() -> None:
    app = Application[UUID](env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        with pytest.raises(TypeError, match="MAPPER_TOPIC"):
            keys_of(app)
    finally:
        app.close()
