"""The one data-access layer: every read of the store passes here with the viewer's scope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, Row, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select, TextClause

from hub.store.relations import Relation
from hub.store.scope import EVERYTHING, Scope


class DataAccess:
    """Runs scoped statements on the store; one instance per request or per event."""

    def __init__(self, engine: AsyncEngine, scope: Scope = EVERYTHING) -> None:
        self.engine = engine
        self.scope = scope

    def select(self, table: Table, *columns: Any) -> Select[Any]:
        """SELECT from `table`, restricted to what the scope may see."""
        stmt = select(*columns) if columns else select(table)
        return self.restrict(stmt, table)

    def restrict(self, stmt: Select[Any], table: Table) -> Select[Any]:
        predicate = self.scope.predicate(table)
        return stmt if predicate is None else stmt.where(predicate)

    async def all(self, stmt: Select[Any]) -> Sequence[Row[Any]]:
        return await self._rows(stmt)

    async def _rows(
        self, stmt: Select[Any] | TextClause, params: dict[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        async with self.engine.connect() as conn:
            rows: Sequence[Row[Any]] = (await conn.execute(stmt, params)).all()
            return rows

    async def first(self, stmt: Select[Any]) -> Row[Any] | None:
        async with self.engine.connect() as conn:
            row: Row[Any] | None = (await conn.execute(stmt.limit(1))).first()
            return row

    async def scalar(self, stmt: Select[Any]) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).scalar()

    async def aggregate(
        self, statement: Select[Any] | TextClause, params: dict[str, Any]
    ) -> Sequence[Row[Any]]:
        """An aggregate, run as it is: every viewer may see aggregates (the chain
        summaries), so no scope is added."""
        return await self._rows(statement, params)

    async def related(
        self, relation: Relation, keys: Sequence[Any], binds: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """Rows of `relation` for all `keys`, in one `key = ANY($1)` statement, key-ordered.
        `binds` holds the values of the relation's own parameters (`Relation.binds`)."""
        stmt = self._related_statement(relation)
        params = {"keys": list(keys)}
        params.update({name: (binds or {})[name] for name in relation.binds})
        return await self._rows(stmt, params)

    def _related_statement(self, relation: Relation) -> Select[Any]:
        # Built once per (relation, scope): building a Select and its cache key on every
        # batch costs more than executing a small batch.
        cache_key = (relation.name, self.scope.cache_key)
        stmt = _RELATED_STATEMENTS.get(cache_key)
        if stmt is None:
            key_column = relation.key_column()
            stmt = relation.select().where(key_column == _any(key_column.type, "keys"))
            stmt = _RELATED_STATEMENTS[cache_key] = self.restrict(stmt, relation.table)
        return stmt


_RELATED_STATEMENTS: dict[tuple[str, str], Select[Any]] = {}


def _any(item_type: Any, name: str) -> Any:
    from sqlalchemy import any_

    return any_(bindparam(name, type_=ARRAY(item_type)))
