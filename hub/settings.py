"""Runtime configuration: one pydantic-settings class, read from `RANTAI_*` variables."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("rantai.settings")
DEV_SECRET_KEY = "rantai-development-secret-key-not-for-production"
WEAK_SECRETS = {"secret", "changeme", "change-me", "password", "rantai", "jwt-secret"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RANTAI_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://… of the store; unset means embedded PostgreSQL.",
    )
    read_database_urls: str | None = Field(
        default=None,
        description="Comma-separated URLs of PostgreSQL streaming replicas of the store: "
        "queries and subscription renderings read them; everything else uses the primary.",
    )
    replica_max_lag_seconds: float = Field(
        default=5.0, gt=0, description="A replica further behind than this is skipped."
    )
    data_dir: Path = Field(default=Path(".rantai"), description="Where the embedded store lives.")
    config: Path | None = Field(
        default=None, description="rantai.toml listing the sources; default <data dir>/rantai.toml."
    )

    @property
    def config_path(self) -> Path:
        return self.config or self.data_dir / "rantai.toml"

    env: Literal["development", "production"] = Field(
        default="development",
        description="development or production (exactly; anything else refuses to start).",
    )
    default_page_size: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=500, ge=1)
    pool_size: int = Field(default=10, ge=1)
    compiled_queries: bool = Field(
        default=True,
        description="Answer pure-data queries with one compiled SQL statement "
        "(hub/serving/compiled.py); off: every query goes through the resolvers.",
    )
    gc_threshold: int = Field(
        default=50_000, ge=0, description="First-generation GC threshold; 0 leaves Python's."
    )
    source_freshness_seconds: int = Field(
        default=24 * 3600,
        description="A source whose last success is older than this serves its rows as stale.",
    )
    monev_deadline_day: int = Field(
        default=10,
        ge=1,
        le=28,
        description="Day of the following month by which an OPD's e-Monev Form A for a "
        "month is due (the agenda).",
    )

    sync_interval_seconds: float = Field(
        default=0,
        ge=0,
        description="`rantai serve` syncs every source this often; 0: only `rantai sync` does.",
    )
    sync_probe_seconds: float = Field(
        default=0.5,
        ge=0,
        le=3600,
        description="Between two sync cycles, each source is looked at this often (its "
        "server's statistics or its files, no rows read) and synced at once if it changed; "
        "0: only the cycles.",
    )
    sync_unchanged_seconds: float = Field(
        default=60.0,
        ge=0,
        le=86400,
        description="With looks, a cycle leaves out a source whose look did not move, for at "
        "most this long; then it is synced whatever its look says. 0: every cycle syncs "
        "every source.",
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

    # --- access control and limits (docs/security.md) ------------------------------------
    secret_key: str = Field(
        default=DEV_SECRET_KEY,
        description="Keys API-key hashes and the audit chain; production refuses the default.",
    )
    jwt_secret: str | None = Field(default=None, description="HS256 secret of bearer tokens.")
    jwt_jwks_file: FilePath | None = Field(default=None, description="JWKS file of RS256 keys.")
    jwt_issuer: str | None = Field(default=None, description="Required `iss` of tokens.")
    jwt_audience: str | None = Field(default=None, description="Required `aud` of tokens.")
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="Requests per minute per key, token or anonymous address."
    )
    auth_failures_per_minute: int = Field(
        default=20,
        ge=1,
        description="Failed credentials per minute from one address before it gets 429.",
    )
    max_depth: int = Field(default=15, ge=1, description="Deepest selection allowed.")
    max_aliases: int = Field(default=30, ge=0, description="Aliases per document.")
    max_tokens: int = Field(default=5_000, ge=10, description="Tokens per document.")
    max_fields: int = Field(
        default=2_000, ge=10, description="Field selections per document, fragments expanded."
    )
    max_cost: int = Field(
        default=10_000_000, ge=1, description="Estimated values per request (list sizes × depth)."
    )
    max_resolver_cost: int = Field(
        default=5_000_000,
        ge=1,
        description="Estimated values per request answered by the resolvers, when the "
        "compiled path does not answer it (their values are built one by one in Python).",
    )
    max_variable_depth: int = Field(
        default=16, ge=2, description="Nesting of lists and objects in `variables`."
    )
    max_body_bytes: int = Field(
        default=100_000,
        ge=1_000,
        description="Request body size; the same limit applies to each WebSocket message.",
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time a client has to send a request's headers."
    )
    body_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Time a client has to send a request's body."
    )
    send_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Time a client that stopped reading a response has before its "
        "connection is closed.",
    )
    http_max_connections_per_address: int = Field(
        default=200, ge=1, description="Open HTTP connections from one address."
    )
    max_batch: int = Field(
        default=1, ge=1, description="Operations per HTTP request; 1 turns batching off."
    )
    execution_timeout_seconds: float = Field(default=15.0, gt=0, description="Per request.")
    ws_max_subscriptions: int = Field(
        default=50, ge=1, description="Operations at once on one WebSocket connection."
    )
    max_distinct_subscriptions_per_address: int = Field(
        default=200,
        ge=1,
        description="Subscriptions from one address that each need their own rendering of "
        "an event (a different document, rendering variables or scope); identical ones "
        "share a rendering and count once.",
    )
    ws_init_timeout_seconds: float = Field(default=10.0, gt=0, description="For connection_init.")
    ws_max_connections_per_address: int = Field(
        default=100, ge=1, description="Open WebSocket connections from one address."
    )
    ws_max_connections: int = Field(
        default=20_000, ge=1, description="Open WebSocket connections per process."
    )
    reauthenticate_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often an open WebSocket's credential is checked again (revocations "
        "also reach every process at once through the broker).",
    )
    dev_anonymous_role: Literal["public", "province"] = Field(
        default="public",
        description="Development only: what a request without credentials sees (the test "
        "suite's data tests use province); production refuses anything but public.",
    )
    trusted_documents: FilePath | None = Field(
        default=None,
        description="JSON {sha256: document}: when set, only these documents are executed.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="json: every log record as one JSON line, and one line per request "
        "(operation, viewer role, transport, duration, outcome).",
    )
    metrics_addresses: str = Field(
        default="127.0.0.1/32,::1/128",
        description="Address ranges (CIDR, comma-separated) that may read /metrics without a "
        "key; a key of role metrics may read it from anywhere. Empty: keys only.",
    )
    ocid_prefix: str = Field(
        default="ocds-rantai",
        min_length=1,
        description="The registered OCDS ocid prefix; an ocid is <prefix>-<kode RUP>.",
    )

    @property
    def replica_urls(self) -> list[str]:
        return [u.strip() for u in (self.read_database_urls or "").split(",") if u.strip()]

    @property
    def production(self) -> bool:
        return self.env == "production"

    def production_problems(self) -> list[str]:
        """Settings production refuses (checked by every command that serves)."""
        problems = []
        if self.secret_key == DEV_SECRET_KEY or _weak(self.secret_key):
            problems.append(
                "RANTAI_SECRET_KEY is the development default, shorter than 32 characters or "
                "made of a few characters repeated"
            )
        if self.jwt_secret is not None and (
            _weak(self.jwt_secret) or self.jwt_secret.lower() in WEAK_SECRETS
        ):
            problems.append(
                "RANTAI_JWT_SECRET is shorter than 32 characters, a known default or made of a "
                "few characters repeated"
            )
        if self.dev_anonymous_role != "public":
            problems.append("RANTAI_DEV_ANONYMOUS_ROLE must be public (or unset) in production")
        return problems

    @field_validator("database_url")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("sync_probe_seconds")
    @classmethod
    def _probe_not_busy(cls, value: float) -> float:
        if 0 < value < 0.1:
            raise ValueError(
                "looks more often than every 0.1 s keep the sources busy; 0 turns them off"
            )
        return value

    @field_validator("metrics_addresses")
    @classmethod
    def _address_ranges(cls, value: str) -> str:
        import ipaddress

        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{part.strip()!r} is not an address range (CIDR)") from None
        return value


def _weak(secret: str) -> bool:
    """Too short, or too few distinct characters to be random ("x" * 40, "abab…")."""
    return len(secret) < 32 or len(set(secret)) < 10


class SettingsError(ValueError):
    """The environment holds a setting the hub refuses; one line per problem."""


# RANTAI_* variables read elsewhere: the demo's MariaDB and national API key, the Compose
# file's password, the browser tests' Chromium.
OTHER_VARIABLES = {
    "RANTAI_DEMO_MARIADB_URL",
    "RANTAI_MARIADB_URL",
    "RANTAI_DB_PASSWORD",
    "RANTAI_CHROMIUM",
    "RANTAI_INAPROC_API_KEY",
}


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """RANTAI_* variables that set nothing (a typo: RANTAI_MAX_COSTS), each with the
    setting it may have meant."""
    known = {"RANTAI_" + name.upper() for name in Settings.model_fields} | OTHER_VARIABLES
    lines = []
    for name in sorted(environ):
        if not name.startswith("RANTAI_") or name in known or name.startswith("RANTAI_TEST_"):
            continue
        close = difflib.get_close_matches(name, known, n=1)
        lines.append(f"{name} sets nothing" + (f" (did you mean {close[0]}?)" if close else ""))
    return lines


def load() -> Settings:
    """Settings from the environment; SettingsError naming each bad RANTAI_* variable. A
    RANTAI_* variable that sets nothing is logged as a warning."""
    for line in unknown_variables(os.environ):
        log.warning("%s", line)
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "RANTAI_" + "_".join(str(p) for p in error["loc"]).upper()
            lines.append(f"{name}={error.get('input')!r}: {error['msg']}")
        raise SettingsError("; ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load()
