"""Column types of the store's tables, read from the models: for the casts of the sync's array
parameters, its COPY inbox tables and its coercions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, String, Text
from sqlalchemy.types import TypeDecorator

from hub.store.models import metadata


@dataclass(frozen=True)
class ColumnType:
    pg: str  # int8, int4, text, numeric, date, timestamptz, bool
    quantum: Decimal | None = None
    length: int | None = None


def _column_types() -> dict[str, dict[str, ColumnType]]:
    out: dict[str, dict[str, ColumnType]] = {}
    for table in metadata.sorted_tables:
        cols: dict[str, ColumnType] = {}
        for column in table.columns:
            t = column.type
            if isinstance(t, TypeDecorator):
                t = t.impl_instance
            if isinstance(t, BigInteger):
                cols[column.name] = ColumnType("int8")
            elif isinstance(t, Integer):
                cols[column.name] = ColumnType("int4")
            elif isinstance(t, Numeric):
                scale = t.scale or 0
                cols[column.name] = ColumnType("numeric", Decimal(1).scaleb(-scale))
            elif isinstance(t, Boolean):
                cols[column.name] = ColumnType("bool")
            elif isinstance(t, DateTime):
                cols[column.name] = ColumnType("timestamptz")
            elif isinstance(t, Date):
                cols[column.name] = ColumnType("date")
            elif isinstance(t, String | Text):
                cols[column.name] = ColumnType("text", length=getattr(t, "length", None))
            else:  # JSONB, arrays: never written from records
                cols[column.name] = ColumnType(str(t).lower())
        out[table.name] = cols
    return out


TYPES = _column_types()
