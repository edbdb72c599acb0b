"""Looks at a source server between two syncs (`Adapter.look`) that scan none of its tables.

PostgreSQL: the sum of the read tables' inserted, updated and deleted row counters in the
server's cumulative statistics (`pg_stat_user_tables`, a read of shared memory), and their
files' numbers (`pg_relation_filenode`: a TRUNCATE, which the counters do not count, gives
a table a new file). The counters only grow while the server runs, so a new sum means a
write (or a reset of the statistics: one sync more). The tables are found as the source's
search path finds them (`to_regclass`), not by name in every schema. PostgreSQL 15 and
later publish a backend's counters when its transaction ends, at most once a second per
backend: a connection that ran any transaction (a read too) in the second before its write
publishes the write's counts with its next transaction's end, or after ten seconds idle.
An application that reads, then writes on the same pooled connection is seen about ten
seconds late; a change not yet published waits for a look that sees it, or for the
source's next sync whatever its look (`RANTAI_SYNC_UNCHANGED_SECONDS`). No look
(None) without `track_counts` (on by default), or when a named table is not a plain table
(a view, a partitioned parent: their rows' writes are counted elsewhere); a mapping that
reads through a query is looked at by every table of the database.

MariaDB and MySQL: the read tables' newest `UPDATE_TIME` (information_schema; InnoDB sets
it in memory when a write commits), `CREATE_TIME` and row estimates (`TABLE_ROWS`: a
TRUNCATE, which leaves `UPDATE_TIME` as it was, empties it) beside the server's `NOW()`.
Both count whole seconds, so a look within a second of the newest write is unsettled
(`Look.settled`): a second write in that second would leave the value as it was. No look
for a mapping that reads through a query or another database's table, or when a named
table is not a base table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import Look

_PG_LOOK = (
    "SELECT current_setting('track_counts')::bool, "
    "coalesce(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del), 0)::text || '/' || count(*) "
    "|| '/' || coalesce(sum(pg_relation_filenode(s.relid)::bigint), 0), "
    "count(*) FILTER (WHERE c.relkind = 'r') "
    "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE $1::text[] IS NULL "
    "OR s.relid = ANY(ARRAY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t))"
)


def _quoted(table: str) -> str:
    """A mapping's table name as `to_regclass` reads it (each dotted part an identifier)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in table.split("."))


async def postgres(conn: Any, tables: Sequence[str] | None) -> Look | None:
    """The look at a PostgreSQL source through its asyncpg connection."""
    named = None if tables is None else sorted({_quoted(t) for t in tables})
    counting, value, plain = await conn.fetchrow(_PG_LOOK, named)
    if not counting or (named is not None and plain < len(named)):
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
            "SELECT CONCAT_WS('/', MAX(UPDATE_TIME), MAX(CREATE_TIME), SUM(TABLE_ROWS), "
            "COUNT(*)), "
            "SUM(TABLE_TYPE = 'BASE TABLE'), "
            "COALESCE(MAX(UPDATE_TIME) < NOW() - INTERVAL 1 SECOND, 1) "
            "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            f"AND TABLE_NAME IN ({', '.join(['%s'] * len(names))})",
            names,
        )
        value, base, settled = await cursor.fetchone()
    finally:
        await cursor.close()
    if int(base or 0) < len(names):
        return None
    return Look(str(value), bool(settled))
