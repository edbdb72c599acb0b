"""Keyed-diff streams compared by checksums per block of keys (hub/sync/checksums.py), on
real PostgreSQL, MariaDB and SQLite sources: an idle sync reads no row, and every kind of change
(an edit, an insert, a delete, a key that moves, a column read through the mapping's join,
NULLs, a decimal's cents, a case-only edit under a case-insensitive collation) is found by
reading only the blocks whose checksum moved. `rantai verify` then finds the store equal to
the source: nothing lost, nothing doubled.

Each test gets its own store and its own legacy database; MariaDB tests skip, saying so,
where no MariaDB server answers.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest

from adapters.mapping import Config, load_config
from estate.writers import drop_mariadb_database, mysql_kwargs
from hub.migrate import run_async
from hub.sync import SyncEngine
from hub.sync.reports import SourceReport, StreamReport
from tests.conftest import MARIADB_URL, Server, assert_verified, asyncpg_dsn, mariadb_reachable

OPD = "1.02.0.00.0.00.01.0000"
YEAR = 2025
ROWS = 300  # sub kegiatan: 16 blocks of about 19 rows

MAPPING = """
[source]
id = "legacy"
name = "Legacy e-planning without updated-at (test)"
kind = "{kind}"
url = "{url}"
region = "53"
batch_size = 50

[[entity]]
name = "opd"
table = "skpd"
[entity.fields]
region_code = {{ const = "53" }}
code = "kode"
name = "nama"

[[entity]]
name = "sub_activity"
# The name is read through a join: a change in the joined table is a change of the row.
query = \"\"\"SELECT s.tahun, s.kode, u.teks AS nama, s.skpd, s.pagu
FROM subkeg s JOIN uraian u ON u.id = s.uraian_id\"\"\"
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
    "CREATE TABLE uraian (id int PRIMARY KEY, teks varchar(200))",
    """CREATE TABLE subkeg (tahun int, kode varchar(40), uraian_id int, skpd varchar(40),
       pagu decimal(18, 2), PRIMARY KEY (tahun, kode))""",
]


def code(n: int) -> str:
    return f"1.02.02.1.01.{n:04d}"


@dataclass
class Legacy:
    kind: str
    url: str
    folder: Path
    store_url: str
    execute: Any  # async (sql with %s placeholders, *params) -> None
    mapping: str = MAPPING  # with {kind} and {url}

    def config(self) -> Config:
        (self.folder / "legacy.toml").write_text(self.mapping.format(kind=self.kind, url=self.url))
        (self.folder / "rantai.toml").write_text('[[source]]\nmapping = "legacy.toml"\n')
        return load_config(self.folder / "rantai.toml")

    async def sync(self, *, full: bool = False) -> SourceReport:
        async with SyncEngine(self.store_url, self.config()) as engine:
            [report] = await engine.sync(full=full)
        assert report.error is None, report.error
        return report

    async def store(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.store_url))
        try:
            return list(await conn.fetch(sql, *params))
        finally:
            await conn.close()

    async def sub(self, n: int) -> asyncpg.Record | None:
        rows = await self.store(
            "SELECT code, name, planned_amount FROM sub_activity WHERE code = $1", code(n)
        )
        return rows[0] if rows else None

    async def verified(self) -> None:
        """The store holds exactly the source's rows (`rantai verify`)."""
        [source] = self.config().sources
        await assert_verified(self.store_url, source)


async def _postgres(server: Server) -> tuple[str, Any, Any]:
    url = await server.create_database("rantai_checksums_src")

    async def execute(sql: str, *params: Any) -> None:
        numbers = iter(range(1, 100))
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.execute(re.sub("%s", lambda _: f"${next(numbers)}", sql), *params)
        finally:
            await conn.close()

    async def drop() -> None:
        return None  # the server fixture drops its databases

    return url, execute, drop


