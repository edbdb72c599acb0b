"""The sync benchmark: the sync engine against COPY and UPDATE floors measured in the same run.

    .venv/bin/python -m bench.sync [--scale province|small] [--quick] [--changes N]

One run generates the demo legacy estate (`estate.generate.generate_estate`: e-planning and
procurement databases on PostgreSQL, finance on MariaDB when it answers, else SQLite files,
e-Monev workbooks) and measures, in the same process:

1. **Initial sync** of every source into a fresh migrated store (`SyncEngine.sync()`),
   against a *read-only pass* over the same sources (adapter streams and
   `mapping.record()` per row, nothing written) and the *floor*: the canonical rows the sync
   stored, read back and written with asyncpg's `copy_records_to_table` into a second fresh
   migrated store, in foreign-key order.
2. **Incremental sync** of N changes made directly in the legacy sources (default 1,000:
   half SP2D amounts in bpkad-53, 30% RUP pagu in bpbj-53, 20% sub kegiatan pagu in
   bappeda-53, each with its watermark bumped), against an *idle* sync (nothing changed: the
   fixed cost of polling every source) and the *floor*: the same updates applied to the
   floor store with one `UPDATE … FROM unnest(...)` per table.

It checks that the incremental sync wrote exactly one history row and one outbox row per
change and that the new values are in the store (exit 1 otherwise), prints the results as a
table with a short interpretation, and drops every database it created.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomysql
import asyncpg
from asyncpg.connection import LoggedQuery

from adapters.base import Adapter, open_adapter
from adapters.field_rules import RecordError
from adapters.mapping import Config, EntityMapping, SourceMapping, load_config
from estate.generate import EstateResult, generate_estate
from estate.writers import (
    drop_mariadb_database,
    drop_pg_database,
    mysql_kwargs,
    pg_dsn,
    with_database,
)
from hub.discrepancies.engine import DiscrepancyEngine
from hub.migrate import run_async
from hub.settings import Settings
from hub.store.models import metadata
from hub.sync import SourceReport, SyncEngine, SyncProgress
from hub.sync.bindings import BY_ENTITY, WAVE_OF_ENTITY
from hub.sync.links import STATEMENTS
from hub.sync.relink import resolve_links
from hub.sync.streams import SOURCE_TIMEZONE, stream_id
from hub.tuning import tune_gc

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_MARIADB_URL = "mysql://root@127.0.0.1:3306"
PROVINCE = "53"  # flavour A; the changes are made in its sources
CONCURRENCY = 3  # SyncEngine's default: sources synced at once
IDLE_RUNS = 3
BUMP = Decimal(1000)  # rupiah added to every changed amount
# Not canonical rows: the sync's own bookkeeping (history and outbox get a floor line
# apart) and the hub's own state (single-row tables that migrations create, keys, audit).
BOOKKEEPING = (
    "change_history",
    "outbox",
    "sync_state",
    "sync_pending",
    "outbox_horizon",
    "discrepancy_state",
    "api_key",
    "audit_log",
    # The reference data, loaded by the migrations into both stores (migration 0010).
    "reference_edition",
    "reference_region",
    "nomenclature",
)


@dataclass(frozen=True)
class ChangePlan:
    system: str  # source id is f"{system}-53"
    entity: str
    field: str  # canonical field: the mapping's field name and the store column
    share: float


def link_labels() -> dict[str, str]:
    """The SQL of hub.sync.relink's statements → the link they compute ("table.column")."""
    labels: dict[str, str] = {}
    for link, *statements in STATEMENTS:  # one statement per link, or find + update
        for sql in statements:
            labels[sql] = f"{link.table}.{link.column}"
    return labels


LINK_LABELS = link_labels()


def plain_resolve_links() -> bool:
    """Whether SyncEngine.resolve_links is still just `relink.resolve_links(conn)`."""
    try:
        body = inspect.getsource(SyncEngine.resolve_links)
    except (OSError, TypeError):
        return False
    # Plain: one call into relink, then at most the broker wake-up (not a statement).
    calls = body.count("await ") - body.count("await self._wake()")
    return calls == 1 and "await resolve_links(conn, force=force)" in body


PLAIN_RESOLVE_LINKS = plain_resolve_links()

CHANGES = (
    ChangePlan("bpkad", "payment", "amount", 0.5),
    ChangePlan("bpbj", "procurement_package", "ceiling", 0.3),
    ChangePlan("bappeda", "sub_activity", "planned_amount", 0.2),
)


class BenchFailure(Exception):
    """The sync did not do what it must (a source DOWN, changes not recorded one for one)."""


# --------------------------------------------------------------------------- databases


def db_url(admin_url: str, database: str) -> str:
    """SQLAlchemy URL (migrations, SyncEngine) of `database` on the admin URL's server."""
    return with_database(admin_url, database, "postgresql+asyncpg")


def dsn(admin_url: str, database: str) -> str:
    return pg_dsn(with_database(admin_url, database, "postgresql"))


