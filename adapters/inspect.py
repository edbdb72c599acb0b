"""What a source holds, for the people onboarding it: its tables (or sheets), their columns
with declared types, a sample of values, and per column how many rows are empty, how many
values differ and the largest one (`rantai sources scaffold`, the watermark checks of
`rantai sources check`).

Counts and maxima come from the whole table: an aggregate query on a database, a read of
every row of a spreadsheet. Samples are the first rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from adapters.base import Adapter, EntityQuery
from adapters.spreadsheet import SpreadsheetAdapter
from adapters.sql import SqlAdapter

SAMPLE_ROWS = 200
SAMPLE_VALUES = 12  # distinct values kept per column
# Declared types whose values order: the maximum is asked for on these only (PostgreSQL
# has no max() of a boolean or json; an engine without declared types gets it everywhere).
_ORDERED = ("date", "time", "int", "numeric", "decimal", "double", "real", "float", "char",
            "text", "serial")  # fmt: skip


@dataclass
class ColumnProfile:
    name: str
    type: str = ""  # as the engine declares it ("" for spreadsheets and queries)
    rows: int = 0
    nulls: int = 0  # empty values: NULL, or blank text
    distinct: int = 0
    maximum: Any = None
    samples: list[Any] = field(default_factory=list)  # distinct non-empty values, first seen


@dataclass
class TableProfile:
    name: str  # table, view or sheet
    query: EntityQuery
    columns: list[ColumnProfile]
    rows: int
    sample: list[dict[str, Any]]  # the first rows
    notes: list[str] = field(default_factory=list)  # comments for the draft

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


async def sample_rows(adapter: Adapter, query: EntityQuery, count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    batches = adapter.stream(query)
    try:
        async for batch in batches:
            rows += batch.rows
            if len(rows) >= count:
                break
    finally:
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()
    return rows[:count]


async def profile(adapter: Adapter, name: str, query: EntityQuery) -> TableProfile:
    """The columns of one table (or sheet) with their counts, maxima and sample values."""
    names = await adapter.columns(query)
    types = await adapter.column_types(query) if isinstance(adapter, SqlAdapter) else {}
    sample = await sample_rows(adapter, query, SAMPLE_ROWS)
    columns = [ColumnProfile(n, types.get(n, "")) for n in names]
    for column in columns:
        seen: list[Any] = []
        for row in sample:
            value = row.get(column.name)
            if not _empty(value) and value not in seen and len(seen) < SAMPLE_VALUES:
                seen.append(value)
        column.samples = seen
    if isinstance(adapter, SqlAdapter):
        rows = await _sql_counts(adapter, query, columns)
    else:
        rows = await _streamed_counts(adapter, query, columns)
    return TableProfile(name, query, columns, rows, sample)


async def _sql_counts(
    adapter: SqlAdapter, query: EntityQuery, columns: Sequence[ColumnProfile]
) -> int:
    expressions = ["count(*) AS n"]
    for i, column in enumerate(columns):
        quoted = adapter.quote(column.name)
        expressions += [f"count({quoted}) AS c{i}", f"count(DISTINCT {quoted}) AS d{i}"]
        kind = column.type.lower()
        if not kind or any(word in kind for word in _ORDERED):
            expressions.append(f"max({quoted}) AS m{i}")
    found = await adapter.aggregate(query, expressions)
    rows = int(found.get("n") or 0)
    for i, column in enumerate(columns):
        column.rows = rows
        column.nulls = rows - int(found.get(f"c{i}") or 0)
        column.distinct = int(found.get(f"d{i}") or 0)
        column.maximum = found.get(f"m{i}")
    return rows


async def _streamed_counts(
    adapter: Adapter, query: EntityQuery, columns: Sequence[ColumnProfile]
) -> int:
    rows = 0
    values: dict[str, set[Any]] = {c.name: set() for c in columns}
    by_name = {c.name: c for c in columns}
    async for batch in adapter.stream(query):
        for row in batch.rows:
            rows += 1
            for name, column in by_name.items():
                value = row.get(name)
                if _empty(value):
                    column.nulls += 1
                    continue
                if len(values[name]) <= 100_000:
                    values[name].add(value)
                try:
                    if column.maximum is None or value > column.maximum:
                        column.maximum = value
                except TypeError:  # mixed kinds in one column: no maximum
                    pass
    for column in columns:
        column.rows = rows
        column.distinct = len(values[column.name])
    return rows


async def tables(adapter: Adapter) -> list[tuple[str, EntityQuery]]:
    """The tables (databases) or sheets (workbooks; one per CSV) to profile."""
    if isinstance(adapter, SqlAdapter):
        return [(name, EntityQuery(table=name)) for name in await adapter.tables()]
    if isinstance(adapter, SpreadsheetAdapter):
        sheets, _ = await adapter.top_rows(None, 1)
        if adapter.config.kind == "csv":
            return [(sheets[0], EntityQuery())]
        return [(sheet, EntityQuery(sheet=sheet)) for sheet in sheets]
    return []


async def watermark_stats(adapter: Adapter, query: EntityQuery) -> tuple[int, int, Any]:
    """(rows, rows whose watermark is empty, the largest watermark) of one entity."""
    column = query.watermark
    if column is None:
        return 0, 0, None
    if isinstance(adapter, SqlAdapter):
        quoted = adapter.quote(column)
        found = await adapter.aggregate(
            query, ["count(*) AS n", f"count({quoted}) AS c", f"max({quoted}) AS m"]
        )
        rows = int(found.get("n") or 0)
        return rows, rows - int(found.get("c") or 0), found.get("m")
    profiled = [ColumnProfile(column)]
    if query.http is not None:  # an API: its first page, not every page of it
        query = replace(query, http=replace(query.http, paging="none"))
    rows = await _streamed_counts(adapter, replace(query, watermark=None), profiled)
    return rows, profiled[0].nulls, profiled[0].maximum