async def _sqlite(folder: Path) -> tuple[str, Any, Any]:
    path = folder / "legacy.sqlite"

    async def execute(sql: str, *params: Any) -> None:
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(sql.replace("%s", "?"), params)

    async def drop() -> None:
        return None  # tmp_path goes with the test

    return f"sqlite:///{path}", execute, drop


async def _mariadb() -> tuple[str, Any, Any]:
    if not await mariadb_reachable():
        pytest.skip(f"MariaDB not reachable at {MARIADB_URL}: start it to run these tests")
    name = f"rantai_checksums_{uuid.uuid4().hex[:10]}"
    admin = await aiomysql.connect(**mysql_kwargs(MARIADB_URL))
    try:
        async with admin.cursor() as cur:
            # A case-insensitive collation, as legacy applications have.
            await cur.execute(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
            )
        await admin.commit()
    finally:
        admin.close()

    async def execute(sql: str, *params: Any) -> None:
        kwargs = mysql_kwargs(MARIADB_URL)
        kwargs["db"] = name
        conn = await aiomysql.connect(**kwargs)
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql, params or None)
            await conn.commit()
        finally:
            conn.close()

    async def drop() -> None:
        await drop_mariadb_database(MARIADB_URL, name)

    return f"{MARIADB_URL.rstrip('/')}/{name}", execute, drop


# The servers a source is read from; SQLite computes its checksums in the hub's functions.
SERVERS = ["postgresql", "mariadb"]


@pytest.fixture(params=[*SERVERS, "sqlite"])
async def legacy(request: Any, server: Server, tmp_path: Path) -> AsyncIterator[Legacy]:
    """The legacy database of each kind (the probe's tests take `server_legacy`)."""
    async for made in _legacy(request.param, server, tmp_path):
        yield made


@pytest.fixture(params=SERVERS)
async def server_legacy(request: Any, server: Server, tmp_path: Path) -> AsyncIterator[Legacy]:
    """The legacy database on each kind of server (looks at a server's statistics)."""
    async for made in _legacy(request.param, server, tmp_path):
        yield made


async def _legacy(kind: str, server: Server, tmp_path: Path) -> AsyncIterator[Legacy]:
    if kind == "sqlite":
        url, execute, drop = await _sqlite(tmp_path)
    else:
        url, execute, drop = await (_postgres(server) if kind == "postgresql" else _mariadb())
    store_url = await server.create_database("rantai_checksums")
    await run_async(store_url, "upgrade", "head")
    try:
        for table in TABLES:
            await execute(table)
        await execute("INSERT INTO skpd VALUES (%s, %s)", OPD, "Dinas Kesehatan")
        for n in range(1, ROWS + 1):
            await execute("INSERT INTO uraian VALUES (%s, %s)", n, f"Sub kegiatan {n}")
        values = ", ".join(
            f"({YEAR}, '{code(n)}', {n}, '{OPD}', {n * 1000}.00)" for n in range(1, ROWS + 1)
        )
        await execute(f"INSERT INTO subkeg VALUES {values}")
        yield Legacy(kind, url, tmp_path, store_url, execute)
    finally:
        await drop()


def subs(report: SourceReport) -> StreamReport:
    return next(s for s in report.streams if s.entity == "sub_activity")


async def test_the_first_sync_reads_everything_then_an_idle_one_reads_nothing(
    legacy: Legacy,
) -> None:
    first = await legacy.sync()
    assert first.read == ROWS + 1
    assert (subs(first).mode, subs(first).created) == ("diff", ROWS)
    [state] = await legacy.store(
        "SELECT checksums FROM sync_state WHERE stream = 'sub_activity:query1'"
    )
    saved = json.loads(state["checksums"])
    assert (saved["digits"], len(saved["sums"])) == (1, 16)
    assert sum(int(v.split(":")[0]) for v in saved["sums"].values()) == ROWS

    for _ in range(2):
        idle = await legacy.sync()
        assert idle.read == 0, [(s.stream, s.mode, s.read) for s in idle.streams]
        assert {s.mode for s in idle.streams} == {"blocks"}
        assert idle.changes == 0
    await legacy.verified()


