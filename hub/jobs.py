"""Jobs above the sync and the ketimpangan rules: sync the sources, then run the rules on
the Pemda-years the sync changed.

Neither side knows the other: the sync (`hub.sync`) writes the store and its change log,
the rules (`hub.discrepancies`) read the store and follow the change log. `rantai sync`
runs a `SyncJob` once; `rantai serve --sync-every` and `rantai demo` run `sync_forever`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from adapters.mapping import Config
from hub.discrepancies.engine import DiscrepancyEngine, RunReport
from hub.discrepancies.thresholds import load_thresholds
from hub.events.outbox import prune
from hub.sync.engine import SyncEngine
from hub.sync.reports import SourceReport

PRUNE_EVERY = 600.0  # seconds between two prunes of the outbox

log = logging.getLogger("rantai.sync")


class SyncJob(SyncEngine):
    """A `SyncEngine` whose `sync` then runs the ketimpangan rules on what changed;
    `discrepancy_report` is what they found the last time."""

    def __init__(self, database_url: str, config: Config, **options: Any) -> None:
        # The thresholds first: a bad [discrepancies] table fails before anything else.
        thresholds = load_thresholds(config.file)
        super().__init__(database_url, config, **options)
        self.discrepancies = DiscrepancyEngine(thresholds)
        self.discrepancy_report: RunReport | None = None

    async def sync(
        self, only: Sequence[str] | None = None, *, full: bool = False
    ) -> list[SourceReport]:
        reports = await super().sync(only, full=full)
        await self.check_discrepancies()
        return reports

    async def check_discrepancies(self, *, full: bool = False) -> RunReport:
        """Run the rules on the Pemda-years the changes since the last run touched."""
        async with self.pool.acquire() as conn:
            report = await self.discrepancies.run(conn, full=full)
        self.discrepancy_report = report
        if report.raised or report.resolved:
            await self._wake()
        return report


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
    """Sync every source and run the rules, wait `interval` seconds, repeat until `stop`
    is set; prune the outbox every PRUNE_EVERY seconds when a retention is set.

    Nothing here ends the loop but `stop`: a failing source is reported in its health, a
    store that is down is retried on the next cycle.
    """
    next_prune = 0.0
    while not stop.is_set():
        try:
            async with SyncJob(
                database_url,
                config,
                concurrency=concurrency,
                freshness_seconds=freshness_seconds,
                broker_url=broker_url,
            ) as job:
                while not stop.is_set():
                    reports = await job.sync()
                    if on_cycle is not None:
                        on_cycle(reports)
                    if outbox_retention_seconds and time.monotonic() >= next_prune:
                        async with job.pool.acquire() as conn:
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
