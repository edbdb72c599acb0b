"""The chain's rollup per sub kegiatan is a table the sync keeps equal to its definition
(the view `sub_activity_rollup_live`, migration 0016, hub/sync/rollup.py).

A store of its own, seeded with a synthetic province, then every kind of write to the six
tables the rollup reads (an insert, an update that moves a row to another sub kegiatan,
a delete, a sub kegiatan deleted, a TRUNCATE), from two connections at once: after a
refresh the table equals the view, row for row; before it, a summary reads the rollup as
it was, never a half-written one.
"""

from __future__ import annotations

import asyncio

import asyncpg

from estate.synthetic import seed_canonical
from hub.migrate import run_async
from hub.sync import rollup
from tests.conftest import Server, asyncpg_dsn

DIFF = """
(SELECT * FROM sub_activity_rollup EXCEPT SELECT * FROM sub_activity_rollup_live)
UNION ALL
(SELECT * FROM sub_activity_rollup_live EXCEPT SELECT * FROM sub_activity_rollup)
"""


def totals(level: str, column: str, source: str) -> str:
    return f"""SELECT '{level}'::text, {column}, fiscal_year, count(*)::bigint,
        sum(planned_amount), sum(allocated), sum(paid), sum(procurement_ceiling),
        sum(contracted), coalesce(sum(physical_percent * allocated), 0),
        coalesce(sum(allocated) FILTER (WHERE physical_percent IS NOT NULL), 0)
        FROM {source} WHERE {column} IS NOT NULL GROUP BY {column}, fiscal_year"""


STORED_TOTALS = """SELECT level::text, owner_id, fiscal_year, sub_activities, planned_amount,
    allocated, paid, procurement_ceiling, contracted, progress_weighted, progress_allocated
    FROM sub_activity_totals WHERE sub_activities > 0"""


async def equal(conn: asyncpg.Connection) -> None:
    """The table equals the view, and the totals per Pemda-year and OPD-year equal the
    view's sums (an owner left with no sub kegiatan keeps a row of zeros)."""
    differing = await conn.fetch(DIFF)
    assert differing == [], differing[:5]
    live = " UNION ALL ".join(
        f"({totals(level, column, 'sub_activity_rollup_live')})"
        for level, column in (("region", "region_id"), ("opd", "opd_id"))
    )
    for a, b in ((live, STORED_TOTALS), (STORED_TOTALS, live)):
        missing = await conn.fetch(f"({a}) EXCEPT ({b})")
        assert missing == [], missing[:5]
    assert await conn.fetchval("SELECT count(*) FROM sub_activity_rollup") == await conn.fetchval(
        "SELECT count(*) FROM sub_activity"
    )


async def test_the_stored_rollup_follows_every_write(server: Server) -> None:
    url = await server.create_database("rantai_rollup")
    await run_async(url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    other = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await seed_canonical(conn, sub_activities=120, seed=3)
        await equal(conn)
        assert await conn.fetchval("SELECT count(*) FROM sub_activity_rollup_dirty") == 0
        subs = [r[0] for r in await conn.fetch("SELECT id FROM sub_activity ORDER BY id")]
        a, b, c = subs[0], subs[1], subs[2]
        paid_before = await conn.fetchval(
            "SELECT paid FROM sub_activity_rollup WHERE sub_activity_id = $1", a
        )

        # Two writers at once, each in its own transaction, on the same sub kegiatan.
        async def pay(db: asyncpg.Connection, amount: int) -> None:
            async with db.transaction():
                await db.execute(
                    "UPDATE payment SET amount = amount + $2 WHERE id = "
                    "(SELECT min(id) FROM payment WHERE sub_activity_id = $1)",
                    a,
                    amount,
                )
                await asyncio.sleep(0.05)

        await asyncio.gather(pay(conn, 1000), pay(other, 2000))
        stale = await conn.fetchval(
            "SELECT paid FROM sub_activity_rollup WHERE sub_activity_id = $1", a
        )
        assert stale == paid_before, "read as it was until the refresh"
        assert await rollup.refresh(conn) >= 1
        assert (
            await conn.fetchval(
                "SELECT paid FROM sub_activity_rollup WHERE sub_activity_id = $1", a
            )
            == paid_before + 3000
        )
        await equal(conn)

        # A budget line moved to another sub kegiatan: both rows change.
        await conn.execute(
            "UPDATE budget_line SET sub_activity_id = $2 WHERE id = "
            "(SELECT min(id) FROM budget_line WHERE sub_activity_id = $1)",
            b,
            c,
        )
        # An e-Monev report of a later period; a contract deleted; a package unlinked.
        await conn.execute(
            "INSERT INTO progress_report (source_id, source_key, source_updated_at, synced_at,"
            " region_id, fiscal_year, sub_activity_code, sub_activity_id, period,"
            " physical_percent, financial_percent) SELECT source_id, source_key || '/later',"
            " source_updated_at, synced_at, region_id, fiscal_year, sub_activity_code,"
            " sub_activity_id, 'X9-Q4', 99, 98 FROM progress_report WHERE sub_activity_id = $1"
            " LIMIT 1",
            c,
        )
        await conn.execute(
            "DELETE FROM contract WHERE id = (SELECT min(id) FROM contract "
            "WHERE sub_activity_id IS NOT NULL AND id NOT IN (SELECT contract_id FROM payment "
            "WHERE contract_id IS NOT NULL))"
        )
        await conn.execute(
            "UPDATE procurement_package SET sub_activity_id = NULL WHERE id = "
            "(SELECT min(id) FROM procurement_package WHERE sub_activity_id IS NOT NULL)"
        )
        await rollup.refresh(conn)
        await equal(conn)

        # A sub kegiatan gone with everything that named it; then every payment truncated.
        last = subs[-1]
        for table in ("budget_line", "payment", "progress_report", "indicator"):
            await conn.execute(f"DELETE FROM {table} WHERE sub_activity_id = $1", last)
        await conn.execute(
            "UPDATE procurement_package SET sub_activity_id = NULL WHERE sub_activity_id = $1",
            last,
        )
        await conn.execute(
            "UPDATE contract SET sub_activity_id = NULL WHERE sub_activity_id = $1", last
        )
        await conn.execute("DELETE FROM sub_activity WHERE id = $1", last)
        await rollup.refresh(conn)
        await equal(conn)
        await conn.execute("TRUNCATE payment CASCADE")
        await rollup.refresh(conn)
        await equal(conn)
        assert await conn.fetchval("SELECT sum(paid) FROM sub_activity_rollup") == 0
        assert await rollup.refresh(conn) == 0, "nothing noted: nothing written"
    finally:
        await conn.close()
        await other.close()
