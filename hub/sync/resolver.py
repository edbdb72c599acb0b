"""Ids of parents by natural key, for a batch's rows (`hub.sync.writer`): one statement per
lookup and batch, cached for the writer's run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hub.db import PgConnection
from hub.sync.bindings import LOOKUPS, ParentLookup


class Resolver:
    """Ids of parents by natural key, fetched in one statement per lookup and batch."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn
        self.cache: dict[str, dict[tuple[Any, ...], int]] = {name: {} for name in LOOKUPS}

    async def ids(self, name: str, keys: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
        lookup = LOOKUPS[name]
        cache = self.cache[name]
        missing = {k for k in keys if k not in cache and None not in k}
        if missing:
            await self._fetch(lookup, cache, list(missing))
        return cache

    async def _fetch(
        self, lookup: ParentLookup, cache: dict[tuple[Any, ...], int], keys: list[tuple[Any, ...]]
    ) -> None:
        cols = lookup.columns
        arrays = [[k[i] for k in keys] for i in range(len(cols))]
        params = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(lookup.types))
        match = " AND ".join(f"t.{c} = k.{c}" for c in cols)
        rows = await self.conn.fetch(
            f"SELECT t.id, {', '.join('t.' + c for c in cols)} FROM {lookup.table} t "
            f"JOIN unnest({params}) AS k({', '.join(cols)}) ON {match}",
            *arrays,
        )
        for row in rows:
            cache[tuple(row[c] for c in cols)] = row["id"]

    def forget(self) -> None:
        for cache in self.cache.values():
            cache.clear()
