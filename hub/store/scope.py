"""The viewer's scope: which part of the chain a request may see (ARCHITECTURE.md §6).

Every read goes through `DataAccess`, which asks the scope for a SQL predicate per table.
Until access control lands ([6/7]) the only scope is `EVERYTHING`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table


@dataclass(frozen=True, slots=True)
class Scope:
    name: str

    def predicate(self, table: Table) -> ColumnElement[bool] | None:
        """The SQL condition a row of `table` must meet to be visible; None is no limit."""
        return None

    @property
    def cache_key(self) -> str:
        """Equal for viewers that see the same rows (used to share rendered events)."""
        return self.name


EVERYTHING = Scope("everything")
