"""Runtime configuration: one pydantic-settings class, read from `RANTAI_*` variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RANTAI_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://… of the store; unset means embedded PostgreSQL.",
    )
    data_dir: Path = Field(default=Path(".rantai"), description="Where the embedded store lives.")
    config: Path | None = Field(
        default=None, description="rantai.toml listing the sources; default <data dir>/rantai.toml."
    )

    @property
    def config_path(self) -> Path:
        return self.config or self.data_dir / "rantai.toml"

    env: str = Field(default="development", description="development or production.")
    default_page_size: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=500, ge=1)
    pool_size: int = Field(default=10, ge=1)
    gc_threshold: int = Field(
        default=300_000, ge=0, description="First-generation GC threshold; 0 leaves Python's."
    )
    source_freshness_seconds: int = Field(
        default=24 * 3600,
        description="A source whose last success is older than this serves its rows as stale.",
    )

    sync_interval_seconds: float = Field(
        default=0,
        ge=0,
        description="`rantai serve` syncs every source this often; 0: only `rantai sync` does.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Wake-ups between processes: unset/postgresql (the store), redis://, nats://.",
    )
    outbox_retention_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="Change events older than this are pruned; a cursor before them expires.",
    )
    sync_concurrency: int = Field(default=3, ge=1, description="Sources synced at once.")

    @field_validator("database_url")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
