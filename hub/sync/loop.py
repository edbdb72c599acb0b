"""Background sync: every source, again and again, inside `rantai serve` and `rantai demo`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from adapters.mapping import Config
from hub.events.outbox import prune
from hub.sync.engine import SourceReport, SyncEngine

PRUNE_EVERY = 600.0  # seconds between two prunes of the outbox

log = logging.getLogger("rantai.sync")


async def sync_forever(
    database_url: str,
    config: Config,
    *,
    interval: float,
    stop: asyncio.Event,
    concurrency: int = 3,
    freshness_seconds: int | None = None,
    on_cycle: Callable[[Sequence[SourceReport]], None] | None = None,
    outbox_retention_seconds: int | None = None,
    broker_url: str | None = None,
) -> None:
    """Sync every source, wait `interval` seconds, repeat until `stop` is set.

    Nothing here ends the loop but `stop`: a failing source is reported in its health, a
    store that is down is retried on the next cycle.
    """
    next_prune = 0.0
    while not stop.is_set():
        try:
            async with SyncEngine(
                database_url,
                config,
                concurrency=concurrency,
                freshness_seconds=freshness_seconds,
                broker_url=broker_url,
            ) as engine:
                while not stop.is_set():
                    reports = await engine.sync()
                    if on_cycle is not None:
                        on_cycle(reports)
                    if outbox_retention_seconds and time.monotonic() >= next_prune:
                        async with engine.pool.acquire() as conn:
                            await prune(conn, older_than_seconds=outbox_retention_seconds)
                        next_prune = time.monotonic() + PRUNE_EVERY
                    if await _wait(stop, interval):
                        return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sync cycle failed; retrying in %g s", interval)
            if await _wait(stop, interval):
                return


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """True when `stop` was set within `seconds`."""
    try:
        async with asyncio.timeout(seconds):  # no new task per cycle, unlike wait_for
            await stop.wait()
    except TimeoutError:
        return False
    return True
