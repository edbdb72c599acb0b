"""Wake-up brokers: how one process tells the others that the outbox has grown.

The outbox is the only truth; a broker only shortens the wait. PostgreSQL (the default)
needs nothing else: the writer's `pg_notify` is delivered at commit. Redis and NATS are for
sites that already run one; the sync publishes after each commit. A lost wake-up costs at
most the feed's poll interval, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import asyncpg

CHANNEL = "rantai_outbox"  # PostgreSQL channel, Redis channel; NATS subject "rantai.outbox"


class Broker(ABC):
    kind: str

    async def publish(self) -> None:  # noqa: B027 - PostgreSQL publishes in the transaction
        """Wake every feed (called after a commit that wrote outbox rows)."""

    @abstractmethod
    async def listen(self, wake: Callable[[], None]) -> None:
        """Call `wake` on every publication until cancelled; raise if the broker is lost."""

    async def close(self) -> None:
        return None


class PostgresBroker(Broker):
    kind = "postgresql"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def listen(self, wake: Callable[[], None]) -> None:
        conn = await asyncpg.connect(self.dsn)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda *_: lost.set())
            await conn.add_listener(CHANNEL, lambda *_: wake())
            await lost.wait()
            raise ConnectionError("the LISTEN connection closed")
        finally:
            with contextlib.suppress(Exception):
                await conn.close()


class RedisBroker(Broker):
    kind = "redis"

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.client: Any = redis.from_url(url)

    async def publish(self) -> None:
        await self.client.publish(CHANNEL, b"")

    async def listen(self, wake: Callable[[], None]) -> None:
        pubsub = self.client.pubsub()
        await pubsub.subscribe(CHANNEL)
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    wake()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        raise ConnectionError("the Redis subscription ended")

    async def close(self) -> None:
        await self.client.aclose()


class NatsBroker(Broker):
    kind = "nats"
    subject = "rantai.outbox"

    def __init__(self, url: str) -> None:
        self.url = url
        self._nc: Any = None

    async def _client(self) -> Any:
        if self._nc is None or self._nc.is_closed:
            import nats

            self._nc = await nats.connect(self.url, connect_timeout=3, max_reconnect_attempts=3)
        return self._nc

    async def publish(self) -> None:
        nc = await self._client()
        await nc.publish(self.subject, b"")
        await nc.flush()

    async def listen(self, wake: Callable[[], None]) -> None:
        import nats

        lost = asyncio.Event()

        async def on_closed() -> None:
            lost.set()

        async def on_message(_: Any) -> None:
            wake()

        nc = await nats.connect(
            self.url, connect_timeout=3, max_reconnect_attempts=3, closed_cb=on_closed
        )
        try:
            await nc.subscribe(self.subject, cb=on_message)
            await lost.wait()
            raise ConnectionError("the NATS connection closed")
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()


def broker_for(url: str | None, store_dsn: str) -> Broker:
    """The broker of RANTAI_BROKER_URL: unset or postgresql://… → the store itself."""
    if not url or url.startswith(("postgres://", "postgresql://", "postgresql+asyncpg://")):
        return PostgresBroker(store_dsn)
    if url.startswith(("redis://", "rediss://")):
        return RedisBroker(url)
    if url.startswith(("nats://", "tls://")):
        return NatsBroker(url)
    raise ValueError(
        f"RANTAI_BROKER_URL must be postgresql://, redis:// or nats://, not {url.split(':')[0]}://"
    )
