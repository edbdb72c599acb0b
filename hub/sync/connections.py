"""Connections to source servers kept open from one run of a source to the next.

An idle cycle's cost per source was mostly its fixed round trips, and connecting was the
dearest of them (a PostgreSQL backend started per source and per detached lane, every
cycle). A PostgreSQL or MariaDB adapter whose run ended without an error is kept here and
used again by the next run of the same source, mapping unchanged, if its connection still
answers (PostgreSQL's driver sees the server close it; MariaDB's only when it is used, so
a kept one is pinged first: one round trip instead of a new connection). One that failed,
was cancelled, or whose connection closed is closed, and the next run connects afresh.
What a kept connection reads is as fresh as a new one's: every read is its own read-only
transaction (PostgreSQL) or autocommitted statement (MariaDB). SQLite and workbook
adapters are never kept: a file replaced meanwhile must be opened again
(`Adapter.keepable`).
"""

from __future__ import annotations

import logging

from adapters.base import Adapter, SourceConfig, open_adapter

log = logging.getLogger("rantai.sync")


async def _close(adapter: Adapter) -> None:
    try:
        await adapter.close()
    except Exception:
        log.debug("closing %s failed", adapter.config.id, exc_info=True)


class KeptAdapters:
    """Open adapters by lane: (source id, "" for its own or the detached entity)."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], Adapter] = {}

    async def take(self, lane: tuple[str, str], config: SourceConfig) -> Adapter:
        """The lane's kept adapter if it can still be used, else a new one (not open)."""
        adapter = self._open.pop(lane, None)
        if adapter is not None:
            if adapter.config is config and await adapter.reusable():
                return adapter
            await _close(adapter)
        return open_adapter(config)

    async def give(self, lane: tuple[str, str], adapter: Adapter, ok: bool) -> None:
        """After the lane's run: kept when it went `ok`, the adapter can be and the lane is
        the source's own, else closed."""
        if ok and adapter.keepable() and not lane[1] and lane not in self._open:
            self._open[lane] = adapter
        else:
            await _close(adapter)

    async def close(self) -> None:
        adapters, self._open = list(self._open.values()), {}
        for adapter in adapters:
            await _close(adapter)