async def create_store(admin_url: str, database: str) -> str:
    conn = await asyncpg.connect(pg_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    url = db_url(admin_url, database)
    await run_async(url, "upgrade", "head")
    return url


async def mariadb_reachable(url: str) -> str | None:
    """The server's version, or None when nothing answers at `url`."""
    try:
        conn = await aiomysql.connect(**{**mysql_kwargs(url), "connect_timeout": 3})
    except Exception:
        return None
    try:
        cur = await conn.cursor()
        await cur.execute("SELECT VERSION()")
        row = await cur.fetchone()
        await cur.close()
        return str(row[0]) if row else "?"
    finally:
        conn.close()


async def drop_everything(admin_url: str, mariadb_url: str | None, prefix: str) -> list[str]:
    """Drop every PostgreSQL and MariaDB database named `<prefix>_*`; returns their names."""
    dropped: list[str] = []
    conn = await asyncpg.connect(pg_dsn(admin_url))
    try:
        names = [r[0] for r in await conn.fetch("SELECT datname FROM pg_database")]
    finally:
        await conn.close()
    for name in names:
        if name.startswith(prefix + "_"):
            await drop_pg_database(admin_url, name)
            dropped.append(name)
    if mariadb_url is not None:
        maria = await aiomysql.connect(**mysql_kwargs(mariadb_url))
        try:
            cur = await maria.cursor()
            await cur.execute("SHOW DATABASES")
            schemas = [str(r[0]) for r in await cur.fetchall()]
            await cur.close()
        finally:
            maria.close()
        for name in schemas:
            if name.startswith(prefix + "_"):
                await drop_mariadb_database(mariadb_url, name)
                dropped.append(f"mariadb:{name}")
    return dropped


# --------------------------------------------------------------------------- the sync, timed


class TimedEngine(SyncEngine):
    """The real SyncEngine, noting when each source starts and each of its streams ends
    (streams of one source run one after another), and how long link resolution and each
    of its statements take."""

    def __init__(self, database_url: str, config: Config) -> None:
        # The engine alone, not hub.jobs.SyncJob: the ketimpangan rules are timed on their
        # own (below), not inside the sync.
        super().__init__(database_url, config, concurrency=CONCURRENCY, on_progress=self.note)
        self.last: dict[str, float] = {}
        self.streams: dict[tuple[str, str], float] = {}  # (source, stream) → seconds
        self.tails: dict[str, float] = {}  # after the last stream: deletes, retries, health
        self.link_seconds = 0.0
        self.link_statements: dict[str, float] = defaultdict(float)  # link → seconds

    async def __aenter__(self) -> TimedEngine:
        await super().__aenter__()
        return self

    def reset(self) -> None:
        self.last.clear()
        self.streams.clear()
        self.tails.clear()
        self.link_seconds = 0.0
        self.link_statements = defaultdict(float)

    def note(self, event: SyncProgress) -> None:
        if event.done:
            now = time.perf_counter()
            self.streams[(event.source, event.stream)] = now - self.last[event.source]
            self.last[event.source] = now

    async def sync_source(
        self, source: SourceMapping, *, full: bool = False, reconcile: bool = False
    ) -> SourceReport:
        self.last[source.id] = time.perf_counter()
        report = await super().sync_source(source, full=full, reconcile=reconcile)
        self.tails[source.id] = time.perf_counter() - self.last[source.id]
        return report

    def log_query(self, query: LoggedQuery) -> None:
        label = LINK_LABELS.get(query.query, "(locks, history, outbox)")
        self.link_statements[label] += query.elapsed

    async def resolve_links(self, *, force: bool = False) -> int:
        """SyncEngine.resolve_links, timed; per statement while the engine's own method only
        hands a pooled connection to hub.sync.relink (the bench then does the same, with a
        query logger on that connection); otherwise the engine's method, as a whole."""
        started = time.perf_counter()
        try:
            if not PLAIN_RESOLVE_LINKS:
                return await super().resolve_links(force=force)
            async with self.pool.acquire() as conn:
                conn.add_query_logger(self.log_query)
                try:
                    return await resolve_links(conn, force=force)
                finally:
                    conn.remove_query_logger(self.log_query)
        finally:
            self.link_seconds += time.perf_counter() - started


@dataclass
class SyncRun:
    seconds: float
    reports: list[SourceReport]
    streams: dict[tuple[str, str], float]
    tails: dict[str, float]
    link_seconds: float
    link_statements: dict[str, float]
    # CPU seconds: this process (time.process_time), and the PostgreSQL and MariaDB server
    # processes of this machine as a whole (`server_cpu`: other work on them included).
    cpu: float = 0.0
    servers: dict[str, float] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return sum(s.read for r in self.reports for s in r.streams)

    @property
    def updated(self) -> int:
        return sum(s.updated for r in self.reports for s in r.streams)

    def check_up(self) -> None:
        down = [f"{r.source}: {r.error}" for r in self.reports if r.status in ("DOWN", "BUSY")]
        if down:
            raise BenchFailure("sources failed to sync:\n  " + "\n  ".join(down))


def server_cpu() -> dict[str, float]:
    """CPU seconds used so far by the database servers of this machine, read from /proc:
    every live `postgres` process plus what the postmaster reaped from its ended children
    (a source connection closed at the end of a sync is one), and `mariadbd`/`mysqld`.
    Empty where /proc cannot tell (another machine, another OS)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[str, tuple[str, list[str]]] = {}
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # After the name: state, ppid, …; utime, stime, cutime, cstime are 11-14.
        procs[pid] = (
            stat[stat.index("(") + 1 : stat.rindex(")")],
            stat[stat.rindex(")") + 2 :].split(),
        )
    totals: dict[str, float] = {}
    for name, fields in procs.values():
        used = sum(int(v) for v in fields[11:13])
        if name == "postgres":
            if procs.get(fields[1], ("",))[0] != "postgres":  # the postmaster
                used += sum(int(v) for v in fields[13:15])
            totals["postgresql"] = totals.get("postgresql", 0.0) + used / tick
        elif name in ("mariadbd", "mysqld"):
            totals["mariadb"] = totals.get("mariadb", 0.0) + used / tick
    return totals


async def timed_sync(engine: TimedEngine) -> SyncRun:
    engine.reset()
    servers = server_cpu()
    cpu = time.process_time()
    started = time.perf_counter()
    reports = await engine.sync()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    after = server_cpu()
    return SyncRun(
        seconds,
        reports,
        dict(engine.streams),
        dict(engine.tails),
        engine.link_seconds,
        dict(engine.link_statements),
        cpu,
        {k: after[k] - servers.get(k, 0.0) for k in after},
    )


# --------------------------------------------------------------------------- read only


@dataclass
class ReadPass:
    seconds: float = 0.0
    rows: int = 0
    records: int = 0
    bad: int = 0  # rows mapping.record() refused (the sync parks them in sync_pending)
    streams: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)


def waves(sources: Sequence[SourceMapping]) -> list[list[SourceMapping]]:
    """Sources grouped as SyncEngine.sync() runs them: the Pemda list, the plan, the rest."""
    by_wave: dict[int, list[SourceMapping]] = defaultdict(list)
    for source in sources:
        wave = min((WAVE_OF_ENTITY.get(e.spec.name, 2) for e in source.entities), default=2)
        by_wave[wave].append(source)
    return [by_wave[w] for w in sorted(by_wave)]


async def read_stream(adapter: Adapter, mapping: EntityMapping, result: ReadPass) -> int:
    """What the engine does with a stream before it writes: rows → source keys and records."""
    watermark = mapping.query.watermark
    rows = 0
    async for batch in adapter.stream(mapping.query, since=None):
        for row in batch.rows:
            mapping.source_key(row)
            if watermark:
                row.get(watermark)
            try:
                mapping.record(row)
                result.records += 1
            except RecordError:
                result.bad += 1
        rows += len(batch.rows)
    return rows


async def read_everything(config: Config) -> ReadPass:
    """Every stream of every source read and mapped, as the engine schedules sources."""
    result = ReadPass()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(source: SourceMapping) -> None:
        async with gate:
            last = time.perf_counter()  # the first stream includes opening, as in the engine
            adapter = open_adapter(source.config)
            await adapter.open()
            try:
                for index, mapping in enumerate(source.entities):
                    rows = await read_stream(adapter, mapping, result)
                    now = time.perf_counter()
                    result.streams[(source.id, stream_id(mapping, index))] = (rows, now - last)
                    result.rows += rows
                    last = now
            finally:
                await adapter.close()

    started = time.perf_counter()
    for wave in waves(config.sources):
        async with asyncio.TaskGroup() as group:
            for source in wave:
                group.create_task(one(source))
    result.seconds = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------- COPY floor


@dataclass
class TableData:
    name: str
    columns: list[str]
    records: list[tuple[Any, ...]]


@dataclass
class CopyFloor:
    seconds: float  # canonical rows (and the few source rows they reference)
    rows: int
    tables: int
    bookkeeping_seconds: float  # change_history and outbox, copied after
    bookkeeping_rows: int


async def read_tables(conn: asyncpg.Connection, names: Sequence[str]) -> list[TableData]:
    out = []
    for name in names:
        order = " ORDER BY id" if "id" in metadata.tables[name].c else ""
        rows = await conn.fetch(f"SELECT * FROM {name}{order}")
        if rows:
            out.append(TableData(name, list(rows[0].keys()), [tuple(r) for r in rows]))
    return out


async def copy_floor(store_dsn: str, floor_dsn: str, *, analyze: bool) -> CopyFloor:
    """The rows the sync stored, COPYed into the floor store in foreign-key order."""
    canonical = [t.name for t in metadata.sorted_tables if t.name not in BOOKKEEPING]
    store = await asyncpg.connect(store_dsn)
    try:
        tables = await read_tables(store, canonical)
        bookkeeping = await read_tables(store, ["change_history", "outbox"])
    finally:
        await store.close()
    # source.owner_opd_id points at opd, which comes after source: insert the sources
    # without it and set it once the OPDs are in (a dozen rows; nothing is disabled).
    owners: list[tuple[str, int]] = []
    for table in tables:
        if table.name == "source":
            i, o = table.columns.index("id"), table.columns.index("owner_opd_id")
            owners = [(r[i], r[o]) for r in table.records if r[o] is not None]
            table.records = [(*r[:o], None, *r[o + 1 :]) for r in table.records]
    floor = await asyncpg.connect(floor_dsn)
    try:
        # The migrations made the `reference` source in both stores: the floor has it.
        present = {r[0] for r in await floor.fetch("SELECT id FROM source")}
        for table in tables:
            if table.name == "source":
                i = table.columns.index("id")
                table.records = [r for r in table.records if r[i] not in present]
        started = time.perf_counter()
        async with floor.transaction():
            for table in tables:
                await floor.copy_records_to_table(
                    table.name, records=table.records, columns=table.columns
                )
            if owners:
                await floor.execute(
                    "UPDATE source s SET owner_opd_id = v.o "
                    "FROM unnest($1::text[], $2::int8[]) AS v(id, o) WHERE s.id = v.id",
                    [s for s, _ in owners],
                    [o for _, o in owners],
                )
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        async with floor.transaction():
            for table in bookkeeping:
                await floor.copy_records_to_table(
                    table.name, records=table.records, columns=table.columns
                )
        bookkeeping_seconds = time.perf_counter() - started
        if analyze:  # as the store was
            await floor.execute("ANALYZE")
    finally:
        await floor.close()
    return CopyFloor(
        seconds,
        sum(len(t.records) for t in tables),
        len(tables),
        bookkeeping_seconds,
        sum(len(t.records) for t in bookkeeping),
    )


# --------------------------------------------------------------------------- legacy edits


class LegacyDb:
    """One legacy database of the estate, opened read-write for the bench's edits."""

    def __init__(self, source: SourceMapping, estate: EstateResult) -> None:
        self.source = source
        self.estate = estate
        self.kind = source.kind
        self.pg: asyncpg.Connection | None = None
        self.maria: Any = None
        self.lite: sqlite3.Connection | None = None

    async def __aenter__(self) -> LegacyDb:
        url = self.source.config.url or ""
        if self.kind == "postgresql":
            self.pg = await asyncpg.connect(pg_dsn(url))
        elif self.kind in ("mariadb", "mysql"):
            database = unquote(urlsplit(url).path.lstrip("/"))
            self.maria = await aiomysql.connect(**mysql_kwargs(url), db=database)
        elif self.kind == "sqlite":
            name = Path(urlsplit(url).path).name
            path = next(p for p in self.estate.sqlite_files if p.name == name)
            self.lite = sqlite3.connect(path)
            self.lite.row_factory = sqlite3.Row
        else:
            raise BenchFailure(f"{self.source.id}: cannot edit a {self.kind} source")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.pg is not None:
            await self.pg.close()
        if self.maria is not None:
            self.maria.close()
        if self.lite is not None:
            self.lite.close()

    def quote(self, name: str) -> str:
        return f"`{name}`" if self.maria is not None else f'"{name}"'

    def param(self, index: int) -> str:
        if self.pg is not None:
            return f"${index}"
        return "%s" if self.maria is not None else "?"

    async def fetch(self, sql: str) -> list[dict[str, Any]]:
        if self.pg is not None:
            return [dict(r) for r in await self.pg.fetch(sql)]
        if self.maria is not None:
            cur = await self.maria.cursor(aiomysql.DictCursor)
            await cur.execute(sql)
            rows = [dict(r) for r in await cur.fetchall()]
            await cur.close()
            return rows
        assert self.lite is not None
        return [dict(r) for r in self.lite.execute(sql).fetchall()]

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if self.pg is not None:
            await self.pg.executemany(sql, rows)
        elif self.maria is not None:
            cur = await self.maria.cursor()
            await cur.executemany(sql, rows)
            await cur.close()
            await self.maria.commit()
        else:
            assert self.lite is not None
            self.lite.executemany(sql, rows)
            self.lite.commit()

    def value(self, value: Any) -> Any:
        """A Decimal or datetime as this database's driver takes it."""
        if self.lite is None:
            return value
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else str(value)
        return value


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise BenchFailure(f"watermark {value!r} is not a timestamp; pick another table")


@dataclass
class Change:
    key: tuple[Any, ...]  # the legacy row's key columns (the mapping's source key)
    store_id: int
    legacy_value: Decimal
    expected: Decimal  # what the store must hold after the sync
    mark: datetime | None  # the row's new watermark


@dataclass
class Target:
    plan: ChangePlan
    source: SourceMapping
    mapping: EntityMapping
    changes: list[Change] = field(default_factory=list)

    @property
    def table(self) -> str:
        assert self.mapping.query.table is not None
        return self.mapping.query.table

    @property
    def column(self) -> str:
        column = self.mapping.fields[self.plan.field].column
        if column is None:
            raise BenchFailure(f"{self.source.id}: {self.plan.field} is not a plain column")
        return column

    @property
    def store_table(self) -> str:
        return BY_ENTITY[self.plan.entity].table


def split(total: int) -> list[int]:
    counts = [round(total * p.share) for p in CHANGES[:-1]]
    return [*counts, total - sum(counts)]


async def plan_changes(
    config: Config, estate: EstateResult, store: asyncpg.Connection, total: int
) -> list[Target]:
    """Pick rows spread over each table: a unique source key, stored by the initial sync."""
    targets = []
    by_id = {s.id: s for s in config.sources}
    for plan, count in zip(CHANGES, split(total), strict=True):
        source = by_id[f"{plan.system}-{PROVINCE.replace('.', '')}"]
        mapping = next(m for m in source.entities if m.spec.name == plan.entity)
        target = Target(plan, source, mapping)
        stored = {
            r["source_key"]: (r["id"], r[plan.field])
            for r in await store.fetch(
                f"SELECT id, source_key, {plan.field} FROM {target.store_table} "
                "WHERE source_id = $1",
                source.id,
            )
        }
        async with LegacyDb(source, estate) as db:
            wanted = dict.fromkeys([*mapping.key_columns, target.column])
            rows = await db.fetch(
                f"SELECT {', '.join(db.quote(c) for c in wanted)} FROM {db.quote(target.table)}"
            )
            seen = Counter(mapping.source_key(r) for r in rows)
            candidates = sorted(
                (mapping.source_key(r), r)
                for r in rows
                if seen[mapping.source_key(r)] == 1 and mapping.source_key(r) in stored
            )
            if len(candidates) < count:
                raise BenchFailure(
                    f"{source.id}.{target.table}: only {len(candidates)} rows to change, "
                    f"{count} asked (use --changes)"
                )
            top: datetime | None = None
            watermark = mapping.query.watermark
            if watermark:
                found = await db.fetch(
                    f"SELECT MAX({db.quote(watermark)}) AS top FROM {db.quote(target.table)}"
                )
                top = as_datetime(found[0]["top"])
            step = len(candidates) / count
            for i in range(count):
                key, row = candidates[int(i * step)]
                store_id, old = stored[key]
                target.changes.append(
                    Change(
                        tuple(row[c] for c in mapping.key_columns),
                        store_id,
                        Decimal(str(row[target.column])) + BUMP,
                        old + BUMP,
                        None if top is None else top + timedelta(seconds=i + 1),
                    )
                )
        targets.append(target)
    return targets


async def apply_to_legacy(targets: Sequence[Target], estate: EstateResult) -> None:
    """The changes, made in the legacy databases with strictly increasing watermarks."""
    for target in targets:
        async with LegacyDb(target.source, estate) as db:
            watermark = target.mapping.query.watermark
            sets = [target.column] + ([watermark] if watermark else [])
            names = [*sets, *target.mapping.key_columns]
            assignments = ", ".join(
                f"{db.quote(c)} = {db.param(i + 1)}" for i, c in enumerate(sets)
            )
            where = " AND ".join(
                f"{db.quote(c)} = {db.param(len(sets) + i + 1)}"
                for i, c in enumerate(names[len(sets) :])
            )
            rows = [
                (
                    db.value(c.legacy_value),
                    *([db.value(c.mark)] if watermark else []),
                    *c.key,
                )
                for c in target.changes
            ]
            await db.execute_many(
                f"UPDATE {db.quote(target.table)} SET {assignments} WHERE {where}", rows
            )


async def update_floor(floor_dsn: str, targets: Sequence[Target]) -> float:
    """The same changes on the floor store: one UPDATE … FROM unnest per table."""
    conn = await asyncpg.connect(floor_dsn)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            for t in targets:
                status = await conn.execute(
                    f"UPDATE {t.store_table} t SET {t.plan.field} = v.value, "
                    "source_updated_at = v.at, synced_at = now() "
                    "FROM unnest($1::int8[], $2::numeric[], $3::timestamptz[]) AS v(id, value, at) "
                    "WHERE t.id = v.id",
                    [c.store_id for c in t.changes],
                    [c.expected for c in t.changes],
                    [c.mark.replace(tzinfo=SOURCE_TIMEZONE) if c.mark else None for c in t.changes],
                )
                if status != f"UPDATE {len(t.changes)}":
                    raise BenchFailure(f"floor update of {t.store_table}: {status}")
        return time.perf_counter() - started
    finally:
        await conn.close()


# --------------------------------------------------------------------------- checks


async def high_water(conn: asyncpg.Connection) -> tuple[int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT COALESCE(max(id), 0) FROM change_history), "
        "(SELECT COALESCE(max(id), 0) FROM outbox)"
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def written_since(
    conn: asyncpg.Connection, mark: tuple[int, int]
) -> tuple[int, int, dict[tuple[str, str], int]]:
    """History rows, outbox rows, and history rows per (entity, op) after `mark`."""
    history = await conn.fetch(
        "SELECT entity, op, count(*) AS n FROM change_history WHERE id > $1 GROUP BY 1, 2",
        mark[0],
    )
    outbox = await conn.fetchval("SELECT count(*) FROM outbox WHERE id > $1", mark[1])
    by = {(r["entity"], r["op"]): int(r["n"]) for r in history}
    return sum(by.values()), int(outbox), by


async def check_changes(
    conn: asyncpg.Connection, mark: tuple[int, int], targets: Sequence[Target], run: SyncRun
) -> list[str]:
    """Exactly one history and one outbox row per change, and every new value stored."""
    total = sum(len(t.changes) for t in targets)
    history, outbox, by = await written_since(conn, mark)
    problems = []
    if history != total:
        problems.append(f"{history} change_history rows for {total} changes: {by}")
    if outbox != total:
        problems.append(f"{outbox} outbox rows for {total} changes")
    if run.updated != total:
        problems.append(f"the reports count {run.updated} updated rows for {total} changes")
    for t in targets:
        if by.get((t.plan.entity, "UPDATED"), 0) != len(t.changes):
            problems.append(
                f"{t.plan.entity}: {by.get((t.plan.entity, 'UPDATED'), 0)} UPDATED history "
                f"rows for {len(t.changes)} changes"
            )
        rows = await conn.fetch(
            f"SELECT id, {t.plan.field} AS v FROM {t.store_table} WHERE id = ANY($1::int8[])",
            [c.store_id for c in t.changes],
        )
        stored = {r["id"]: r["v"] for r in rows}
        wrong = [c for c in t.changes if stored.get(c.store_id) != c.expected]
        if wrong:
            c = wrong[0]
            problems.append(
                f"{t.store_table}: {len(wrong)} rows without their new {t.plan.field}, e.g. "
                f"id {c.store_id}: {stored.get(c.store_id)} instead of {c.expected}"
            )
    return problems


async def canonical_rows(conn: asyncpg.Connection) -> int:
    names = [t.name for t in metadata.sorted_tables if t.name not in (*BOOKKEEPING, "source")]
    counts = " UNION ALL ".join(f"SELECT count(*) FROM {n}" for n in names)
    return int(await conn.fetchval(f"SELECT sum(count) FROM ({counts}) c"))


# --------------------------------------------------------------------------- the run


@dataclass
class Results:
    estate_seconds: float = 0.0
    sources: dict[str, int] = field(default_factory=dict)  # kind → count
    read: ReadPass = field(default_factory=ReadPass)
    initial: SyncRun | None = None
    stored: int = 0
    pending: int = 0
    history_initial: int = 0
    floor: CopyFloor | None = None
    idle: list[SyncRun] = field(default_factory=list)
    idle_written: list[int] = field(default_factory=list)
    changes: int = 0
    split: dict[str, int] = field(default_factory=dict)
    incremental: SyncRun | None = None
    history: int = 0
    outbox: int = 0
    update_seconds: float = 0.0
    analyze_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def step(text: str) -> None:
    print(f"... {text}", flush=True)


async def run(args: argparse.Namespace, out: Results, names: dict[str, str]) -> None:
    admin = args.pg_url
    data_dir = Path(names["data_dir"])
    prefix = names["prefix"]
    started = time.perf_counter()
    estate = await generate_estate(
        data_dir,
        scale=args.scale,
        seed=args.seed,
        pg_url=admin,
        mariadb_url=args.mariadb_url,
        db_prefix=prefix,
    )
    out.estate_seconds = time.perf_counter() - started
    config = load_config(estate.config)
    out.sources = dict(Counter(s.kind for s in config.sources))
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(out.sources.items()))
    print(
        f"estate: scale {args.scale}, seed {args.seed}, {len(config.sources)} sources ({kinds}), "
        f"{num(sum(estate.counts.values()))} canonical rows in the manifest, generated in "
        f"{secs(out.estate_seconds)} (databases {prefix}_*)",
        flush=True,
    )
    threshold = Settings().gc_threshold
    if threshold:
        tune_gc(threshold)
    print(
        f"engine: SyncEngine concurrency {CONCURRENCY} (its default), plain asyncio loop and GC "
        f"threshold {threshold or 'of Python'} as `rantai sync` runs it"
        + (
            "; --analyze: both stores are ANALYZEd after the initial load, before the "
            "incremental part"
            if args.analyze
            else ""
        ),
        flush=True,
    )
    store_url = await create_store(admin, f"{prefix}_store")
    await create_store(admin, f"{prefix}_floor")
    store_dsn, floor_dsn = dsn(admin, f"{prefix}_store"), dsn(admin, f"{prefix}_floor")

    # Read only first: the sync then finds the legacy data as warm as this pass did.
    out.read = await read_everything(config)
    step(f"read-only pass: {num(out.read.rows)} rows in {secs(out.read.seconds)}")

    async with TimedEngine(store_url, config) as engine:
        out.initial = await timed_sync(engine)
        out.initial.check_up()
        step(
            f"initial sync: {num(out.initial.read)} rows in {secs(out.initial.seconds)}, "
            f"of which link resolution {secs(out.initial.link_seconds)}"
        )
        conn = await asyncpg.connect(store_dsn)
        try:
            out.stored = await canonical_rows(conn)
            out.pending = int(await conn.fetchval("SELECT count(*) FROM sync_pending"))
            out.history_initial = int(await conn.fetchval("SELECT count(*) FROM change_history"))
            if args.analyze:
                started = time.perf_counter()
                await conn.execute("ANALYZE")
                out.analyze_seconds = time.perf_counter() - started
                step(f"ANALYZE of the store: {secs(out.analyze_seconds)} (not timed in any sync)")
            rules = await DiscrepancyEngine().run(conn, full=True)
            step(
                f"ketimpangan rules in full: {rules.rules} rules on {rules.partitions} "
                "Pemda-years, "
                f"{num(rules.raised)} found in {secs(rules.seconds)} (not part of the sync times)"
            )
            out.floor = await copy_floor(store_dsn, floor_dsn, analyze=args.analyze)
            step(f"floor COPY: {num(out.floor.rows)} rows in {secs(out.floor.seconds)}")

            for _ in range(IDLE_RUNS):
                mark = await high_water(conn)
                idle = await timed_sync(engine)
                idle.check_up()
                out.idle.append(idle)
                written, _, by = await written_since(conn, mark)
                out.idle_written.append(written)
                if written:
                    out.problems.append(f"an idle sync wrote {written} history rows: {by}")
            step("idle syncs: " + ", ".join(secs(r.seconds) for r in out.idle))
            step("idle syncs' CPU: " + "; ".join(cpu_text(r) for r in out.idle))

            targets = await plan_changes(config, estate, conn, args.changes)
            out.changes = sum(len(t.changes) for t in targets)
            out.split = {f"{t.source.id} {t.table}": len(t.changes) for t in targets}
            await apply_to_legacy(targets, estate)
            mark = await high_water(conn)
            out.incremental = await timed_sync(engine)
            out.incremental.check_up()
            out.history, out.outbox, _ = await written_since(conn, mark)
            out.problems += await check_changes(conn, mark, targets, out.incremental)
            step(
                f"incremental sync: {num(out.changes)} changes in "
                f"{secs(out.incremental.seconds)}, of which link resolution "
                f"{secs(out.incremental.link_seconds)}"
            )
            rules = await DiscrepancyEngine().run(conn)
            step(
                f"ketimpangan rules after it: {rules.rules} rules on {rules.partitions} "
                f"Pemda-years in {secs(rules.seconds)} ({rules.raised} raised, "
                f"{rules.resolved} resolved)"
            )
        finally:
            await conn.close()
    out.update_seconds = await update_floor(floor_dsn, targets)
    step(f"floor UPDATE: {num(out.changes)} changes in {secs(out.update_seconds)}")


