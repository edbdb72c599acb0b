"""The sync loop's syncs, one source at a time each: what the loop asks for (a cycle's
sources, those a look saw change, those a "sync now" names) becomes a *round* per source,
and the loop never waits for them, so it goes on looking while they sync.

- A round is one sync of one source. Asking for a source that has a round not yet begun
  joins that round (its sync will read what the asker wants read); asking while its
  round syncs makes a new round after it. Two rounds of one source never run at once.
- At most `concurrency` rounds run at once. *Urgent* rounds (a source whose look moved, a
  "sync now") go first; the others (a cycle's sources whose look did not move, synced
  because `RANTAI_SYNC_UNCHANGED_SECONDS` passed, or that have no look) take what is
  left, never the last slot while looks are on, so a change never waits for a cycle. A
  round that has waited `PATIENCE` seconds goes first as if urgent (its waves as before):
  sources that change all the time never keep a cycle from ending.
- Parents' sources first (`hub.sync.bindings.source_wave`): a round waits while a round
  of an earlier wave, asked for no later than it, waits or runs, as a cycle of the engine
  orders them (a parent asked for again and again never holds it back for good); an
  urgent round waits only for urgent ones, so a change never waits for a cycle's unmoved
  parents.
- A *batch* is what one ask covers: `wait` gives the reports of its rounds (for a "sync
  now"'s outcome), and each round's reports are given to `on_cycle` once, by the batch
  that made it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hub.sync.bindings import source_wave
from hub.sync.reports import SourceReport

if TYPE_CHECKING:
    from hub.jobs import SyncJob

log = logging.getLogger("rantai.sync")

PATIENCE = 10.0  # seconds a round waits before it counts as urgent


@dataclass(eq=False)
class Round:
    """One sync of one source; `done` is set when it ended (well or not)."""

    source: str
    wave: int
    seq: int  # the ask that made it: only rounds asked no later hold it back
    urgent: bool
    owner: object  # the batch that made it, which reports it
    asked: float  # when (monotonic) the ask that made it came
    aged: bool = False  # waited PATIENCE: goes first as if urgent (the waves aside)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    reports: list[SourceReport] = field(default_factory=list)


@dataclass(eq=False)
class Batch:
    """What one ask covers: a round for each of its sources."""

    rounds: list[Round]


class SourceSyncs:
    """The rounds asked for, waiting and running (see the module)."""

    def __init__(
        self,
        job: SyncJob,
        concurrency: int,
        *,
        synced: asyncio.Event,
        on_cycle: Callable[[Sequence[SourceReport]], None] | None = None,
    ) -> None:
        self.job, self.size, self.synced, self.on_cycle = job, max(1, concurrency), synced, on_cycle
        self.waiting: dict[str, Round] = {}  # a source's round not yet begun
        self.running: dict[str, Round] = {}
        self.reserve = False  # keep a slot for urgent rounds (set while looks are on)
        self.closing = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self._seq = itertools.count()

    async def __aenter__(self) -> SourceSyncs:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closing = True
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- asking ----------------------------------------------------------------------------

    def ask(self, sources: Sequence[str], urgent: Collection[str] = ()) -> Batch:
        """Rounds for these sources (joining those not yet begun); `urgent`: which of
        them go first."""
        batch = Batch([])
        if not sources:
            return batch  # (`sources([])` is every source)
        seq, asked = next(self._seq), time.monotonic()
        for source in self.job.sources(sources):
            hurry = source.id in urgent
            now = self.waiting.get(source.id)
            if now is None:
                now = Round(source.id, source_wave(source), seq, hurry, batch, asked)
                self.waiting[source.id] = now
            now.urgent = now.urgent or hurry
            batch.rounds.append(now)
        self.dispatch()
        return batch

    async def wait(
        self,
        batch: Batch,
        before: Callable[[list[SourceReport]], Awaitable[None]] | None = None,
    ) -> list[SourceReport]:
        """The reports of the batch's rounds once all have ended; those it made go to
        `on_cycle` too, after `before` had them (a "sync now"'s outcome is written before
        anyone hears of the syncs)."""
        for one in batch.rounds:
            await one.done.wait()
        reports = [r for one in batch.rounds for r in one.reports]
        try:
            if before is not None:
                await before(reports)
        finally:
            if self.on_cycle is not None:
                made = [one for one in batch.rounds if one.owner is batch]
                self.on_cycle([r for one in made for r in one.reports])
        return reports

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `work` beside the loop; leaving cancels it."""
        task = asyncio.create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.running

    # -- running ---------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Start the rounds that may start, most urgent first, then oldest. Called at each
        ask and each round's end, and by the loop at each turn (a round's patience can
        run out while nothing else happens)."""
        while len(self.running) < self.size and not self.closing:
            now = time.monotonic()
            for one in self.waiting.values():
                one.aged = one.aged or now - one.asked >= PATIENCE
            ready = [r for r in self.waiting.values() if self._may_start(r)]
            if not ready:
                return
            chosen = min(ready, key=lambda r: (not (r.urgent or r.aged), r.wave, r.seq, r.source))
            del self.waiting[chosen.source]
            self.running[chosen.source] = chosen
            self.spawn(self._run(chosen), f"rantai-sync-{chosen.source}")

    def _may_start(self, one: Round) -> bool:
        if one.source in self.running:
            return False
        hurry = one.urgent or one.aged
        if not hurry and self.reserve and len(self.running) >= self.size - 1 > 0:
            return False
        return not any(
            other.wave < one.wave and other.seq <= one.seq and (other.urgent or not one.urgent)
            for other in itertools.chain(self.waiting.values(), self.running.values())
        )

    async def _run(self, one: Round) -> None:
        try:
            one.reports = await self.job.sync([one.source])
        except asyncio.CancelledError:
            raise
        except Exception:  # the store went away: the next cycle syncs it again
            log.exception("sync of %s failed", one.source)
        finally:
            del self.running[one.source]
            one.done.set()
            self.synced.set()
            self.dispatch()
