"""The sync engine: keeps the canonical store current from every configured source.

Per source (one at a time across every hub process: a PostgreSQL advisory lock), per
stream (one mapped table or sheet), in batches:

* **incremental** where the mapping names a watermark column: rows after the stored
  watermark less the source's `overlap_seconds` (stragglers), in watermark order; each
  batch commits with the watermark it reached;
* **keyed diff** where it does not (or with `full=True`): every row is read and compared,
  unchanged rows cost nothing, and rows of the source that were not seen are deleted at
  the end. Workbooks and SQLite databases whose files provably did not change since the
  last run are skipped (`hub.sync.unchanged`); a SQL stream reads only the blocks of keys
  whose checksum moved (`hub.sync.checksums`), a workbook's only the files that changed
  (`hub.sync.files`).

Each batch is one transaction: rows, their change history, their outbox rows, the rows
left waiting and the stream's watermark. A killed sync therefore resumes where the last
batch committed: nothing lost, nothing written twice. Links between rows are then resolved
set-based (`hub.sync.links`). A source that fails (unreachable, a missing table, no answer
within its timeout) is marked DOWN with the error and never stops the others.

A stream's first load is a baseline (`hub.sync.baseline`): one LOADED event, not a CREATED
change per row. What the sync keeps between runs is written by `hub.sync.state`, a source's
health by `hub.sync.health`; connections to sources are kept (`hub.sync.connections`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, Self

import asyncpg

from adapters.base import Adapter, AdapterError, Batch
from adapters.mapping import SQL_KINDS, Config, EntityMapping, SourceMapping
from hub.db import PgConnection, asyncpg_dsn
from hub.events.broker import Broker, PostgresBroker, broker_for
from hub.sync import baseline, checksums, files, health, overlap, rollup, state, unchanged
from hub.sync.bindings import BY_ENTITY, DETACHED, ORDER, Binding, source_wave
from hub.sync.connections import KeptAdapters
from hub.sync.reference import derived_entities, own_region
from hub.sync.relink import resolve_links
from hub.sync.reports import ProgressCallback, SourceReport, StreamReport, SyncProgress
from hub.sync.run import ANALYZE_AFTER, Seen, SourceRun, source_lock_key, stale_statistics
from hub.sync.streams import later, overlapped, stream_id, to_items
from hub.sync.uploads import uploaded
from hub.sync.writer import Item, Outcome, Writer, warm_types
from hub.telemetry.metrics import SOURCE_RUN_SECONDS
from hub.telemetry.tracing import sync_batch

log = logging.getLogger("rantai.sync")

# -- the engine ----------------------------------------------------------------------------


class SyncEngine:
    """Syncs the sources of a `Config` into the store at `database_url`; an async context
    manager (it holds a small connection pool)."""

    def __init__(
        self,
        database_url: str,
        config: Config,
        *,
        concurrency: int = 3,
        on_progress: ProgressCallback | None = None,
        freshness_seconds: int | None = None,
        broker_url: str | None = None,
        history_on_load: bool = False,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        # False: a stream's first load into a store without its rows is a baseline (no
        # per-row CREATED history; one LOADED event per Pemda and fiscal year).
        self.history_on_load = history_on_load
        # PostgreSQL wakes the feeds in the batch's transaction, another broker after it.
        broker = broker_for(broker_url, self.dsn)
        self.broker: Broker | None = None if isinstance(broker, PostgresBroker) else broker
        self.config = config
        self.concurrency = max(1, concurrency)
        self.on_progress = on_progress
        self.freshness_seconds = freshness_seconds
        self._pool: asyncpg.Pool | None = None
        self.kept = KeptAdapters()  # source connections from one cycle to the next
        self.overlaps = overlap.Overlaps()  # what idle watermarked streams read last time

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
        await self.kept.close()
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
        self, only: Sequence[str] | None = None, *, full: bool = False, reconcile: bool = False
    ) -> list[SourceReport]:
        """Sync the sources (all, or `only`), parents' sources first; then resolve links.
        `full`: every row of every stream is read and compared (deletes too); `reconcile`:
        the same, and its changes say they were found by the scheduled reconciliation."""
        chosen = self.sources(only)
        await self.register(chosen)
        waves: dict[int, list[SourceMapping]] = defaultdict(list)
        for source in chosen:
            waves[source_wave(source)].append(source)
        reports: list[SourceReport] = []
        gate = asyncio.Semaphore(self.concurrency)

        async def one(source: SourceMapping) -> SourceReport:
            async with gate:
                return await self.sync_source(source, full=full, reconcile=reconcile)

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
        async with self.pool.acquire() as conn:  # then the rollup of what the run wrote
            moved = await resolve_links(conn, force=force)
            await rollup.refresh(conn)
        if moved:
            await self._wake()
        return moved

    async def register(self, sources: Sequence[SourceMapping]) -> None:
        """Create or update the `source` rows (name, kind, owner OPD, freshness limit)."""
        async with self.pool.acquire() as conn:
            await health.register(conn, sources, self.freshness_seconds)

    # -- one source ----------------------------------------------------------------------

    async def sync_source(
        self, source: SourceMapping, *, full: bool = False, reconcile: bool = False
    ) -> SourceReport:
        report = SourceReport(source.id)
        started = time.monotonic()
        async with self.pool.acquire() as conn:
            lock = source_lock_key(source.id)
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock):
                report.status = "BUSY"
                report.error = "another process is syncing this source"
                return report
            try:
                found_by = "reconciliation" if reconcile else "full" if full else "sync"
                async with uploaded(conn, source) as read:
                    if read is None:  # an uploads source that has none yet
                        await health.record_health(conn, source.id, report)
                    else:
                        await self._run(conn, read, report, found_by)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", lock)
        report.seconds = time.monotonic() - started
        SOURCE_RUN_SECONDS.labels(source.id).set(report.seconds)
        return report

    async def _run(
        self, conn: PgConnection, source: SourceMapping, report: SourceReport, found_by: str
    ) -> None:
        adapter: Adapter | None = None
        ok = False  # the run ended (not cancelled, not failed): its connection may be kept
        try:
            adapter = await self.kept.take((source.id, ""), source.config)
            prints = unchanged.source_print(source, adapter)  # before anything is read
            writer = Writer(conn, source.id, found_by=found_by)
            writer.enrich.derive = derived_entities(e.spec.name for e in source.entities)
            full = found_by != "sync"
            run = SourceRun(source, report, full, found_by, prints, conn, writer, adapter)
            start = await state.run_start(conn, source.id, source.region)
            run.states = start.states
            self.overlaps.begin(source.id, start.seq)
            if not unchanged.every(run, enumerate(source.entities)):
                async with asyncio.timeout(source.config.timeout_seconds):
                    await adapter.open()
            if not start.region_known and await own_region(writer, source.id, source.region):
                await self._wake()  # its Pemda, before its rows
            await self._streams(run)
            # Which entities have waiting rows: read again (DETACHED writers may add some).
            writer.waiting_entities = None
            if start.pending or any(s.waiting for s in report.streams):
                await self._retry_pending(run)
            ok = all(s.error is None for s in report.streams)
        except (AdapterError, TimeoutError, OSError) as exc:
            report.error = health.failure(exc, source)
        except asyncpg.PostgresError as exc:
            report.error = f"store: {exc}"
            log.exception("sync of %s failed in the store", source.id)
        finally:
            if adapter is not None:
                await self.kept.give((source.id, ""), adapter, ok)
        seq = await health.record_health(conn, source.id, report)
        self.overlaps.end(source.id, seq, ok and report.error is None)

    async def _streams(self, run: SourceRun) -> None:
        source = run.source
        groups: dict[str, list[tuple[int, EntityMapping]]] = defaultdict(list)
        for index, mapping in enumerate(source.entities):
            groups[mapping.spec.name].append((index, mapping))
        deletable: list[Seen] = []
        every: list[Seen] = []
        detached: list[asyncio.Task[Seen]] = []
        try:
            for entity in sorted(groups, key=lambda e: ORDER.get(e, 99)):
                if (
                    entity in DETACHED
                    and source.kind in SQL_KINDS
                    and not unchanged.every(run, groups[entity])
                ):
                    # Nothing waits for these rows: written beside the later streams.
                    work = self._detached(run, entity, groups[entity])
                    detached.append(asyncio.create_task(work))
                    continue
                every.append(await self._entity(run, entity, groups[entity]))
            every += [await task for task in detached]
            deletable = [seen for seen in every if seen.complete]
        finally:
            for task in detached:
                task.cancel()
            await asyncio.gather(*detached, return_exceptions=True)
        # Children before parents, so a parent is free to go once its children went.
        for seen in sorted(deletable, key=lambda d: -ORDER[d.binding.entity]):
            await self._delete_unseen(run, seen)
        # After the deletions: a run stopped before them reads its blocks again.
        await checksums.store(run.conn, source.id, every)
        await files.store(run.conn, source.id, every)
        await unchanged.store(run, every)

    async def _detached(
        self, run: SourceRun, entity: str, mappings: list[tuple[int, EntityMapping]]
    ) -> Seen:
        """`_entity` on a pooled connection and a second connection to the source.

        The source's advisory lock stays with the source's own connection; this one writes
        while that task runs and is cancelled with it. Were the lock lost meanwhile, a
        second process's batch for the same rows would meet this one's on the natural keys'
        unique constraints: one of them fails and rolls back, nothing is doubled.
        """
        source = run.source
        adapter = await self.kept.take((source.id, entity), source.config)
        ok = False
        try:
            async with asyncio.timeout(source.config.timeout_seconds):
                await adapter.open()
            async with self.pool.acquire() as conn:
                lane = replace(
                    run,
                    conn=conn,
                    writer=Writer(conn, source.id, found_by=run.found_by),
                    adapter=adapter,
                )
                seen = await self._entity(lane, entity, mappings)
            ok = all(s.error is None for s in run.report.streams if s.entity == entity)
            return seen
        except (AdapterError, TimeoutError, OSError) as exc:
            error = health.failure(exc, source)
            for index, mapping in mappings:
                stream = StreamReport(stream_id(mapping, index), entity, "diff", error=error)
                run.report.streams.append(stream)
                self._progress(SyncProgress(source.id, stream.stream, 0, True, error))
            return Seen(BY_ENTITY[entity], complete=False)
        finally:
            await self.kept.give((source.id, entity), adapter, ok)

    async def _entity(
        self, run: SourceRun, entity: str, mappings: list[tuple[int, EntityMapping]]
    ) -> Seen:
        """Every stream of one entity; returns the rows seen and whether they were read
        in full (then the rows of the source not seen are deleted)."""
        seen = Seen(BY_ENTITY[entity], streams=len(mappings))
        table, conn, writer = seen.binding.table, run.conn, run.writer
        for index, mapping in mappings:
            sid = stream_id(mapping, index)
            diff = run.full or mapping.query.watermark is None
            stream = StreamReport(sid, entity, "diff" if diff else "watermark")
            run.report.streams.append(stream)
            try:
                await self._stream(run, seen, mapping, stream)
            except (AdapterError, TimeoutError, OSError) as exc:
                stream.error = health.failure(exc, run.source)
                self._progress(SyncProgress(run.source.id, sid, stream.read, True, stream.error))
                seen.complete = False
                continue
            if stream.mode not in ("diff", "blocks", "files"):  # watermark, resumed: not all
                seen.complete = False
            written = stream.created + stream.deleted
            if written and await stale_statistics(conn, table, written):
                # Fresh statistics for the planner: autovacuum may be minutes away, and
                # plans made for an empty table are slow for a full one (a table without
                # any, however small, gets them once it has rows: links and the next
                # sources' parent lookups are planned with them).
                await conn.execute(f"ANALYZE {table}")
            for (other, column), moved in list(writer.dependent_moves.items()):
                # Derived links this stream moved in another table (links.DEPENDENTS): a
                # later link reads them (a contract's sub kegiatan reads its packages'),
                # and statistics taken while they were null make its plan quadratic.
                if moved >= ANALYZE_AFTER:
                    await conn.execute(f"ANALYZE {other} ({column})")
                    del writer.dependent_moves[(other, column)]
        return seen

    async def _stream(
        self, run: SourceRun, seen: Seen, mapping: EntityMapping, stream: StreamReport
    ) -> None:
        source = run.source
        saved = run.states.pop(stream.stream, None)
        if saved is None:  # no row yet, or taken by a stream of the same id before it
            saved = await state.stream_state(run.conn, source.id, stream.stream)
        if unchanged.skipped(run, saved):
            stream.mode = "unchanged"
            self._progress(SyncProgress(source.id, stream.stream, 0, True))
            return
        blocks = await checksums.begin(run, seen, mapping, stream, saved)
        by_file = await files.begin(run, seen, mapping, stream) if not blocks else None
        plan = blocks or by_file
        if plan is not None and plan.read == frozenset():  # no block or file changed
            self._progress(SyncProgress(source.id, stream.stream, 0, True))
            return
        loading = not self.history_on_load and await baseline.loading(
            run.conn, seen.binding, source.id, stream.stream, saved
        )
        run.writer.quiet = seen.binding.entity if loading else None
        reader = checksums.rows(run.adapter, mapping, blocks) if blocks else None
        reader = files.rows(run.adapter, mapping, by_file) if by_file else reader
        try:
            await self._read(run, seen, mapping, stream, saved, reader)
        finally:
            run.writer.quiet = None
        if blocks is not None:
            checksums.end(run, seen, stream, blocks)
        if by_file is not None:
            files.end(seen, by_file)
        if loading and await baseline.loaded(run.writer, seen.binding, stream.stream):
            await self._wake()

    async def _read(
        self,
        run: SourceRun,
        seen: Seen,
        mapping: EntityMapping,
        stream: StreamReport,
        saved: state.StreamState | None,
        reader: AsyncIterator[Batch] | None = None,  # some blocks' or files' rows
    ) -> None:
        source = run.source
        watermark_column = mapping.query.watermark
        since = stored = None
        if saved is not None and not run.full and watermark_column:
            # Re-read a window before the watermark: stragglers (rows committed after the
            # last read with an older value) are in it; rows that did not change are no-ops.
            stored = saved.watermark
            since = overlapped(stored, source.config.overlap_seconds)
        # A paged source (http-json) commits where its read is with each batch; a run
        # after a failed one resumes there, reading after the same watermark.
        paged = source.kind == "http-json"
        resume = saved.resume if paged and saved is not None and not run.full else None
        highest: Any = None
        if resume is not None:
            since, highest = resume.since, resume.highest
            if stream.mode == "diff":
                stream.mode = "resumed"  # the pages before it were not read: no deletions
        ordered = watermark_column is not None and source.kind in SQL_KINDS
        batches = reader or run.adapter.stream(
            mapping.query, since=since, resume=None if resume is None else resume.position
        )
        timeout = source.config.timeout_seconds
        memo_key = (source.id, stream.stream, id(mapping))  # an overlap as last applied: skip
        first = stored is not None and not paged and reader is None and run.writer.quiet is None

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
            last: Batch | None = None
            restarted = False
            while len(rows) < size:
                try:
                    async with asyncio.timeout(timeout):
                        batch = await anext(batches)
                except StopAsyncIteration:
                    break
                except (AdapterError, TimeoutError, OSError) as exc:
                    if last is None:
                        raise
                    failed.append(exc)
                    break
                rows += batch.rows
                last, restarted = batch, restarted or batch.restarted
                if paged and batch.position is None:
                    break
            if last is None:
                return None
            joined = Batch(rows=rows, position=last.position, restarted=restarted)
            return (joined, *to_items(mapping, joined, watermark_column))

        # The next batch is read from the source while this one is written to the store.
        ahead = asyncio.create_task(fetch())
        try:
            while True:
                fetched = await ahead
                if fetched is None:
                    break
                batch, items, marks = fetched
                if batch.restarted and stream.mode == "resumed":
                    stream.mode = "diff"  # the saved place had expired: read from the start
                if not paged or batch.position is not None:
                    ahead = asyncio.create_task(fetch())
                digest = None
                if first:  # the first batch: is it the whole overlap? (errors: as before)
                    first = False
                    await asyncio.wait([ahead])
                    if ahead.exception() is None and ahead.result() is None:
                        digest = overlap.digest(run, mapping, seen.binding, (since, stored), items)
                if marks:
                    top = max(marks)
                    highest = top if highest is None else max(highest, top)
                # Rows sharing the batch's last watermark may continue in the next batch:
                # commit only what is surely complete, re-read the rest (a no-op) on resume.
                safe = None
                if ordered and marks:
                    below = [m for m in marks if m < marks[-1]]
                    safe = max(below) if below else None
                    # The overlap's rows are below the stored watermark: never move it back.
                    safe = safe if later(safe, stored) else None
                place = None
                if paged:
                    place = (
                        None
                        if batch.position is None
                        else state.Resume(batch.position, since, highest)
                    )
                if digest is not None and safe is None and self.overlaps.same(memo_key, digest):
                    outcome = Outcome(unchanged=len(items))  # as the store already has them
                else:
                    outcome = await self._apply(
                        run, seen.binding, items, stream, safe, resume=(paged, place)
                    )
                    self.overlaps.applied(memo_key, digest, outcome)
                seen.ids.update(outcome.stored_ids)
                seen.keys.update(
                    i.source_key if isinstance(i, Item) else i[0].source_key for i in items
                )
                stream.count(outcome, len(batch.rows))
                self._progress(SyncProgress(source.id, stream.stream, stream.read))
                if paged and batch.position is None:
                    break
        finally:
            if not ahead.done():
                ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)
            await batches.aclose()  # type: ignore[attr-defined]
        if highest is not None and later(highest, stored):
            await state.save_watermark(run.conn, source.id, stream.stream, highest)
        elif saved is None:
            await state.save_watermark(run.conn, source.id, stream.stream, None)
        self._progress(SyncProgress(source.id, stream.stream, stream.read, True))

    async def _apply(
        self,
        run: SourceRun,
        binding: Binding,
        items: Sequence[Item | tuple[Item, str]],
        stream: StreamReport | None,
        watermark: Any,
        *,
        resume: tuple[bool, state.Resume | None] = (False, None),
    ) -> Outcome:
        """One batch, one transaction: rows, history, outbox, waiting rows, watermark, and
        for a paged source (`resume[0]`) the place its read resumes from."""
        conn, writer, source_id = run.conn, run.writer, run.source.id
        good = [i for i in items if isinstance(i, Item)]
        bad = [i for i in items if not isinstance(i, Item)]
        if writer.waiting_entities is None:
            # Which entities of this source have rows waiting (sync_pending): only those
            # rows can stop waiting. Only this source's writers write them while it is
            # locked; the DETACHED streams' writers too, so the retry reads them again.
            writer.waiting_entities = await state.waiting_entities(conn, source_id)
        async with sync_batch(source_id, binding.entity, len(items)), writer.transaction():
            outcome = await writer.write(binding, good)
            outcome.waiting += bad
            changed = bool(outcome.created or outcome.updated)
            waited = binding.entity in writer.waiting_entities
            mark = None if stream is None or watermark is None else (stream.stream, watermark)
            await state.batch_done(
                conn,
                source_id,
                binding.entity,
                outcome.stored_keys if waited else [],
                mark,
                changed,
            )
            await state.save_waiting(conn, source_id, binding.entity, outcome.waiting)
            if resume[0] and stream is not None:
                await state.save_resume(conn, source_id, stream.stream, resume[1])
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

    async def _delete_unseen(self, run: SourceRun, seen: Seen) -> None:
        conn, writer, source_id, binding = run.conn, run.writer, run.source.id, seen.binding
        leaving = seen.leaving(2)
        if leaving is None:
            return  # no block or file changed: no row left
        sql = f"SELECT id FROM {binding.table} WHERE source_id = $1{leaving[0]} ORDER BY id"
        ids = [r[0] for r in await conn.fetch(sql, source_id, *leaving[1]) if r[0] not in seen.ids]
        stream = next(s for s in run.report.streams if s.entity == binding.entity)
        for start in range(0, len(ids), 1000):
            async with writer.transaction():
                deleted, kept = await writer.delete(binding, ids[start : start + 1000])
                if deleted:
                    await state.source_changed(conn, source_id)
            if deleted:
                await self._wake()
            stream.deleted += deleted
            if kept:
                seen.kept = True
                log.warning(
                    "%s: %d %s rows left the source but other rows still refer to them",
                    source_id,
                    len(kept),
                    binding.entity,
                )
        async with writer.transaction():
            await state.forget_unseen(conn, source_id, seen)

    async def _retry_pending(self, run: SourceRun) -> None:
        """Rows that waited for a parent: try them again now that more rows are known."""
        waiting = await state.waiting_items(run.conn, run.source.id)
        if not waiting:
            return
        run.writer.resolver.forget()
        for entity in sorted(waiting, key=lambda e: ORDER.get(e, 99)):
            # Counted in the report as a stream of its own: rows stored from the queue.
            stream = StreamReport(f"{entity}:(waiting)", entity, "waiting")
            outcome = await self._apply(run, BY_ENTITY[entity], waiting[entity], None, None)
            stream.count(outcome, len(waiting[entity]))
            run.report.streams.append(stream)

    def _progress(self, event: SyncProgress) -> None:
        if self.on_progress is not None:
            self.on_progress(event)
