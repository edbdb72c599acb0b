"""The sync loop's rounds (`hub.jobs.syncs`): a source whose look moved starts syncing at
once, not after another source's sync ends nor after a cycle; a source asked for again
while it syncs is synced once more after, one asked for before its round began is synced
once; at most `concurrency` run at once, what a look saw move first, parents' sources
first. The sync loop itself, on real sources, is tested in tests/test_sync_probe.py; here
the job only records when each source's sync began and ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from hub.jobs import _Loop
from hub.jobs import syncs as syncs_module
from hub.jobs.syncs import SourceSyncs
from hub.migrate import run_async
from hub.sync.reports import SourceReport
from tests.conftest import Server, asyncpg_dsn


class Job:
    """Stands in for a SyncJob's `sync` and `sources`: each source takes `seconds[source]`
    and is of wave `waves[source]` (2 by default); `fail` raise."""

    def __init__(
        self, seconds: dict[str, float], waves: dict[str, int] | None = None, fail: str = ""
    ) -> None:
        self.seconds, self.waves, self.fail = seconds, waves or {}, fail
        self.log: list[tuple[str, str, float]] = []  # (source, began|ended, loop time)
        self.running = 0
        self.most = 0

    async def sync(self, only: Sequence[str]) -> list[SourceReport]:
        [source] = only
        loop = asyncio.get_running_loop()
        self.running += 1
        self.most = max(self.most, self.running)
        self.log.append((source, "began", loop.time()))
        await asyncio.sleep(self.seconds.get(source, 0.05))
        self.log.append((source, "ended", loop.time()))
        self.running -= 1
        if source == self.fail:
            raise RuntimeError("the store went away")
        report = SourceReport(source)
        report.status = "OK"
        return [report]

    def order(self) -> list[str]:
        return [s for s, e, _ in self.log if e == "began"]

    def sources(self, only: Sequence[str]) -> list[Any]:
        only = only or list(self.seconds)  # as SyncEngine.sources: none named is every one
        entity = {0: "region", 1: "opd", 2: "payment"}
        return [
            SimpleNamespace(
                id=s,
                entities=[SimpleNamespace(spec=SimpleNamespace(name=entity[self.waves.get(s, 2)]))],
            )
            for s in only
        ]

    def at(self, source: str, event: str, nth: int = 0) -> float:
        return [t for s, e, t in self.log if (s, e) == (source, event)][nth]


def syncs_of(job: Job, concurrency: int = 3) -> tuple[SourceSyncs, list[list[str]]]:
    """The rounds of `job`, and the sources of each `on_cycle` call."""
    reported: list[list[str]] = []
    syncs = SourceSyncs(
        job,  # type: ignore[arg-type]
        concurrency,
        synced=asyncio.Event(),
        on_cycle=lambda reports: reported.append([r.source for r in reports]),
    )
    return syncs, reported


async def test_a_change_does_not_wait_for_another_sources_sync() -> None:
    job = Job({"slow": 0.5, "quick": 0.05})
    syncs, reported = syncs_of(job)
    async with syncs:
        slow = syncs.ask(["slow"], ["slow"])
        await asyncio.sleep(0.1)
        assert [r.source for r in await syncs.wait(syncs.ask(["quick"], ["quick"]))] == ["quick"]
        assert not syncs.idle  # the slow one still syncs
        await syncs.wait(slow)
    assert job.at("quick", "ended") < job.at("slow", "ended")
    assert job.at("quick", "began") - job.at("slow", "began") < 0.2
    assert reported == [["quick"], ["slow"]]
    assert syncs.synced.is_set()


async def test_a_source_asked_for_again_while_it_syncs_is_synced_once_more() -> None:
    job = Job({"a": 0.2})
    syncs, reported = syncs_of(job)
    async with syncs:
        first = syncs.ask(["a"])
        await asyncio.sleep(0.05)
        second, third = syncs.ask(["a"]), syncs.ask(["a"])  # twice while it syncs
        assert second.rounds == third.rounds  # one round after it, not two
        for batch in (first, second, third):
            await syncs.wait(batch)
    assert [e for s, e, _ in job.log] == ["began", "ended", "began", "ended"]
    assert job.at("a", "began", 1) >= job.at("a", "ended", 0)  # never two of one source
    assert reported == [["a"], ["a"], []]  # each round reported once, by its maker


async def test_a_source_asked_for_before_its_round_began_is_synced_once() -> None:
    job = Job({"busy": 0.2, "a": 0.05})
    syncs, _ = syncs_of(job, concurrency=1)
    async with syncs:
        busy = syncs.ask(["busy"])
        cycle = syncs.ask(["a"])  # waits for the only slot
        look = syncs.ask(["a"], ["a"])  # joins that round (and hurries it)
        assert [r.source for r in await syncs.wait(look)] == ["a"]
        assert [r.source for r in await syncs.wait(cycle)] == ["a"]
        await syncs.wait(busy)
    assert job.order() == ["busy", "a"]


async def test_at_most_concurrency_at_once() -> None:
    job = Job(dict.fromkeys("abcde", 0.1))
    syncs, reported = syncs_of(job, concurrency=2)
    async with syncs:
        batch = syncs.ask(list("abcde"))
        assert sorted(r.source for r in await syncs.wait(batch)) == list("abcde")
        assert syncs.idle
        assert not syncs.running
    assert job.most == 2
    assert len([e for _, e, _ in job.log if e == "ended"]) == 5
    assert [sorted(sources) for sources in reported] == [list("abcde")]


async def test_what_a_look_saw_move_goes_before_what_a_cycle_refreshes() -> None:
    job = Job({"busy": 0.1, **dict.fromkeys("xyz", 0.05)})
    syncs, _ = syncs_of(job, concurrency=1)
    async with syncs:
        syncs.ask(["busy"])
        cycle = syncs.ask(["x", "y"])  # unmoved: not urgent
        look = syncs.ask(["z"], ["z"])
        await syncs.wait(cycle)
        await syncs.wait(look)
    assert job.order() == ["busy", "z", "x", "y"]


async def test_while_looks_are_on_a_cycle_leaves_a_slot_to_changes() -> None:
    job = Job({**dict.fromkeys("abcd", 0.2), "change": 0.05})
    syncs, _ = syncs_of(job, concurrency=3)
    syncs.reserve = True
    async with syncs:
        cycle = syncs.ask(list("abcd"))
        await asyncio.sleep(0.05)
        assert sorted(syncs.running) == ["a", "b"]  # two of three slots
        look = syncs.ask(["change"], ["change"])
        await syncs.wait(look)
        assert "a" in syncs.running  # synced at once, beside the cycle's two
        await syncs.wait(cycle)
    assert job.most == 3


async def test_the_sources_of_one_ask_sync_parents_first() -> None:
    """Asked for together, a source of the plan hierarchy (wave 1) syncs before one whose
    rows hang from it (wave 2), as a cycle of the engine orders them."""
    job = Job({"plan": 0.2, "finance": 0.05}, waves={"plan": 1})
    syncs, _ = syncs_of(job)
    async with syncs:
        await syncs.wait(syncs.ask(["finance", "plan"], ["finance", "plan"]))
    assert job.at("finance", "began") >= job.at("plan", "ended")


async def test_a_change_does_not_wait_for_a_cycles_unmoved_parents() -> None:
    """An urgent round waits only for urgent rounds of earlier waves; a cycle's round
    waits for every earlier wave, urgent or not."""
    job = Job({"plan": 0.3, "finance": 0.05, "budget": 0.05}, waves={"plan": 1})
    syncs, _ = syncs_of(job)
    async with syncs:
        cycle = syncs.ask(["plan", "budget"])
        look = syncs.ask(["finance"], ["finance"])
        await syncs.wait(look)
        await syncs.wait(cycle)
    assert job.at("finance", "ended") < job.at("plan", "ended")
    assert job.at("budget", "began") >= job.at("plan", "ended")


async def test_a_failed_sync_is_reported_by_nothing_and_the_next_ask_syncs_again() -> None:
    job = Job({"s": 0.1, "t": 0.05}, fail="s")
    syncs, reported = syncs_of(job)
    async with syncs:
        assert [r.source for r in await syncs.wait(syncs.ask(["s", "t"]))] == ["t"]
        assert syncs.idle
        await syncs.wait(syncs.ask(["s"]))
    assert [e for s, e, _ in job.log if s == "s"] == ["began", "ended", "began", "ended"]
    assert reported == [["t"], []]


async def test_asking_for_no_source_starts_nothing() -> None:
    job = Job({"a": 0.05, "b": 0.05})
    syncs, _ = syncs_of(job)
    async with syncs:
        assert await syncs.wait(syncs.ask([])) == []
    assert job.log == []


async def test_leaving_cancels_the_syncs_under_way_and_starts_no_other() -> None:
    job = Job({"slow": 5.0, "next": 0.05})
    syncs, _ = syncs_of(job, concurrency=1)
    async with syncs:
        syncs.ask(["slow", "next"])
        await asyncio.sleep(0.05)
    assert [e for _, e, _ in job.log] == ["began"]
    assert not syncs.tasks
    assert not syncs.running


class LoopJob(Job):
    """A `Job` for the loop itself: its store is real (the loop claims "sync now" requests
    there); each cycle finds `slow` due, and a look taken while `slow` syncs for the
    second time sees `quick` moved, once."""

    def __init__(self, seconds: dict[str, float], pool: asyncpg.Pool) -> None:
        super().__init__(seconds)
        self.pool = pool
        self.seen = False

    async def changed_sources(self) -> list[str]:
        began = [s for s in self.order() if s == "slow"]
        if len(began) == 2 and not self.seen and self.running:
            self.seen = True
            return ["quick"]
        return []

    async def due_sources(self, unchanged_seconds: float) -> tuple[list[str], list[str]]:
        return [], ["slow"]


async def test_the_loop_syncs_a_change_while_a_cycle_is_under_way(store_url: str) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(store_url), min_size=1, max_size=2)
    job = LoopJob({"slow": 0.6, "quick": 0.05}, pool)
    syncs, reported = syncs_of(job)
    stop = asyncio.Event()
    try:
        async with syncs:
            loop = _Loop(job, syncs, {"slow", "quick"}, 0.2, 0.05, 60.0)  # type: ignore[arg-type]
            running = asyncio.create_task(loop.forever(stop, asyncio.Event(), None))
            for _ in range(100):  # bounded: a broken loop fails
                if len(job.order()) >= 3 and not job.running:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.wait_for(running, 5)
    finally:
        await pool.close()
    assert job.order() == ["slow", "slow", "quick"]  # two cycles, then the change
    assert job.at("slow", "began", 1) < job.at("quick", "began") < job.at("slow", "ended", 1)
    assert reported[-1] == ["slow"]  # the second cycle, after the change's own report


async def test_what_a_batch_does_before_it_reports_comes_first() -> None:
    """A "sync now"'s outcome is written before `on_cycle` hears of the syncs."""
    job = Job({"a": 0.05})
    syncs, reported = syncs_of(job)
    seen: list[tuple[str, int]] = []

    async def before(reports: list[SourceReport]) -> None:
        await asyncio.sleep(0.05)
        seen.append(("before", len(reported)))

    async with syncs:
        assert [r.source for r in await syncs.wait(syncs.ask(["a"]), before)] == ["a"]
    assert seen == [("before", 0)]
    assert reported == [["a"]]


