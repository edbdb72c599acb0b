"""The syncs between cycles (`hub.jobs._SyncsBetween`): a source whose look moved starts
syncing at once, not after another source's sync ends; a source seen changed again while
it syncs is synced once more after; at most `concurrency` run at once; a cycle waits for
them. The sync loop itself, on real sources, is tested in tests/test_sync_probe.py; here
the job only records when each source's sync began and ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from hub.jobs import _RulesBeside, _SyncsBetween
from hub.sync.reports import SourceReport


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
        return [SourceReport(source)]

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


def between(job: Job, concurrency: int = 3) -> tuple[_SyncsBetween, list[Any]]:
    cycles: list[Any] = []
    rules = _RulesBeside(job, asyncio.Event())  # type: ignore[arg-type]  # never entered
    return _SyncsBetween(job, rules, concurrency, cycles.append), cycles  # type: ignore[arg-type]


async def test_a_change_does_not_wait_for_another_sources_sync() -> None:
    job = Job({"slow": 0.5, "quick": 0.05})
    syncs, reported = between(job)
    async with syncs:
        syncs.start(["slow"])
        await asyncio.sleep(0.1)
        syncs.start(["quick"])  # seen while the slow one syncs
        await syncs.drain()
    assert job.at("quick", "ended") < job.at("slow", "ended")
    assert job.at("quick", "began") - job.at("slow", "began") < 0.2
    assert len(reported) == 2
    assert syncs.rules.due.is_set()


async def test_a_source_changed_again_while_it_syncs_is_synced_once_more() -> None:
    job = Job({"a": 0.2})
    syncs, _ = between(job)
    async with syncs:
        syncs.start(["a"])
        await asyncio.sleep(0.05)
        syncs.start(["a"])
        syncs.start(["a"])  # twice while it syncs: once more, not twice
        await syncs.drain()
    assert [e for s, e, _ in job.log] == ["began", "ended", "began", "ended"]
    assert job.at("a", "began", 1) >= job.at("a", "ended", 0)  # never two of one source


async def test_at_most_concurrency_at_once_and_a_cycle_waits_for_them() -> None:
    job = Job(dict.fromkeys("abcde", 0.1))
    syncs, _ = between(job, concurrency=2)
    async with syncs:
        syncs.start(list("abcde"))
        await syncs.drain()
        assert not syncs.tasks
    assert job.most == 2
    assert len([e for _, e, _ in job.log if e == "ended"]) == 5


async def test_leaving_cancels_the_syncs_under_way() -> None:
    job = Job({"slow": 5.0})
    syncs, _ = between(job)
    async with syncs:
        syncs.start(["slow"])
        await asyncio.sleep(0.05)
    assert [e for _, e, _ in job.log] == ["began"]
    assert not syncs.tasks


async def test_the_sources_of_one_look_sync_parents_first() -> None:
    """Seen changed in one look, a source of the plan hierarchy (wave 1) syncs before one
    whose rows hang from it (wave 2), as a cycle orders them."""
    job = Job({"plan": 0.2, "finance": 0.05}, waves={"plan": 1})
    syncs, _ = between(job)
    async with syncs:
        syncs.start(["finance", "plan"])
        await syncs.drain()
    assert job.at("finance", "began") >= job.at("plan", "ended")


async def test_a_failed_sync_leaves_no_second_sync_behind() -> None:
    job = Job({"s": 0.1}, fail="s")
    syncs, _ = between(job)
    async with syncs:
        syncs.start(["s"])
        await asyncio.sleep(0.02)
        syncs.start(["s"])  # changed again while it syncs; the sync then fails
        await syncs.drain()
        assert not syncs.again
        syncs.start(["s"])
        await syncs.drain()
    assert [e for _, e, _ in job.log] == ["began", "ended", "began", "ended"]


async def test_a_look_with_nothing_changed_starts_nothing() -> None:
    job = Job({"a": 0.05, "b": 0.05})
    syncs, _ = between(job)
    async with syncs:
        syncs.start([])
        await syncs.drain()
    assert job.log == []
