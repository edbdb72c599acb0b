"""The columns a SQL source's table or query offers, checked before it is read.

A stream names the columns it needs; a table without one of them is said plainly
(`MissingColumns`), not as the driver's error. Asking costs the source a round trip (a
prepared `SELECT … LIMIT 0`) for every stream of every cycle, so the answer is kept while
the adapter's connection is (a kept connection: `hub/sync/connections.py`), and forgotten
on any failure of a read: a column dropped meanwhile fails the read, which checks again
and says which column went.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from adapters.base import EntityQuery, MissingColumns


class OfferedColumns:
    """The columns each table or query of one adapter offered when last asked."""

    def __init__(self) -> None:
        self._offered: dict[tuple[str | None, str | None], frozenset[str]] = {}

    def forget(self) -> None:
        self._offered.clear()

    async def check(
        self,
        source_id: str,
        query: EntityQuery,
        required: Sequence[str],
        columns: Callable[[EntityQuery], Awaitable[list[str]]],
    ) -> None:
        """MissingColumns naming the `required` columns the table or query does not have."""
        if not required:
            return
        place = (query.table, query.query)
        offered = self._offered.get(place)
        if offered is None:
            offered = self._offered[place] = frozenset(await columns(query))
        missing = [c for c in required if c not in offered]
        if missing:
            what = f"table {query.table!r}" if query.table else "query"
            raise MissingColumns(
                f"source {source_id}: {what} has no column(s) "
                + ", ".join(repr(c) for c in missing),
                missing,
            )
