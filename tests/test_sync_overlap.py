"""An idle watermarked stream costs the store nothing, and its overlap still finds every
change (`hub/sync/overlap.py`), on real PostgreSQL and MariaDB sources.

The engine remembers the overlap it last applied; when the next cycle's overlap read is the
same rows, the store's transaction is skipped. What the store is asked to write is seen by
statement-level triggers on every table of the store (they fire even for a statement that
changes no row). A row edited inside the window with the same watermark value, a row
inserted with an old watermark inside the window, and a row changed by another engine
(another process, the reconciliation) and changed back are all synced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.migrate import run_async
from hub.sync import SyncEngine
from hub.sync.reports import StreamReport
from tests.conftest import Server, asyncpg_dsn
from tests.test_sync_checksums import Legacy as Harness
from tests.test_sync_checksums import _mariadb, _postgres, code, subs

OPD = "1.02.0.00.0.00.01.0000"
YEAR = 2025
NOW = datetime(2025, 3, 1, 10, 0, 0)

MAPPING = """
[source]
id = "legacy"
name = "Legacy e-planning with updated-at (test)"
kind = "{kind}"
url = "{url}"
region = "53"

[[entity]]
name = "opd"
table = "skpd"
[entity.fields]
region_code = {{ const = "53" }}
code = "kode"
name = "nama"

[[entity]]
name = "sub_activity"
table = "subkeg"
watermark = "updated_at"
[entity.fields]
region_code = {{ const = "53" }}
fiscal_year = "tahun"
code = "kode"
name = "nama"
opd_code = "skpd"
planned_amount = "pagu"
"""

TABLES = [
    "CREATE TABLE skpd (kode varchar(40) PRIMARY KEY, nama varchar(200))",
    """CREATE TABLE subkeg (tahun int, kode varchar(40), nama varchar(200), skpd varchar(40),
       pagu decimal(18, 2), updated_at timestamp NULL, PRIMARY KEY (tahun, kode))""",
]

# Every write to the store, by table and operation (statement-level: no row needed).
WRITE_LOG = """
CREATE TABLE write_log (tbl text, op text);
CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO write_log VALUES (TG_TABLE_NAME, TG_OP);
    RETURN NULL;
END $$;
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'public' AND tablename <> 'write_log' LOOP
        EXECUTE format('CREATE TRIGGER log_write AFTER INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION log_write()', t);
    END LOOP;
END $$;
"""


class Legacy(Harness):
    """The checksums tests' legacy source, with this file's mapping and the store's writes."""

    async def writes(self) -> set[tuple[str, str]]:
        """What the store was asked to write since the last call."""
        rows = await self.store("DELETE FROM write_log RETURNING tbl, op")
        return {(r["tbl"], r["op"]) for r in rows}

    async def pagu(self, n: int) -> Any:
        rows = await self.store("SELECT planned_amount FROM sub_activity WHERE code = $1", code(n))
        return rows[0][0] if rows else None


@pytest.fixture(params=["postgresql", "mariadb"])
async def legacy(request: Any, server: Server, tmp_path: Path) -> AsyncIterator[Legacy]:
    kind = request.param
    url, execute, drop = await (_postgres(server) if kind == "postgresql" else _mariadb())
    store_url = await server.create_database("rantai_overlap")
    await run_async(store_url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(store_url))
    try:
        await conn.execute(WRITE_LOG)
    finally:
        await conn.close()
    try:
        for table in TABLES:
            await execute(table)
        await execute("INSERT INTO skpd VALUES (%s, %s)", OPD, "Dinas Kesehatan")
        # Old rows, and three inside the newest one's overlap window (600 s).
        ages = [timedelta(days=3), timedelta(days=2), *(timedelta(minutes=m) for m in (2, 1, 0))]
        for n, age in enumerate(ages, start=1):
            await execute(
                "INSERT INTO subkeg VALUES (%s, %s, %s, %s, %s, %s)",
                YEAR,
                code(n),
                f"Sub kegiatan {n}",
                OPD,
                n * 1000,
                NOW - age,
            )
        yield Legacy(kind, url, tmp_path, store_url, execute, MAPPING)
    finally:
        await drop()


async def cycle(engine: SyncEngine) -> StreamReport:
    [report] = await engine.sync()
    assert report.status == "OK", report.error
    return subs(report)


