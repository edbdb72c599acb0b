"""Jobs above the sync and the ketimpangan rules: sync the sources, then run the rules on
the Pemda-years the sync changed.

Neither side knows the other: the sync (`hub.sync`) writes the store and its change log,
the rules (`hub.discrepancies`) read the store and follow the change log. `rantai sync`
runs a `SyncJob` once; `rantai serve --sync-every` and `rantai demo` run `sync_forever`:
a cycle of every source each interval (from one cycle's start to the next's), and between
cycles a look at every source (`hub.sync.probe`) that syncs at once those that changed. It
also answers "sync now": the API records a request (`sync_request`) and wakes this loop
through the broker's `sync` topic; the loop claims the waiting requests, syncs their
sources at once, and writes the outcome on them. The API never imports this module: the
store and the broker are all the two processes share. Beside the loop, each source's
scheduled reconciliation runs in the background (`hub.jobs.reconcile`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from adapters.mapping import Config
from hub.db import PgConnection, asyncpg_dsn
from hub.discrepancies.engine import DiscrepancyEngine, RunReport
from hub.discrepancies.thresholds import load_thresholds
from hub.events.broker import SYNC, broker_for
from hub.events.outbox import prune
from hub.jobs.reconcile import reconcile_forever
from hub.sync import state
from hub.sync.bindings import source_wave
from hub.sync.engine import SyncEngine
from hub.sync.probe import Probe
from hub.sync.reports import SourceReport

PRUNE_EVERY = 600.0  # seconds between two prunes of the outbox

log = logging.getLogger("rantai.sync")


class SyncJob(SyncEngine):
    """A `SyncEngine` whose `sync` then runs the ketimpangan rules on what changed;
    `discrepancy_report` is what they found the last time."""

    def __init__(
        self, database_url: str, config: Config, *, rules_inline: bool = True, **options: Any
    ) -> None:
        # The thresholds first: a bad [discrepancies] table fails before anything else.
        thresholds = load_thresholds(config.file)
        super().__init__(database_url, config, **options)
        self.rules_inline = rules_inline  # False: the caller runs the rules (sync_forever)
        self.discrepancies = DiscrepancyEngine(thresholds)
        self.discrepancy_report: RunReport | None = None
        self.probe = Probe(self.kept)

    async def changed_sources(self) -> list[str]:
        """The sources whose look differs from the last (`hub.sync.probe`)."""
        return await self.probe.changed(self.sources())

    async def due_sources(self, unchanged_seconds: float) -> list[str]:
        """The sources a cycle syncs when looks gate it (`hub.sync.probe.Probe.due`)."""
        async with self.pool.acquire() as conn:
            pending = await state.pending_sources(conn)
        return await self.probe.due(self.sources(), pending, unchanged_seconds)

    async def sync(
        self, only: Sequence[str] | None = None, *, full: bool = False, reconcile: bool = False
    ) -> list[SourceReport]:
        began = time.monotonic()
        reports = await super().sync(only, full=full, reconcile=reconcile)
        self.probe.synced(reports, began)
        if self.rules_inline:
            await self.check_discrepancies()
        return reports

    async def check_discrepancies(
        self, *, full: bool = False, conn: PgConnection | None = None
    ) -> RunReport:
        """Run the rules on the Pemda-years the changes since the last run touched (on
        `conn`, else on a connection of the pool)."""
        if conn is not None:
            report = await self.discrepancies.run(conn, full=full)
        else:
            async with self.pool.acquire() as pooled:
                report = await self.discrepancies.run(pooled, full=full)
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
    probe_every: float = 0.0,
    unchanged_seconds: float = 0.0,
) -> None:
    """Sync every source every `interval` seconds (from one cycle's
    start to the next's; a cycle that overruns is followed by a pause of a third of it)
    until `stop` is set; between cycles, every `probe_every` seconds (0: never), look at
    every source and sync those that changed (`hub.sync.probe`), each in a task of its own
    (`_SyncsBetween`: looking goes on while they sync). With looks, a cycle leaves
    out a source whose look did not move, for at most `unchanged_seconds` (0: a cycle syncs
    every source). Prune the outbox every
    PRUNE_EVERY seconds when a retention is set. A "sync now" request wakes the wait and
    syncs the sources it names at once; a cycle that syncs every source answers every
    request waiting (a lost wake-up costs at most one interval). The ketimpangan rules run
    beside the loop, after each sync, without holding it up (`_RulesBeside`).

    Nothing here ends the loop but `stop`: a failing source is reported in its health, a
    store that is down is retried on the next cycle.
    """
    next_prune = 0.0
    wake = asyncio.Event()
    listening = asyncio.create_task(
        _listen_for_requests(database_url, broker_url, wake), name="rantai-sync-requests"
    )

    def reconciler(config: Config) -> SyncJob:
        return SyncJob(
            database_url, config, concurrency=1, freshness_seconds=freshness_seconds,
            broker_url=broker_url,
        )  # fmt: skip

    reconciling = asyncio.create_task(
        reconcile_forever(reconciler, config, stop), name="rantai-reconciliation"
    )
    known = {s.id for s in config.sources}
    try:
        while not stop.is_set():
            try:
                async with (
                    SyncJob(
                        database_url,
                        config,
                        concurrency=concurrency,
                        freshness_seconds=freshness_seconds,
                        broker_url=broker_url,
                        rules_inline=False,
                    ) as job,
                    _RulesBeside(job, stop) as rules,
                    _SyncsBetween(job, rules, concurrency, on_cycle) as between,
                ):
                    due, asked = 0.0, False  # the next cycle of every source; a wake-up
                    while not stop.is_set():
                        if asked or time.monotonic() >= due:
                            await between.drain()  # a cycle never meets a source's own sync
                            started = time.monotonic()
                            async with job.pool.acquire() as conn:
                                claimed = await claim_requests(conn)
                            whole, only = await _cycle_sources(
                                job, claimed, known, asked, probe_every, unchanged_seconds
                            )
                            reports = await job.sync(only) if only != [] else []
                            rules.due.set()  # also when nothing synced: the day moves
                            async with job.pool.acquire() as conn:
                                await finish_requests(conn, claimed, reports, known)
                            if on_cycle is not None:
                                on_cycle(reports)
                            if whole:
                                ended = time.monotonic()
                                due = max(started + interval, ended + (ended - started) / 3)
                            if outbox_retention_seconds and time.monotonic() >= next_prune:
                                async with job.pool.acquire() as conn:
                                    await prune(conn, older_than_seconds=outbox_retention_seconds)
                                next_prune = time.monotonic() + PRUNE_EVERY
                        left = due - time.monotonic()
                        wait = min(left, probe_every) if probe_every > 0 else left
                        woken = await _wait(stop, max(wait, 0.0), wake)
                        if woken is None:
                            return
                        asked = woken
                        if not asked and probe_every > 0 and time.monotonic() < due:
                            between.start(await job.changed_sources())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sync cycle failed; retrying in %g s", interval)
                if await _wait(stop, interval, None) is None:
                    return
    finally:
        for task in (listening, reconciling):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _SyncsBetween:
    """The syncs of the sources whose look moved between cycles, a task per source, at most
    `concurrency` at once: a change seen while another source syncs starts at once instead
    of waiting for that sync (and its link resolution) to end. A source seen changed again
    while it syncs is synced once more after. A cycle first waits for them (`drain`)."""

    def __init__(
        self,
        job: SyncJob,
        rules: _RulesBeside,
        concurrency: int,
        on_cycle: Callable[[Sequence[SourceReport]], None] | None,
    ) -> None:
        self.job, self.rules, self.on_cycle = job, rules, on_cycle
        self.gate = asyncio.Semaphore(max(1, concurrency))
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.again: set[str] = set()

    async def __aenter__(self) -> _SyncsBetween:
        return self

    async def __aexit__(self, *exc: object) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def start(self, sources: Sequence[str]) -> None:
        """Sync these sources, each when the sources of earlier waves among them (the
        parents' sources, `WAVE_OF_ENTITY`) have synced, as one cycle would order them."""
        if not sources:
            return  # (`sources([])` is every source)
        waves = {s.id: source_wave(s) for s in self.job.sources(sources)}
        earlier: list[asyncio.Task[None]] = []
        for wave in sorted(set(waves.values())):
            started = []
            for source in sorted(s for s, w in waves.items() if w == wave):
                if source in self.tasks:
                    self.again.add(source)
                else:
                    task = asyncio.create_task(self._sync(source, list(earlier)))
                    self.tasks[source] = task
                    started.append(task)
            earlier += started

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def _sync(self, source: str, after: Sequence[asyncio.Task[None]]) -> None:
        try:
            await asyncio.gather(*after, return_exceptions=True)
            while True:
                async with self.gate:
                    reports = await self.job.sync([source])
                self.rules.due.set()
                if self.on_cycle is not None:
                    self.on_cycle(reports)
                if source not in self.again:
                    return
                self.again.discard(source)
        except asyncio.CancelledError:
            raise
        except Exception:  # the next cycle syncs it: its clean sync is not noted
            log.exception("sync of %s between cycles failed", source)
        finally:
            self.tasks.pop(source, None)
            self.again.discard(source)


class _RulesBeside:
    """The ketimpangan rules of a sync loop, in a task of their own on a connection of
    their own: run each time `due` is set (once for any number of sets meanwhile), and at
    least hourly. A sync never waits for them, so a change reaches subscribers as soon as
    it is synced, however long the rules take on its Pemda-year; they follow the change
    log, so what several syncs changed is checked in one run."""

    def __init__(self, job: SyncJob, stop: asyncio.Event) -> None:
        self.job, self.stop = job, stop
        self.due = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _RulesBeside:
        self.task = asyncio.create_task(self._forever(), name="rantai-rules")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _forever(self) -> None:
        conn: PgConnection | None = None
        try:
            while await _wait(self.stop, 3600.0, self.due) is not None:
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.job.dsn)
                    await self.job.check_discrepancies(conn=conn)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("the ketimpangan rules failed; they run again after a sync")
                    if conn is not None:
                        conn.terminate()
                    conn = None
        finally:
            if conn is not None:
                conn.terminate()


async def claim_requests(conn: PgConnection) -> list[Any]:
    """Take every waiting "sync now" request: a cycle of every source answers them all, a
    woken cycle syncs the sources they name."""
    return list(
        await conn.fetch(
            "UPDATE sync_request SET started_at = now() WHERE started_at IS NULL "
            "RETURNING id, source_id"
        )
    )


async def _cycle_sources(
    job: SyncJob,
    claimed: Sequence[Any],
    known: set[str],
    asked: bool,
    probe_every: float,
    unchanged_seconds: float,
) -> tuple[bool, list[str] | None]:
    """(whether the cycle stands for every source, the sources it syncs; None: every one).
    A woken cycle syncs what the requests name, a cycle of every source all of them; with
    looks, the latter only those `Probe.due` gives and those the requests name, the former
    also those whose look moved (it looks at every source)."""
    requested = _requested_sources(claimed, known)  # None: every one, or no request
    only = requested if asked else None
    if only is None and probe_every > 0 and unchanged_seconds > 0:
        gated = await job.due_sources(unchanged_seconds)
        if claimed and requested is None:
            return True, None
        return True, sorted({*gated, *(requested or ())})
    if probe_every > 0:
        changed = await job.changed_sources()
        if only is not None and changed:
            return False, sorted({*only, *changed})
    return only is None, only


def _requested_sources(claimed: Sequence[Any], known: set[str]) -> list[str] | None:
    """The sources a woken cycle syncs: None (all) when a request names none."""
    if not claimed or any(r["source_id"] is None for r in claimed):
        return None
    return sorted({r["source_id"] for r in claimed} & known)


async def finish_requests(
    conn: PgConnection, claimed: Sequence[Any], reports: Sequence[SourceReport], known: set[str]
) -> None:
    """Write each claimed request's outcome: the status of each source it asked for."""
    by_source = {r.source: r.status for r in reports}
    for request in claimed:
        wanted = [request["source_id"]] if request["source_id"] else sorted(by_source)
        outcome = "; ".join(
            f"{s}: {by_source.get(s, 'not configured here' if s not in known else 'not run')}"
            for s in wanted
        )
        await conn.execute(
            "UPDATE sync_request SET finished_at = now(), outcome = $2 WHERE id = $1",
            request["id"],
            outcome or "no sources configured",
        )


async def _listen_for_requests(
    database_url: str, broker_url: str | None, wake: asyncio.Event
) -> None:
    """Set `wake` on every "sync now" the broker carries; a lost broker is listened to
    again a moment later (meanwhile each full cycle still takes the waiting requests)."""
    dsn = asyncpg_dsn(database_url)
    while True:
        broker = broker_for(broker_url, dsn)
        try:
            await broker.listen({SYNC: lambda _payload: wake.set()})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("sync requests: lost the %s broker (%s); listening again", broker.kind, exc)
        finally:
            await broker.close()
        await asyncio.sleep(2.0)


async def _wait(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None) -> bool | None:
    """None when `stop` was set within `seconds`; True when `wake` was (and clears it);
    False when the time ran out."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    if stop.is_set():
        return None
    if wake is not None and wake.is_set():
        wake.clear()
        return True
    return False
