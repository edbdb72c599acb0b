"""When a source's rows are stale: the rule, in one SQL expression.

A source's rows are stale when its last sync failed (DOWN), it never synced, it has no
success, its last success is older than its freshness limit (its own
`freshness_seconds`, else the hub's `RANTAI_SOURCE_FRESHNESS_SECONDS`), or its last run
read rows and stored none (everything it read waits: nothing it holds is current). A
DEGRADED run that stored rows (some others wait for a parent) is not stale: what was
stored is current. The reference data (the `reference` source: Pemda created from the
Kemendagri code list) never goes stale.

Every reader asks PostgreSQL: the resolvers through the `stale` column of
`relations.SOURCE_HEALTH_BY_ID`, the compiled path by inlining the same expression, and
`rantai sources` through `source_health()`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, literal_column, or_, select

FRESHNESS = "freshness"  # the bind parameter of the hub's default limit, in seconds


def stale(source: Any, default_seconds: Any = None) -> Any:
    """The staleness of a row of `source` (the table or an alias of it)."""
    if default_seconds is None:
        default_seconds = bindparam(FRESHNESS, type_=Integer)
    zero: Any = literal_column("0")
    second: Any = literal_column("interval '1 second'")
    limit = func.coalesce(func.nullif(source.c.freshness_seconds, zero), default_seconds)
    stored_nothing = and_(source.c.last_run_read > zero, source.c.last_run_stored == zero)
    return and_(
        source.c.kind != literal_column("'reference'"),
        or_(
            source.c.status == literal_column("'NEVER_SYNCED'"),
            source.c.status == literal_column("'DOWN'"),
            source.c.last_success_at.is_(None),
            func.now() - source.c.last_success_at > limit * second,
            func.coalesce(stored_nothing, literal_column("false")),
        ),
    )


def source_health(table: Any, default_seconds: int) -> Any:
    """Every source row with its staleness, for the command line."""
    return select(table, stale(table, default_seconds).label("stale")).order_by(table.c.id)
