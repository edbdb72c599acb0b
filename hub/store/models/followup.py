"""Tindak lanjut: what happens to a ketimpangan after the rules find it. An assigner (the
province, the Inspektorat, a regency) asks one OPD to explain a finding by a due date; the
OPD answers; the assigner accepts the answer or returns it. `follow_up` holds the current
state of one finding's follow-up, `follow_up_action` its thread, oldest first."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from hub.store.models.columns import fk, pk, timestamp

# States: the OPD must answer (ASSIGNED, RETURNED), the assigner must review (ANSWERED),
# explained (ACCEPTED), closed by the data (CLOSED: the rules no longer find it).
ASSIGNED, ANSWERED, RETURNED, ACCEPTED, CLOSED = (
    "ASSIGNED", "ANSWERED", "RETURNED", "ACCEPTED", "CLOSED",
)  # fmt: skip
STATES = (ASSIGNED, ANSWERED, RETURNED, ACCEPTED, CLOSED)
AWAITING_ANSWER = (ASSIGNED, RETURNED)  # overdue once past the due date
# Kinds of action in the thread.
ACTIONS = ("ASSIGNED", "ANSWERED", "ACCEPTED", "RETURNED", "CLOSED")


class FollowUpRow(SQLModel, table=True):
    """The follow-up of one ketimpangan (at most one per finding; re-assigned after the
    data closed it and the finding came back)."""

    __tablename__ = "follow_up"
    __table_args__ = (UniqueConstraint("discrepancy_id"),)

    id: int | None = pk()
    discrepancy_id: int = fk("discrepancy.id", ondelete="CASCADE")
    region_id: int = fk("region.id", ondelete="RESTRICT")  # the finding's Pemda
    opd_id: int = fk("opd.id", ondelete="RESTRICT")  # the OPD that must answer
    fiscal_year: int
    state: str = Field(sa_column=Column(String(16), nullable=False))
    due_on: date = Field(sa_column=Column(Date, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    assigned_by: str = Field(sa_column=Column(Text, nullable=False))  # the actor
    assigner_role: str = Field(sa_column=Column(String(16), nullable=False))
    assigner_region: str | None = Field(default=None, sa_column=Column(String(16)))
    assigned_at: datetime | None = timestamp(nullable=False, default_now=True)
    answered_at: datetime | None = timestamp()  # the first answer since the assignment
    reviewed_at: datetime | None = timestamp()
    closed_at: datetime | None = timestamp()
    updated_at: datetime | None = timestamp(nullable=False, default_now=True)
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))


class FollowUpActionRow(SQLModel, table=True):
    """One step of a follow-up's thread: who did what, when, with which note."""

    __tablename__ = "follow_up_action"

    id: int | None = pk()
    follow_up_id: int = fk("follow_up.id", ondelete="CASCADE")
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    role: str | None = Field(default=None, sa_column=Column(String(16)))
    at: datetime | None = timestamp(nullable=False, default_now=True)
    note: str | None = Field(default=None, sa_column=Column(Text))
    due_on: date | None = Field(default=None, sa_column=Column(Date))
    refs: list[Any] = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False, server_default="[]")
    )
