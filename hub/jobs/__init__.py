"""Jobs above the sync and the ketimpangan rules: sync the sources, then run the rules on
the Pemda-years the sync changed.

Neither side knows the other: the sync (`hub.sync`) writes the store and its change log,
the rules (`hub.discrepancies`) read the store and follow the change log. `rantai sync`
runs a `SyncJob` once; `rantai serve --sync-every` and `rantai demo` run `sync_forever`:
a cycle of every source each interval (from one cycle's start to the next's), and a look
at every source (`hub.sync.probe`) every half second that syncs at once those that changed;
each source syncs in rounds of its own (`hub.jobs.syncs`), so the loop never waits. It
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
from hub.jobs.syncs import Batch, SourceSyncs
from hub.sync import state
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

    async def due_sources(self, unchanged_seconds: float) -> tuple[list[str], list[str]]:
        """(the sources whose look moved, the sources a cycle syncs when looks gate it:
        `hub.sync.probe.Probe.due`)."""
        async with self.pool.acquire() as conn:
            pending = await state.pending_sources(conn)
        sources = self.sources()
        changed = await self.probe.changed(sources)
        return changed, self.probe.due_after(sources, changed, pending, unchanged_seconds)

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
    """Sync every source every `interval` seconds (from one cycle's start to the next's; a
    cycle that overruns is followed by a pause of a third of it) until `stop` is set. Once
    the first cycle has ended, every `probe_every` seconds (0: never) look at every source
    and sync at once those that changed (`hub.sync.probe`), also while a cycle syncs. With
    looks, a cycle leaves out a source whose look did not move, for at most
    `unchanged_seconds` (0: a cycle syncs every source). The loop never waits for a sync:
    each source syncs in rounds of its own (`hub.jobs.syncs`), what a look saw change
    before what a cycle merely refreshes. Prune the outbox every PRUNE_EVERY seconds when a
    retention is set. A "sync now" request wakes the wait and syncs the sources it names
    at once; a cycle of every source answers every request waiting (a lost wake-up costs at
    most one interval). The ketimpangan rules run beside the loop, after each sync, without
    holding it up (`_RulesBeside`).

    Nothing here ends the loop but `stop`: a failing source is reported in its health, a
    store that is down is retried on the next cycle.
    """
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
                    SourceSyncs(job, concurrency, synced=rules.due, on_cycle=on_cycle) as syncs,
                ):
                    loop = _Loop(job, syncs, known, interval, probe_every, unchanged_seconds)
                    await loop.forever(stop, wake, outbox_retention_seconds)
                    return
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


class _Loop:
    """What one turn of the sync loop starts: a cycle when one is due (or a "sync now"
    woke it), else the syncs of the sources whose look moved. It never waits for them."""

    def __init__(
        self,
        job: SyncJob,
        syncs: SourceSyncs,
        known: set[str],
        interval: float,
        probe_every: float,
        unchanged_seconds: float,
    ) -> None:
        self.job, self.syncs, self.known = job, syncs, known
        self.interval, self.probe_every, self.unchanged = interval, probe_every, unchanged_seconds
        self.due = 0.0  # when the next cycle of every source starts
        self.cycling = False  # a cycle of every source is under way
        self.cycled = False  # the first one has ended: looks go on from here
        self.asked = False  # a "sync now" woke the loop
        self.ended = asyncio.Event()  # a cycle ended: time for the next one is counted

    async def forever(
        self, stop: asyncio.Event, wake: asyncio.Event, outbox_retention_seconds: int | None
    ) -> None:
        """Turn until `stop` is set; `wake`: a "sync now" came."""
        next_prune = 0.0
        while not stop.is_set():
            await self.turn()
            if outbox_retention_seconds and time.monotonic() >= next_prune:
                async with self.job.pool.acquire() as conn:
                    await prune(conn, older_than_seconds=outbox_retention_seconds)
                next_prune = time.monotonic() + PRUNE_EVERY
            woken = await _wait(stop, self.wait_seconds(), wake, self.ended)
            if woken is None:
                return
            self.asked = woken

    def wait_seconds(self) -> float:
        left = float("inf") if self.cycling else max(self.due - time.monotonic(), 0.0)
        return min(left, self.probe_every) if self.probe_every > 0 and self.cycled else left

    async def turn(self) -> None:
        self.ended.clear()
        self.syncs.dispatch()  # a waiting round whose patience ran out
        if self.asked or (not self.cycling and time.monotonic() >= self.due):
            async with self.job.pool.acquire() as conn:
                claimed = await claim_requests(conn)
            try:
                whole, only, urgent = await _cycle_sources(
                    self.job, claimed, self.known, self.asked, self.probe_every, self.unchanged
                )
                if not self.cycled:
                    urgent = self.known  # nothing else runs yet: every slot is the cycle's
                batch = self.syncs.ask(sorted(self.known) if only is None else only, urgent)
            except BaseException:
                await self._release(claimed)
                raise
            self.cycling = self.cycling or whole
            self.syncs.spawn(self._cycle(batch, claimed, whole), "rantai-sync-cycle")
        elif self.probe_every > 0 and self.cycled:
            changed = await self.job.changed_sources()
            if changed:
                batch = self.syncs.ask(changed, changed)
                self.syncs.spawn(self.syncs.wait(batch), "rantai-sync-changed")
        self.asked = False

    async def _cycle(self, batch: Batch, claimed: Sequence[Any], whole: bool) -> None:
        started = time.monotonic()

        async def answer(reports: list[SourceReport]) -> None:
            self.syncs.synced.set()  # also when nothing synced: the day moves
            async with self.job.pool.acquire() as conn:
                await finish_requests(conn, claimed, reports, self.known)

        try:
            await self.syncs.wait(batch, answer)
        except asyncio.CancelledError:  # the loop stops: its requests wait for the next
            await self._release(claimed)
            raise
        except Exception:
            log.exception("sync cycle failed; the next one comes in %g s", self.interval)
            await self._release(claimed)
        finally:
            if whole:
                ended = time.monotonic()
                self.due = max(started + self.interval, ended + (ended - started) / 3)
                self.cycling = False
                if not self.cycled and self.probe_every > 0:
                    self.syncs.reserve = True
                self.cycled = True
                self.ended.set()

    async def _release(self, claimed: Sequence[Any]) -> None:
        """Give back the requests claimed and not answered (the loop stopping, the store
        failing): the next cycle, here or in another process, claims them again."""
        if not claimed:
            return
        try:
            async with self.job.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE sync_request SET started_at = NULL "
                    "WHERE id = ANY($1::bigint[]) AND finished_at IS NULL",
                    [r["id"] for r in claimed],
                )
        except Exception as exc:  # the store is away: they stay claimed, as a crash leaves them
            log.warning("could not give back %d sync requests: %r", len(claimed), exc)


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
) -> tuple[bool, list[str] | None, set[str]]:
    """(whether the cycle stands for every source, the sources it syncs (None: every one),
    those of them that go first). A woken cycle syncs what the requests name, a cycle of
    every source all of them; with looks, the latter only those `Probe.due` gives and those
    the requests name, the former also those whose look moved (it looks at every source).
    What a request names and what a look saw move go first."""
    requested = _requested_sources(claimed, known)  # None: every one, or no request
    only = requested if asked else None
    if only is None and probe_every > 0 and unchanged_seconds > 0:
        changed, gated = await job.due_sources(unchanged_seconds)
        if claimed and requested is None:
            return True, None, set(known)
        return True, sorted({*gated, *(requested or ())}), {*changed, *(requested or ())}
    if probe_every > 0 and only is not None:
        changed = await job.changed_sources()
        return False, sorted({*only, *changed}), {*only, *changed}
    if only is None:
        return True, None, set(known) if claimed and requested is None else set(requested or ())
    return False, only, set(only)


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


async def _wait(
    stop: asyncio.Event, seconds: float, wake: asyncio.Event | None, *also: asyncio.Event
) -> bool | None:
    """None when `stop` was set within `seconds`; True when `wake` was (and clears it);
    False when the time ran out or one of `also` was set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in (stop, wake, *also) if e is not None]
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
