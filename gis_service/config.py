"""Settings per concern, read from the environment; nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """Where schoolmap keeps its own files (owned database cluster, demo data, caches)."""
    return Path.home() / ".local" / "share" / "schoolmap"


class DatabaseSettings(BaseSettings):
    """How to reach PostgreSQL. With no DATABASE_URL, a local server is found or started."""

    model_config = SettingsConfigDict(
        env_prefix="SCHOOLMAP_DB_", extra="ignore", populate_by_name=True
    )

    url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    name: str = "schoolmap"
    local_port: int = 5432
    owned_port: int = 54329
    home: Path = Field(default_factory=default_home, validation_alias="SCHOOLMAP_HOME")
    pool_max: int = 10


class ApiSettings(BaseSettings):
    """HTTP service settings."""

    model_config = SettingsConfigDict(env_prefix="SCHOOLMAP_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    max_features: int = 5000


class SecuritySettings(BaseSettings):
    """Keys for what must not be stored in clear (children's identity codes)."""

    model_config = SettingsConfigDict(env_prefix="SCHOOLMAP_", extra="ignore")

    secret_key: str | None = None


class Settings(BaseSettings):
    """All settings of one service instance."""

    model_config = SettingsConfigDict(extra="ignore")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
