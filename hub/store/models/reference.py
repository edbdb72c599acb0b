"""Reference data (hub/reference/): Kemendagri region codes and the planning nomenclature,
each row tagged with the edition it came from. Migration 0009 loads the shipped editions;
`rantai reference load` adds newer ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from hub.store.models.columns import fk, pk


class ReferenceEditionRow(SQLModel, table=True):
    """One loaded edition of a reference file: which decree, from where, under what licence."""

    __tablename__ = "reference_edition"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: int | None = pk()
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # regions, nomenclature
    name: str = Field(sa_column=Column(String(200), nullable=False))
    # Nomenclature: the first fiscal year the edition applies to; it applies until a later
    # edition covering the same annex begins.
    first_fiscal_year: int | None = Field(default=None, sa_column=Column(Integer))
    # Nomenclature: the annexes it covers, `provinsi` and/or `kabkota`.
    annexes: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(Text), nullable=False, server_default="{}")
    )
    origin: str | None = Field(default=None, sa_column=Column(Text))
    licence: str | None = Field(default=None, sa_column=Column(Text))
    counts: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}")
    )
    loaded_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class ReferenceRegionRow(SQLModel, table=True):
    """A province or regency/city of the Kemendagri code list: every Pemda of Indonesia.

    The hub's `region` table holds the Pemda it serves; a row that names a Pemda not there
    yet creates it from here (hub/sync/reference.py)."""

    __tablename__ = "reference_region"

    code: str = Field(sa_column=Column(String(8), primary_key=True))
    name: str
    level: str = Field(sa_column=Column(String(10), nullable=False))
    parent_code: str | None = Field(default=None, sa_column=Column(String(8)))
    edition_id: int = fk("reference_edition.id", ondelete="RESTRICT")


class NomenclatureRow(SQLModel, table=True):
    """A code of the nomenclature of urusan, bidang urusan, program, kegiatan and sub
    kegiatan in one edition, with its official name."""

    __tablename__ = "nomenclature"

    edition_id: int = Field(
        sa_column=Column(
            BigInteger,
            ForeignKey("reference_edition.id", ondelete="CASCADE"),
            primary_key=True,  # the key's first column: it indexes the foreign key too
        )
    )
    code: str = Field(sa_column=Column(String(24), primary_key=True))
    level: str = Field(sa_column=Column(String(16), nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    parent_code: str | None = Field(default=None, sa_column=Column(String(24)))