async def test_a_parent_asked_for_again_and_again_does_not_hold_back_a_later_wave() -> None:
    """A wave-1 source (e-planning) written more often than it syncs always has a round
    waiting or running; a round of a later wave asked for before waits only for the
    parents' rounds asked for no later than it."""
    job = Job({"plan": 0.2, "api": 0.05, "finance": 0.05}, waves={"plan": 1})
    syncs, _ = syncs_of(job, concurrency=3)
    syncs.reserve = True  # looks are on
    async with syncs:
        cycle = syncs.ask(["plan", "api"])  # a cycle: nothing moved
        change = syncs.ask(["finance"], ["finance"])
        for _ in range(15):  # 1.5 s of a parent written every 0.1 s
            syncs.ask(["plan"], ["plan"])
            await asyncio.sleep(0.1)
        assert all(r.done.is_set() for r in cycle.rounds)
        assert change.rounds[0].done.is_set()
    assert job.at("api", "began") >= job.at("plan", "ended")  # after its cycle's parent


async def test_sources_that_change_all_the_time_never_keep_a_cycle_from_ending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two sources written more often than they sync keep two of three slots; the third
    is kept for changes; a cycle's unmoved round takes it once it has waited PATIENCE."""
    monkeypatch.setattr(syncs_module, "PATIENCE", 0.5)
    job = Job({"busy1": 0.2, "busy2": 0.2, "api": 0.05})
    syncs, _ = syncs_of(job, concurrency=3)
    syncs.reserve = True
    async with syncs:
        syncs.ask(["busy1", "busy2"], ["busy1", "busy2"])
        await asyncio.sleep(0.01)
        cycle = syncs.ask(["api"])
        for _ in range(20):
            syncs.ask(["busy1", "busy2"], ["busy1", "busy2"])
            await asyncio.sleep(0.1)
        assert cycle.rounds[0].done.is_set()
    assert job.at("api", "began") >= job.at("busy1", "began") + 0.5


