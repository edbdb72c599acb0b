"""Access control's tables: API keys and the hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, String, Text, false
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from hub.store.models.columns import pk, timestamp


class ApiKey(SQLModel, table=True):
    """An API key: its public prefix, the HMAC of its secret, and what it may see."""

    __tablename__ = "api_key"

    id: int | None = pk()
    prefix: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    region_code: str | None = Field(default=None, sa_column=Column(String(16)))
    opd_code: str | None = Field(default=None, sa_column=Column(String(40)))
    label: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime | None = timestamp(nullable=False, default_now=True)
    revoked_at: datetime | None = timestamp()
    # A feed token: reads the agenda's iCalendar feed (given in its URL) and nothing else.
    feed_only: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class AuditLog(SQLModel, table=True):
    """Who did what, hash-chained: each record's hash covers the previous record's."""

    __tablename__ = "audit_log"

    id: int | None = pk()
    at: datetime | None = timestamp(nullable=False, default_now=True)
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}")
    )
    # The canonical text of `detail` the hash covers (jsonb rewrites some values).
    detail_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
