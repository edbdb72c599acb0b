"""Write one batch of records into the store: resolve, diff, upsert, history and outbox.

Everything here runs inside one transaction on one asyncpg connection, so a batch, its
change history, its outbox rows and the stream's watermark commit together or not at all.
Statements are set-based (column arrays, and COPY for new rows: `hub.sync.inserts`): the
number of round trips per batch does not depend on its size. Values are coerced by
`hub.sync.coercion`; the changes are recorded by `hub.events.changelog`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import asyncpg

from hub.db import PgConnection
from hub.events import changelog
from hub.events.changelog import FLUSH, STAGE_DDL, Change, Routing
from hub.sync.bindings import (
    BY_ENTITY,
    VENDOR,
    Binding,
    Record,
    tax_digits,
    vendor_key,
)
from hub.sync.coercion import Invalid, preparer
from hub.sync.inserts import InsertPlan, insert_plan, stage_sql
from hub.sync.links import DEPENDENTS, apply_link, resolve_rows
from hub.sync.reference import Enrichment
from hub.sync.resolver import Resolver
from hub.sync.types import TYPES

log = logging.getLogger("rantai.sync")

# Taken shared by every batch and exclusively by link resolution, which updates rows of
# every table: the two never interleave, so they cannot deadlock on row locks.
WRITE_LOCK = 0x52414E5441490002
# How a sync found its changes: a regular cycle, `rantai sync --full`, the scheduled
# reconciliation (change_history.found_by, outbox.found_by).
FOUND_BY = ("sync", "full", "reconciliation")


async def warm_types(conn: PgConnection) -> None:
    """Have asyncpg learn every array type the writer sends, in one introspection query
    (it otherwise runs one per type and connection, at the first statement using it)."""
    await conn.fetchval(
        "SELECT $1::int8[], $2::int4[], $3::numeric[], $4::date[], $5::timestamptz[], "
        "$6::bool[], $7::jsonb[], $8::text[]",
        *([None] * 8),
    )


@dataclass(frozen=True)
class Item:
    """One record read from a source, with its provenance."""

    source_key: str
    record: Record
    source_updated_at: datetime | None = None


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    stored_ids: list[int] = field(default_factory=list)  # rows this batch wrote or confirmed
    stored_keys: list[str] = field(default_factory=list)  # their source keys
    waiting: list[tuple[Item, str]] = field(default_factory=list)  # (item, reason)
    # Rows made for this batch's rows, per entity: Pemda from the reference data, the OPD a
    # row names, program and kegiatan from codes (hub/sync/reference.py).
    derived: dict[str, int] = field(default_factory=dict)

    def add(self, other: Outcome) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.stored_ids += other.stored_ids
        self.stored_keys += other.stored_keys
        self.waiting += other.waiting
        for entity, n in other.derived.items():
            self.derived[entity] = self.derived.get(entity, 0) + n


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


class Writer:
    """Applies batches of one source to the store on `conn` (inside its transaction)."""

    def __init__(
        self,
        conn: PgConnection,
        source_id: str | None,
        *,
        bulk: bool = True,
        found_by: str | None = None,
    ) -> None:
        self.conn = conn
        self.source_id = source_id
        if found_by is not None and found_by not in FOUND_BY:
            raise ValueError(f"found_by must be one of {', '.join(FOUND_BY)}")
        # How this writer's changes were found, for their history and outbox rows (the
        # columns' default reads the transaction's setting).
        self.found_by = found_by
        # The entity of a baseline load under way (hub/sync/baseline.py): its rows are
        # created without per-row CREATED history and outbox rows (a LOADED event per Pemda
        # and fiscal year stands for them); rows derived for them keep theirs.
        self.quiet: str | None = None
        self.resolver = Resolver(conn)
        # New rows in one statement with their links, history and outbox (InsertPlan);
        # False: insert, then resolve links and record, as separate statements (the
        # reference the tests compare the set-based path with).
        self.bulk = bulk
        self.staging = False  # inside transaction(): outbox rows go to STAGE
        self.staged = False  # and some did in this transaction
        self._stage_ready = False  # STAGE exists on this connection
        self._inbox_ready: set[str] = set()  # InsertPlan.inbox tables made on this connection
        self._inbox_used: set[str] = set()  # and filled in this transaction
        # Rows of other tables whose derived links moved in this writer's batches
        # (`_dependents`), per (table, column), for the engine's decision to ANALYZE them.
        self.dependent_moves: dict[tuple[str, str], int] = {}
        # Entities of this writer's source with rows in sync_pending (the engine's cache).
        self.waiting_entities: set[str] | None = None
        # Pemda, names, OPD and parents the batches' rows need (hub/sync/reference.py).
        self.enrich = Enrichment(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One sync batch: BEGIN with WRITE_LOCK shared, in one round trip; at the end the
        staged outbox rows under the outbox lock, NOTIFY and COMMIT, in one more
        (`hub.events.changelog.FLUSH`).

        A plain transaction, not asyncpg's (which would COMMIT in a round trip of its own):
        savepoints inside it are SQL (see `_savepoint`).
        """
        begin = f"BEGIN; SELECT pg_advisory_xact_lock_shared({WRITE_LOCK});"
        if self.found_by is not None:
            begin += f" SET LOCAL rantai.found_by = '{self.found_by}';"
        await self.conn.execute(begin if self._stage_ready else f"{begin} {STAGE_DDL};")
        self.staging, self.staged = True, False
        try:
            yield
            await self.conn.execute(FLUSH if self.staged else "COMMIT")
        except BaseException:
            # An inbox table created in this transaction is gone with it: made again (IF NOT
            # EXISTS) when a later batch on this connection needs it.
            self._inbox_ready -= self._inbox_used
            try:
                if not self.conn.is_closed() and self.conn.is_in_transaction():
                    await self.conn.execute("ROLLBACK")
            except Exception:  # the original error matters; the pool resets the connection
                log.debug("rollback failed", exc_info=True)
            raise
        finally:
            self.staging = self.staged = False
            self._inbox_used.clear()
        self._stage_ready = True

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        if not self.staging:
            async with self.conn.transaction():
                yield
            return
        await self.conn.execute("SAVEPOINT rantai_writer")
        try:
            yield
        except BaseException:
            await self.conn.execute("ROLLBACK TO SAVEPOINT rantai_writer")
            raise
        await self.conn.execute("RELEASE SAVEPOINT rantai_writer")

    # -- rows ----------------------------------------------------------------------------

    async def write(self, binding: Binding, items: Sequence[Item]) -> Outcome:
        outcome = Outcome()
        items = await self.enrich.prepare(self, binding, items, outcome)
        rows: dict[tuple[Any, ...], tuple[Item, dict[str, Any]]] = {}
        prepared: list[tuple[Item, dict[str, Any], dict[str, Any]]] = []
        fields = preparer(binding)
        refs = bool(binding.refs)
        for item in items:
            try:
                record = item.record
                values = {c: co(f(record)) for c, f, co in fields}
            except (Invalid, ValueError, KeyError) as exc:
                outcome.waiting.append((item, f"bad value: {exc}"))
                continue
            # Only references write into the record (`@column`): a copy then, else itself.
            prepared.append((item, values, dict(record) if refs else record))  # type: ignore[arg-type]
        if binding.refs:
            prepared = await self._resolve(binding, prepared, outcome)
        pick = itemgetter(*binding.key)  # a tuple for two columns or more, else the value
        single = len(binding.key) == 1
        for item, values, _ in prepared:
            key = (pick(values),) if single else pick(values)
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
            missing = [(k, s) for k, _, _, s in keyed if k is not None and k not in found]
            if missing and ref.lookup in self.enrich.derive:
                derived = await self.enrich.derive_parents(self, ref.lookup, missing)
                for entity, n in derived.items():
                    outcome.derived[entity] = outcome.derived.get(entity, 0) + n
                found = await self.resolver.ids(ref.lookup, [k for k, _ in missing])
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
        for r in created:
            known[(r["vendor_key"],)] = r["id"]
        # Another source created the others meanwhile (ON CONFLICT DO NOTHING): look them up.
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
        plan = insert_plan(binding) if self.bulk and inserts else None
        first_new = len(outcome.stored_ids)
        if plan is not None:
            await self._insert(binding, plan, inserts, outcome)
        elif inserts:
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
        written = outcome.stored_ids[first_new : first_new + len(inserts)]
        await self._dependents(table, written + [u[0] for u in updates])

    async def _dependents(self, table: str, ids: Sequence[int]) -> None:
        """Derived links of other tables that the rows just written feed (links.DEPENDENTS),
        recorded as UPDATED changes of those rows, as the link resolution would."""
        for link, find, update in DEPENDENTS.get(table, ()) if ids else ():
            found = await apply_link(self.conn, find, update, ids)
            if found:
                moves = self.dependent_moves
                moves[(link.table, link.column)] = moves.get((link.table, link.column), 0) + len(
                    found
                )
            by_source: dict[str | None, list[Change]] = {}
            for row in found:
                by_source.setdefault(row["source_id"], []).append(
                    Change(
                        row["id"],
                        row["key"],
                        "UPDATED",
                        {link.column: row["old"]},
                        {link.column: row["new"]},
                    )
                )
            for source, moved in by_source.items():
                await self.record(BY_ENTITY[link.table], moved, source_id=source)

    async def _insert(
        self,
        binding: Binding,
        plan: InsertPlan,
        inserts: list[tuple[Item, dict[str, Any]]],
        outcome: Outcome,
    ) -> None:
        """New rows with their links in one statement (InsertPlan). Inside `transaction`
        that statement writes their history too, and one more stages their outbox rows;
        outside it, the changes are recorded after it."""
        arrays: list[list[Any]] = [[v[c] for _, v in inserts] for c in binding.columns]
        arrays += [[v[src] for _, v in inserts] for src in binding.on_insert.values()]
        arrays.append([i.source_key for i, _ in inserts])
        arrays.append([i.source_updated_at for i, _ in inserts])
        keys = [natural_key(binding, v, i.record) for i, v in inserts]
        arrays.append(keys)
        quiet = self.quiet == binding.entity
        if self.staging:
            if plan.inbox not in self._inbox_used:
                # The inbox is emptied by the commit (ON COMMIT DELETE ROWS): once per batch.
                self._inbox_used.add(plan.inbox)
                if plan.inbox not in self._inbox_ready:
                    await self.conn.execute(plan.inbox_ddl)
                    self._inbox_ready.add(plan.inbox)
                arrays.append(list(range(1, len(inserts) + 1)))
                await self.conn.copy_records_to_table(
                    plan.inbox, records=zip(*arrays, strict=True), columns=plan.inbox_columns
                )
                statement = plan.quiet if quiet else plan.copied
                created = await self.conn.fetch(statement, self.source_id)
            elif quiet:
                created = await self.conn.fetch(plan.sql, self.source_id, *arrays)
            else:
                created = await self.conn.fetch(plan.history, self.source_id, *arrays)
            if len(created) != len(inserts):  # pragma: no cover - joined back on the key
                raise RuntimeError(f"{binding.table}: inserted {len(created)} of {len(inserts)}")
            if not quiet:
                await self.conn.execute(
                    stage_sql(binding),
                    [r["id"] for r in created],
                    [r["h"] for r in created],
                    [r["f"] for r in created],
                    self.source_id,
                )
                self.staged = True
            ids = [0] * len(inserts)
            for row in created:
                ids[row["n"] - 1] = row["id"]
            outcome.stored_ids += ids
            outcome.stored_keys += [i.source_key for i, _ in inserts]
            outcome.created += len(inserts)
            return
        created = await self.conn.fetch(plan.sql, self.source_id, *arrays)
        if len(created) != len(inserts):  # pragma: no cover - joined back on the natural key
            raise RuntimeError(f"{binding.table}: inserted {len(created)} rows of {len(inserts)}")
        ids = [0] * len(inserts)
        for row in created:
            ids[row["n"] - 1] = row["id"]
        changes = []
        for row in created:
            n = row["n"] - 1
            after = dict(inserts[n][1])
            for column, default in zip(plan.links, plan.defaults, strict=True):
                # As resolve_rows records it: a link that moved from what was inserted.
                inserted = after[binding.on_insert[default]] if default else None
                if row[column] != inserted:
                    after[column] = row[column]
            changes.append(Change(row["id"], keys[n], "CREATED", None, after))
        await self.record(binding, changes)
        outcome.stored_ids += ids
        outcome.stored_keys += [i.source_key for i, _ in inserts]
        outcome.created += len(inserts)

    async def delete(self, binding: Binding, ids: Sequence[int]) -> tuple[int, list[int]]:
        """Delete rows of this source; returns (deleted, kept because still referenced)."""
        if not ids:
            return 0, []
        try:
            async with self._savepoint():
                return await self._delete(binding, ids), []
        except asyncpg.ForeignKeyViolationError:
            pass
        deleted, kept = 0, []
        for one in ids:  # find the rows other rows still hang from; delete the rest
            try:
                async with self._savepoint():
                    deleted += await self._delete(binding, [one])
            except asyncpg.ForeignKeyViolationError:
                kept.append(one)
        return deleted, kept

    async def _delete(self, binding: Binding, ids: Sequence[int]) -> int:
        # Recorded before the rows go, inside the caller's savepoint (a row still referred
        # to rolls its record back with it): the recording statement reads the routing,
        # and the parent a row part of another is reported as, from the rows themselves,
        # as for every other change.
        rows = await self.conn.fetch(
            f"SELECT t.id, {binding.key_sql('t')} AS natural_key, "
            f"{', '.join('t.' + c for c in binding.columns)} FROM {binding.table} t "
            "WHERE t.id = ANY($1::int8[]) ORDER BY t.id FOR UPDATE OF t",
            list(ids),
        )
        changes = [
            Change(r["id"], r["natural_key"], "DELETED", {c: r[c] for c in binding.columns}, None)
            for r in rows
        ]
        await self.record(binding, changes)
        gone = await self.conn.fetch(
            f"DELETE FROM {binding.table} WHERE id = ANY($1::int8[]) RETURNING id",
            [r["id"] for r in rows],
        )
        return len(gone)

    # -- history and outbox --------------------------------------------------------------

    async def record(
        self,
        binding: Binding,
        changes: Sequence[Change],
        context: Mapping[int, Routing] | None = None,
        source_id: str | None = None,
    ) -> None:
        """Write the changes to change_history and the outbox (`hub.events.changelog`),
        their outbox rows to the stage inside `transaction`. A baseline load (`quiet`)
        records no CREATED change."""
        if self.quiet == binding.entity:
            changes = [c for c in changes if c.op != "CREATED"]
        if not changes:
            return
        await changelog.record(
            self.conn,
            binding,
            changes,
            context=context,
            source_id=source_id or self.source_id,
            staged=self.staging,
        )
        self.staged = self.staged or self.staging


__all__ = [
    "WRITE_LOCK",
    "Item",
    "Outcome",
    "Resolver",
    "Writer",
    "natural_key",
    "warm_types",
]