# --------------------------------------------------------------------------- printing


def cpu_text(run: SyncRun) -> str:
    servers = ", ".join(f"{k} {secs(v)}" for k, v in sorted(run.servers.items()))
    return f"this process {secs(run.cpu)}" + (f", servers {servers}" if servers else "")


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def num(n: float) -> str:
    return f"{n:,.0f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> None:
    """A plain text table; the first `left` columns are left-aligned, the rest right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def report(args: argparse.Namespace, out: Results, versions: dict[str, str]) -> None:
    initial, floor, inc = out.initial, out.floor, out.incremental
    assert initial is not None
    assert floor is not None
    assert inc is not None
    idle = statistics.median(r.seconds for r in out.idle)
    write_side = initial.seconds - out.read.seconds
    marginal = inc.seconds - idle
    rows = initial.read
    print()
    print("Initial sync into an empty store")
    table(
        ["measurement", "time", "rows", "rows/s", "ratio"],
        [
            [
                "sync: SyncEngine.sync(), reads the sources and writes the store",
                secs(initial.seconds),
                num(rows),
                num(rows / initial.seconds),
                f"{initial.seconds / floor.seconds:.1f}x COPY",
            ],
            [
                "  of which link resolution after the sources (hub/sync/relink.py)",
                secs(initial.link_seconds),
                "",
                "",
                f"{initial.link_seconds / initial.seconds:.0%} of sync",
            ],
            [
                "read only: adapter streams + mapping.record(), no store",
                secs(out.read.seconds),
                num(out.read.rows),
                num(out.read.rows / out.read.seconds),
                f"{out.read.seconds / initial.seconds:.0%} of sync",
            ],
            [
                "write side: sync - read only",
                secs(write_side),
                num(rows),
                num(rows / write_side) if write_side > 0 else "-",
                f"{write_side / floor.seconds:.1f}x COPY",
            ],
            [
                "floor: COPY the stored canonical rows (asyncpg, FK order)",
                secs(floor.seconds),
                num(floor.rows),
                num(floor.rows / floor.seconds),
                "1.0x",
            ],
            [
                "  + COPY the sync's change_history and outbox rows",
                secs(floor.bookkeeping_seconds),
                num(floor.bookkeeping_rows),
                num(floor.bookkeeping_rows / floor.bookkeeping_seconds),
                f"{(floor.seconds + floor.bookkeeping_seconds) / floor.seconds:.1f}x together",
            ],
        ],
    )
    print(
        "rows: source rows read (sum of StreamReport.read); the store then holds "
        f"{num(out.stored)} canonical rows, {num(out.pending)} source rows wait in "
        f"sync_pending, and the sync wrote {num(out.history_initial)} change_history rows "
        "(as many outbox rows). The sync's time includes reading the legacy sources "
        "(PostgreSQL, MariaDB/SQLite, XLSX); the COPY's does not."
        + (
            f" --analyze: ANALYZE of the store after it, {secs(out.analyze_seconds)}."
            if args.analyze
            else ""
        )
    )
    print()
    print(f"Incremental sync of {num(out.changes)} changes made in the legacy sources")
    table(
        ["measurement", "time", "changes", "changes/s", "ratio"],
        [
            [
                "sync: SyncEngine.sync() after the changes",
                secs(inc.seconds),
                num(out.changes),
                num(out.changes / inc.seconds),
                f"{inc.seconds / idle:.1f}x idle",
            ],
            [
                "  of which link resolution (runs after any change)",
                secs(inc.link_seconds),
                "",
                "",
                f"{inc.link_seconds / inc.seconds:.0%} of sync",
            ],
            [
                f"idle: SyncEngine.sync() with no change (median of {len(out.idle)})",
                secs(idle),
                "0",
                "-",
                "1.0x",
            ],
            [
                "above idle: sync - idle",
                secs(marginal),
                num(out.changes),
                num(out.changes / marginal) if marginal > 0 else "-",
                f"{marginal / out.update_seconds:.0f}x UPDATE",
            ],
            [
                "floor: one UPDATE ... FROM unnest per table (asyncpg)",
                secs(out.update_seconds),
                num(out.changes),
                num(out.changes / out.update_seconds),
                "1x",
            ],
        ],
    )
    print(
        "changes: "
        + ", ".join(f"{n} in {where}" for where, n in out.split.items())
        + f"; the sync wrote {num(out.history)} change_history and {num(out.outbox)} outbox "
        f"rows. Idle runs: {', '.join(secs(r.seconds) for r in out.idle)}, each reading "
        f"{num(out.idle[0].read)} rows (keyed-diff sources) and resolving no link. "
        "Their CPU: " + "; ".join(cpu_text(r) for r in out.idle) + " (servers: the whole "
        "PostgreSQL and MariaDB processes of this machine, other work on them included)."
    )
    print()
    print("Link resolution per statement (hub/sync/links.py LINKS), slowest first")
    if not PLAIN_RESOLVE_LINKS:
        print("(not measured: SyncEngine.resolve_links does more than hub.sync.relink now)")
    labels = sorted(
        initial.link_statements.keys() | inc.link_statements.keys(),
        key=lambda k: -(initial.link_statements.get(k, 0.0) + inc.link_statements.get(k, 0.0)),
    )
    shown_links = labels[:6]
    table(
        ["statement", "initial sync", "incremental"],
        [
            [k, secs(initial.link_statements.get(k, 0.0)), secs(inc.link_statements.get(k, 0.0))]
            for k in shown_links
        ]
        + [
            [
                f"{len(labels) - len(shown_links)} others",
                secs(sum(initial.link_statements.get(k, 0.0) for k in labels[6:])),
                secs(sum(inc.link_statements.get(k, 0.0) for k in labels[6:])),
            ]
        ],
    )
    print()
    print("Where the initial sync's time goes, per stream (slowest first)")
    streams = []
    for r in initial.reports:
        for st in r.streams:
            seconds = initial.streams.get((r.source, st.stream), 0.0)
            _, read_seconds = out.read.streams.get((r.source, st.stream), (0, 0.0))
            streams.append((seconds, r.source, st, read_seconds))
    streams.sort(key=lambda x: -x[0])
    shown = streams[: 12 if args.scale != "small" else 8]
    table(
        ["source", "stream", "mode", "rows", "sync", "rows/s", "read only", "sync - read"],
        [
            [
                source,
                st.stream,
                st.mode,
                num(st.read),
                secs(seconds),
                num(st.read / seconds) if seconds else "-",
                secs(read_seconds),
                secs(seconds - read_seconds),
            ]
            for seconds, source, st, read_seconds in shown
        ],
        left=3,
    )
    rest = streams[len(shown) :]
    print(
        f"{len(rest)} other streams: {secs(sum(x[0] for x in rest))}; after the streams "
        f"(deletes, waiting rows, health), all sources: {secs(sum(initial.tails.values()))}. "
        f"Stream times overlap ({CONCURRENCY} sources at once) and include waiting for the CPU."
    )
    print()
    interpret(args, out, versions, idle, write_side, marginal, streams)


def interpret(
    args: argparse.Namespace,
    out: Results,
    versions: dict[str, str],
    idle: float,
    write_side: float,
    marginal: float,
    streams: Sequence[tuple[float, str, Any, float]],
) -> None:
    initial, floor, inc = out.initial, out.floor, out.incremental
    assert initial is not None
    assert floor is not None
    assert inc is not None
    sources_seconds = initial.seconds - initial.link_seconds
    worst_link = max(initial.link_statements.items(), key=lambda kv: kv[1], default=("-", 0.0))
    worst_inc = max(inc.link_statements.items(), key=lambda kv: kv[1], default=("-", 0.0))
    slowest = streams[0]
    text = [
        f"Interpretation: the initial sync moved {num(initial.read)} source rows into the "
        f"store in {secs(initial.seconds)} ({num(initial.read / initial.seconds)} rows/s), "
        f"{initial.seconds / floor.seconds:.1f}x the {secs(floor.seconds)} it takes just to "
        f"COPY the resulting rows into PostgreSQL. Reading and mapping the sources alone takes "
        f"{secs(out.read.seconds)}, so the store side costs about {secs(write_side)}, "
        f"{write_side / floor.seconds:.1f}x the COPY floor."
    ]
    if worst_link[1] > initial.seconds / 4:
        text.append(
            f"Link resolution after the sources takes {secs(initial.link_seconds)} "
            f"({initial.link_seconds / initial.seconds:.0%}), most of it one statement, "
            f"{worst_link[0]} ({secs(worst_link[1])}); the sources themselves take "
            f"{secs(sources_seconds)}, {sources_seconds / floor.seconds:.1f}x the floor, the "
            f"slowest stream being {slowest[1]} {slowest[2].stream} ({num(slowest[2].read)} "
            f"rows in {secs(slowest[0])})."
        )
    else:
        text.append(
            f"Link resolution after the sources takes {secs(initial.link_seconds)}; the "
            f"slowest stream is {slowest[1]} {slowest[2].stream} ({num(slowest[2].read)} rows "
            f"in {secs(slowest[0])})."
        )
    if versions.get("autovacuum") == "off" and not args.analyze:
        text.append(
            "This server runs with autovacuum off: the store has planner statistics only "
            "where the engine itself runs ANALYZE (a run with --analyze gives the incremental "
            "part fresh statistics)."
        )
    text.append(
        "Part of the gap is inherent in what a sync must do beyond a bulk load: a history and "
        f"an outbox row per change ({secs(floor.bookkeeping_seconds)} more as COPY), "
        "transactions per batch, parent lookups, links."
    )
    text.append(
        f"Incrementally, polling every source with nothing to do costs {secs(idle)}; "
        f"{num(out.changes)} changes take {secs(inc.seconds)}, "
        f"{marginal / max(out.changes, 1) * 1000:.2f} ms per change above the idle cost, "
        f"{marginal / out.update_seconds:.0f}x applying the same updates with one UPDATE per "
        "table (which writes no history or outbox and reads no source)"
        + (
            f"; {secs(inc.link_seconds)} of it is the link resolution that follows "
            f"any change ({worst_inc[0]} alone {secs(worst_inc[1])})."
            if inc.link_seconds > marginal / 2
            else "."
        )
    )
    print(" ".join(text))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


async def server_settings(admin_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(pg_dsn(admin_url))
    try:
        return {
            "pg": str(await conn.fetchval("SHOW server_version")).split()[0],
            "autovacuum": str(await conn.fetchval("SHOW autovacuum")),
        }
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> int:
    versions = await server_settings(args.pg_url)
    maria_version = None
    if args.mariadb_url:
        maria_version = await mariadb_reachable(args.mariadb_url)
        if maria_version is None:
            print(f"MariaDB does not answer at {args.mariadb_url}: finance on SQLite files")
            args.mariadb_url = None
    versions["finance"] = f"MariaDB {maria_version}" if maria_version else "SQLite files"
    print(
        f"machine: nproc {len(os.sched_getaffinity(0))} ({cpu_model()}), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, PostgreSQL {versions['pg']} "
        f"(autovacuum {versions['autovacuum']}), finance on {versions['finance']}",
        flush=True,
    )
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    data_dir = tempfile.mkdtemp(prefix="rantai-bench-sync-")
    out = Results()
    began = time.perf_counter()
    try:
        await run(args, out, {"prefix": prefix, "data_dir": data_dir})
    finally:
        dropped = await drop_everything(args.pg_url, args.mariadb_url, prefix)
        shutil.rmtree(data_dir, ignore_errors=True)
    report(args, out, versions)
    print()
    print(
        f"dropped {len(dropped)} databases ({prefix}_*); total {secs(time.perf_counter() - began)}"
    )
    if out.problems:
        print("\nFAILED:\n  " + "\n  ".join(out.problems), file=sys.stderr)
        return 1
    print(
        f"check: {num(out.changes)} changes gave exactly {num(out.history)} history and "
        f"{num(out.outbox)} outbox rows, and every new value is in the store"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sync", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--scale", choices=("province", "small"), default=None, help="estate scale (province)"
    )
    parser.add_argument("--quick", action="store_true", help="scale small: runs in seconds")
    parser.add_argument("--seed", type=int, default=1, help="estate seed (1)")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="ANALYZE both stores after the initial load (not timed), as autovacuum would "
        "before the next poll: the incremental part with fresh planner statistics",
    )
    parser.add_argument(
        "--changes",
        type=int,
        default=None,
        help="rows changed for the incremental sync (1000; 200 at scale small)",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("RANTAI_DATABASE_URL", DEFAULT_PG_URL),
        help="admin URL of the PostgreSQL server for the estate and both stores "
        f"(RANTAI_DATABASE_URL, else {DEFAULT_PG_URL})",
    )
    parser.add_argument(
        "--mariadb-url",
        default=os.environ.get("RANTAI_MARIADB_URL", DEFAULT_MARIADB_URL),
        help="MariaDB for the finance databases; '' or unreachable: SQLite files "
        f"(RANTAI_MARIADB_URL, else {DEFAULT_MARIADB_URL})",
    )
    args = parser.parse_args(argv)
    if args.scale is None:
        args.scale = "small" if args.quick else "province"
    if args.changes is None:
        args.changes = 200 if args.scale == "small" else 1000
    if args.changes < len(CHANGES):
        parser.error(f"--changes must be at least {len(CHANGES)}")
    args.pg_url = pg_dsn(args.pg_url)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        return asyncio.run(main_async(args))
    except BenchFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
