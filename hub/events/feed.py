"""One change feed per process: woken by the broker (or polling), each new outbox range read
once, fanned out.

Subscribers register a filter and get their own queue; each page the feed reads is matched
once per distinct filter, and the events that match are queued as one list per subscriber
(one wake-up per page, not per event: with 10,000 subscribers that was a third of a burst's
CPU, bench/subscriptions.py). Resuming from a cursor is seamless:
the subscriber is registered first (its queue takes every event the feed reads from then
on, all above the feed's position at that moment), then the events between its cursor and
that position are replayed from the outbox, then the queue is drained. Outbox ids become
visible in commit order (hub/events/changelog.py), so `id > position` misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import asyncpg

from hub.db import PgConnection
from hub.errors import StoreUnavailableError, as_store_unavailable
from hub.events.broker import KEYS, OUTBOX, Broker, PostgresBroker
from hub.events.outbox import OutboxEvent, check_cursor, head, read_after
from hub.store.replicas import parse_lsn
from hub.store.scope import Scope

log = logging.getLogger("rantai.events")

PAGE = 1000


@dataclass(frozen=True)
class ChangeFilter:
    region_code: str | None = None  # a province includes its regencies and cities
    opd_code: str | None = None
    entities: frozenset[str] | None = None  # GraphQL type names
    fiscal_year: int | None = None
    scope: Scope | None = None  # the viewer's: events outside it are not theirs to see

    def matches(self, event: OutboxEvent) -> bool:
        if self.scope is not None and not self.scope.sees_event(event):
            return False
        if self.opd_code is not None:
            # OPD codes repeat across Pemda: with a region, the pair names one OPD. A LOADED
            # event (a baseline load, hub/sync/baseline.py) is its Pemda's, every OPD's.
            loaded = event.op == "LOADED" and event.opd_code is None
            if event.opd_code != self.opd_code and not loaded:
                return False
            if self.region_code is not None and event.region_code != self.region_code:
                return False
        elif self.region_code is not None:
            code = event.region_code
            if code is None or not (
                code == self.region_code or code.startswith(self.region_code + ".")
            ):
                return False
        if self.entities is not None and event.entity not in self.entities:
            return False
        return self.fiscal_year is None or event.fiscal_year == self.fiscal_year


MAX_QUEUE = 10_000  # events waiting for one subscriber (and one page more) before it catches up
# from the outbox


class SubscriberFailed(Exception):
    """Matching this subscriber's filter against an event raised: it is dropped (with an
    error to its client) and the feed goes on for everyone else."""


class _Subscriber:
    """A subscriber's inbox: the events of each page the feed read that match its filter,
    one list per page (shared by every subscriber with this filter, never changed). Not an
    asyncio.Queue: one waiter is all it has, and a Queue's four deques were 3 KiB of every
    idle subscription."""

    __slots__ = ("_wake", "failed", "filter", "overflow", "pages", "waiting")

    def __init__(self, change_filter: ChangeFilter) -> None:
        self.filter = change_filter
        self.pages: list[list[OutboxEvent]] = []
        self.waiting = 0  # events in `pages`
        # Set when the inbox was full: the feed stops queueing and the subscriber reads
        # what it missed from the outbox itself, so a slow client costs no memory.
        self.overflow = False
        self.failed = False
        self._wake: asyncio.Future[None] | None = None

    def put(self, page: list[OutboxEvent]) -> None:
        self.pages.append(page)
        self.waiting += len(page)
        self._notify()

    def fail(self) -> None:
        self.failed = True
        self._notify()  # wakes the subscriber, which raises SubscriberFailed

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def take(self) -> list[list[OutboxEvent]]:
        """Every page waiting, once there is one."""
        while not self.pages and not self.failed:
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await self._wake
            finally:
                self._wake = None
        if self.failed:
            raise SubscriberFailed("this subscription's filter could not be matched")
        pages, self.pages, self.waiting = self.pages, [], 0
        return pages


class ChangeFeed:
    """Reads the outbox once for the whole process and hands events to subscribers."""

    def __init__(
        self, dsn: str, *, broker: Broker | None = None, poll_seconds: float = 2.0
    ) -> None:
        self.dsn = dsn
        self.broker = broker or PostgresBroker(dsn)
        self.poll_seconds = poll_seconds
        # Called with a revoked key's prefix (the broker's `keys` topic), e.g. to close the
        # sockets authenticated with it.
        self.on_revoked: list[Callable[[str], None]] = []
        self.position = 0
        # Subscribers by filter: an event is matched once per distinct filter (a province
        # has a few dozen: its Pemda, OPD, entity lists), not once per subscriber.
        self._topics: dict[ChangeFilter, set[_Subscriber]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        """Start reading; never fails: a store that is down is retried in the background."""
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="rantai-change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pool is not None:
            await self._pool.close()
        await self.broker.close()

    @property
    def subscribers(self) -> int:
        return sum(len(members) for members in self._topics.values())

    def _add(self, subscriber: _Subscriber) -> None:
        self._topics.setdefault(subscriber.filter, set()).add(subscriber)

    def _remove(self, subscriber: _Subscriber) -> None:
        members = self._topics.get(subscriber.filter)
        if members is not None:
            members.discard(subscriber)
            if not members:
                del self._topics[subscriber.filter]

    async def _run(self) -> None:
        listening = asyncio.create_task(self._listen(), name="rantai-change-feed-wakeups")
        try:
            while True:
                try:
                    if self._pool is None:
                        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
                    if not self._ready.is_set():
                        async with self._pool.acquire() as conn:
                            self.position = await head(conn)  # new subscribers start here
                        self._ready.set()
                    await self._read_new()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("change feed cannot read the outbox; retrying")
                # asyncio.timeout, not wait_for: no new task every poll cycle.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening

    async def _listen(self) -> None:
        """Wake-ups from the broker; while it is lost the feed still polls."""
        while True:
            try:
                await self.broker.listen({OUTBOX: self._wakeup, KEYS: self._revoked})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change feed lost its %s broker (%s); polling", self.broker.kind, exc)
            await asyncio.sleep(self.poll_seconds)

    def _wakeup(self, _: str) -> None:
        self._wake.set()

    def _revoked(self, prefix: str) -> None:
        for callback in self.on_revoked:
            try:
                callback(prefix)
            except Exception:
                log.exception("a revocation callback failed")

    def _opened(self) -> asyncpg.Pool:
        """The feed's pool. It exists before `_ready` is set, which every reader awaits."""
        if self._pool is None:
            raise RuntimeError("the change feed is read before it started")
        return self._pool

    async def _read_new(self) -> None:
        async with self._opened().acquire() as conn:
            while True:
                events = await read_after(conn, self.position, PAGE)
                if not events:
                    return
                # Where the primary's WAL stood once these were read: a replica that has
                # replayed this far can render them (hub/store/replicas.py).
                lsn = parse_lsn(await conn.fetchval("SELECT pg_current_wal_lsn()::text"))
                for event in events:
                    event.memo["lsn"] = lsn
                for change_filter, members in list(self._topics.items()):
                    try:
                        matched = [event for event in events if change_filter.matches(event)]
                    except Exception:
                        # One subscriber's filter must never stall everyone's feed.
                        log.exception("matching a subscriber's filter failed; dropped")
                        for subscriber in members:
                            subscriber.fail()
                        self._topics.pop(change_filter, None)
                        continue
                    if not matched:
                        continue
                    for subscriber in members:
                        if subscriber.overflow:
                            continue
                        if subscriber.waiting >= MAX_QUEUE:
                            subscriber.overflow = True
                        else:
                            subscriber.put(matched)
                # Advanced only after the fan-out: no await in between, so a subscriber
                # registering now sees either this page in its queue or in its replay.
                self.position = events[-1].id
                if len(events) < PAGE:
                    return

    async def check(self, after: int | None) -> None:
        """Refuse a resume position the outbox can no longer replay from (BAD_CURSOR), before
        a subscription is accepted, so the refusal is the subscription's own answer."""
        await self._ready.wait()
        if after is not None:
            async with self._reading() as conn:
                await check_cursor(conn, after)

    async def subscribe(
        self, change_filter: ChangeFilter, after: int | None
    ) -> AsyncIterator[OutboxEvent]:
        """Events after `after` (or from now), replayed then live, each exactly once. A
        client's `after` is checked with `check` before (the subscription's own answer);
        it is not read again here."""
        await self._ready.wait()
        subscriber = _Subscriber(change_filter)
        live_from = self.position  # registered in the same step: nothing falls between
        self._add(subscriber)
        last = after if after is not None else live_from
        try:
            while True:
                async for event in self._replay(change_filter, last, live_from):
                    last = event.id
                    yield event
                last = max(last, live_from)
                while not (subscriber.overflow and not subscriber.pages):
                    for page in await subscriber.take():
                        for queued in page:
                            if queued.id > last:
                                last = queued.id
                                yield queued
                # Fell behind: queue again from here, read the gap from the outbox.
                live_from = self.position
                subscriber.overflow = False
        finally:
            self._remove(subscriber)

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[PgConnection]:
        """A connection for a subscriber's own reads (its cursor, its replay). A store that
        cannot serve now is StoreUnavailableError, so the client gets STORE_UNAVAILABLE.
        asyncpg's CannotConnectNowError (a restarting server) is no OSError: the client got
        INTERNAL_SERVER_ERROR (bench/faults.py). A read cut by a restart can also surface
        as asyncpg's InternalClientError, on a connection that is then closed."""
        with as_store_unavailable():
            async with self._opened().acquire() as conn:
                try:
                    yield conn
                except Exception as exc:
                    if conn.is_closed():
                        raise StoreUnavailableError() from exc
                    raise

    async def _replay(
        self, change_filter: ChangeFilter, after: int, through: int
    ) -> AsyncIterator[OutboxEvent]:
        """Committed events in (after, through] that match, from the outbox."""
        position = after
        while position < through:
            async with self._reading() as conn:
                events = await read_after(conn, position, PAGE)
            events = [e for e in events if e.id <= through]
            if not events:
                return
            for event in events:
                if change_filter.matches(event):
                    yield event
            position = events[-1].id