class BusyParentLoopJob(LoopJob):
    """Every look sees the wave-1 source `plan` moved; `api` has no look (due each cycle)."""

    def __init__(self, seconds: dict[str, float], pool: asyncpg.Pool) -> None:
        super().__init__(seconds, pool)
        self.waves = {"plan": 1}
        self.cycles = 0

    async def changed_sources(self) -> list[str]:
        return ["plan"]

    async def due_sources(self, unchanged_seconds: float) -> tuple[list[str], list[str]]:
        self.cycles += 1
        return ["plan"], ["plan", "api"]


async def answered(
    pool: asyncpg.Pool, request: int, also: Callable[[], bool] = lambda: True
) -> str | None:
    """The request's outcome once it has one and `also` holds (bounded: 10 s, a stuck
    loop fails)."""
    outcome = None
    for _ in range(100):
        outcome = await pool.fetchval("SELECT outcome FROM sync_request WHERE id = $1", request)
        if outcome is not None and also():
            break
        await asyncio.sleep(0.1)
    return outcome


@pytest.fixture
async def loop_store(server: Server) -> str:
    """A store of its own: the loop claims and answers "sync now" requests in it."""
    url = await server.create_database("rantai_loop")
    await run_async(url, "upgrade", "head")
    return url


async def test_the_loop_keeps_cycling_beside_a_busy_parent_and_answers_sync_now(
    loop_store: str,
) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(loop_store), min_size=1, max_size=2)
    job = BusyParentLoopJob({"plan": 0.3, "api": 0.05}, pool)
    syncs, _ = syncs_of(job)
    stop, wake = asyncio.Event(), asyncio.Event()
    try:
        async with syncs:
            loop = _Loop(job, syncs, {"plan", "api"}, 0.5, 0.1, 60.0)  # type: ignore[arg-type]
            running = asyncio.create_task(loop.forever(stop, wake, None))
            await asyncio.sleep(1.0)  # the first cycle has ended
            request = await pool.fetchval(
                "INSERT INTO sync_request (source_id, requested_by) VALUES ('api', 'test') "
                "RETURNING id"
            )
            wake.set()
            outcome = await answered(pool, request, lambda: job.cycles >= 4)
            stop.set()
            await asyncio.wait_for(running, 5)
    finally:
        await pool.close()
    assert outcome == "api: OK"
    assert job.cycles >= 4


