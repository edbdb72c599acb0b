"""The outbox as a change feed: no event skipped under concurrent writers, cursors, retention."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest

from hub.errors import BadCursor, CursorExpired
from hub.events.changelog import Change
from hub.events.outbox import check_cursor, head, parse_cursor, prune, read_after
from hub.migrate import run_async
from hub.sync.bindings import BY_ENTITY
from hub.sync.writer import Writer
from tests.conftest import Server, asyncpg_dsn

WRITERS = 6
TRANSACTIONS = 25  # per writer


@pytest.fixture
async def outbox_url(server: Server) -> str:
    url = await server.create_database("rantai_outbox")
    await run_async(url, "upgrade", "head")
    return url


async def test_a_reader_never_skips_an_event_of_concurrent_writers(outbox_url: str) -> None:
    """The classic outbox trap: ids taken in one order, committed in another.

    Writers hold their transaction open for a random while after writing their events, so
    without the commit-order lock a later id regularly commits before an earlier one and a
    reader that has moved past it never sees it.
    """
    dsn = asyncpg_dsn(outbox_url)
    binding = BY_ENTITY["payment"]
    written: list[int] = []
    done = asyncio.Event()

    async def writer(n: int) -> None:
        rng = random.Random(n)
        conn = await asyncpg.connect(dsn)
        try:
            for t in range(TRANSACTIONS):
                async with conn.transaction():
                    changes = [
                        Change(n * 10_000 + t * 10 + i, f"k{n}/{t}/{i}", "CREATED", None, {"a": i})
                        for i in range(rng.randint(1, 3))
                    ]
                    await Writer(conn, None).record(binding, changes, context={})
                    await asyncio.sleep(rng.random() * 0.02)  # commit later than the next id
                ids = await conn.fetch(
                    "SELECT id FROM outbox WHERE entity_id = ANY($1::int8[])",
                    [c.entity_id for c in changes],
                )
                written.extend(r[0] for r in ids)
        finally:
            await conn.close()

    async def reader() -> list[int]:
        conn = await asyncpg.connect(dsn)
        seen: list[int] = []
        position = 0
        try:
            while True:
                finished = done.is_set()
                events = await read_after(conn, position, limit=7)
                seen += [e.id for e in events]
                if events:
                    position = events[-1].id
                elif finished:
                    return seen
                await asyncio.sleep(0)
        finally:
            await conn.close()

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    done.set()
    seen = await reading
    assert len(written) >= WRITERS * TRANSACTIONS
    assert seen == sorted(seen)  # commit order is id order
    assert sorted(seen) == sorted(written)  # nothing skipped, nothing twice


async def test_cursors_round_trip_and_bad_ones_are_refused(outbox_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(outbox_url))
    try:
        await Writer(conn, "s").record(
            BY_ENTITY["region"], [Change(1, "53", "CREATED", None, {"code": "53"})], context={}
        )
        events = await read_after(conn, 0)
        assert len(events) == 1
        assert parse_cursor(events[0].cursor) == events[0].id
        assert await head(conn) == events[0].id
        for bad in ("nope", "", "eyJ4Ijox"):
            with pytest.raises(BadCursor):
                parse_cursor(bad)
    finally:
        await conn.close()


async def test_pruned_events_expire_older_cursors(outbox_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(outbox_url))
    try:
        writer = Writer(conn, "s")
        for i in range(3):
            await writer.record(
                BY_ENTITY["region"], [Change(i, str(i), "CREATED", None, {"n": i})], context={}
            )
        ids = [e.id for e in await read_after(conn, 0)]
        await conn.execute(
            "UPDATE outbox SET occurred_at = now() - interval '8 days' WHERE id < $1", ids[2]
        )
        assert await prune(conn, older_than_seconds=7 * 24 * 3600) == 2
        assert [e.id for e in await read_after(conn, 0)] == [ids[2]]
        await check_cursor(conn, ids[1])  # everything after it is still there
        with pytest.raises(CursorExpired) as expired:
            await check_cursor(conn, ids[0])  # the event right after it was pruned
        assert expired.value.extensions is not None
        assert expired.value.extensions["code"] == "CURSOR_EXPIRED"
        assert await head(conn) == ids[2]
        assert await prune(conn, older_than_seconds=7 * 24 * 3600) == 0
    finally:
        await conn.close()


async def test_a_slow_subscriber_catches_up_from_the_outbox_without_gaps(
    outbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.events import feed as feed_module
    from hub.events.feed import ChangeFeed, ChangeFilter

    monkeypatch.setattr(feed_module, "MAX_QUEUE", 5)
    monkeypatch.setattr(feed_module, "PAGE", 5)  # the feed queues a page at a time
    dsn = asyncpg_dsn(outbox_url)
    feed = ChangeFeed(dsn, poll_seconds=0.2)
    await feed.start()
    conn = await asyncpg.connect(dsn)
    try:
        stream = feed.subscribe(ChangeFilter(), None)
        first = asyncio.create_task(anext(stream))
        await asyncio.sleep(0.3)  # subscribed, waiting
        for t in range(3):
            async with conn.transaction():
                changes = [
                    Change(t * 100 + i, f"k{t}/{i}", "CREATED", None, {"i": i}) for i in range(10)
                ]
                await Writer(conn, "s").record(BY_ENTITY["payment"], changes, context={})
        got = [await first]
        await asyncio.sleep(0.5)  # the feed has read all 30; this subscriber's queue is full
        [subscriber] = [s for members in feed._topics.values() for s in members]
        assert subscriber.overflow  # the feed stopped queueing for it
        assert subscriber.waiting <= 5  # at most one page of 5 waits; the rest is not queued
        while len(got) < 30:
            got.append(await asyncio.wait_for(anext(stream), 10))
        await stream.aclose()
        ids = [e.id for e in got]
        assert ids == sorted(ids)
        assert len(set(ids)) == 30
        assert feed.subscribers == 0
    finally:
        await conn.close()
        await feed.stop()
