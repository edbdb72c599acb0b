"""SqlAdapter against real engines: PostgreSQL, MariaDB and SQLite files.

The same legacy-shaped table (a SIMDA-like `t_dpa_rinci`) is created in each engine and read
back through the adapter: exact values, watermark order and resumption, columns, missing
tables, and that the adapter's session cannot write.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomysql
import asyncpg
import pytest

from adapters.base import (
    AdapterError,
    Batch,
    EntityQuery,
    MissingColumns,
    MissingTable,
    Row,
    SourceConfig,
    open_adapter,
)
from adapters.sql import SqlAdapter
from tests.conftest import Server, asyncpg_dsn

MARIADB_URL = os.environ.get("RANTAI_MARIADB_URL", "mysql://root@127.0.0.1:3306")
TABLE = "t_dpa_rinci"
COLUMNS = ["id", "kd_rek", "nm_rek", "nilai", "tgl_dpa", "Uraian Belanja", "tgl_update"]

# (id, kd_rek, nm_rek, nilai, tgl_dpa, Uraian Belanja, tgl_update) as PostgreSQL and MariaDB
# hand them back; listed out of watermark order on purpose.
ROWS: list[tuple[Any, ...]] = [
    (
        1,
        "5.1.02.01.01.0024",
        "Belanja Alat Tulis Kantor",
        Decimal("1250000.00"),
        dt.date(2025, 1, 15),
        "ATK triwulan I",
        dt.datetime(2025, 1, 20, 8, 0),
    ),
    (
        2,
        "5.1.02.01.01.0026",
        "Belanja Bahan Cetak",
        Decimal("375500.50"),
        dt.date(2025, 1, 15),
        None,
        dt.datetime(2025, 2, 3, 9, 30),
    ),
    (3, "5.2.02.05.01.0001", None, None, None, None, dt.datetime(2025, 1, 5, 10, 0)),
    (
        4,
        "5.1.02.02.01.0063",
        "Belanja Makanan dan Minuman Rapat",
        Decimal("0.00"),
        dt.date(2025, 3, 1),
        'Rapat "koordinasi"; 50% DP',
        dt.datetime(2025, 3, 2, 11, 15),
    ),
    (
        5,
        "5.1.02.02.01.0026",
        "Belanja Jasa Tenaga Ahli – Konsultan Pengawas",
        Decimal("98765432.10"),
        dt.date(2025, 2, 10),
        "Kab. Kupang",
        dt.datetime(2025, 2, 14, 13, 45, 30),
    ),
]
WATERMARK_ORDER = [3, 1, 2, 5, 4]
SINCE_ID = 2  # resuming after row 2's watermark leaves rows 5 and 4


@dataclass
class Legacy:
    """A legacy table in one engine, and how that engine is expected to hand it back."""

    config: SourceConfig
    expected: dict[int, Row]
    count: Callable[[], Awaitable[int]]
    write: Callable[[Any], Awaitable[None]]  # tries an INSERT on the adapter's connection

    def since(self) -> Any:
        return self.expected[SINCE_ID]["tgl_update"]


def config(url: str, kind: str, **kw: Any) -> SourceConfig:
    return SourceConfig(id=f"legacy-{kind}", kind=kind, url=url, **kw)


async def collect(adapter: SqlAdapter, query: EntityQuery, since: Any = None) -> list[Batch]:
    return [batch async for batch in adapter.stream(query, since=since)]


def rows_of(batches: list[Batch]) -> list[Row]:
    return [row for batch in batches for row in batch.rows]


# --- engines -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def pg_url(server: Server) -> str:
    url = await server.create_database("rantai_adapt")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(
            f"""
            CREATE TABLE {TABLE} (
                id integer PRIMARY KEY,
                kd_rek varchar(30) NOT NULL,
                nm_rek text,
                nilai numeric(18, 2),
                tgl_dpa date,
                "Uraian Belanja" text,
                tgl_update timestamp NOT NULL
            )"""
        )
        await conn.executemany(f"INSERT INTO {TABLE} VALUES ($1, $2, $3, $4, $5, $6, $7)", ROWS)
    finally:
        await conn.close()
    return url


@pytest.fixture(scope="module")
async def pg_legacy(pg_url: str) -> Legacy:
    async def count() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(pg_url))
        try:
            return int(await conn.fetchval(f"SELECT count(*) FROM {TABLE}"))
        finally:
            await conn.close()

    async def write(conn: Any) -> None:
        with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
            await conn.execute(
                f"INSERT INTO {TABLE} (id, kd_rek, tgl_update) VALUES (99, 'x', now())"
            )

    expected = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in ROWS}
    return Legacy(config(pg_url, "postgresql", batch_size=2), expected, count, write)


async def mysql_connect(db: str | None = None) -> Any:
    parts = urlsplit(MARIADB_URL)
    return await aiomysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        db=db,
        connect_timeout=5,
        autocommit=True,
    )


@pytest.fixture(scope="module")
async def mariadb_url() -> AsyncIterator[str]:
    """A throwaway MariaDB database holding the legacy table; skips if no server runs."""
    try:
        admin = await asyncio.wait_for(mysql_connect(), 10)
    except (aiomysql.Error, OSError) as exc:
        pytest.skip(
            f"MariaDB not reachable at {MARIADB_URL}: {exc} — start it (see README) "
            "to run the MariaDB adapter tests"
        )
    name = f"rantai_adapt_{uuid.uuid4().hex[:10]}"
    try:
        async with admin.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            await cur.execute(
                f"""
                CREATE TABLE `{name}`.{TABLE} (
                    id int PRIMARY KEY,
                    kd_rek varchar(30) NOT NULL,
                    nm_rek varchar(200),
                    nilai decimal(18, 2),
                    tgl_dpa date,
                    `Uraian Belanja` text,
                    tgl_update datetime NOT NULL
                )"""
            )
            await cur.executemany(
                f"INSERT INTO `{name}`.{TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s)", ROWS
            )
        yield f"{MARIADB_URL}/{name}"
    finally:
        async with admin.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(scope="module")
async def mariadb_legacy(mariadb_url: str) -> Legacy:
    db = urlsplit(mariadb_url).path.lstrip("/")

    async def count() -> int:
        conn = await mysql_connect(db)
        try:
            async with conn.cursor() as cur:
                await cur.execute(f"SELECT count(*) FROM {TABLE}")
                (value,) = await cur.fetchone()
                return int(value)
        finally:
            conn.close()

    async def write(conn: Any) -> None:
        async with conn.cursor() as cur:
            with pytest.raises(aiomysql.OperationalError) as info:
                await cur.execute(
                    f"INSERT INTO {TABLE} (id, kd_rek, tgl_update) VALUES (99, 'x', now())"
                )
        assert info.value.args[0] == 1792  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION

    expected = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in ROWS}
    return Legacy(config(mariadb_url, "mariadb", batch_size=2), expected, count, write)


def sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """ROWS as a legacy SQLite file stores them: REAL money, dates as ISO text."""
    id_, kd, nm, nilai, tgl, uraian, upd = row
    return (
        id_,
        kd,
        nm,
        None if nilai is None else float(nilai),
        None if tgl is None else tgl.isoformat(),
        uraian,
        upd.isoformat(sep=" "),
    )


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sqlite")
    path = base / "data" / "simda.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            f"""
            CREATE TABLE {TABLE} (
                id INTEGER PRIMARY KEY,
                kd_rek TEXT NOT NULL,
                nm_rek TEXT,
                nilai REAL,
                tgl_dpa TEXT,
                "Uraian Belanja" TEXT,
                tgl_update TEXT NOT NULL
            )"""
        )
        conn.executemany(
            f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)", [sqlite_row(r) for r in ROWS]
        )
        conn.commit()
    finally:
        conn.close()
    return path


@pytest.fixture(scope="module")
def sqlite_legacy(sqlite_file: Path) -> Legacy:
    async def count() -> int:
        conn = sqlite3.connect(sqlite_file)
        try:
            return int(conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0])
        finally:
            conn.close()

    async def write(conn: Any) -> None:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await conn.execute(
                f"INSERT INTO {TABLE} (id, kd_rek, tgl_update) VALUES (99, 'x', 'now')"
            )

    expected = {r[0]: dict(zip(COLUMNS, sqlite_row(r), strict=True)) for r in ROWS}
    # Relative to base_dir, as a mapping file next to the data folder would say it.
    cfg = config(
        "sqlite:///data/simda.db", "sqlite", base_dir=sqlite_file.parent.parent, batch_size=2
    )
    return Legacy(cfg, expected, count, write)


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def legacy(request: pytest.FixtureRequest) -> Legacy:
    """The legacy table in each engine in turn."""
    engine: Legacy = request.getfixturevalue(f"{request.param.replace('postgresql', 'pg')}_legacy")
    return engine


@pytest.fixture
async def adapter(legacy: Legacy) -> AsyncIterator[SqlAdapter]:
    opened = open_adapter(legacy.config)
    assert isinstance(opened, SqlAdapter)
    async with opened:
        yield opened


# --- the same checks on every engine -------------------------------------------------------


async def test_reads_the_table_back_exactly(adapter: SqlAdapter, legacy: Legacy) -> None:
    batches = await collect(adapter, EntityQuery(table=TABLE))
    assert all(1 <= len(b.rows) <= 2 for b in batches)
    rows = sorted(rows_of(batches), key=lambda r: int(r["id"]))
    assert rows == [legacy.expected[i] for i in sorted(legacy.expected)]
    for row in rows:  # equal is not enough: 1250000.00 must not come back as a float
        expected = legacy.expected[row["id"]]
        assert [type(v) for v in row.values()] == [type(v) for v in expected.values()]
        assert list(row) == COLUMNS


async def test_watermark_orders_and_resumes(adapter: SqlAdapter, legacy: Legacy) -> None:
    query = EntityQuery(table=TABLE, columns=("id", "Uraian Belanja"), watermark="tgl_update")
    batches = await collect(adapter, query)
    rows = rows_of(batches)
    assert [r["id"] for r in rows] == WATERMARK_ORDER
    assert [len(b.rows) for b in batches] == [2, 2, 1]
    # The watermark comes along even when not asked for: the sync resumes after it.
    assert set(rows[0]) == {"id", "Uraian Belanja", "tgl_update"}
    assert rows[0]["tgl_update"] == legacy.expected[3]["tgl_update"]

    resumed = rows_of(await collect(adapter, query, since=legacy.since()))
    assert [r["id"] for r in resumed] == [5, 4]
    last = rows[-1]["tgl_update"]
    assert rows_of(await collect(adapter, query, since=last)) == []


async def test_query_mapping(adapter: SqlAdapter) -> None:
    # The `%` in LIKE must survive the driver's parameter formatting (MariaDB).
    query = EntityQuery(
        query=f"SELECT id, kd_rek FROM {TABLE} WHERE nm_rek LIKE '%Rapat%' OR id = 1;",
        watermark="id",
    )
    assert await adapter.columns(query) == ["id", "kd_rek"]
    assert rows_of(await collect(adapter, query)) == [
        {"id": 1, "kd_rek": "5.1.02.01.01.0024"},
        {"id": 4, "kd_rek": "5.1.02.02.01.0063"},
    ]
    assert rows_of(await collect(adapter, query, since=1)) == [
        {"id": 4, "kd_rek": "5.1.02.02.01.0063"}
    ]


async def test_columns_and_missing_table(adapter: SqlAdapter) -> None:
    assert await adapter.columns(EntityQuery(table=TABLE)) == COLUMNS
    with pytest.raises(MissingTable, match="t_tidak_ada"):
        await adapter.columns(EntityQuery(table="t_tidak_ada"))
    with pytest.raises(MissingTable, match="t_tidak_ada"):
        await collect(adapter, EntityQuery(table="t_tidak_ada"))
    # A hostile name is quoted as one identifier, never run as SQL.
    with pytest.raises(MissingTable):
        await adapter.columns(EntityQuery(table=f'{TABLE}"; DROP TABLE {TABLE}; --'))
    with pytest.raises(MissingColumns) as info:
        await collect(adapter, EntityQuery(table=TABLE, columns=("id", "kd_sub_keg")))
    assert info.value.columns == ["kd_sub_keg"]


async def test_cannot_write(adapter: SqlAdapter, legacy: Legacy) -> None:
    before = await legacy.count()
    await legacy.write(adapter._conn)
    with pytest.raises(AdapterError, match=legacy.config.id):
        await collect(adapter, EntityQuery(query=f"DELETE FROM {TABLE} RETURNING id"))
    assert await legacy.count() == before
    # The session is still usable after refusing the write.
    assert len(rows_of(await collect(adapter, EntityQuery(table=TABLE)))) == len(ROWS)


async def test_abandoned_stream_leaves_the_adapter_usable(adapter: SqlAdapter) -> None:
    stream = adapter.stream(EntityQuery(table=TABLE, watermark="id"))
    first = await anext(stream)
    assert [r["id"] for r in first.rows] == [1, 2]
    await stream.aclose()  # type: ignore[attr-defined]
    assert len(rows_of(await collect(adapter, EntityQuery(table=TABLE)))) == len(ROWS)


# --- connecting ----------------------------------------------------------------------------


async def test_postgres_unknown_database(pg_url: str) -> None:
    url = pg_url.rsplit("/", 1)[0] + "/tidak_ada_db"
    if "?" in pg_url:  # the embedded server's socket dir
        url += "?" + pg_url.split("?", 1)[1]
    with pytest.raises(AdapterError, match=r"legacy-postgresql.*tidak_ada_db"):
        await SqlAdapter(config(url, "postgresql", timeout_seconds=10)).open()


async def test_connection_refused_names_source_and_hides_password() -> None:
    url = "postgresql://postgres:rahasia@127.0.0.1:1/simda"
    with pytest.raises(AdapterError, match="legacy-postgresql") as info:
        await SqlAdapter(config(url, "postgresql", timeout_seconds=10)).open()
    assert "rahasia" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    srv = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield srv.sockets[0].getsockname()[1]
    for writer in writers:
        writer.close()
    srv.close()
    await srv.wait_closed()


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
async def test_open_gives_up_after_timeout(silent_port: int, scheme: str) -> None:
    kind = "mariadb" if scheme == "mysql" else scheme
    cfg = SourceConfig(
        id="diam", kind=kind, url=f"{scheme}://u@127.0.0.1:{silent_port}/x", timeout_seconds=0.5
    )
    with pytest.raises(AdapterError, match=r"source diam: .*(timed out|[Tt]imeout)"):
        await SqlAdapter(cfg).open()


async def test_mariadb_unknown_database(mariadb_url: str) -> None:
    url = f"{MARIADB_URL}/tidak_ada_db"
    with pytest.raises(AdapterError, match=r"legacy-mariadb.*[Uu]nknown database"):
        await SqlAdapter(config(url, "mariadb", timeout_seconds=10)).open()


async def test_sqlite_paths(sqlite_file: Path, tmp_path: Path) -> None:
    absolute = config(f"sqlite:///{sqlite_file}", "sqlite", base_dir=tmp_path)
    assert str(absolute.url).startswith("sqlite:////")
    async with SqlAdapter(absolute) as adapter:
        assert await adapter.columns(EntityQuery(table=TABLE)) == COLUMNS
    missing = config("sqlite:///data/simda.db", "sqlite", base_dir=tmp_path)
    with pytest.raises(AdapterError, match=r"legacy-sqlite.*does not exist"):
        await SqlAdapter(missing).open()
    (tmp_path / "bukan.db").write_text("bukan database SQLite")
    with pytest.raises(AdapterError, match="legacy-sqlite"):
        await SqlAdapter(config("sqlite:///bukan.db", "sqlite", base_dir=tmp_path)).open()


async def test_kind_and_url_must_agree() -> None:
    with pytest.raises(AdapterError, match="legacy-postgresql"):
        await SqlAdapter(config("mysql://root@127.0.0.1/x", "postgresql")).open()
    with pytest.raises(AdapterError, match="no url"):
        await SqlAdapter(SourceConfig(id="x", kind="mariadb")).open()


# --- bounded memory ------------------------------------------------------------------------

BIG_ROWS = 300_000


@pytest.fixture(scope="module")
async def pg_big(pg_url: str) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        await conn.execute(
            f"""
            CREATE TABLE t_sp2d_besar AS
            SELECT g AS id,
                   md5(g::text) AS no_sp2d,
                   (g * 1250.5)::numeric(18, 2) AS nilai,
                   date '2025-01-01' + (g % 365) AS tgl_sp2d,
                   'Pembayaran LS kegiatan ' || g AS uraian
            FROM generate_series(1, {BIG_ROWS}) AS g
            """
        )
        await conn.execute("ALTER TABLE t_sp2d_besar ADD PRIMARY KEY (id)")
    finally:
        await conn.close()
    return pg_url


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.usefixtures("traced")
async def test_streams_a_large_table_in_bounded_memory(pg_big: str) -> None:
    count, largest, last_id = 0, 0, 0
    async with SqlAdapter(config(pg_big, "postgresql", batch_size=1000)) as adapter:
        tracemalloc.reset_peak()
        async for batch in adapter.stream(EntityQuery(table="t_sp2d_besar", watermark="id")):
            largest = max(largest, len(batch.rows))
            count += len(batch.rows)
            assert batch.rows[0]["id"] > last_id
            last_id = batch.rows[-1]["id"]
        _, peak = tracemalloc.get_traced_memory()
    assert count == BIG_ROWS
    assert largest == 1000
    # All 300k rows as dicts take about 180 MiB; streamed, the peak is near 1.5 MiB.
    assert peak < 30 * 1024 * 1024, f"peak traced memory {peak / 2**20:.1f} MiB"