class QuietLoopJob(LoopJob):
    async def changed_sources(self) -> list[str]:
        return []

    async def due_sources(self, unchanged_seconds: float) -> tuple[list[str], list[str]]:
        return [], []


async def test_a_sync_now_under_way_when_the_loop_stops_is_claimed_again_later(
    loop_store: str,
) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(loop_store), min_size=1, max_size=2)
    job = QuietLoopJob({"slow": 1.0}, pool)
    stop, wake = asyncio.Event(), asyncio.Event()
    try:
        syncs, _ = syncs_of(job)
        async with syncs:
            loop = _Loop(job, syncs, {"slow"}, 600.0, 0.1, 60.0)  # type: ignore[arg-type]
            running = asyncio.create_task(loop.forever(stop, wake, None))
            await asyncio.sleep(0.3)  # the first (empty) cycle
            request = await pool.fetchval(
                "INSERT INTO sync_request (source_id, requested_by) VALUES ('slow', 'test') "
                "RETURNING id"
            )
            wake.set()
            await asyncio.sleep(0.3)  # claimed; its round syncs
            assert await pool.fetchval(
                "SELECT started_at IS NOT NULL FROM sync_request WHERE id = $1", request
            )
            stop.set()  # the app shuts down
            await asyncio.wait_for(running, 5)
        row = await pool.fetchrow("SELECT * FROM sync_request WHERE id = $1", request)
        assert row is not None
        assert row["started_at"] is None  # given back, not left claimed forever
        # The next loop (this process restarted, or another one) answers it.
        syncs, _ = syncs_of(job)
        stop, wake = asyncio.Event(), asyncio.Event()
        async with syncs:
            loop = _Loop(job, syncs, {"slow"}, 600.0, 0.1, 60.0)  # type: ignore[arg-type]
            running = asyncio.create_task(loop.forever(stop, wake, None))
            outcome = await answered(pool, request)
            stop.set()
            await asyncio.wait_for(running, 5)
    finally:
        await pool.close()
    assert outcome == "slow: OK"


