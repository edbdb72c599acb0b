"""An idle cycle reads nothing it can prove unchanged, and misses no change.

SQLite sources whose database files did not change are not read (`hub/sync/unchanged.py`,
`adapters/filestamp.py`); every kind of write is read at the next sync: an edit, an
insert, a delete, a write in WAL mode not yet checkpointed, a file replaced by another of
the same size and modification time, a mapping that changed. Connections to source
servers are kept between cycles (`hub/sync/connections.py`), and one the server dropped
is replaced without the source going DOWN. Real SQLite files, real servers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest

from adapters import filestamp
from estate.writers import mysql_kwargs
from hub.migrate import run_async
from hub.sync import SyncEngine
from tests.conftest import MARIADB_URL, Server, asyncpg_dsn, settle_within
from tests.test_sync import YEAR, Estate, build_estate
from tests.test_sync_checksums import Legacy, code, subs
from tests.test_sync_checksums import server_legacy as legacy

__all__ = ["legacy"]  # the PostgreSQL and MariaDB sources of the checksum tests

SETTLED = 0.3  # the files' settling margin in these tests (adapters/filestamp.py)


@pytest.fixture
async def estate(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Estate:
    settle_within(monkeypatch, SETTLED)
    url = await server.create_database("rantai_unchanged")
    await run_async(url, "upgrade", "head")
    return build_estate(tmp_path / "estate", url)


async def settle() -> None:
    """Wait until the files written so far count as settled (no timing is asserted)."""
    await asyncio.sleep(SETTLED + 0.1)


def modes(reports: dict[str, Any], source: str) -> dict[str, tuple[str, int]]:
    return {s.entity: (s.mode, s.read) for s in reports[source].streams}


async def amounts(estate: Estate) -> dict[str, int]:
    rows = await estate.fetch("SELECT sp2d_number, amount FROM payment ORDER BY 1")
    return {r[0]: int(r[1]) for r in rows}


def sp2d(n: int) -> str:
    return f"{n:05d}/SP2D/LS/{YEAR}"


async def settled_sync(estate: Estate) -> dict[str, Any]:
    """A sync once the files written so far settled: it compares their stamps."""
    await settle()
    return await estate.sync()


async def idle(estate: Estate) -> None:
    """After a sync of the settled files, the next sync reads no stream of either source."""
    reports = await estate.sync()
    for source in ("plan", "finance"):
        assert {m for m, _ in modes(reports, source).values()} == {"unchanged"}, reports
        assert sum(read for _, read in modes(reports, source).values()) == 0


async def test_an_unchanged_sqlite_database_is_not_read_and_every_write_is(
    estate: Estate,
) -> None:
    first = await settled_sync(estate)
    assert {r.status for r in first.values()} == {"OK"}
    await idle(estate)

    estate.execute(estate.finance, "UPDATE sp2d SET nilai = nilai + 1 WHERE nomor = ?", sp2d(2))
    edited = await settled_sync(estate)
    # Read by its checksums per block of keys: the edited row's block only.
    assert modes(edited, "finance")["payment"] == ("blocks", 1)
    assert (await amounts(estate))[sp2d(2)] == 200_001
    await idle(estate)

    estate.execute(
        estate.finance,
        "INSERT INTO sp2d VALUES (?, ?, ?, ?, ?, ?)",
        YEAR, sp2d(9), f"{YEAR}-07-01", 900_000, "1.02.02.1.01.0001", "5.1.02.01.01.0001",
    )  # fmt: skip
    await settled_sync(estate)
    assert (await amounts(estate))[sp2d(9)] == 900_000
    await idle(estate)

    estate.execute(estate.finance, "DELETE FROM sp2d WHERE nomor = ?", sp2d(3))
    await settled_sync(estate)
    assert sp2d(3) not in await amounts(estate)
    await estate.verified("finance")
    await idle(estate)

    # Written moments ago: no stamp is taken, the source's checksums are compared (the
    # changed block is read), and so is a second write made within the same moment (it
    # could share the first one's file times).
    estate.execute(estate.finance, "UPDATE sp2d SET nilai = 1 WHERE nomor = ?", sp2d(1))
    quick = await estate.sync()
    assert modes(quick, "finance")["payment"] == ("blocks", 1)
    estate.execute(estate.finance, "UPDATE sp2d SET nilai = 2 WHERE nomor = ?", sp2d(1))
    await estate.sync()
    assert (await amounts(estate))[sp2d(1)] == 2
    await settled_sync(estate)
    await idle(estate)

    # A full sync reads every row whatever the files say.
    async with SyncEngine(estate.store_url, estate.config()) as engine:
        full = {r.source: r for r in await engine.sync(full=True)}
    assert modes(full, "finance")["payment"] == ("diff", 5)


async def test_a_write_in_wal_mode_not_yet_checkpointed_is_read(estate: Estate) -> None:
    writer = sqlite3.connect(estate.finance, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")  # the log only grows
        await settled_sync(estate)  # its read creates the log: the stamp moves once
        await settled_sync(estate)
        await idle(estate)  # then the hub's own read-only connection leaves it as it was

        writer.execute("UPDATE sp2d SET nilai = 1 WHERE nomor = ?", (sp2d(1),))
        assert (estate.finance.parent / "finance.sqlite-wal").stat().st_size > 0
        await settled_sync(estate)
        assert (await amounts(estate))[sp2d(1)] == 1
        await idle(estate)

        # The log checkpointed and restarted, then written again from its start.
        writer.execute("PRAGMA wal_checkpoint(RESTART)")
        await settled_sync(estate)
        await idle(estate)
        writer.execute("UPDATE sp2d SET nilai = 2 WHERE nomor = ?", (sp2d(1),))
        await settled_sync(estate)
        assert (await amounts(estate))[sp2d(1)] == 2
        await estate.verified("finance")
        await idle(estate)
    finally:
        writer.close()


async def test_a_file_replaced_with_the_same_size_and_time_is_read(
    estate: Estate, tmp_path: Path
) -> None:
    await settled_sync(estate)
    await idle(estate)
    before = estate.finance.stat()

    # Another database of the same size, its modification time set to the old one's,
    # moved over it (a restored copy) ...
    copy = tmp_path / "copy.sqlite"
    shutil.copyfile(estate.finance, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE sp2d SET nilai = 7 WHERE nomor = ?", (sp2d(4),))
    assert copy.stat().st_size == before.st_size
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(copy, estate.finance)
    await settled_sync(estate)
    assert (await amounts(estate))[sp2d(4)] == 7
    await idle(estate)

    # ... and the same bytes written over the file in place, its time put back: the same
    # inode, size and modification time, only its status-change time differs.
    current = estate.finance.stat()
    shutil.copyfile(estate.finance, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE sp2d SET nilai = 8 WHERE nomor = ?", (sp2d(4),))
    estate.finance.write_bytes(copy.read_bytes())
    os.utime(estate.finance, ns=(current.st_atime_ns, current.st_mtime_ns))
    after = estate.finance.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        current.st_ino,
        current.st_size,
        current.st_mtime_ns,
    )
    await settled_sync(estate)
    assert (await amounts(estate))[sp2d(4)] == 8
    await estate.verified("finance")


async def test_a_changed_mapping_reads_an_unchanged_database_again(estate: Estate) -> None:
    await settled_sync(estate)
    await idle(estate)
    mapping = estate.folder / "mappings" / "finance.toml"
    text = mapping.read_text()
    mapping.write_text(text.replace("batch_size = 1000", "batch_size = 999"))
    same = await estate.sync()  # how many rows a batch holds changes nothing read
    assert modes(same, "finance")["payment"][0] == "unchanged"
    paid_on = 'paid_on = { column = "tgl", date = "%Y-%m-%d" }\n'
    assert paid_on in text
    mapping.write_text(text.replace(paid_on, 'paid_on = "tgl"\n'))
    changed = await estate.sync()
    assert modes(changed, "finance")["payment"] == ("diff", 5)


# -- source connections kept between cycles -----------------------------------------------


async def _kill_source_connections(legacy: Legacy) -> int:
    """Drop the hub's connections to the legacy database from the server's side."""
    if legacy.kind == "postgresql":
        conn = await asyncpg.connect(asyncpg_dsn(legacy.url))
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'rantai:legacy' AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        return len(rows)
    name = legacy.url.rsplit("/", 1)[1]
    conn = await aiomysql.connect(**mysql_kwargs(MARIADB_URL))
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = %s AND id <> CONNECTION_ID()",
                (name,),
            )
            ids = [r[0] for r in await cur.fetchall()]
            for pid in ids:
                await cur.execute(f"KILL {int(pid)}")
    finally:
        conn.close()
    return len(ids)


async def test_a_source_connection_is_kept_and_replaced_when_the_server_dropped_it(
    legacy: Legacy,
) -> None:
    async with SyncEngine(legacy.store_url, legacy.config()) as engine:
        [first] = await engine.sync()
        assert first.status == "OK", first.error
        [idle_run] = await engine.sync()
        assert subs(idle_run).read == 0
        # The connection outlived the cycles: the server still has it.
        assert await _kill_source_connections(legacy) >= 1
        await asyncio.sleep(0.2)  # the driver sees its socket closed
        await legacy.execute("UPDATE subkeg SET pagu = 5 WHERE kode = %s", code(7))
        [after] = await engine.sync()
        assert after.status == "OK", after.error
        rows = await legacy_store(legacy, code(7))
        assert rows == 5
        [idle_again] = await engine.sync()
        assert idle_again.status == "OK"
        assert subs(idle_again).read == 0


async def legacy_store(legacy: Legacy, kode: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(legacy.store_url))
    try:
        return int(
            await conn.fetchval("SELECT planned_amount FROM sub_activity WHERE code = $1", kode)
        )
    finally:
        await conn.close()


def test_a_file_settles_within_its_file_systems_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system with times finer than ten milliseconds (this one: its `ctime` has
    the digits) settles a write within a tenth of a second; one whose times are whole
    seconds (FAT, HFS+, ext3) within `SETTLED_SECONDS`."""
    monkeypatch.undo()  # the module's own ticks, not the tests' (tests/conftest.py)
    path = tmp_path / "written.sqlite"
    path.write_bytes(b"x")
    st = os.stat(path)
    if st.st_ctime_ns % 10_000_000 == 0:
        pytest.skip("this file system's times are not finer than ten milliseconds")
    assert filestamp.tick_seconds(st.st_ctime_ns) == filestamp.FINE_SETTLED_SECONDS
    _, settles = filestamp.file_stamp(path)
    assert settles == max(st.st_mtime_ns, st.st_ctime_ns) + int(0.1e9)
    assert not filestamp.settled(settles, settles - 1)
    assert filestamp.settled(settles, settles)
    assert filestamp.tick_seconds(1_700_000_000 * 10**9) == filestamp.SETTLED_SECONDS
