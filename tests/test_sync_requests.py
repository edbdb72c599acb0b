""" "Sync now": a request recorded in the store wakes the sync loop of `rantai serve
--sync-every` through the broker, which syncs the sources it names at once, long before
its interval, and writes the outcome on the request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from adapters.mapping import load_config
from hub.events.broker import SYNC_CHANNEL
from hub.jobs import sync_forever
from hub.sync.reports import SourceReport
from tests.test_discrepancies import Estate
from tests.test_discrepancies import estate as estate


async def test_a_sync_request_is_answered_at_once_for_its_source(estate: Estate) -> None:
    config = load_config(estate.result.config)
    source = sorted(s.id for s in config.sources)[0]
    cycles: asyncio.Queue[list[str]] = asyncio.Queue()

    def on_cycle(reports: Sequence[SourceReport]) -> None:
        cycles.put_nowait(sorted(r.source for r in reports))

    stop = asyncio.Event()
    loop = asyncio.create_task(
        sync_forever(estate.store, config, interval=3600, stop=stop, on_cycle=on_cycle)
    )
    try:
        every = await asyncio.wait_for(cycles.get(), 120)  # the first cycle: every source
        assert every == sorted(s.id for s in config.sources)
        conn = await asyncpg.connect(estate.dsn)
        try:
            request = await conn.fetchval(
                "INSERT INTO sync_request (source_id, requested_by) VALUES ($1, 'test') "
                "RETURNING id",
                source,
            )
            await conn.execute("SELECT pg_notify($1, $2)", SYNC_CHANNEL, str(request))
            assert await asyncio.wait_for(cycles.get(), 60) == [source]  # not an hour later
            row = await conn.fetchrow("SELECT * FROM sync_request WHERE id = $1", request)
        finally:
            await conn.close()
        assert row["started_at"] is not None
        assert row["finished_at"] is not None
        assert row["outcome"] in (f"{source}: OK", f"{source}: DEGRADED")
    finally:
        stop.set()
        await asyncio.wait_for(loop, 30)


async def test_the_rules_run_beside_the_loop_after_its_cycles(estate: Estate) -> None:
    """The loop does not run the ketimpangan rules itself (a sync never waits for them):
    a task beside it runs them after each cycle, on the change log since their last run."""
    config = load_config(estate.result.config)
    conn = await asyncpg.connect(estate.dsn)
    try:
        before = await conn.fetchval("SELECT ran_at FROM discrepancy_state WHERE id = 1")
        stop = asyncio.Event()
        loop = asyncio.create_task(sync_forever(estate.store, config, interval=3600, stop=stop))
        try:
            for _ in range(600):  # bounded: a minute
                ran = await conn.fetchval("SELECT ran_at FROM discrepancy_state WHERE id = 1")
                if ran is not None and (before is None or ran > before):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the rules did not run after the loop's first cycle")
        finally:
            stop.set()
            await asyncio.wait_for(loop, 30)
    finally:
        await conn.close()
