"""Settings from the environment (pydantic-settings): ``STRONGROOM_*`` variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from strongroom.domain.errors import MasterKeyError
from strongroom.infrastructure.master_key import (
    CommandKeyProvider,
    MasterKeyProvider,
    RawKeyProvider,
    create_key_file,
    read_key_file,
)

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
        """The URL of the embedded SQLite default, its private directory made."""
        data = self.data_dir()
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Also when an earlier version made it with the umask's mode.
        data.chmod(0o700)
        return "sqlite:///" + str((data / DATABASE_FILENAME).absolute())

    def master_key_provider(self, *, embedded: bool) -> MasterKeyProvider:
        """The configured master key; the embedded default generates one on first use."""
        if self.master_key is not None:
            return RawKeyProvider(self.master_key.get_secret_value())
        if self.master_key_file is not None:
            return RawKeyProvider(read_key_file(self.master_key_file.expanduser()))
        if self.master_key_command is not None:
            return CommandKeyProvider(self.master_key_command)
        if embedded:
            path = self.data_dir() / MASTER_KEY_FILENAME
            return RawKeyProvider(
                read_key_file(path) if path.exists() else create_key_file(path)
            )
        msg = (
            "no master key: pass master_key=, or set STRONGROOM_MASTER_KEY, "
            "STRONGROOM_MASTER_KEY_FILE or STRONGROOM_MASTER_KEY_COMMAND"
        )
        raise MasterKeyError(msg)

    def previous_key_providers(self) -> list[MasterKeyProvider]:
        """Master keys of an unfinished rotation (``STRONGROOM_MASTER_KEY_PREVIOUS*``)."""
        found: list[MasterKeyProvider] = []
        if self.master_key_previous is not None:
            found.append(RawKeyProvider(self.master_key_previous.get_secret_value()))
        if self.master_key_previous_file is not None:
            path = self.master_key_previous_file.expanduser()
            found.append(RawKeyProvider(read_key_file(path)))
        if self.master_key_previous_command is not None:
            found.append(CommandKeyProvider(self.master_key_previous_command))
        return found
