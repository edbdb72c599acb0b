"""Write one batch of records into the store: resolve, diff, upsert, history and outbox.

Everything here runs inside the caller's transaction on one asyncpg connection, so a batch,
its change history, its outbox rows and the stream's watermark commit together or not at
all. Statements are set-based (`unnest` of column arrays): the number of round trips per
batch does not depend on its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg
import orjson

from hub.events.broker import CHANNEL
from hub.sync.bindings import LOOKUPS, VENDOR, Binding, Lookup, Record, tax_digits, vendor_key
from hub.sync.links import resolve_rows
from hub.sync.types import TYPES, ColumnType

# Serialises outbox ids with commits: ids are taken under this transaction lock, which is
# released at commit, so a reader that has seen id N has seen every id below N.
OUTBOX_LOCK = 0x52414E5441490001
# Taken shared by every batch and exclusively by link resolution, which updates rows of
# every table: the two never interleave, so they cannot deadlock on row locks.
WRITE_LOCK = 0x52414E5441490002


class Invalid(ValueError):
    """A value the store cannot hold; the record waits in sync_pending with this reason."""


def coerce(value: Any, column: str, ct: ColumnType) -> Any:
    if value is None:
        return None
    if ct.pg == "numeric":
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
            assert ct.quantum is not None
            return number.quantize(ct.quantum)
        except (InvalidOperation, ValueError) as exc:
            raise Invalid(f"{column}: {value!r} is not a number") from exc
    if ct.pg in ("int4", "int8"):
        if isinstance(value, bool):
            raise Invalid(f"{column}: {value!r} is not a whole number")
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise Invalid(f"{column}: {value!r} is not a whole number") from exc
        if number != number.to_integral_value():
            raise Invalid(f"{column}: {value!r} is not a whole number")
        return int(number)
    if ct.pg == "text":
        text = str(value).strip()
        if ct.length is not None and len(text) > ct.length:
            raise Invalid(f"{column}: {text[:40]!r}… is longer than {ct.length} characters")
        return text
    if ct.pg == "date":
        if isinstance(value, datetime):
            return value.date()
        if not isinstance(value, date):
            raise Invalid(f"{column}: {value!r} is not a date")
        return value
    if ct.pg == "bool":
        return bool(value)
    return value


def jsonable(value: Any) -> Any:
    """Values orjson does not write itself: money stays exact, as a string."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json(data: Mapping[str, Any] | None) -> str | None:
    return None if data is None else orjson.dumps(data, default=jsonable).decode()


@dataclass(frozen=True)
class Item:
    """One record read from a source, with its provenance."""

    source_key: str
    record: Record
    source_updated_at: datetime | None = None


@dataclass(frozen=True)
class Change:
    entity_id: int
    natural_key: str
    op: str  # CREATED UPDATED DELETED
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    stored_ids: list[int] = field(default_factory=list)  # rows this batch wrote or confirmed
    stored_keys: list[str] = field(default_factory=list)  # their source keys
    waiting: list[tuple[Item, str]] = field(default_factory=list)  # (item, reason)

    def add(self, other: Outcome) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.stored_ids += other.stored_ids
        self.stored_keys += other.stored_keys
        self.waiting += other.waiting


def natural_key(binding: Binding, values: Mapping[str, Any], record: Record) -> str:
    """The row's natural key with codes for ids (same as Binding.key_sql in SQL)."""
    parts = []
    for column in binding.key:
        if column == "region_id":
            value = record.get("region_code")
        elif column == "vendor_id":
            value = vendor_key(record.get("vendor_tax_id"), record.get("vendor_name"))
        else:
            value = values.get(column)
        parts.append("" if value is None else str(value))
    return "/".join(parts)


