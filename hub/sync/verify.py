"""Verification against the sources (`rantai verify`): each source compared with the store,
without writing either.

Per source, entity, Pemda and fiscal year, both sides give the row count, the sum of every
money column, and an order-independent hash of each row's source key and mapped values:
the source's rows through its mapping and the writer's coercions (`hub.sync.coercion`),
the store's rows of that source as stored. Where a group differs, the keys missing from
the store, extra in it, or different are listed (at most `LIMIT` per group). The outcome is
kept on the source (`source.verification`: when, how long, ok or the counts) for
`Source.verification` and the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from adapters.base import AdapterError, open_adapter
from adapters.field_rules import RecordError
from adapters.mapping import EntityMapping, SourceMapping
from hub.db import PgConnection
from hub.sync.bindings import BY_ENTITY, Binding
from hub.sync.coercion import Invalid, preparer
from hub.sync.types import TYPES

LIMIT = 20  # keys listed per group and kind of difference
_MASK = 2**64

Group = tuple[str, str | None, int | None]  # entity, Pemda code, fiscal year


@dataclass
class Side:
    """One side's rows of a group: count, money sums, hash, and each key's digest."""

    count: int = 0
    sums: dict[str, Decimal] = field(default_factory=dict)
    digest: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, values: dict[str, Any], money: tuple[str, ...]) -> None:
        row = _digest(key, values)
        self.count += 1
        self.digest = (self.digest + row) % _MASK
        self.rows[key] = row
        for column in money:
            value = values.get(column)
            if isinstance(value, Decimal):
                self.sums[column] = self.sums.get(column, Decimal(0)) + value


@dataclass
class GroupReport:
    entity: str
    region_code: str | None
    fiscal_year: int | None
    source: Side
    store: Side

    @property
    def missing(self) -> list[str]:
        return sorted(k for k in self.source.rows if k not in self.store.rows)

    @property
    def extra(self) -> list[str]:
        return sorted(k for k in self.store.rows if k not in self.source.rows)

    @property
    def different(self) -> list[str]:
        theirs = self.store.rows
        return sorted(k for k, d in self.source.rows.items() if k in theirs and theirs[k] != d)

    @property
    def ok(self) -> bool:
        return self.source.count == self.store.count and self.source.digest == self.store.digest

    def as_json(self) -> dict[str, Any]:
        missing, extra, different = self.missing, self.extra, self.different
        return {
            "entity": self.entity,
            "region_code": self.region_code,
            "fiscal_year": self.fiscal_year,
            "ok": self.ok,
            "source": _side_json(self.source),
            "store": _side_json(self.store),
            "missing": len(missing),
            "extra": len(extra),
            "different": len(different),
            "missing_keys": missing[:LIMIT],
            "extra_keys": extra[:LIMIT],
            "different_keys": different[:LIMIT],
        }


@dataclass
class Verification:
    source: str
    seconds: float = 0.0
    error: str | None = None  # the source could not be read
    groups: list[GroupReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(g.ok for g in self.groups)

    def totals(self) -> dict[str, int]:
        return {
            "missing": sum(len(g.missing) for g in self.groups),
            "extra": sum(len(g.extra) for g in self.groups),
            "different": sum(len(g.different) for g in self.groups),
        }

    def summary(self, at: datetime) -> dict[str, Any]:
        """What `source.verification` keeps: when, how long, ok or the counts."""
        return {
            "at": at.isoformat(),
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
            "error": self.error,
            "groups": len(self.groups),
            **self.totals(),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            **self.totals(),
            "groups": [g.as_json() for g in self.groups],
        }


async def verify_source(conn: PgConnection, source: SourceMapping) -> Verification:
    """Compare `source` with the store (read-only on both sides)."""
    started = time.monotonic()
    result = Verification(source.id)
    sides: dict[Group, tuple[Side, Side]] = defaultdict(lambda: (Side(), Side()))
    adapter = open_adapter(source.config)
    try:
        async with asyncio.timeout(source.config.timeout_seconds):
            await adapter.open()
        for mapping in source.entities:
            binding = BY_ENTITY.get(mapping.spec.name)
            if binding is None or "source_key" not in TYPES[binding.table]:
                continue
            await _read_source(adapter, source, mapping, binding, sides)
        for entity in sorted({m.spec.name for m in source.entities}):
            binding = BY_ENTITY.get(entity)
            if binding is None or "source_key" not in TYPES[binding.table]:
                continue
            await _read_store(conn, source.id, binding, sides)
    except (AdapterError, TimeoutError, OSError) as exc:
        result.error = " ".join(str(exc).split()) or type(exc).__name__
    finally:
        with contextlib.suppress(Exception):  # closing a source that failed: the failure
            await adapter.close()  # is what matters
    if result.error is None:
        result.groups = [
            GroupReport(*group, ours, theirs)
            for group, (ours, theirs) in sorted(sides.items(), key=lambda i: _order(i[0]))
        ]
    result.seconds = time.monotonic() - started
    return result


async def save(conn: PgConnection, result: Verification) -> None:
    """Keep the outcome on the source row (`Source.verification`)."""
    summary = result.summary(datetime.now(UTC))
    await conn.execute(
        "UPDATE source SET verification = $2::jsonb WHERE id = $1",
        result.source,
        json.dumps(summary),
    )


# -- the two sides ----------------------------------------------------------------------------


def _columns(binding: Binding) -> tuple[tuple[str, ...], tuple[str, ...], bool, bool]:
    """The compared columns, the money ones among them, and whether rows are grouped by
    Pemda and by fiscal year."""
    types = TYPES[binding.table]
    compared = tuple(sorted(binding.fields))
    money = tuple(
        c for c in compared if types[c].pg == "numeric" and types[c].quantum == Decimal("0.01")
    )
    return compared, money, "region_id" in types, "fiscal_year" in types


async def _read_source(
    adapter: Any,
    source: SourceMapping,
    mapping: EntityMapping,
    binding: Binding,
    sides: dict[Group, tuple[Side, Side]],
) -> None:
    compared, money, by_region, by_year = _columns(binding)
    prepare = {c: (get, convert) for c, get, convert in preparer(binding)}
    timeout = source.config.timeout_seconds
    batches = adapter.stream(mapping.query)
    try:
        while True:
            try:
                async with asyncio.timeout(timeout):
                    batch = await anext(batches)
            except StopAsyncIteration:
                break
            for row in batch.rows:
                key = mapping.source_key(row)
                try:
                    record = mapping.record(row)
                except RecordError:
                    record = {}
                values = {}
                for column in compared:
                    get, convert = prepare[column]
                    try:
                        values[column] = convert(get(record))
                    except Invalid:
                        values[column] = get(record)
                region = (record.get("region_code") or source.region) if by_region else None
                year = _year(record.get("fiscal_year")) if by_year else None
                sides[(binding.entity, region, year)][0].add(key, values, money)
    finally:
        await batches.aclose()


async def _read_store(
    conn: PgConnection, source_id: str, binding: Binding, sides: dict[Group, tuple[Side, Side]]
) -> None:
    compared, money, by_region, by_year = _columns(binding)
    region = "r.code" if by_region else "NULL"
    join = " LEFT JOIN region r ON r.id = x.region_id" if by_region else ""
    year = "x.fiscal_year" if by_year else "NULL"
    select = ", ".join(f"x.{c}" for c in compared)
    sql = (
        f"SELECT x.source_key AS rantai_key, {region} AS rantai_region, {year} AS rantai_year, "
        f"{select} FROM {binding.table} x{join} WHERE x.source_id = $1"
    )
    async with conn.transaction(readonly=True):
        async for row in conn.cursor(sql, source_id, prefetch=5000):
            values = {c: row[c] for c in compared}
            group = (binding.entity, row["rantai_region"], row["rantai_year"])
            sides[group][1].add(row["rantai_key"], values, money)


# -- helpers ---------------------------------------------------------------------------------


def _digest(key: str, values: dict[str, Any]) -> int:
    text = "\x1f".join([key, *(f"{c}={_canonical(v)}" for c, v in sorted(values.items()))])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _year(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _order(group: Group) -> tuple[str, str, int]:
    return (group[0], group[1] or "", group[2] or 0)


def _side_json(side: Side) -> dict[str, Any]:
    return {
        "count": side.count,
        "sums": {c: str(v) for c, v in sorted(side.sums.items())},
        "hash": f"{side.digest:016x}",
    }
