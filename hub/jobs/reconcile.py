"""The scheduled reconciliation of `rantai serve --sync-every`: each source, on its own
schedule (`reconcile_every`, default 6 hours, or `reconcile_at` local time; `never`), is
read in full and compared with the store by key, in the background of the regular cycle.

It finds what a watermark cannot: an edit that did not set the updated-at column, and a
deleted row. What it finds is applied like any change, in the sync's batches; the history
and outbox rows say `found_by = 'reconciliation'`. `source.reconciled_at` is written only
when a run finished without an error: a run killed half-way runs again at the next check,
and what it already applied is then found unchanged (nothing is doubled).

A source never reconciled starts counting when the schedule first sees it (its first sync
read it all). Several hub processes may run this loop; the source's advisory lock lets one
of them read a source at a time, and the others find it BUSY and try again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from adapters.mapping import Config, SourceMapping
from adapters.schedule import next_run
from hub.db import PgConnection
from hub.sync.engine import SyncEngine
from hub.sync.reports import SourceReport

log = logging.getLogger("rantai.sync")

CHECK_EVERY = 60.0  # seconds between two looks at the schedule
# Rows per batch of a reconciliation at most: short transactions, so the regular cycle's
# batches and the API's queries are never queued behind a long one.
RECONCILE_BATCH = 1000


def reconciling(config: Config) -> Config:
    """`config` with the batches of its sources cut to RECONCILE_BATCH rows."""
    sources = tuple(
        replace(s, config=replace(s.config, batch_size=min(s.config.batch_size, RECONCILE_BATCH)))
        for s in config.sources
    )
    return replace(config, sources=sources)


async def due(
    conn: PgConnection, sources: Sequence[SourceMapping], now: datetime | None = None
) -> list[SourceMapping]:
    """The sources whose reconciliation is due at `now` (aware; default: the hub's local
    time). A source never reconciled is given `now` as its start and is not due yet."""
    now = now or datetime.now().astimezone()
    rows = await conn.fetch(
        "SELECT id, reconciled_at FROM source WHERE id = ANY($1::text[])",
        [s.id for s in sources],
    )
    last = {r["id"]: r["reconciled_at"] for r in rows}
    chosen = []
    for source in sources:
        every, at = source.config.reconcile_every, source.config.reconcile_at
        if (every is None and at is None) or source.id not in last:
            continue
        if last[source.id] is None:
            await conn.execute(
                "UPDATE source SET reconciled_at = $2 WHERE id = $1 AND reconciled_at IS NULL",
                source.id,
                now,
            )
            continue
        when = next_run(last[source.id].astimezone(now.tzinfo), now, every, at)
        if when is not None and when <= now:
            chosen.append(source)
    return chosen


async def reconcile(engine: SyncEngine, sources: Sequence[SourceMapping]) -> list[SourceReport]:
    """Reconcile `sources` one after the other; each that finished without an error is
    marked reconciled now."""
    reports = []
    for source in sources:
        [report] = await engine.sync([source.id], reconcile=True)
        reports.append(report)
        failed = report.error or any(s.error for s in report.streams)
        if report.status == "BUSY" or failed:
            log.warning("reconciliation of %s did not finish: %s", source.id, report.status)
            continue
        found = report.changes
        if found:
            log.warning(
                "reconciliation of %s found %d changes its sync had missed", source.id, found
            )
        async with engine.pool.acquire() as conn:
            await conn.execute("UPDATE source SET reconciled_at = now() WHERE id = $1", source.id)
    return reports


async def reconcile_forever(
    make_engine: Callable[[Config], SyncEngine],
    config: Config,
    stop: asyncio.Event,
    *,
    check_every: float = CHECK_EVERY,
    on_run: Callable[[Sequence[SourceReport]], None] | None = None,
) -> None:
    """Every `check_every` seconds until `stop`: reconcile the sources that are due, on an
    engine of their own (`make_engine`, with the batches cut to RECONCILE_BATCH rows)."""
    scheduled = [s for s in config.sources if s.config.reconcile_every or s.config.reconcile_at]
    if not scheduled:
        return
    while not stop.is_set():
        try:
            async with make_engine(reconciling(config)) as engine:
                while not stop.is_set():
                    async with engine.pool.acquire() as conn:
                        chosen = await due(conn, scheduled)
                    if chosen:
                        reports = await reconcile(engine, chosen)
                        if on_run is not None:
                            on_run(reports)
                    await _sleep(stop, check_every)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reconciliation failed; trying again in %g s", check_every)
            await _sleep(stop, check_every)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
