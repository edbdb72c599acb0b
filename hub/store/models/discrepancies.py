"""The ketimpangan the rules found, and how far through the change feed they have run."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from hub.store.models.columns import fk, pk, timestamp


class DiscrepancyRow(SQLModel, table=True):
    """Ketimpangan found by a rule; kept with its evidence, resolved when the data heals."""

    __tablename__ = "discrepancy"
    __table_args__ = (
        UniqueConstraint("rule", "subject_key"),
        Index(
            "ix_discrepancy_open",
            "region_id",
            "fiscal_year",
            postgresql_where="resolved_at IS NULL",
        ),
    )

    id: int | None = pk()
    rule: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    subject_key: str  # what the rule fired on, e.g. "contract:53.01/027/KTR/2025"
    severity: str = Field(sa_column=Column(String(10), nullable=False))
    message: str
    fiscal_year: int
    region_id: int = fk("region.id", ondelete="RESTRICT")
    opd_id: int | None = fk("opd.id", nullable=True, ondelete="SET NULL")
    sub_activity_id: int | None = fk("sub_activity.id", nullable=True, ondelete="SET NULL")
    evidence: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False, server_default="[]")
    )
    detected_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    resolved_at: datetime | None = timestamp()


class DiscrepancyState(SQLModel, table=True):
    """One row: the outbox position the discrepancy rules have checked up to, and the
    reference day of their last run (the rules that compare with it run everywhere again
    when it moves)."""

    __tablename__ = "discrepancy_state"

    id: int = Field(default=1, sa_column=Column(Integer, primary_key=True))
    position: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    ran_at: datetime | None = timestamp()
    full_at: datetime | None = timestamp()
    reference_day: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
