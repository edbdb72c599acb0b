"""The sync's own tables: the sources and their health, where each stream stands, the
rows waiting for a parent, and the change log (history and outbox) the sync and the rules
write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from hub.store.models.columns import fk, pk, timestamp


def found_by() -> Any:
    """How a change was found: `sync`, `full` or `reconciliation` (null: not by a sync).
    The sync sets `rantai.found_by` for its transaction; the column's default reads it."""
    default = text("nullif(current_setting('rantai.found_by', true), '')")
    return Field(default=None, sa_column=Column(String(16), server_default=default))


class SourceRow(SQLModel, table=True):
    """A legacy database or export the hub reads (sumber data)."""

    __tablename__ = "source"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    owner_opd_id: int | None = fk("opd.id", nullable=True, ondelete="SET NULL", use_alter=True)
    status: str = Field(default="NEVER_SYNCED", sa_column=Column(String(16), nullable=False))
    last_synced_at: datetime | None = timestamp()
    last_success_at: datetime | None = timestamp()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    rows: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    freshness_seconds: int | None = Field(default=None, sa_column=Column(Integer))
    # Rows read but not stored: unconvertible, or waiting for a parent (sync_pending).
    waiting: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # The commonest reasons rows wait, [{"reason": …, "count": n}], three at most.
    waiting_reasons: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False, server_default="[]")
    )
    # Rows the last run read from the source, and those it stored (written or confirmed
    # unchanged, from the source or from the waiting queue): a run that read rows and
    # stored none left everything waiting, and its source is not fresh.
    last_run_read: int | None = Field(default=None, sa_column=Column(BigInteger))
    last_run_stored: int | None = Field(default=None, sa_column=Column(BigInteger))
    # An uploads source: its OPD's last accepted upload (the file's name, when).
    last_upload_file: str | None = Field(default=None, sa_column=Column(Text))
    last_upload_at: datetime | None = timestamp()
    # Per entity counts of the last run: {"payment": {"read": 10, "created": 2, ...}}.
    last_run: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}")
    )
    # Bumped by every sync batch that wrote something (hub/sync/overlap.py).
    change_seq: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    # When the last scheduled reconciliation finished (hub/reconcile.py).
    reconciled_at: datetime | None = timestamp()
    # The last `rantai verify`: {"at", "seconds", "ok", "missing", "extra", "different"}.
    verification: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))


class SyncState(SQLModel, table=True):
    """Where the sync of one stream (a mapped table or sheet) of a source stands."""

    __tablename__ = "sync_state"

    source_id: str = Field(
        sa_column=Column(String(64), ForeignKey("source.id", ondelete="CASCADE"), primary_key=True)
    )
    stream: str = Field(sa_column=Column(String(200), primary_key=True))
    # {"type": "datetime" | "date" | "int" | "str", "value": ...}; null: read from the start.
    watermark: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    # Keyed-diff streams: a fingerprint of the files read, to skip unchanged workbooks.
    fingerprint: str | None = Field(default=None, sa_column=Column(Text))
    # Loaded as a baseline (its first load): new rows without per-row CREATED history, a
    # LOADED event per Pemda and fiscal year when the stream is done.
    loading: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )
    # Paged sources (http-json): where a failed run's read resumes (hub/sync/state.py).
    resume: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    # Keyed-diff SQL streams: the source's checksums per block of keys at the last read
    # (hub/sync/checksums.py); the next read skips the blocks whose checksum did not move.
    checksums: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class SyncFile(SQLModel, table=True):
    """A workbook source's file as its keyed-diff stream last read it (hub/sync/files.py):
    its stamp and the source keys of its rows; the next read skips it while its stamp
    stays."""

    __tablename__ = "sync_file"

    source_id: str = Field(
        sa_column=Column(String(64), ForeignKey("source.id", ondelete="CASCADE"), primary_key=True)
    )
    stream: str = Field(sa_column=Column(String(200), primary_key=True))
    name: str = Field(sa_column=Column(Text, primary_key=True))
    signature: str = Field(sa_column=Column(Text, nullable=False))  # the mapping's, as read
    stamp: str | None = Field(default=None, sa_column=Column(Text))  # null: read it again
    keys: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))


class SyncPending(SQLModel, table=True):
    """A source row read but not stored: unconvertible, or its parent is not known yet.

    Retried on every sync; removed when it is stored or leaves the source.
    """

    __tablename__ = "sync_pending"
    __table_args__ = (UniqueConstraint("source_id", "entity", "source_key"),)

    id: int | None = pk()
    source_id: str = Field(
        sa_column=Column(
            String(64), ForeignKey("source.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    entity: str = Field(sa_column=Column(String(40), nullable=False))
    source_key: str
    record: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    reason: str
    first_seen_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    last_tried_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class ChangeHistory(SQLModel, table=True):
    """Every change the sync wrote: entity, key, changed fields before/after, source, time."""

    __tablename__ = "change_history"
    __table_args__ = (Index("ix_change_history_entity_entity_id", "entity", "entity_id"),)

    id: int | None = pk()
    occurred_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    source_id: str | None = Field(default=None, sa_column=Column(String(64)))
    entity: str = Field(sa_column=Column(String(40), nullable=False))
    entity_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    natural_key: str
    op: str = Field(sa_column=Column(String(8), nullable=False))  # CREATED UPDATED DELETED
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    found_by: str | None = found_by()


class Outbox(SQLModel, table=True):
    """One row per change for subscribers; `id` is the subscription cursor.

    Ids are taken under a transaction lock, so they increase in commit order.
    """

    __tablename__ = "outbox"

    id: int | None = pk()
    history_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    occurred_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    entity: str = Field(sa_column=Column(String(40), nullable=False))
    entity_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    op: str = Field(sa_column=Column(String(8), nullable=False))
    region_code: str | None = Field(default=None, sa_column=Column(String(8)))
    opd_code: str | None = Field(default=None, sa_column=Column(String(40)))
    fiscal_year: int | None = None
    changed_fields: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Text), nullable=False, server_default="{}"),
    )
    source_id: str | None = Field(default=None, sa_column=Column(String(64)))
    found_by: str | None = found_by()


class OutboxHorizon(SQLModel, table=True):
    """One row: the highest outbox id pruned. A cursor below it has lost events."""

    __tablename__ = "outbox_horizon"

    id: int = Field(default=1, sa_column=Column(Integer, primary_key=True))
    pruned_through: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    pruned_at: datetime | None = timestamp()
