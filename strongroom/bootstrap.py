"""The composition root: from settings and a URL to an open application.

``SecretsManager.open`` and the shredding mapper's key stores both open stores
here, so the backend is chosen in one place and settings are read one way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from strongroom.infrastructure.master_key import MasterKeyProvider, as_provider
from strongroom.infrastructure.store import Backend, StrongroomApplication, parse_url
from strongroom.projections.postgres import PostgresSecretsView
from strongroom.projections.secrets import SecretsView
from strongroom.projections.sqlite import SQLiteSecretsView
from strongroom.settings import Settings

_VIEWS: dict[str, type[SecretsView]] = {
    "postgres": PostgresSecretsView,
    "sqlite": SQLiteSecretsView,
}


@dataclass(frozen=True)
class Config:
    """Where a store is and which master keys open it."""

    url: str
    backend: Backend
    env: dict[str, str]
    master_key: MasterKeyProvider
    previous_master_keys: list[MasterKeyProvider]

    @property
    def location(self) -> str:
        """The URL with any password masked, for reprs and messages."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def ident(self) -> tuple[str, ...]:
        """Store and master keys: one open application per ident is enough."""
        previous = sorted(key.key_id for key in self.previous_master_keys)
        return (self.url, self.master_key.key_id, *previous)


def configure(
    url: str | None = None,
    *,
    master_key: MasterKeyProvider | bytes | str | None = None,
    previous_master_keys: Iterable[MasterKeyProvider | bytes | str] | None = None,
    settings: Settings | None = None,
) -> Config:
    """The store's configuration: given values first, then the settings."""
    settings = settings or Settings()
    embedded = url is None and settings.database_url is None
    url = url or settings.database_url or settings.embedded_url()
    backend, env = parse_url(url)
    master = (
        settings.master_key_provider(embedded=embedded)
        if master_key is None
        else as_provider(master_key)
    )
    previous = (
        settings.previous_key_providers()
        if previous_master_keys is None
        else [as_provider(key) for key in previous_master_keys]
    )
    return Config(url, backend, env, master, previous)


def open_application(config: Config, *, views: bool = True) -> StrongroomApplication:
    """The application on a configured store (with its read-model view)."""
    made: list[Any] = [_VIEWS[config.backend]] if views else []
    return StrongroomApplication(
        config.env,
        master_key=config.master_key,
        previous_master_keys=config.previous_master_keys,
        views=made,
    )
