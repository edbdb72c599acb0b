"""Wake-up brokers: how one process tells the others that something changed.

Three topics: `outbox` (the outbox has grown), `keys` (an API key was revoked; the payload
is its prefix) and `sync` (an operator asked for a sync now; the payload is the request's
id, and the sync loop of `rantai serve --sync-every` or `rantai demo` answers it). The
store is the only truth; a broker only shortens the wait. PostgreSQL (the default) needs
nothing else: the writer's `pg_notify` is delivered at commit. Redis and NATS are for sites
that already run one; the writer publishes after each commit. A lost wake-up costs at most
the feed's poll interval (the sync loop's interval), never an event; a lost revocation at
most the interval at which open sockets check their credential again.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import asyncpg

OUTBOX = "outbox"
KEYS = "keys"
SYNC = "sync"
TOPICS = (OUTBOX, KEYS, SYNC)
CHANNEL = "rantai_outbox"  # the outbox's PostgreSQL and Redis channel
KEYS_CHANNEL = "rantai_keys"
SYNC_CHANNEL = "rantai_sync"
_CHANNELS = {OUTBOX: CHANNEL, KEYS: KEYS_CHANNEL, SYNC: SYNC_CHANNEL}

Handlers = Mapping[str, Callable[[str], None]]  # topic -> called with the payload


class Broker(ABC):
    kind: str

    async def publish(self, topic: str = OUTBOX, payload: str = "") -> None:  # noqa: B027
        """Tell every process (after a commit that wrote outbox rows, or revoked a key).
        PostgreSQL's notifications go out with the writing transaction instead."""

    @abstractmethod
    async def listen(self, handlers: Handlers) -> None:
        """Call the topic's handler on every publication until cancelled; raise if the
        broker is lost."""

    async def close(self) -> None:
        return None


class PostgresBroker(Broker):
    kind = "postgresql"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def listen(self, handlers: Handlers) -> None:
        conn = await asyncpg.connect(self.dsn)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda *_: lost.set())
            for topic, handler in handlers.items():
                await conn.add_listener(
                    _CHANNELS[topic], lambda *args, h=handler: h(str(args[-1] or ""))
                )
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

    async def publish(self, topic: str = OUTBOX, payload: str = "") -> None:
        await self.client.publish(_CHANNELS[topic], payload.encode())

    async def listen(self, handlers: Handlers) -> None:
        pubsub = self.client.pubsub()
        by_channel = {_CHANNELS[topic]: handler for topic, handler in handlers.items()}
        await pubsub.subscribe(*by_channel)
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    channel = message.get("channel")
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    data = message.get("data") or b""
                    handler = by_channel.get(channel)
                    if handler is not None:
                        handler(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        raise ConnectionError("the Redis subscription ended")

    async def close(self) -> None:
        await self.client.aclose()


class NatsBroker(Broker):
    kind = "nats"
    subjects: ClassVar[dict[str, str]] = {
        OUTBOX: "rantai.outbox",
        KEYS: "rantai.keys",
        SYNC: "rantai.sync",
    }

    def __init__(self, url: str) -> None:
        self.url = url
        self._nc: Any = None

    async def _client(self) -> Any:
        if self._nc is None or self._nc.is_closed:
            import nats

            self._nc = await nats.connect(self.url, connect_timeout=3, max_reconnect_attempts=3)
        return self._nc

    async def publish(self, topic: str = OUTBOX, payload: str = "") -> None:
        nc = await self._client()
        await nc.publish(self.subjects[topic], payload.encode())
        await nc.flush()

    async def listen(self, handlers: Handlers) -> None:
        import nats

        lost = asyncio.Event()

        async def on_closed() -> None:
            lost.set()

        nc = await nats.connect(
            self.url, connect_timeout=3, max_reconnect_attempts=3, closed_cb=on_closed
        )
        try:
            for topic, handler in handlers.items():

                async def on_message(message: Any, handler: Any = handler) -> None:
                    handler(message.data.decode())

                await nc.subscribe(self.subjects[topic], cb=on_message)
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
