"""Settings per concern, read from the environment; nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_service.log_format import LogFormat


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
    read_url: str | None = Field(default=None, validation_alias="SCHOOLMAP_READ_DATABASE_URL")
    """A streaming replica of the database for public reads (see gis_service.db.replica)."""
    read_retry_s: float = Field(default=5.0, gt=0)
    """How long public reads stay on the primary after the replica failed to answer."""
    read_connect_timeout_s: int = Field(default=2, ge=1)
    """How long connecting to the replica may take before it counts as away."""


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


class ImportSettings(BaseSettings):
    """Bounds on one applicant import, so no file can hold a worker or the database for long.

    `max_applicants` is how many rows one applicant file may have. It is a fixed bound, not a
    multiple of the seats: seat counts come from the school registry, which may be imported
    after the applicants or be incomplete, and what the bound protects (a worker's memory
    and time, one transaction's size) does not grow with the seats. 300,000 is more than one
    grade's yearly intake of even the largest city, so a whole city's round fits, while a
    wrong file (a province's registry, every grade) is refused before any work is done.
    """

    model_config = SettingsConfigDict(env_prefix="SCHOOLMAP_IMPORT_", extra="ignore")

    max_applicants: int = Field(default=300_000, gt=0)
    statement_timeout_s: float = Field(default=60.0, gt=0)
    """The longest one statement of an import may run (a lock wait included)."""


class LogSettings(BaseSettings):
    """How the served app writes its log: `format` "text" (lines for a person, the default)
    or "json" (one JSON object a line, with the request's id, for a log collector)."""

    model_config = SettingsConfigDict(env_prefix="SCHOOLMAP_LOG_", extra="ignore")

    format: LogFormat = "text"


METRICS_TOKEN_MIN_CHARS = 16


class MetricsSettings(BaseSettings):
    """The Prometheus endpoint /metrics: served only when `token` is set, to a scrape sending
    `Authorization: Bearer <token>` (see api/metrics.py)."""

    model_config = SettingsConfigDict(
        env_prefix="SCHOOLMAP_METRICS_", extra="ignore", hide_input_in_errors=True
    )

    token: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None or not token.get_secret_value():
            return None
        if len(token.get_secret_value()) < METRICS_TOKEN_MIN_CHARS:
            raise ValueError(
                f"SCHOOLMAP_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_CHARS} characters "
                "(e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe())')"
            )
        return token


class ClusterSettings(BaseSettings):
    """Where batch work (distance fields) runs: with `scheduler` set (the address of a Dask
    distributed scheduler, e.g. tcp://10.0.0.5:8786; needs the `cluster` extra), on that
    cluster; unset (the default), in forked processes of the machine running the job.
    `connect_timeout_s` bounds the wait for the scheduler and for a first worker."""

    model_config = SettingsConfigDict(env_prefix="SCHOOLMAP_DASK_", extra="ignore")

    scheduler: str | None = None
    connect_timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("scheduler")
    @classmethod
    def _blank_is_unset(cls, scheduler: str | None) -> str | None:
        if scheduler is None or not scheduler.strip():
            return None
        return scheduler.strip()


class Settings(BaseSettings):
    """All settings of one service instance."""

    model_config = SettingsConfigDict(extra="ignore")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
