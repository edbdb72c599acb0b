"""Read replicas: queries and subscription renderings read PostgreSQL streaming replicas
(`RANTAI_READ_DATABASE_URLS`); the sync, mutations, the outbox feed, keys and the audit
log stay on the primary.

A monitor asks every replica, twice a second, how far it has replayed the primary's WAL.
A replica that lags more than `RANTAI_REPLICA_MAX_LAG_SECONDS`, or does not answer, is
skipped until it recovers. A reader that must see a given commit (an event's rendering:
the event was read from the primary's outbox) takes a replica that has replayed past it,
else the primary; a viewer who just wrote reads the primary for a while (`pin`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db import create_engine, read_engine

log = logging.getLogger("rantai.replicas")


def parse_lsn(text: str | None) -> int:
    """A pg_lsn ("16/B374D848") as a number, to compare positions."""
    if not text:
        return 0
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass
class Replica:
    url: str
    engine: AsyncEngine
    healthy: bool = False
    replayed: int = 0  # the WAL position it had replayed at its last check
    lag: float = float("inf")
    served: int = 0  # readers handed this replica (tests and metrics read it)


@dataclass
class ReadReplicas:
    primary: AsyncEngine
    urls: list[str]
    max_lag: float = 5.0
    pool_size: int = 10
    interval: float = 0.5
    replicas: list[Replica] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _pinned: dict[str, float] = field(default_factory=dict)

    async def start(self) -> None:
        for url in self.urls:
            engine = read_engine(create_engine(url, pool_size=self.pool_size))
            self.replicas.append(Replica(url, engine))
        if self.replicas:
            await self.check()
            self._task = asyncio.create_task(self._monitor(), name="rantai-replicas")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for replica in self.replicas:
            await replica.engine.dispose()

    def engine(self, *, at: int = 0, viewer: str | None = None) -> AsyncEngine:
        """An engine to read from: a healthy replica that has replayed past WAL position
        `at`, in turn, else the primary (and always the primary for a pinned viewer)."""
        if not self.replicas or (viewer is not None and self._is_pinned(viewer)):
            return self.primary
        ready = [r for r in self.replicas if r.healthy and r.replayed >= at]
        if not ready:
            return self.primary
        replica = ready[next(self._turn) % len(ready)]
        replica.served += 1
        return replica.engine

    def pin(self, viewer: str) -> None:
        """`viewer` wrote: its reads go to the primary until the replicas have surely
        caught up (read your own writes)."""
        self._pinned[viewer] = time.monotonic() + 2 * self.max_lag
        if len(self._pinned) > 10_000:
            now = time.monotonic()
            self._pinned = {k: v for k, v in self._pinned.items() if v > now}

    def _is_pinned(self, viewer: str) -> bool:
        until = self._pinned.get(viewer)
        return until is not None and until > time.monotonic()

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # the primary is away: keep the replicas' last verdicts
                log.warning("cannot compare the replicas with the primary", exc_info=True)

    async def check(self) -> None:
        async with self.primary.connect() as conn:
            head = parse_lsn(
                (await conn.exec_driver_sql("SELECT pg_current_wal_lsn()::text")).scalar()
            )
        for replica in self.replicas:
            await self._check_one(replica, head)

    async def _check_one(self, replica: Replica, head: int) -> None:
        was = replica.healthy
        try:
            async with asyncio.timeout(2):
                async with replica.engine.connect() as conn:
                    row: Any = (
                        await conn.exec_driver_sql(
                            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                            "extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
                        )
                    ).one()
        except Exception:
            replica.healthy = False
            if was:
                log.warning("read replica %s does not answer: skipped", _safe(replica.url))
            return
        in_recovery, replayed, behind = row[0], row[1], row[2]
        replica.replayed = parse_lsn(replayed)
        # Caught up with what the primary had written: no lag, however old its last
        # transaction is (an idle primary writes none).
        replica.lag = 0.0 if replica.replayed >= head else float(behind or 0.0)
        replica.healthy = bool(in_recovery) and replica.lag <= self.max_lag
        if was != replica.healthy:
            state = "used again" if replica.healthy else f"skipped (lag {replica.lag:.1f} s)"
            log.warning("read replica %s %s", _safe(replica.url), state)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
