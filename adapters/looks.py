"""Looks at a source server between two syncs (`Adapter.look`) that scan none of its tables.

PostgreSQL: the sum of the read tables' inserted, updated and deleted row counters in the
server's cumulative statistics (`pg_stat_user_tables`, a read of shared memory). The
counters only grow while the server runs, so a new sum means a write (or a reset of the
statistics: one sync more). PostgreSQL 15 and later publish a backend's counters when its
transaction ends, at most once a second per backend: a connection that commits twice
within a second publishes the second commit's counts with its next commit, or after ten
seconds idle. Such a change waits for the next sync cycle that reads the source. No look
(None) without `track_counts` (on by default), or when a named table is not a plain table
(a view, a partitioned parent: their rows' writes are counted elsewhere); a mapping that
reads through a query is looked at by every table of the database.

MariaDB and MySQL: the read tables' newest `UPDATE_TIME` (information_schema; InnoDB sets
it in memory when a write commits) beside the server's `NOW()`. Both count whole seconds,
so a look within a second of the newest write is unsettled (`Look.settled`): a second
write in that second would leave the value as it was. No look for a mapping that reads
through a query or another database's table, or when a named table is not a base table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import Look

_PG_LOOK = (
    "SELECT current_setting('track_counts')::bool, "
    "coalesce(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del), 0)::text || '/' || count(*), "
    "count(*) FILTER (WHERE c.relkind = 'r') "
    "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE $1::text[] IS NULL OR s.relname = ANY($1::text[]) "
    "OR s.schemaname || '.' || s.relname = ANY($1::text[])"
)


async def postgres(conn: Any, tables: Sequence[str] | None) -> Look | None:
    """The look at a PostgreSQL source through its asyncpg connection."""
    counting, value, plain = await conn.fetchrow(
        _PG_LOOK, None if tables is None else sorted(set(tables))
    )
    if not counting or (tables is not None and plain < len(set(tables))):
        return None
    return Look(str(value))


async def mariadb(conn: Any, tables: Sequence[str] | None) -> Look | None:
    """The look at a MariaDB/MySQL source through its aiomysql connection."""
    if not tables or any("." in t for t in tables):  # a query, or another database's
        return None
    names = sorted({t.rsplit(".", 1)[-1] for t in tables})
    cursor = await conn.cursor()
    try:
        await cursor.execute(
            "SELECT MAX(UPDATE_TIME), SUM(TABLE_TYPE = 'BASE TABLE'), "
            "COALESCE(MAX(UPDATE_TIME) < NOW() - INTERVAL 1 SECOND, 1) "
            "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            f"AND TABLE_NAME IN ({', '.join(['%s'] * len(names))})",
            names,
        )
        newest, base, settled = await cursor.fetchone()
    finally:
        await cursor.close()
    if int(base or 0) < len(names):
        return None
    return Look(str(newest), bool(settled))
