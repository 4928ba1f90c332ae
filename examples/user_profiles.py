"""User profiles with a GDPR "forget" command: crypto-shredding for eventsourcing.

The application is plain ``eventsourcing``; strongroom's shredding persistence module
seals each profile's events under that profile's own key, kept in the application's
own database, and the ``CryptoShredding`` mixin gives it ``forget``. Forgetting
a person destroys the key: their events stay in the log (the log is append-only) but
read back as ``Shredded`` placeholders, and the directory projection shows
``<forgotten>`` for them. Run it::

    python examples/user_profiles.py --data /tmp/profiles register "Ada" ada@example.com
    python examples/user_profiles.py --data /tmp/profiles directory
    python examples/user_profiles.py --data /tmp/profiles forget <ID>
    python examples/user_profiles.py --data /tmp/profiles show <ID>

Key material comes from ``STRONGROOM_MASTER_KEY`` (or a generated key file in the
data directory, for this example only).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.projection import Projection

from strongroom import AggregateShreddedError
from strongroom.shredding import CryptoShredding, Shredded, close_key_stores


class UserProfile(Aggregate):
    """A person: name and email are personal data."""

    class Registered(Aggregate.Created):
        name: str
        email: str

    class EmailChanged(Aggregate.Event):
        email: str

    class Forgotten(Aggregate.Event):
        """Not shreddable: the log keeps, readably, that this person was forgotten."""

        SHREDDABLE: ClassVar[bool] = False

    @event(Registered)
    def __init__(self, name: str, email: str) -> None:
        self.name = name
        self.email = email
        self.forgotten = False

    @event(EmailChanged)
    def change_email(self, email: str) -> None:
        self.email = email

    @event(Forgotten)
    def forget(self) -> None:
        self.forgotten = True


class UserProfiles(CryptoShredding, Application[UUID]):
    """The application: register, change email, show, and forget (GDPR Art. 17)."""

    def register(self, name: str, email: str) -> UUID:
        profile = UserProfile(name=name, email=email)
        self.save(profile)
        return profile.id

    def change_email(self, profile_id: UUID, email: str) -> None:
        profile: UserProfile = self.repository.get(profile_id)
        profile.change_email(email)
        self.save(profile)

    def show(self, profile_id: UUID) -> dict[str, str]:
        profile: UserProfile = self.repository.get(profile_id)
        return {"id": str(profile.id), "name": profile.name, "email": profile.email}

    def forget_person(self, profile_id: UUID) -> bool:
        """Record the erasure (readable forever), then destroy the profile's key."""
        try:
            profile: UserProfile = self.repository.get(profile_id)
        except AggregateShreddedError:
            return False
        if not profile.forgotten:
            profile.forget()
            self.save(profile)
        return bool(self.forget(profile_id))


class Directory(POPOTrackingRecorder):
    """The projection's view: an email per person, or what happened to them."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[UUID, str] = {}

    def put(self, key: UUID, text: str, tracking: Tracking) -> None:
        with self._database_lock:
            self._insert_tracking(tracking)
            self.entries[key] = text


class DirectoryProjection(Projection[Directory]):
    """Shows each person's email; a shredded event shows as <forgotten>."""

    name = "directory"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, Shredded):
            self.view.put(domain_event.originator_id, "<forgotten>", tracking)
        elif isinstance(
            domain_event, (UserProfile.Registered, UserProfile.EmailChanged)
        ):
            self.view.put(domain_event.originator_id, domain_event.email, tracking)
        elif isinstance(domain_event, UserProfile.Forgotten):
            self.view.put(domain_event.originator_id, "<forgotten>", tracking)
        else:
            self.view.insert_tracking(tracking)


def build_directory(app: UserProfiles) -> dict[UUID, str]:
    """Project the whole log (SQLite has no subscriptions, so pull it)."""
    projection = DirectoryProjection(view=Directory())
    for notification in app.recorder.select_notifications(start=None, limit=1_000_000):
        projection.process_event(
            app.mapper.to_domain_event(notification),
            Tracking(app.name, notification.id),
        )
    return projection.view.entries


def open_app(data: Path) -> UserProfiles:
    """The application on an SQLite file in ``data``, its keys in the same file."""
    data.mkdir(parents=True, exist_ok=True)
    env = {
        "PERSISTENCE_MODULE": "strongroom.shredding.sqlite",
        "SQLITE_DBNAME": str(data / "profiles.db"),
    }
    if not os.environ.get("STRONGROOM_MASTER_KEY"):
        key_file = data / "master.key"
        if not key_file.exists():
            key_file.write_text(base64.b64encode(os.urandom(32)).decode())
            key_file.chmod(0o600)
        env["STRONGROOM_MASTER_KEY_FILE"] = str(key_file)
    return UserProfiles(env=env)


def main(argv: list[str] | None = None) -> int:
    """The example's command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("profiles-data"))
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register")
    register.add_argument("name")
    register.add_argument("email")
    change = commands.add_parser("change-email")
    change.add_argument("id", type=UUID)
    change.add_argument("email")
    for name in ("show", "forget"):
        commands.add_parser(name).add_argument("id", type=UUID)
    commands.add_parser("directory")
    args = parser.parse_args(argv)

    app = open_app(args.data)
    try:
        if args.command == "register":
            print(app.register(args.name, args.email))
        elif args.command == "change-email":
            app.change_email(args.id, args.email)
        elif args.command == "show":
            try:
                profile = app.show(args.id)
            except AggregateShreddedError:
                print(f"{args.id}: forgotten", file=sys.stderr)
                return 3
            print(f"{profile['id']} {profile['name']} <{profile['email']}>")
        elif args.command == "forget":
            done = app.forget_person(args.id)
            print(f"{args.id}: {'forgotten' if done else 'already forgotten'}")
        else:
            for key, text in build_directory(app).items():
                print(f"{key} {text}")
    finally:
        app.close()
        close_key_stores()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
