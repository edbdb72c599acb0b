"""Which sources changed since the last look, found between two sync cycles without
reading a row.

A sync cycle reads every source; a change waits for the next one, up to its whole
interval. Between cycles the loop (`hub.jobs.sync_forever`) looks at every source every
`RANTAI_SYNC_PROBE_SECONDS` and syncs at once those whose look differs from the last:

- a PostgreSQL source: its tables' row counters in the server's statistics, a MariaDB
  source: their last update times (`adapters/looks.py`), both on the connection the sync
  keeps (`hub/sync/connections.py`);
- a SQLite source: its database files' stamp (`adapters/filestamp.py`), never opened;
- a spreadsheet source: its files' names, sizes and times (`hub/sync/unchanged.py`).

A look that is not *settled* (its clock's tick has not passed since the last change, see
`adapters.base.Look`) counts once more when it settles. The first look at a source only
sets what the next is compared with. A source that offers no look (a JSON API), or whose
look fails, waits for the cycle.

The cycles use the looks too (`due`): a source whose look did not move since before its last
clean sync is left out of a cycle, for at most `RANTAI_SYNC_UNCHANGED_SECONDS`; then it is
synced whatever its look says. So a change a look cannot see arrives within that time: on
PostgreSQL a write on a connection that ran any transaction in the second before it,
published with its next transaction's end or ten seconds later (`adapters/looks.py`); a
table read through a view, a foreign table or another database. A source is synced at every
cycle when it has no look, when its last sync failed or left rows waiting for a parent
(`sync_pending`), or when a "sync now" names it. Every look is taken before the sync it
could call for, so a write after a sync's read moves the next look: the gate can delay a
change, never lose it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from adapters.base import Look
from adapters.filestamp import settled
from adapters.mapping import SourceMapping
from hub.sync.connections import KeptAdapters
from hub.sync.reports import SourceReport
from hub.sync.unchanged import workbooks

log = logging.getLogger("rantai.sync")


def _tables(source: SourceMapping) -> list[str] | None:
    """The tables the source's mapping reads; None when a query reads them."""
    tables = [m.query.table for m in source.entities]
    return None if any(t is None for t in tables) else sorted({t for t in tables if t})


class Probe:
    """The last look at each source, which differ now, and which a cycle syncs."""

    def __init__(self, kept: KeptAdapters) -> None:
        self.kept = kept
        self.looks: dict[str, Look] = {}
        # Sources whose last look failed (or that offer none after offering one): their
        # next look counts as changed, whatever it says, since nothing saw what happened
        # meanwhile (an outage, then a write at once).
        self.blind: set[str] = set()
        self.clean: dict[str, float] = {}  # source → when its last clean sync began

    def synced(self, reports: Sequence[SourceReport], began: float) -> None:
        """Note the sources synced (from `began`, monotonic) without an error."""
        for report in reports:
            if report.error is None and all(s.error is None for s in report.streams):
                self.clean[report.source] = began
            else:
                self.clean.pop(report.source, None)

    async def due(
        self, sources: Sequence[SourceMapping], pending: set[str], unchanged_seconds: float
    ) -> list[str]:
        """The ids of the sources a cycle syncs (see the module); looks at every source."""
        changed = await self.changed(sources)
        return self.due_after(sources, changed, pending, unchanged_seconds)

    def due_after(
        self,
        sources: Sequence[SourceMapping],
        changed: Sequence[str],
        pending: set[str],
        unchanged_seconds: float,
    ) -> list[str]:
        """As `due`, given what the look just taken found `changed`."""
        now, moved = time.monotonic(), set(changed)
        return [
            s.id
            for s in sources
            if s.id in moved
            or s.id in pending
            or s.id not in self.looks
            or now - self.clean.get(s.id, -unchanged_seconds) >= unchanged_seconds
        ]

    async def changed(self, sources: Sequence[SourceMapping]) -> list[str]:
        """The ids of the sources whose look differs from the last (see the module)."""
        looks = await asyncio.gather(*(self._look(source) for source in sources))
        changed = []
        for source, look in zip(sources, looks, strict=True):
            before = self.looks.pop(source.id, None)
            if look is None:
                if before is not None:
                    self.blind.add(source.id)
                continue
            self.looks[source.id] = look
            if source.id in self.blind:
                self.blind.discard(source.id)
                changed.append(source.id)
            elif before is not None and (
                look.value != before.value or (look.settled and not before.settled)
            ):
                changed.append(source.id)
        return changed

    async def _look(self, source: SourceMapping) -> Look | None:
        try:
            books = workbooks(source)
        except OSError as exc:  # a file gone between listing and reading it (`~$` locks)
            log.debug("look at %s failed: %s", source.id, exc)
            return None
        if books is not None:
            return Look(books[0], settled(books[1], time.time_ns()))
        lane = (source.id, "")
        adapter = await self.kept.take(lane, source.config)
        ok = False
        try:
            async with asyncio.timeout(source.config.timeout_seconds):
                look = await adapter.look(_tables(source))
            ok = True
            return look
        except Exception as exc:  # an accelerator only: no look, and the cycle reads it
            # (a driver's own errors too: a connection the server ended mid-look)
            log.debug("look at %s failed: %r", source.id, exc)
            return None
        finally:
            await self.kept.give(lane, adapter, ok)
