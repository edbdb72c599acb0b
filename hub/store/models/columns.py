"""What every table of the store is made of: constraint names stable across migrations,
money and percent columns, keys, timestamps, and the provenance of every synced row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Numeric, func
from sqlmodel import Field, SQLModel

# Naming convention so that migrations get stable constraint names.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MONEY = Numeric(20, 2)
PERCENT = Numeric(7, 2)


def money(nullable: bool = False) -> Any:
    return Field(sa_column=Column(MONEY, nullable=nullable))


def fk(
    target: str, *, nullable: bool = False, ondelete: str = "CASCADE", use_alter: bool = False
) -> Any:
    """A foreign key column, always indexed."""
    return Field(
        sa_column=Column(
            BigInteger,
            ForeignKey(target, ondelete=ondelete, use_alter=use_alter),
            nullable=nullable,
            index=True,
        )
    )


def pk() -> Any:
    return Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))


def timestamp(nullable: bool = True, default_now: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(
            DateTime(timezone=True),
            nullable=nullable,
            server_default=func.now() if default_now else None,
        ),
    )


class Synced(SQLModel):
    """Provenance columns carried by every synced row (ARCHITECTURE.md §4)."""

    source_id: str = Field(foreign_key="source.id", ondelete="RESTRICT", max_length=64, index=True)
    source_key: str = Field(sa_column_kwargs={"nullable": False})
    source_updated_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
    )
    synced_at: datetime = Field(
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


metadata = SQLModel.metadata
