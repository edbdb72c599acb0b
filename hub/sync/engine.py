"""The sync engine: keeps the canonical store current from every configured source.

Per source (one at a time across every hub process: a PostgreSQL advisory lock), per
stream (one mapped table or sheet), in batches:

* **incremental** where the mapping names a watermark column: rows after the stored
  watermark, in watermark order; each batch commits with the watermark it reached;
* **keyed diff** where it does not (or with `full=True`): every row is read and compared,
  unchanged rows cost nothing, and rows of the source that were not seen are deleted at
  the end. Workbooks whose files did not change since the last run are skipped.

Each batch is one transaction: rows, their change history, their outbox rows, the rows
left waiting and the stream's watermark. A killed sync therefore resumes where the last
batch committed: nothing lost, nothing written twice. Links between rows are then resolved
set-based (`hub.sync.links`). A source that fails (unreachable, a missing table, no answer
within its timeout) is marked DOWN with the error and never stops the others.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo

import asyncpg

from adapters.base import Adapter, AdapterError, Batch, open_adapter
from adapters.mapping import SQL_KINDS, Config, EntityMapping, RecordError, SourceMapping
from hub.db import asyncpg_dsn
from hub.events.broker import Broker, PostgresBroker, broker_for
from hub.sync.bindings import BINDINGS, BY_ENTITY, DETACHED, ORDER, WAVE_OF_ENTITY, Binding
from hub.sync.relink import resolve_links
from hub.sync.writer import Item, Outcome, Writer, warm_types

log = logging.getLogger("rantai.sync")

# Legacy servers in NTT keep local time (WITA) in columns without a time zone.
SOURCE_TIMEZONE = ZoneInfo("Asia/Makassar")
ANALYZE_AFTER = 1000  # rows created or deleted by one stream
_LOCK_BASE = 0x52414E54  # "RANT": advisory lock keys of sources are this + hash(id)


# -- reports -------------------------------------------------------------------------------


@dataclass
class StreamReport:
    stream: str
    entity: str
    mode: str  # "watermark", "diff", "unchanged" (diff skipped: files did not change)
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    waiting: int = 0
    error: str | None = None

    def count(self, outcome: Outcome, read: int) -> None:
        self.read += read
        self.created += outcome.created
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.waiting += len(outcome.waiting)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "stream"}


@dataclass
class SourceReport:
    source: str
    status: str = "NEVER_SYNCED"  # OK DEGRADED DOWN, or BUSY (another process syncs it)
    error: str | None = None
    streams: list[StreamReport] = field(default_factory=list)
    rows: int = 0
    waiting: int = 0
    seconds: float = 0.0

    @property
    def changes(self) -> int:
        return sum(s.created + s.updated + s.deleted for s in self.streams)


@dataclass(frozen=True)
class Progress:
    """Sent after every batch and at the end of every stream (for progress bars)."""

    source: str
    stream: str
    read: int
    done: bool = False
    error: str | None = None


ProgressCallback = Callable[[Progress], None]


# -- watermarks and stored records ---------------------------------------------------------


def encode_value(value: Any) -> dict[str, Any]:
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bool | int | float | str) or value is None:
        return {"type": type(value).__name__, "value": value}
    return {"type": "str", "value": str(value)}


def decode_value(data: dict[str, Any] | None) -> Any:
    if data is None:
        return None
    kind, value = data.get("type"), data.get("value")
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    return value


def encode_record(record: dict[str, Any]) -> str:
    return json.dumps({k: encode_value(v) for k, v in record.items()})


def decode_record(text: str | dict[str, Any]) -> dict[str, Any]:
    data = json.loads(text) if isinstance(text, str) else text
    return {k: decode_value(v) for k, v in data.items()}


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=SOURCE_TIMEZONE)
    return None


def stream_id(mapping: EntityMapping, index: int) -> str:
    q = mapping.query
    where = q.table or q.sheet or (f"query{index}" if q.query else f"#{index}")
    return f"{mapping.spec.name}:{where}"


def fingerprint(source: SourceMapping) -> str | None:
    """Names, sizes and modification times of a spreadsheet source's files."""
    config = source.config
    if config.kind not in ("xlsx", "csv") or not config.path:
        return None
    pattern = config.path if os.path.isabs(config.path) else str(config.base_dir / config.path)
    digest = hashlib.sha256()
    for name in sorted(glob.glob(pattern)):
        stat = os.stat(name)
        digest.update(f"{Path(name).name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def source_lock_key(source_id: str) -> int:
    """The advisory lock held while a source is synced (one process at a time)."""
    return _LOCK_BASE * 2**32 + int(hashlib.sha1(source_id.encode()).hexdigest()[:7], 16)


# -- the engine ----------------------------------------------------------------------------


class SyncEngine:
    """Syncs the sources of a `Config` into the store at `database_url`.

    Use as an async context manager (it holds a small connection pool).
    """

    def __init__(
        self,
        database_url: str,
        config: Config,
        *,
        concurrency: int = 3,
        on_progress: ProgressCallback | None = None,
        freshness_seconds: int | None = None,
        broker_url: str | None = None,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        # PostgreSQL wakes the feeds from inside the batch's transaction
        # (hub/events/changelog.py); another broker is told after each commit.
        broker = broker_for(broker_url, self.dsn)
        self.broker: Broker | None = None if isinstance(broker, PostgresBroker) else broker
        self.config = config
        self.concurrency = max(1, concurrency)
        self.on_progress = on_progress
        self.freshness_seconds = freshness_seconds
        self._pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> Self:
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            # Each source syncing: its own connection and one per DETACHED entity; + links.
            max_size=self.concurrency * (1 + len(DETACHED)) + 1,
            server_settings={"jit": "off"},
            init=warm_types,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.broker is not None:
            await self.broker.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("use SyncEngine as an async context manager")
        return self._pool

    def sources(self, only: Sequence[str] | None = None) -> list[SourceMapping]:
        known = {s.id: s for s in self.config.sources}
        if only:
            unknown = [s for s in only if s not in known]
            if unknown:
                raise KeyError(
                    f"no source {', '.join(unknown)} in {self.config.file} "
                    f"(known: {', '.join(sorted(known))})"
                )
            return [known[s] for s in only]
        return list(self.config.sources)

    async def sync(
        self, only: Sequence[str] | None = None, *, full: bool = False
    ) -> list[SourceReport]:
        """Sync the sources (all, or `only`), parents' sources first; then resolve links."""
        chosen = self.sources(only)
        await self.register(chosen)
        waves: dict[int, list[SourceMapping]] = defaultdict(list)
        for source in chosen:
            wave = min((WAVE_OF_ENTITY.get(e.spec.name, 2) for e in source.entities), default=2)
            waves[wave].append(source)
        reports: list[SourceReport] = []
        gate = asyncio.Semaphore(self.concurrency)

        async def one(source: SourceMapping) -> SourceReport:
            async with gate:
                return await self.sync_source(source, full=full)

        for wave in sorted(waves):
            # A task group: if one source's sync dies unexpectedly, the others are cancelled
            # with it (their open batches roll back) instead of running on unattended.
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(one(s)) for s in waves[wave]]
            except BaseExceptionGroup as failed:
                raise failed.exceptions[0] from None
            reports += [t.result() for t in tasks]
        await self.resolve_links()
        return reports

    async def resolve_links(self, *, force: bool = False) -> int:
        async with self.pool.acquire() as conn:
            moved = await resolve_links(conn, force=force)
        if moved:
            await self._wake()
        return moved

    async def register(self, sources: Sequence[SourceMapping]) -> None:
        """Create or update the `source` rows (name, kind, owner OPD, freshness limit)."""
        async with self.pool.acquire() as conn:
            for s in sources:
                await conn.execute(
                    """
                    INSERT INTO source (id, name, kind, status, rows, freshness_seconds,
                                        owner_opd_id)
                    VALUES ($1, $2, $3, 'NEVER_SYNCED', 0, $4, (
                        SELECT o.id FROM opd o JOIN region r ON r.id = o.region_id
                        WHERE r.code = $5 AND o.code = $6))
                    ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                        freshness_seconds = excluded.freshness_seconds,
                        owner_opd_id = COALESCE(excluded.owner_opd_id, source.owner_opd_id)
                    """,
                    s.id,
                    s.name,
                    s.kind,
                    self.freshness_seconds,
                    s.region,
                    s.owner_opd,
                )

    # -- one source ----------------------------------------------------------------------

    async def sync_source(self, source: SourceMapping, *, full: bool = False) -> SourceReport:
        report = SourceReport(source.id)
        started = time.monotonic()
        async with self.pool.acquire() as conn:
            lock = source_lock_key(source.id)
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock):
                report.status = "BUSY"
                report.error = "another process is syncing this source"
                return report
            try:
                await self._run(conn, source, report, full)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", lock)
        report.seconds = time.monotonic() - started
        return report

    async def _run(
        self, conn: asyncpg.Connection, source: SourceMapping, report: SourceReport, full: bool
    ) -> None:
        writer = Writer(conn, source.id)
        timeout = source.config.timeout_seconds
        adapter: Adapter | None = None
        try:
            adapter = open_adapter(source.config)
            async with asyncio.timeout(timeout):
                await adapter.open()
            await self._streams(conn, writer, adapter, source, report, full)
            # Read again which entities have waiting rows: the DETACHED streams' writers
            # may have added some.
            writer.waiting_entities = None
            await self._retry_pending(conn, writer, source)
        except (AdapterError, TimeoutError, OSError) as exc:
            report.error = _describe(exc, source, timeout)
        except asyncpg.PostgresError as exc:
            report.error = f"store: {exc}"
            log.exception("sync of %s failed in the store", source.id)
        finally:
            if adapter is not None:
                try:
                    await adapter.close()
                except Exception:
                    log.debug("closing %s failed", source.id, exc_info=True)
        await self._health(conn, source, report)

    async def _streams(
        self,
        conn: asyncpg.Connection,
        writer: Writer,
        adapter: Adapter,
        source: SourceMapping,
        report: SourceReport,
        full: bool,
    ) -> None:
        groups: dict[str, list[tuple[int, EntityMapping]]] = defaultdict(list)
        for index, mapping in enumerate(source.entities):
            groups[mapping.spec.name].append((index, mapping))
        prints = fingerprint(source)
        deletable: list[tuple[Binding, set[int], set[str]]] = []
        detached: list[asyncio.Task[tuple[Binding, set[int], set[str], bool]]] = []
        try:
            for entity in sorted(groups, key=lambda e: ORDER.get(e, 99)):
                if entity in DETACHED and source.kind in SQL_KINDS:
                    # Nothing in the source waits for these rows: they are written on a
                    # connection of their own while the streams after them go on.
                    work = self._detached(source, entity, groups[entity], report, full, prints)
                    detached.append(asyncio.create_task(work))
                    continue
                done = await self._entity(
                    conn, writer, adapter, source, entity, groups[entity], report, full, prints
                )
                if done[3]:
                    deletable.append(done[:3])
            for task in detached:
                done = await task
                if done[3]:
                    deletable.append(done[:3])
        finally:
            for task in detached:
                task.cancel()
            await asyncio.gather(*detached, return_exceptions=True)
        # Children before parents, so a parent is free to go once its children went.
        for binding, seen_ids, seen_keys in sorted(deletable, key=lambda d: -ORDER[d[0].entity]):
            await self._delete_unseen(conn, writer, source, binding, seen_ids, seen_keys, report)
        if prints is not None and all(s.error is None for s in report.streams):
            for stream in report.streams:
                await _save_state(conn, source.id, stream.stream, None, prints, keep_watermark=True)

    async def _detached(
        self,
        source: SourceMapping,
        entity: str,
        mappings: list[tuple[int, EntityMapping]],
        report: SourceReport,
        full: bool,
        prints: str | None,
    ) -> tuple[Binding, set[int], set[str], bool]:
        """`_entity` on a pooled connection and a second connection to the source.

        The source's advisory lock stays with the source's own connection; this one writes
        while that task runs and is cancelled with it. Were the lock lost meanwhile, a
        second process's batch for the same rows would meet this one's on the natural keys'
        unique constraints: one of them fails and rolls back, nothing is doubled.
        """
        adapter = open_adapter(source.config)
        try:
            async with asyncio.timeout(source.config.timeout_seconds):
                await adapter.open()
            async with self.pool.acquire() as conn:
                writer = Writer(conn, source.id)
                return await self._entity(
                    conn, writer, adapter, source, entity, mappings, report, full, prints
                )
        except (AdapterError, TimeoutError, OSError) as exc:
            error = _describe(exc, source, source.config.timeout_seconds)
            for index, mapping in mappings:
                stream = StreamReport(stream_id(mapping, index), entity, "diff", error=error)
                report.streams.append(stream)
                self._progress(Progress(source.id, stream.stream, 0, True, error))
            return BY_ENTITY[entity], set(), set(), False
        finally:
            try:
                await adapter.close()
            except Exception:
                log.debug("closing %s failed", source.id, exc_info=True)

    async def _entity(
        self,
        conn: asyncpg.Connection,
        writer: Writer,
        adapter: Adapter,
        source: SourceMapping,
        entity: str,
        mappings: list[tuple[int, EntityMapping]],
        report: SourceReport,
        full: bool,
        prints: str | None,
    ) -> tuple[Binding, set[int], set[str], bool]:
        """Every stream of one entity; returns the rows seen and whether they were read
        in full (then the rows of the source not seen are deleted)."""
        binding = BY_ENTITY[entity]
        seen_ids: set[int] = set()
        seen_keys: set[str] = set()
        complete = True
        for index, mapping in mappings:
            sid = stream_id(mapping, index)
            diff = full or mapping.query.watermark is None
            stream = StreamReport(sid, entity, "diff" if diff else "watermark")
            report.streams.append(stream)
            try:
                await self._stream(
                    conn, writer, adapter, source, mapping, binding, stream, full,
                    prints, seen_ids, seen_keys,
                )  # fmt: skip
            except (AdapterError, TimeoutError, OSError) as exc:
                stream.error = _describe(exc, source, source.config.timeout_seconds)
                self._progress(Progress(source.id, sid, stream.read, True, stream.error))
                complete = False
                continue
            if stream.mode != "diff":
                complete = False
            written = stream.created + stream.deleted
            if written and await _stale_statistics(conn, binding.table, written):
                # Fresh statistics for the planner: autovacuum may be minutes away, and
                # plans made for an empty table are slow for a full one (a table without
                # any, however small, gets them once it has rows: links and the next
                # sources' parent lookups are planned with them).
                await conn.execute(f"ANALYZE {binding.table}")
            for (table, column), moved in list(writer.dependent_moves.items()):
                # Derived links this stream moved in another table (links.DEPENDENTS): a
                # later link reads them (a contract's sub kegiatan reads its packages'),
                # and statistics taken while they were null make its plan quadratic.
                if moved >= ANALYZE_AFTER:
                    await conn.execute(f"ANALYZE {table} ({column})")
                    del writer.dependent_moves[(table, column)]
        return binding, seen_ids, seen_keys, complete

    async def _stream(
        self,
        conn: asyncpg.Connection,
        writer: Writer,
        adapter: Adapter,
        source: SourceMapping,
        mapping: EntityMapping,
        binding: Binding,
        stream: StreamReport,
        full: bool,
        prints: str | None,
        seen_ids: set[int],
        seen_keys: set[str],
    ) -> None:
        state = await conn.fetchrow(
            "SELECT watermark, fingerprint FROM sync_state WHERE source_id = $1 AND stream = $2",
            source.id,
            stream.stream,
        )
        watermark_column = mapping.query.watermark
        since = None
        if state is not None and not full and watermark_column:
            since = decode_value(_jsonb(state["watermark"]))
        if (
            stream.mode == "diff"
            and not full
            and prints is not None
            and state is not None
            and state["fingerprint"] == prints
        ):
            stream.mode = "unchanged"
            self._progress(Progress(source.id, stream.stream, 0, True))
            return
        ordered = watermark_column is not None and source.kind not in ("xlsx", "csv")
        highest: Any = None
        batches = adapter.stream(mapping.query, since=since)
        timeout = source.config.timeout_seconds

        size = max(1, source.config.batch_size)
        failed: list[BaseException] = []

        async def fetch() -> tuple[Batch, list[Item | tuple[Item, str]], list[Any]] | None:
            # Small batches (a workbook is one per file) are joined up to batch_size rows:
            # one transaction for many files. The timeout still bounds each of them, and
            # the rows read before a failure are written before it is raised. The rows are
            # mapped here too, so that work overlaps the store writing the previous batch.
            if failed:
                raise failed.pop()
            rows: list[dict[str, Any]] = []
            while len(rows) < size:
                try:
                    async with asyncio.timeout(timeout):
                        batch = await anext(batches)
                except StopAsyncIteration:
                    break
                except (AdapterError, TimeoutError, OSError) as exc:
                    if not rows:
                        raise
                    failed.append(exc)
                    break
                rows += batch.rows
            if not rows:
                return None
            joined = Batch(rows=rows)
            return (joined, *_items(mapping, joined, watermark_column))

        # The next batch is read from the source while this one is written to the store.
        ahead = asyncio.create_task(fetch())
        try:
            while True:
                fetched = await ahead
                if fetched is None:
                    break
                ahead = asyncio.create_task(fetch())
                batch, items, marks = fetched
                if marks:
                    top = max(marks)
                    highest = top if highest is None else max(highest, top)
                # Rows sharing the batch's last watermark may continue in the next batch:
                # commit only what is surely complete, re-read the rest (a no-op) on resume.
                safe = None
                if ordered and marks:
                    below = [m for m in marks if m < marks[-1]]
                    safe = max(below) if below else None
                outcome = await self._apply(conn, writer, source, binding, items, stream, safe)
                seen_ids.update(outcome.stored_ids)
                seen_keys.update(
                    i.source_key if isinstance(i, Item) else i[0].source_key for i in items
                )
                stream.count(outcome, len(batch.rows))
                self._progress(Progress(source.id, stream.stream, stream.read))
        finally:
            if not ahead.done():
                ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)
            await batches.aclose()  # type: ignore[attr-defined]
        if highest is not None:
            await _save_state(conn, source.id, stream.stream, highest, None)
        elif state is None:
            await _save_state(conn, source.id, stream.stream, None, None)
        self._progress(Progress(source.id, stream.stream, stream.read, True))

    async def _apply(
        self,
        conn: asyncpg.Connection,
        writer: Writer,
        source: SourceMapping,
        binding: Binding,
        items: list[Item | tuple[Item, str]],
        stream: StreamReport | None,
        watermark: Any,
    ) -> Outcome:
        """One batch, one transaction: rows, history, outbox, waiting rows, watermark."""
        good = [i for i in items if isinstance(i, Item)]
        bad = [i for i in items if not isinstance(i, Item)]
        if writer.waiting_entities is None:
            # Which entities of this source have rows waiting (sync_pending): only those
            # rows can stop waiting. Only this source's writers write them while it is
            # locked; the DETACHED streams' writers too, so the retry reads them again.
            writer.waiting_entities = {
                r[0]
                for r in await conn.fetch(
                    "SELECT DISTINCT entity FROM sync_pending WHERE source_id = $1", source.id
                )
            }
        async with writer.transaction():
            outcome = await writer.write(binding, good)
            outcome.waiting += bad
            changed = bool(outcome.created or outcome.updated)
            waited = binding.entity in writer.waiting_entities
            # The rows no longer waiting, the watermark reached and the source's change
            # counter in one statement (a round trip each was a third of a batch's).
            await conn.execute(
                _BOOKKEEPING,
                source.id,
                binding.entity,
                outcome.stored_keys if waited else [],
                stream.stream if stream is not None and watermark is not None else None,
                None if watermark is None else json.dumps(encode_value(watermark)),
                changed,
            )
            await _waiting(conn, source.id, binding.entity, outcome)
            if outcome.waiting:
                writer.waiting_entities.add(binding.entity)
        if changed:
            await self._wake()
        return outcome

    async def _wake(self) -> None:
        """Tell the other processes' feeds (Redis, NATS); a lost wake-up only delays."""
        if self.broker is None:
            return
        try:
            await self.broker.publish()
        except Exception as exc:
            log.warning("cannot publish a wake-up on %s: %s", self.broker.kind, exc)

    async def _delete_unseen(
        self,
        conn: asyncpg.Connection,
        writer: Writer,
        source: SourceMapping,
        binding: Binding,
        seen_ids: set[int],
        seen_keys: set[str],
        report: SourceReport,
    ) -> None:
        ids = [
            r[0]
            for r in await conn.fetch(
                f"SELECT id FROM {binding.table} WHERE source_id = $1 ORDER BY id", source.id
            )
            if r[0] not in seen_ids
        ]
        stream = next(s for s in report.streams if s.entity == binding.entity)
        for start in range(0, len(ids), 1000):
            async with writer.transaction():
                deleted, kept = await writer.delete(binding, ids[start : start + 1000])
                if deleted:
                    await conn.execute(
                        "UPDATE source SET change_seq = change_seq + 1 WHERE id = $1", source.id
                    )
            if deleted:
                await self._wake()
            stream.deleted += deleted
            if kept:
                log.warning(
                    "%s: %d %s rows left the source but other rows still refer to them",
                    source.id,
                    len(kept),
                    binding.entity,
                )
        async with writer.transaction():
            await conn.execute(
                "DELETE FROM sync_pending WHERE source_id = $1 AND entity = $2 "
                "AND NOT (source_key = ANY($3::text[]))",
                source.id,
                binding.entity,
                list(seen_keys),
            )

    async def _retry_pending(
        self, conn: asyncpg.Connection, writer: Writer, source: SourceMapping
    ) -> None:
        """Rows that waited for a parent: try them again now that more rows are known."""
        rows = await conn.fetch(
            "SELECT entity, source_key, record FROM sync_pending "
            "WHERE source_id = $1 AND record IS NOT NULL ORDER BY id",
            source.id,
        )
        if not rows:
            return
        writer.resolver.forget()
        by_entity: dict[str, list[Item | tuple[Item, str]]] = defaultdict(list)
        for row in rows:
            record = decode_record(row["record"])
            by_entity[row["entity"]].append(Item(row["source_key"], record))
        for entity in sorted(by_entity, key=lambda e: ORDER.get(e, 99)):
            await self._apply(
                conn, writer, source, BY_ENTITY[entity], by_entity[entity], None, None
            )

    async def _health(
        self, conn: asyncpg.Connection, source: SourceMapping, report: SourceReport
    ) -> None:
        counts = " UNION ALL ".join(
            f"SELECT count(*) FROM {b.table} WHERE source_id = $1" for b in BINDINGS
        )
        report.rows = int(await conn.fetchval(f"SELECT sum(count) FROM ({counts}) c", source.id))
        report.rows += int(
            await conn.fetchval("SELECT count(*) FROM vendor WHERE source_id = $1", source.id)
        )
        waiting = await conn.fetch(
            "SELECT reason, count(*) AS n FROM sync_pending WHERE source_id = $1 "
            "GROUP BY reason ORDER BY n DESC, reason",
            source.id,
        )
        report.waiting = sum(r["n"] for r in waiting)
        failed = [f"{s.stream}: {s.error}" for s in report.streams if s.error]
        if report.error or failed:
            report.status = "DOWN"
            report.error = "; ".join(([report.error] if report.error else []) + failed)
        elif report.waiting:
            report.status = "DEGRADED"
            shown = "; ".join(f"{r['n']} × {r['reason']}" for r in waiting[:3])
            report.error = f"{report.waiting} rows waiting: {shown}"
        else:
            report.status = "OK"
        await conn.execute(
            """
            UPDATE source SET status = $2::text, last_synced_at = now(),
                last_success_at = CASE WHEN $2::text = 'DOWN' THEN last_success_at ELSE now() END,
                last_error = $3, rows = $4, waiting = $5, last_run = $6::jsonb
            WHERE id = $1
            """,
            source.id,
            report.status,
            report.error,
            report.rows,
            report.waiting,
            json.dumps({s.stream: s.as_dict() for s in report.streams}),
        )

    def _progress(self, event: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(event)


# -- helpers -------------------------------------------------------------------------------


async def _stale_statistics(conn: asyncpg.Connection, table: str, written: int) -> bool:
    """Whether the table's statistics are missing, or older than `written` rows that are at
    least ANALYZE_AFTER and half the rows it had when they were taken (a table several
    sources write to is analysed again when it has grown by half, not after each of them)."""
    rows = await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = $1::regclass", table)
    return rows is None or rows < 0 or written >= max(ANALYZE_AFTER, rows / 2)


def _jsonb(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    return json.loads(value) if isinstance(value, str) else dict(value)


async def _save_state(
    conn: asyncpg.Connection,
    source_id: str,
    stream: str,
    watermark: Any,
    prints: str | None,
    *,
    keep_watermark: bool = False,
) -> None:
    if keep_watermark:
        await conn.execute(
            """INSERT INTO sync_state (source_id, stream, fingerprint) VALUES ($1, $2, $3)
            ON CONFLICT (source_id, stream) DO UPDATE
            SET fingerprint = excluded.fingerprint, updated_at = now()""",
            source_id,
            stream,
            prints,
        )
        return
    encoded = None if watermark is None else json.dumps(encode_value(watermark))
    await conn.execute(
        """INSERT INTO sync_state (source_id, stream, watermark) VALUES ($1, $2, $3::jsonb)
        ON CONFLICT (source_id, stream) DO UPDATE
        SET watermark = COALESCE(excluded.watermark, sync_state.watermark), updated_at = now()""",
        source_id,
        stream,
        encoded,
    )


# A batch's bookkeeping: $1 source, $2 entity, $3 the source keys it stored (no longer
# waiting), $4 its stream when it reached a watermark ($5, JSON), $6 whether it changed rows.
_BOOKKEEPING = """
WITH done AS (
    DELETE FROM sync_pending
    WHERE source_id = $1 AND entity = $2 AND source_key = ANY($3::text[])
),
mark AS (
    INSERT INTO sync_state (source_id, stream, watermark)
    SELECT $1, $4::text, $5::jsonb WHERE $4::text IS NOT NULL
    ON CONFLICT (source_id, stream) DO UPDATE
    SET watermark = COALESCE(excluded.watermark, sync_state.watermark), updated_at = now()
)
UPDATE source SET change_seq = change_seq + 1 WHERE id = $1 AND $6::bool"""


async def _waiting(conn: asyncpg.Connection, source_id: str, entity: str, outcome: Outcome) -> None:
    """The batch's rows that wait for a parent or hold a bad value (sync_pending)."""
    if not outcome.waiting:
        return
    latest: dict[str, tuple[Item, str]] = {}
    for item, reason in outcome.waiting:
        latest[item.source_key] = (item, reason)
    keys = list(latest)
    await conn.execute(
        """
        INSERT INTO sync_pending (source_id, entity, source_key, record, reason)
        SELECT $1, $2, k, r, w FROM unnest($3::text[], $4::jsonb[], $5::text[]) AS v(k, r, w)
        ON CONFLICT (source_id, entity, source_key) DO UPDATE
        SET record = excluded.record, reason = excluded.reason, last_tried_at = now()
        """,
        source_id,
        entity,
        keys,
        [encode_record(dict(latest[k][0].record)) if latest[k][0].record else None for k in keys],
        [latest[k][1] for k in keys],
    )


def _items(
    mapping: EntityMapping, batch: Batch, watermark: str | None
) -> tuple[list[Item | tuple[Item, str]], list[Any]]:
    items: list[Item | tuple[Item, str]] = []
    marks: list[Any] = []
    for row in batch.rows:
        key = mapping.source_key(row)
        mark = row.get(watermark) if watermark else None
        if mark is not None:
            marks.append(mark)
        try:
            record = mapping.record(row)
        except RecordError as exc:
            items.append((Item(key, {}), f"bad row: {exc}"))
            continue
        items.append(Item(key, record, _aware(mark)))
    return items, marks


def _describe(exc: BaseException, source: SourceMapping, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"source {source.id}: no answer within {timeout:g} s"
    text = str(exc).strip() or type(exc).__name__
    return text if text.startswith("source ") else f"source {source.id}: {text}"