async def test_each_change_is_found_reading_only_its_blocks(legacy: Legacy) -> None:
    await legacy.sync()

    async def changed(**counts: int) -> StreamReport:
        report = await legacy.sync()
        stream = subs(report)
        assert stream.mode == "blocks"
        # Only the changed blocks are read: a few of the 16, never the whole table.
        assert 0 < stream.read < ROWS / 2, stream
        assert {k: getattr(stream, k) for k in counts} == counts
        return stream

    # An edit inside a block, a decimal's cents.
    await legacy.execute("UPDATE subkeg SET pagu = 7000.01 WHERE kode = %s", code(7))
    await changed(updated=1, created=0, deleted=0)
    assert (await legacy.sub(7))["planned_amount"] == Decimal("7000.01")

    # An insert.
    await legacy.execute("INSERT INTO uraian VALUES (%s, %s)", 1000, "Sub kegiatan baru")
    await legacy.execute(
        "INSERT INTO subkeg VALUES (%s, %s, %s, %s, %s)", YEAR, code(1000), 1000, OPD, 5
    )
    await changed(created=1, updated=0, deleted=0)
    assert (await legacy.sub(1000))["name"] == "Sub kegiatan baru"

    # A delete: the row leaves the store, no other row of its block does.
    await legacy.execute("DELETE FROM subkeg WHERE kode = %s", code(11))
    await changed(deleted=1, created=0, updated=0)
    assert await legacy.sub(11) is None

    # A key that moves (to another block): the old key goes, the new one comes.
    await legacy.execute("UPDATE subkeg SET kode = %s WHERE kode = %s", code(2000), code(12))
    await changed(deleted=1, created=1, updated=0)
    assert await legacy.sub(12) is None
    assert await legacy.sub(2000) is not None

    # A column the mapping reads through its join.
    await legacy.execute("UPDATE uraian SET teks = %s WHERE id = %s", "Nama baru lewat join", 13)
    await changed(updated=1, created=0, deleted=0)
    assert (await legacy.sub(13))["name"] == "Nama baru lewat join"

    # NULL and back.
    await legacy.execute("UPDATE subkeg SET pagu = NULL WHERE kode = %s", code(14))
    await changed(updated=1)
    assert (await legacy.sub(14))["planned_amount"] is None
    await legacy.execute("UPDATE subkeg SET pagu = 0 WHERE kode = %s", code(14))
    await changed(updated=1)
    assert (await legacy.sub(14))["planned_amount"] == Decimal(0)

    # A case-only edit: equal under the case-insensitive collation, not to the checksum.
    await legacy.execute("UPDATE uraian SET teks = %s WHERE id = %s", "SUB KEGIATAN 15", 15)
    await changed(updated=1)
    assert (await legacy.sub(15))["name"] == "SUB KEGIATAN 15"

    # Several blocks at once, and the keyed stream of the OPD beside it.
    await legacy.execute(
        "UPDATE subkeg SET pagu = pagu + 1 WHERE kode IN (%s, %s)", code(2), code(3)
    )
    await legacy.execute("UPDATE skpd SET nama = %s", "Dinas Kesehatan Provinsi")
    report = await legacy.sync()
    assert subs(report).updated == 2
    opd = next(s for s in report.streams if s.entity == "opd")
    assert (opd.mode, opd.read, opd.updated) == ("blocks", 1, 1)

    idle = await legacy.sync()
    assert (idle.read, idle.changes) == (0, 0)
    await legacy.verified()


async def test_a_full_sync_reads_everything(legacy: Legacy) -> None:
    await legacy.sync()
    full = await legacy.sync(full=True)
    assert (full.read, full.changes) == (ROWS + 1, 0)
    assert {s.mode for s in full.streams} == {"diff"}
    idle = await legacy.sync()
    assert idle.read == 0


