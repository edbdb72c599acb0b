"""What operators ask of the hub through the API's mutations: the receipts that make a
mutation idempotent, and the sync requests ("sync now") the sync loop answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from hub.store.models.columns import pk, timestamp


class MutationReceipt(SQLModel, table=True):
    """The first answer of a mutation sent with an idempotency key, kept for a day: a retry
    with the same key and input gets it again, a different input under that key is refused.
    The answer is encrypted under the hub's secret key (it can hold a new API key)."""

    __tablename__ = "mutation_receipt"
    __table_args__ = (UniqueConstraint("actor", "idempotency_key"),)

    id: int | None = pk()
    actor: str = Field(sa_column=Column(Text, nullable=False))
    idempotency_key: str = Field(sa_column=Column(String(200), nullable=False))
    mutation: str = Field(sa_column=Column(String(64), nullable=False))
    input_hash: str = Field(sa_column=Column(String(64), nullable=False))
    result: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime | None = timestamp(nullable=False, default_now=True)


class SyncRequest(SQLModel, table=True):
    """ "Sync now": asked through the API, answered by the process running the sync loop,
    which the request wakes through the broker's `sync` topic (or finds on its next cycle)."""

    __tablename__ = "sync_request"
    __table_args__ = (
        Index("ix_sync_request_pending", "id", postgresql_where="started_at IS NULL"),
    )

    id: int | None = pk()
    source_id: str | None = Field(default=None, sa_column=Column(String(64)))  # null: all
    requested_by: str = Field(sa_column=Column(Text, nullable=False))
    requested_at: datetime | None = timestamp(nullable=False, default_now=True)
    started_at: datetime | None = timestamp()
    finished_at: datetime | None = timestamp()
    outcome: str | None = Field(default=None, sa_column=Column(Text))


class Upload(SQLModel, table=True):
    """A workbook an OPD operator sent (`POST /upload/monev`), accepted after its check:
    kept whole, with who sent it, when and its SHA-256 (the same content twice is one
    upload). The sync reads a source's uploads as its files, the latest of each name."""

    __tablename__ = "upload"
    __table_args__ = (
        UniqueConstraint("source_id", "sha256"),
        Index("ix_upload_source_id_file_name", "source_id", "file_name"),
    )

    id: int | None = pk()
    source_id: str = Field(
        sa_column=Column(String(64), ForeignKey("source.id", ondelete="CASCADE"), nullable=False)
    )
    region_code: str = Field(sa_column=Column(String(16), nullable=False))
    opd_code: str = Field(sa_column=Column(String(32), nullable=False))
    file_name: str = Field(sa_column=Column(Text, nullable=False))
    size: int
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    rows: int
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    uploaded_by: str = Field(sa_column=Column(Text, nullable=False))
    uploaded_at: datetime | None = timestamp(nullable=False, default_now=True)
