"""Wake-up brokers against this machine's PostgreSQL, Redis and NATS (skipped, saying why,
where a server is missing), and a change feed woken through each."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from urllib.parse import urlsplit

import asyncpg
import pytest

from hub.events.broker import KEYS, OUTBOX, Broker, broker_for
from hub.events.changelog import Change
from hub.events.feed import ChangeFeed, ChangeFilter
from hub.migrate import run_async
from hub.sync.bindings import BY_ENTITY
from hub.sync.writer import Writer
from tests.conftest import Server, asyncpg_dsn

REDIS_URL = os.environ.get("RANTAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("RANTAI_TEST_NATS_URL", "nats://127.0.0.1:4222")


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 2):
            return True
    except OSError:
        return False


def broker_url(kind: str) -> str | None:
    if kind == "postgresql":
        return None
    url = REDIS_URL if kind == "redis" else NATS_URL
    if not reachable(url):
        pytest.skip(f"{kind} is not reachable at {url}: start it to test RANTAI_BROKER_URL={url}")
    return url


@pytest.fixture
async def store(server: Server) -> str:
    url = await server.create_database("rantai_broker")
    await run_async(url, "upgrade", "head")
    return url


async def until(check: object, what: str) -> None:
    for _ in range(200):  # bounded only so that a broken broker cannot hang the run
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.parametrize("kind", ["postgresql", "redis", "nats"])
async def test_a_publication_wakes_a_listener(kind: str, store: str) -> None:
    url = broker_url(kind)
    dsn = asyncpg_dsn(store)
    listener, publisher = broker_for(url, dsn), broker_for(url, dsn)
    wakes: list[int] = []
    listening = asyncio.create_task(listener.listen({OUTBOX: lambda _: wakes.append(1)}))
    try:
        await asyncio.sleep(0.5)  # subscribed
        await publish(publisher, dsn)
        await until(lambda: wakes, f"a wake-up through {kind}")
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await listener.close()
        await publisher.close()


async def publish(broker: Broker, dsn: str) -> None:
    """What the sync does: outbox rows in a transaction (PostgreSQL notifies at commit),
    then the broker's publication after commit."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await Writer(conn, "s").record(
                BY_ENTITY["region"], [Change(1, "53", "CREATED", None, {"code": "53"})], context={}
            )
    finally:
        await conn.close()
    await broker.publish()


@pytest.mark.parametrize("kind", ["postgresql", "redis", "nats"])
async def test_a_feed_woken_through_each_broker_delivers(kind: str, store: str) -> None:
    url = broker_url(kind)
    dsn = asyncpg_dsn(store)
    # Polling so slow that only the wake-up can deliver within the test.
    feed = ChangeFeed(dsn, broker=broker_for(url, dsn), poll_seconds=600)
    await feed.start()
    publisher = broker_for(url, dsn)
    try:
        stream = feed.subscribe(ChangeFilter(), None)
        first = asyncio.create_task(anext(stream))
        await asyncio.sleep(0.5)
        await publish(publisher, dsn)
        event = await asyncio.wait_for(first, 10)
        assert event.entity == "Region"
        await stream.aclose()
    finally:
        await feed.stop()
        await publisher.close()


@pytest.mark.parametrize("kind", ["postgresql", "redis", "nats"])
async def test_a_revocation_reaches_every_listener_through_each_broker(
    kind: str, store: str
) -> None:
    url = broker_url(kind)
    dsn = asyncpg_dsn(store)
    listener, publisher = broker_for(url, dsn), broker_for(url, dsn)
    revoked: list[str] = []
    handlers = {OUTBOX: lambda _: None, KEYS: revoked.append}
    listening = asyncio.create_task(listener.listen(handlers))
    try:
        await asyncio.sleep(0.5)
        if kind == "postgresql":  # keys.revoke notifies in its own transaction
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute("SELECT pg_notify('rantai_keys', 'abcd1234')")
            finally:
                await conn.close()
        else:
            await publisher.publish(KEYS, "abcd1234")
        await until(lambda: revoked, f"a revocation through {kind}")
        assert revoked == ["abcd1234"]
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listening
        await listener.close()
        await publisher.close()


def test_an_unknown_broker_url_is_refused() -> None:
    with pytest.raises(ValueError, match="redis:// or nats://"):
        broker_for("amqp://127.0.0.1", "postgresql://x")