async def test_a_mapping_change_reads_everything_again(legacy: Legacy) -> None:
    await legacy.sync()
    assert (await legacy.sync()).read == 0
    mapping = legacy.folder / "legacy.toml"
    original = MAPPING.format(kind=legacy.kind, url=legacy.url)
    mapping.write_text(
        original.replace('name = "nama"\n', 'name = { column = "nama", strip = false }\n', 1)
    )
    config = load_config(legacy.folder / "rantai.toml")
    async with SyncEngine(legacy.store_url, config) as engine:
        [report] = await engine.sync()
    # A rule of the OPD's mapping changed: its stream is read in full, the other one not.
    # (The same rule written another way, `{ column = "nama" }`, would not count.)
    opd = next(s for s in report.streams if s.entity == "opd")
    assert (opd.mode, opd.read) == ("diff", 1)
    assert subs(report).read == 0


async def test_keys_the_source_blocks_differently_turn_the_stream_s_checksums_off(
    legacy: Legacy,
) -> None:
    # Python strips a no-break space from a key, the source's SQL does not: the block of
    # that key differs. The stream is then read in full on every sync, deletes included.
    # SQLite's blocks are computed by the hub's own Python: they cannot differ, and the
    # stream keeps its checksums.
    await legacy.execute("INSERT INTO skpd VALUES (%s, %s)", "1.03.0.00.0.00.01.0000\u00a0", "X")
    if legacy.kind == "sqlite":
        await legacy.sync()
        await legacy.execute("DELETE FROM skpd WHERE nama = %s", "X")
        gone = await legacy.sync()
        opd = next(s for s in gone.streams if s.entity == "opd")
        assert (opd.mode, opd.read, opd.deleted) == ("blocks", 0, 1)
        await legacy.verified()
        return
    first = await legacy.sync()
    opd = next(s for s in first.streams if s.entity == "opd")
    assert (opd.mode, opd.read, opd.created) == ("diff", 2, 2)
    [state] = await legacy.store("SELECT checksums FROM sync_state WHERE stream = 'opd:skpd'")
    assert "off" in json.loads(state["checksums"])
    again = await legacy.sync()
    opd = next(s for s in again.streams if s.entity == "opd")
    assert (opd.mode, opd.read, opd.updated, opd.deleted) == ("diff", 2, 0, 0)
    assert subs(again).read == 0  # the other stream keeps its checksums
    await legacy.execute("DELETE FROM skpd WHERE nama = %s", "X")
    gone = await legacy.sync()
    assert next(s for s in gone.streams if s.entity == "opd").deleted == 1
    await legacy.verified()


def test_sqlite_sums_in_one_call_a_row_equal_the_block_and_hash_apart() -> None:
    """SQLite's sums call one function a row (`rantai_block_hash`): the same blocks, counts
    and sums as each row's block and hash computed apart, for keys of one and two columns."""
    from adapters.blocks import SqliteDialect, sqlite_block, sqlite_functions, sqlite_row_hash

    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        for name, function in sqlite_functions().items():
            conn.create_function(name, -1, function, deterministic=True)
        conn.execute("CREATE TABLE t (k text, y int, v real, b blob)")
        rows = [(f"k{n % 97} ", n, n / 7, bytes([n % 256])) for n in range(3000)]
        rows.append((None, None, None, None))
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
        dialect = SqliteDialect(lambda c: f'"{c}"')
        for key in (1, 2):
            apart: dict[str, list[int]] = {}
            for row in rows:
                sums = apart.setdefault(sqlite_block(2, *row[:key]), [0, 0])
                sums[0] += 1
                sums[1] += sqlite_row_hash(*row[1:])
            together = conn.execute(dialect.sums_sql("t", ["k", "y"][:key], ["y", "v", "b"], 2))
            assert sorted(together) == sorted((b, n, str(s)) for b, (n, s) in apart.items())