class Resolver:
    """Ids of parents by natural key, fetched in one statement per lookup and batch."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.cache: dict[str, dict[tuple[Any, ...], int]] = {name: {} for name in LOOKUPS}

    async def ids(self, name: str, keys: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
        lookup = LOOKUPS[name]
        cache = self.cache[name]
        missing = {k for k in keys if k not in cache and None not in k}
        if missing:
            await self._fetch(lookup, cache, list(missing))
        return cache

    async def _fetch(
        self, lookup: Lookup, cache: dict[tuple[Any, ...], int], keys: list[tuple[Any, ...]]
    ) -> None:
        cols = lookup.columns
        arrays = [[k[i] for k in keys] for i in range(len(cols))]
        params = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(lookup.types))
        match = " AND ".join(f"t.{c} = k.{c}" for c in cols)
        rows = await self.conn.fetch(
            f"SELECT t.id, {', '.join('t.' + c for c in cols)} FROM {lookup.table} t "
            f"JOIN unnest({params}) AS k({', '.join(cols)}) ON {match}",
            *arrays,
        )
        for row in rows:
            cache[tuple(row[c] for c in cols)] = row["id"]

    def forget(self) -> None:
        for cache in self.cache.values():
            cache.clear()


class Writer:
    """Applies batches of one source to the store on `conn` (inside its transaction)."""

    def __init__(self, conn: asyncpg.Connection, source_id: str | None) -> None:
        self.conn = conn
        self.source_id = source_id
        self.resolver = Resolver(conn)

    # -- rows ----------------------------------------------------------------------------

    async def write(self, binding: Binding, items: Sequence[Item]) -> Outcome:
        outcome = Outcome()
        rows: dict[tuple[Any, ...], tuple[Item, dict[str, Any]]] = {}
        prepared: list[tuple[Item, dict[str, Any], dict[str, Any]]] = []
        types = TYPES[binding.table]
        for item in items:
            try:
                values = {c: coerce(f(item.record), c, types[c]) for c, f in binding.fields.items()}
            except (Invalid, ValueError, KeyError) as exc:
                outcome.waiting.append((item, f"bad value: {exc}"))
                continue
            prepared.append((item, values, dict(item.record)))
        if binding.refs:
            prepared = await self._resolve(binding, prepared, outcome)
        for item, values, _ in prepared:
            key = tuple(values[c] for c in binding.key)
            if None in key:
                outcome.waiting.append((item, "no value for " + ", ".join(binding.key)))
                continue
            rows[key] = (item, values)  # the last row with a key wins
        if rows:
            await self._upsert(binding, rows, outcome)
        return outcome

    async def _resolve(
        self,
        binding: Binding,
        prepared: list[tuple[Item, dict[str, Any], dict[str, Any]]],
        outcome: Outcome,
    ) -> list[tuple[Item, dict[str, Any], dict[str, Any]]]:
        for ref in binding.refs:
            keyed: list[tuple[tuple[Any, ...] | None, Item, dict[str, Any], dict[str, Any]]] = []
            for item, values, scratch in prepared:
                try:
                    keyed.append((ref.key(scratch), item, values, scratch))
                except (KeyError, TypeError):
                    keyed.append((None, item, values, scratch))
            if ref.lookup == "vendor":
                await self._ensure_vendors(binding, [(k, s) for k, _, _, s in keyed if k])
            found = await self.resolver.ids(ref.lookup, [k for k, *_ in keyed if k is not None])
            kept = []
            for key, item, values, scratch in keyed:
                parent = found.get(key) if key is not None else None
                if parent is None:
                    shown = "/".join(str(v) for v in (key or ()) if not isinstance(v, int))
                    what = f"{ref.lookup} {shown}".strip() if key else f"no {ref.lookup}"
                    outcome.waiting.append((item, f"unknown {what}"))
                    continue
                values[ref.column] = parent
                scratch["@" + ref.column] = parent
                kept.append((item, values, scratch))
            prepared = kept
        return prepared

    async def _ensure_vendors(
        self, binding: Binding, keyed: list[tuple[tuple[Any, ...], Mapping[str, Any]]]
    ) -> None:
        """Vendors are known through bids and contracts: create the ones not seen yet."""
        known = self.resolver.cache["vendor"]
        await self.resolver.ids("vendor", [k for k, _ in keyed])
        new: dict[str, tuple[str, str | None]] = {}
        for key, record in keyed:
            if key in known or key[0] in new:
                continue
            name = str(record.get("vendor_name") or key[0]).strip()
            new[key[0]] = (name[:200], tax_digits(record.get("vendor_tax_id")))
        if not new:
            return
        keys = list(new)
        created = await self.conn.fetch(
            """INSERT INTO vendor (vendor_key, name, tax_id, source_id, source_key, synced_at)
            SELECT k, n, t, $4, k, now()
            FROM unnest($1::text[], $2::text[], $3::text[]) AS v(k, n, t)
            ON CONFLICT (vendor_key) DO NOTHING RETURNING id, vendor_key, name, tax_id""",
            keys,
            [new[k][0] for k in keys],
            [new[k][1] for k in keys],
            self.source_id,
        )
        await self.resolver.ids("vendor", [(k,) for k in keys])
        await self.record(
            VENDOR,
            [
                Change(
                    r["id"],
                    r["vendor_key"],
                    "CREATED",
                    None,
                    {"vendor_key": r["vendor_key"], "name": r["name"], "tax_id": r["tax_id"]},
                )
                for r in created
            ],
        )

    async def _upsert(
        self,
        binding: Binding,
        rows: dict[tuple[Any, ...], tuple[Item, dict[str, Any]]],
        outcome: Outcome,
    ) -> None:
        table, types, key = binding.table, TYPES[binding.table], binding.key
        columns = binding.columns
        keys = list(rows)
        params = ", ".join(f"${i + 1}::{types[c].pg}[]" for i, c in enumerate(key))
        match = " AND ".join(f"t.{c} = k.{c}" for c in key)
        existing = await self.conn.fetch(
            f"SELECT t.id, t.source_id, t.source_key, {', '.join('t.' + c for c in columns)} "
            f"FROM {table} t JOIN unnest({params}) AS k({', '.join(key)}) ON {match} "
            "ORDER BY t.id FOR UPDATE OF t",
            *[[k[i] for k in keys] for i in range(len(key))],
        )
        found = {tuple(r[c] for c in key): r for r in existing}
        inserts: list[tuple[Item, dict[str, Any]]] = []
        updates: list[tuple[int, Item, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        quiet: list[tuple[int, Item, dict[str, Any]]] = []  # provenance moved, data the same
        for k, (item, values) in rows.items():
            old = found.get(k)
            if old is None:
                inserts.append((item, values))
                continue
            before = {c: old[c] for c in columns if old[c] != values[c]}
            if before:
                after = {c: values[c] for c in before}
                updates.append((old["id"], item, values, before, after))
            elif old["source_id"] != self.source_id or old["source_key"] != item.source_key:
                quiet.append((old["id"], item, values))
            else:
                outcome.unchanged += 1
                outcome.stored_ids.append(old["id"])
                outcome.stored_keys.append(item.source_key)
        changes: list[Change] = []
        if inserts:
            extra = list(binding.on_insert)
            names = [*columns, *extra, "source_key", "source_updated_at"]
            arrays: list[list[Any]] = [[v[c] for _, v in inserts] for c in columns]
            arrays += [[v[src] for _, v in inserts] for src in binding.on_insert.values()]
            arrays.append([i.source_key for i, _ in inserts])
            arrays.append([i.source_updated_at for i, _ in inserts])
            pg = [types[c].pg for c in [*columns, *extra]] + ["text", "timestamptz"]
            unnest = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(pg))
            n = len(names) + 1
            created = await self.conn.fetch(
                f"INSERT INTO {table} ({', '.join(names)}, source_id, synced_at) "
                f"SELECT *, ${n}, now() FROM unnest({unnest}) "
                f"RETURNING id, {', '.join(key)}",
                *arrays,
                self.source_id,
            )
            new_ids = {tuple(r[c] for c in key): r["id"] for r in created}
            for item, values in inserts:
                entity_id = new_ids[tuple(values[c] for c in key)]
                changes.append(
                    Change(
                        entity_id,
                        natural_key(binding, values, item.record),
                        "CREATED",
                        None,
                        values,
                    )
                )
                outcome.stored_ids.append(entity_id)
                outcome.stored_keys.append(item.source_key)
            outcome.created += len(inserts)
        moved = [(i, it, v) for i, it, v, _, _ in updates] + quiet
        if moved:
            names = ["id", *columns, "source_key", "source_updated_at"]
            arrays = [[m[0] for m in moved]]
            arrays += [[m[2][c] for m in moved] for c in columns]
            arrays += [[m[1].source_key for m in moved], [m[1].source_updated_at for m in moved]]
            pg = ["int8", *(types[c].pg for c in columns), "text", "timestamptz"]
            unnest = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(pg))
            sets = ", ".join(f"{c} = v.{c}" for c in names[1:])
            await self.conn.execute(
                f"UPDATE {table} t SET {sets}, source_id = ${len(names) + 1}, synced_at = now() "
                f"FROM unnest({unnest}) AS v({', '.join(names)}) WHERE t.id = v.id",
                *arrays,
                self.source_id,
            )
            for entity_id, item, values, before, after in updates:
                key_text = natural_key(binding, values, item.record)
                changes.append(Change(entity_id, key_text, "UPDATED", before, after))
            for entity_id, item, _ in moved:
                outcome.stored_ids.append(entity_id)
                outcome.stored_keys.append(item.source_key)
            outcome.updated += len(updates)
            outcome.unchanged += len(quiet)
        # Links of the rows just written resolve now, as part of the same change.
        linked = await resolve_rows(self.conn, table, [c.entity_id for c in changes])
        for change in changes:
            for column, (old, new) in linked.get(change.entity_id, {}).items():
                if change.after is not None:
                    change.after[column] = new
                if change.before is not None:
                    change.before[column] = old
        await self.record(binding, changes)

    async def delete(self, binding: Binding, ids: Sequence[int]) -> tuple[int, list[int]]:
        """Delete rows of this source; returns (deleted, kept because still referenced)."""
        if not ids:
            return 0, []
        try:
            async with self.conn.transaction():
                return await self._delete(binding, ids), []
        except asyncpg.ForeignKeyViolationError:
            pass
        deleted, kept = 0, []
        for one in ids:  # find the rows other rows still hang from; delete the rest
            try:
                async with self.conn.transaction():
                    deleted += await self._delete(binding, [one])
            except asyncpg.ForeignKeyViolationError:
                kept.append(one)
        return deleted, kept

    async def _delete(self, binding: Binding, ids: Sequence[int]) -> int:
        columns = ["id", *binding.columns]
        for extra in ("region_id", "fiscal_year"):
            if extra in TYPES[binding.table] and extra not in columns:
                columns.append(extra)
        context = await self._context(binding, ids)
        keys = {
            r[0]: r[1]
            for r in await self.conn.fetch(
                f"SELECT t.id, {binding.key_sql('t')} FROM {binding.table} t "
                "WHERE t.id = ANY($1::int8[])",
                list(ids),
            )
        }
        gone = await self.conn.fetch(
            f"DELETE FROM {binding.table} WHERE id = ANY($1::int8[]) "
            f"RETURNING {', '.join(columns)}",
            list(ids),
        )
        changes = []
        for row in gone:
            before = {c: row[c] for c in binding.columns}
            changes.append(Change(row["id"], keys.get(row["id"], ""), "DELETED", before, None))
        await self.record(binding, changes, context)
        return len(gone)

    # -- history and outbox --------------------------------------------------------------

    async def _context(
        self, binding: Binding, ids: Sequence[int]
    ) -> dict[int, tuple[str | None, str | None, int | None]]:
        if not ids or not binding.context:
            return {}
        rows = await self.conn.fetch(binding.context, list(ids))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    async def record(
        self,
        binding: Binding,
        changes: Sequence[Change],
        context: Mapping[int, tuple[str | None, str | None, int | None]] | None = None,
        source_id: str | None = None,
    ) -> None:
        """Write the changes to change_history and the outbox, in commit order."""
        if not changes:
            return
        if context is None:
            context = await self._context(binding, [c.entity_id for c in changes])
        empty: tuple[str | None, str | None, int | None] = (None, None, None)
        ctx = [context.get(c.entity_id, empty) for c in changes]
        history = [
            r[0]
            for r in await self.conn.fetch(
                "SELECT nextval(pg_get_serial_sequence('change_history', 'id')) "
                "FROM generate_series(1, $1)",
                len(changes),
            )
        ]
        entity_ids = [c.entity_id for c in changes]
        ops = [c.op for c in changes]
        source = source_id or self.source_id
        await self.conn.execute(
            """INSERT INTO change_history
                (id, source_id, entity, entity_id, natural_key, op, before, after)
            SELECT h, $1, $2, e, k, o, b, a
            FROM unnest($3::int8[], $4::int8[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[])
                AS v(h, e, k, o, b, a)""",
            source,
            binding.entity,
            history,
            entity_ids,
            [c.natural_key for c in changes],
            ops,
            [_json(c.before) for c in changes],
            [_json(c.after) for c in changes],
        )
        await self.conn.execute("SELECT pg_advisory_xact_lock($1)", OUTBOX_LOCK)
        await self.conn.execute(
            """INSERT INTO outbox (history_id, entity, entity_id, op, region_code, opd_code,
                                   fiscal_year, changed_fields, source_id)
            SELECT h, $1, e, o, r, d, y, string_to_array(f, ','), $2
            FROM unnest($3::int8[], $4::int8[], $5::text[], $6::text[], $7::text[], $8::int4[],
                        $9::text[]) AS v(h, e, o, r, d, y, f)
            ORDER BY h""",
            binding.type_name,
            source,
            history,
            entity_ids,
            ops,
            [x[0] for x in ctx],
            [x[1] for x in ctx],
            [x[2] for x in ctx],
            [",".join(changed_fields(c)) for c in changes],
        )
        # Wakes every process's change feed at commit (one notification per transaction).
        await self.conn.execute("SELECT pg_notify($1, '')", CHANNEL)


def changed_fields(change: Change) -> list[str]:
    return list((change.after if change.op != "DELETED" else change.before) or {})


__all__ = [
    "Change",
    "Item",
    "Outcome",
    "Resolver",
    "Writer",
    "coerce",
    "jsonable",
    "natural_key",
    "vendor_key",
]
