"""The one data-access layer: every read of the store passes here with the viewer's scope."""

from __future__ import annotations

from collections.abc import Sequence
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
        async with self.engine.connect() as conn:
            rows: Sequence[Row[Any]] = (await conn.execute(stmt)).all()
            return rows

    async def first(self, stmt: Select[Any]) -> Row[Any] | None:
        async with self.engine.connect() as conn:
            row: Row[Any] | None = (await conn.execute(stmt.limit(1))).first()
            return row

    async def scalar(self, stmt: Select[Any]) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).scalar()

    async def text_all(self, statement: TextClause, params: dict[str, Any]) -> Sequence[Row[Any]]:
        """A hand-written aggregate. Its SQL must apply `self.scope` itself; with the
        only scope being EVERYTHING ([1/7]) there is nothing to add yet."""
        async with self.engine.connect() as conn:
            return (await conn.execute(statement, params)).all()

    async def related(self, relation: Relation, keys: Sequence[Any]) -> Sequence[Row[Any]]:
        """Rows of `relation` for all `keys`, in one `key = ANY($1)` statement, key-ordered."""
        key_column = relation.key_column()
        stmt = relation.select().where(key_column == _any(key_column.type, "keys"))
        stmt = self.restrict(stmt, relation.table)
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt, {"keys": list(keys)})).all()


def _any(item_type: Any, name: str) -> Any:
    from sqlalchemy import any_

    return any_(bindparam(name, type_=ARRAY(item_type)))
