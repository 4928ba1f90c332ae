"""Settings from the environment (pydantic-settings): ``STRONGROOM_*`` variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MASTER_KEY_FILENAME = "master.key"
DATABASE_FILENAME = "strongroom.db"


class Settings(BaseSettings):
    """strongroom's configuration; every field maps to ``STRONGROOM_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="STRONGROOM_", extra="ignore")

    database_url: str | None = None
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    master_key_command: str | None = None
    master_key_previous: SecretStr | None = None
    master_key_previous_file: Path | None = None
    master_key_previous_command: str | None = None
    home: Path | None = None

    def data_dir(self) -> Path:
        """Where the embedded default keeps its database and generated key."""
        if self.home is not None:
            return self.home.expanduser()
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg) if xdg else Path.home() / ".local" / "share"
        return base / "strongroom"

    def embedded_url(self) -> str:
        """The URL of the embedded SQLite default."""
        return "sqlite:///" + str((self.data_dir() / DATABASE_FILENAME).absolute())