async def test_a_round_whose_patience_ran_out_starts_at_the_loops_next_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing ends and nothing is asked for while two long syncs hold two slots: the
    loop's turn (`dispatch`) starts the cycle's round once it has waited PATIENCE."""
    monkeypatch.setattr(syncs_module, "PATIENCE", 0.3)
    job = Job({"long1": 2.0, "long2": 2.0, "api": 0.05})
    syncs, _ = syncs_of(job, concurrency=3)
    syncs.reserve = True
    async with syncs:
        syncs.ask(["long1", "long2"], ["long1", "long2"])
        cycle = syncs.ask(["api"])
        await asyncio.sleep(0.4)
        assert not job.order().count("api")  # kept from the last slot so far
        syncs.dispatch()  # the loop's turn
        await syncs.wait(cycle)
        assert job.running == 2  # the long ones still sync


async def test_a_round_whose_patience_ran_out_still_waits_for_its_parents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Patience puts a round first, not before its own cycle's parents: a child of a
    parent that syncs longer than PATIENCE still begins after it."""
    monkeypatch.setattr(syncs_module, "PATIENCE", 0.3)
    job = Job({"plan": 1.0, "api": 0.05, "other": 0.05}, waves={"plan": 1})
    syncs, _ = syncs_of(job, concurrency=3)
    syncs.reserve = True
    async with syncs:
        cycle = syncs.ask(["plan", "api"])
        await asyncio.sleep(0.5)
        syncs.ask(["other"], ["other"])  # a look: the rounds are dispatched again
        syncs.dispatch()
        await syncs.wait(cycle)
    assert job.at("api", "began") >= job.at("plan", "ended")
