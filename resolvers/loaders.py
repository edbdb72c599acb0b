"""DataLoaders over the declared relations: one `= ANY($1)` statement per batch.

Loaders are made per request (and per subscription event), never per connection, so
nothing they cache outlives the answer it was loaded for.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Hashable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row
from strawberry.dataloader import DataLoader

from hub.store.access import DataAccess
from hub.store.relations import Relation


class RelationLoader(DataLoader[Hashable, Any]):
    """Loads `relation` for parent keys; results in key order, `None`/`[]` for misses."""

    def __init__(
        self, access: DataAccess, relation: Relation, binds: Mapping[str, Any] | None = None
    ) -> None:
        self.access = access
        self.relation = relation
        self.binds = binds
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[Hashable]) -> list[Any]:
        rows = await self.access.related(self.relation, keys, self.binds)
        if self.relation.many:
            groups: dict[Hashable, list[Row[Any]]] = defaultdict(list)
            for row in rows:
                groups[row._key].append(row)
            return [groups.get(key, []) for key in keys]
        first: dict[Hashable, Row[Any]] = {}
        for row in rows:
            first.setdefault(row._key, row)
        return [first.get(key) for key in keys]


class Loaders:
    """The loaders of one request, created on first use.

    A relation used at several places of a document (vendors of bids, of payments, of
    contracts) gets one loader per `site`, so each place is one batch at its own depth and
    the number of statements depends on the document, not on how the rows interleave.
    """

    def __init__(self, access: DataAccess, binds: Mapping[str, Any] | None = None) -> None:
        self.access = access
        self.binds = binds  # values of the relations' own parameters (Relation.binds)
        self._loaders: dict[str, DataLoader[Any, Any]] = {}
        self._relations: dict[str, RelationLoader] = {}

    def get(self, relation: Relation, site: str = "") -> RelationLoader:
        name = f"{relation.name}@{site}"
        loader = self._relations.get(name)
        if loader is None:
            loader = self._relations[name] = RelationLoader(self.access, relation, self.binds)
        return loader

    def custom(self, name: str, factory: Any) -> DataLoader[Any, Any]:
        """A loader that is not a plain relation (aggregates); `factory(access)` makes it."""
        loader = self._loaders.get(name)
        if loader is None:
            loader = self._loaders[name] = factory(self.access)
        return loader

    __getitem__ = get

    async def one(
        self, relation: Relation, key: Hashable | None, site: str = ""
    ) -> Row[Any] | None:
        if key is None:
            return None
        row: Row[Any] | None = await shared(self.get(relation, site).load(key))
        return row

    async def many(self, relation: Relation, key: Hashable, site: str = "") -> list[Row[Any]]:
        rows: list[Row[Any]] = await shared(self.get(relation, site).load(key))
        return rows


def shared(future: Awaitable[Any]) -> Awaitable[Any]:
    """A loader's future, shielded: every resolver asking for the same key awaits the same
    future, and graphql-core cancels the resolvers still running when a null reaches the
    top. Cancelling one awaiter of a future cancels the future itself, so the others (not
    cancelled) got CancelledError, which escaped execution as an HTTP 500."""
    return asyncio.shield(future)