async def settled(engine: SyncEngine) -> None:
    """The initial load, then the cycle that applies the overlap once and remembers it."""
    assert (await cycle(engine)).created == 5
    await cycle(engine)


async def test_an_idle_watermarked_stream_writes_nothing_to_the_store(legacy: Legacy) -> None:
    async with SyncEngine(legacy.store_url, legacy.config()) as engine:
        await settled(engine)
        await legacy.writes()
        idle = await cycle(engine)
        # The overlap was read (the three newest rows) and found as the store has it.
        assert (idle.read, idle.unchanged, idle.updated, idle.created) == (3, 3, 0, 0)
        # The only write is the source's health (its row, every cycle: staleness), and
        # the source's registration.
        assert {t for t, _ in await legacy.writes()} == {"source"}
        [status] = await legacy.store("SELECT status FROM source WHERE id = 'legacy'")
        assert status[0] == "OK"
    # A new engine (another process) knows nothing: it compares the overlap in the store.
    async with SyncEngine(legacy.store_url, legacy.config()) as fresh:
        first = await cycle(fresh)
        assert (first.read, first.unchanged) == (3, 3)
        assert {t for t, _ in await legacy.writes()} > {"source"}


async def test_a_change_inside_the_overlap_is_still_synced(legacy: Legacy) -> None:
    async with SyncEngine(legacy.store_url, legacy.config()) as engine:
        await settled(engine)
        # Edited by the legacy application without moving its updated-at.
        await legacy.execute("UPDATE subkeg SET pagu = 4321 WHERE kode = %s", code(4))
        edited = await cycle(engine)
        assert (edited.read, edited.updated) == (3, 1)
        assert await legacy.pagu(4) == 4321
        # A straggler: committed late with an updated-at inside the window.
        await legacy.execute(
            "INSERT INTO subkeg VALUES (%s, %s, %s, %s, %s, %s)",
            YEAR,
            code(9),
            "Sub kegiatan 9",
            OPD,
            9000,
            NOW - timedelta(minutes=5),
        )
        straggler = await cycle(engine)
        assert (straggler.read, straggler.created) == (4, 1)
        assert await legacy.pagu(9) == 9000
        # And idle again: nothing written but the health row.
        await cycle(engine)
        await legacy.writes()
        idle = await cycle(engine)
        assert (idle.read, idle.unchanged) == (4, 4)
        assert {t for t, _ in await legacy.writes()} == {"source"}
    history = await legacy.store(
        "SELECT natural_key, op AS operation FROM change_history WHERE entity = 'sub_activity' "
        "AND (natural_key LIKE '%0004' OR natural_key LIKE '%0009') ORDER BY id"
    )
    assert [r["operation"] for r in history] == ["UPDATED", "CREATED"]


async def test_rows_another_engine_changed_are_compared_again(legacy: Legacy) -> None:
    """The remembered overlap holds only while no one else changed the source's rows."""
    async with SyncEngine(legacy.store_url, legacy.config()) as engine:
        await settled(engine)
        # Edited, synced by another engine (another process, or the reconciliation)...
        await legacy.execute("UPDATE subkeg SET pagu = 1 WHERE kode = %s", code(5))
        async with SyncEngine(legacy.store_url, legacy.config()) as other:
            [report] = await other.sync(full=True)
            assert subs(report).updated == 1
        # ...and edited back: the overlap is again what this engine last applied.
        await legacy.execute("UPDATE subkeg SET pagu = 5000 WHERE kode = %s", code(5))
        back = await cycle(engine)
        assert back.updated == 1
        assert await legacy.pagu(5) == 5000


async def test_a_column_dropped_from_a_kept_connection_is_named(legacy: Legacy) -> None:
    """The stream's column check is kept with the connection; a column gone is still said
    as the check says it, and the next cycle checks afresh."""
    async with SyncEngine(legacy.store_url, legacy.config()) as engine:
        await settled(engine)
        await legacy.execute("ALTER TABLE subkeg DROP COLUMN nama")
        [report] = await engine.sync()
        assert report.status == "DOWN"
        assert "has no column(s) 'nama'" in (report.error or "")
        await legacy.execute("ALTER TABLE subkeg ADD COLUMN nama varchar(200)")
        await legacy.execute("UPDATE subkeg SET nama = concat('Sub kegiatan ', kode)")
        back = await cycle(engine)
        assert back.updated == 3
