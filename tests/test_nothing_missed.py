"""Nothing silently missed on a legacy MariaDB source whose updated-at column is a plain
DATETIME without `ON UPDATE` (as in old PHP applications): stragglers are re-read by the
overlap window, edits that did not bump it and deletes are found by reconciliation.

Every test gets its own store and its own MariaDB database; the legacy rows are written by
real transactions on the server, as the application would.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest

from adapters.mapping import Config, load_config
from estate.writers import drop_mariadb_database, mysql_kwargs
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.sync.reports import SourceReport, StreamReport
from tests.conftest import MARIADB_URL, Server, asyncpg_dsn, mariadb_reachable

OPD = "1.02.0.00.0.00.01.0000"
YEAR = 2025
NOW = datetime(2025, 3, 1, 10, 0, 0)

MAPPING = """
[source]
id = "legacy"
name = "Legacy e-planning on MariaDB (test)"
kind = "mariadb"
url = "{url}"
region = "53"
batch_size = 2
{extra}

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


@dataclass
class Legacy:
    folder: Path
    store_url: str
    database: str

    def configure(self, extra: str = "") -> Config:
        url = f"{MARIADB_URL.rstrip('/')}/{self.database}"
        (self.folder / "legacy.toml").write_text(MAPPING.format(url=url, extra=extra))
        (self.folder / "rantai.toml").write_text('[[source]]\nmapping = "legacy.toml"\n')
        return load_config(self.folder / "rantai.toml")

    async def connect(self) -> Any:
        """A connection of the legacy application: explicit transactions."""
        kwargs = mysql_kwargs(MARIADB_URL)
        kwargs["db"] = self.database
        return await aiomysql.connect(**kwargs)

    async def write(self, sql: str, *params: Any) -> None:
        conn = await self.connect()
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql, params or None)
            await conn.commit()
        finally:
            conn.close()

    async def add(self, conn: Any, code: int, pagu: int, updated_at: datetime) -> None:
        async with conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO subkeg VALUES (%s, %s, %s, %s, %s, %s)",
                (YEAR, f"1.02.02.1.01.{code:04d}", f"Sub kegiatan {code}", OPD, pagu, updated_at),
            )

    async def sync(self, config: Config, *, full: bool = False) -> SourceReport:
        async with SyncJob(self.store_url, config) as job:
            [report] = await job.sync(full=full)
        assert report.error is None, report.error
        return report

    async def fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.store_url))
        try:
            return list(await conn.fetch(sql, *params))
        finally:
            await conn.close()

    async def value(self, sql: str, *params: Any) -> Any:
        rows = await self.fetch(sql, *params)
        return rows[0][0] if rows else None


@pytest.fixture
async def legacy(server: Server, tmp_path: Path) -> AsyncIterator[Legacy]:
    if not await mariadb_reachable():
        pytest.skip(f"MariaDB not reachable at {MARIADB_URL}: start it to run these tests")
    store_url = await server.create_database("rantai_missed")
    await run_async(store_url, "upgrade", "head")
    name = f"rantai_missed_{uuid.uuid4().hex[:10]}"
    admin = await aiomysql.connect(**mysql_kwargs(MARIADB_URL))
    try:
        async with admin.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            await cur.execute(
                f"CREATE TABLE `{name}`.skpd (kode varchar(30) PRIMARY KEY, nama varchar(200))"
            )
            # The legacy application's own column: no ON UPDATE, set (or not) by its code.
            await cur.execute(
                f"""CREATE TABLE `{name}`.subkeg (
                    tahun int, kode varchar(30), nama varchar(200), skpd varchar(30),
                    pagu decimal(18, 2), updated_at datetime NOT NULL,
                    PRIMARY KEY (tahun, kode)) ENGINE=InnoDB"""
            )
            await cur.execute(
                f"INSERT INTO `{name}`.skpd VALUES (%s, 'Dinas Kesehatan')", (OPD,)
            )
        await admin.commit()
    finally:
        admin.close()
    folder = tmp_path / "legacy"
    folder.mkdir()
    legacy = Legacy(folder, store_url, name)
    conn = await legacy.connect()
    try:
        for n in range(1, 6):
            await legacy.add(conn, n, 1_000_000 * n, NOW + timedelta(minutes=n))
        await conn.commit()
    finally:
        conn.close()
    try:
        yield legacy
    finally:
        await drop_mariadb_database(MARIADB_URL, name)


def subs(report: SourceReport) -> StreamReport:
    return next(s for s in report.streams if s.entity == "sub_activity")


async def _straggle(legacy: Legacy, config: Config) -> SourceReport:
    """A row written with an older updated-at in a transaction that commits only after a
    sync has read past it: begun first, a later row committed meanwhile, the sync, then the
    straggler's commit."""
    straggler = await legacy.connect()
    try:
        await legacy.add(straggler, 90, 90_000_000, NOW + timedelta(minutes=6))
        other = await legacy.connect()
        try:
            await legacy.add(other, 91, 91_000_000, NOW + timedelta(minutes=8))
            await other.commit()
        finally:
            other.close()
        report = await legacy.sync(config)
        await straggler.commit()
    finally:
        straggler.close()
    return report


async def test_a_straggler_arrives_on_the_next_cycle_once(legacy: Legacy) -> None:
    config = legacy.configure()
    assert config.sources[0].config.overlap_seconds == 600  # the default
    await legacy.sync(config)
    assert await legacy.value("SELECT count(*) FROM sub_activity") == 5

    read_past = await _straggle(legacy, config)
    codes = [r[0] for r in await legacy.fetch("SELECT code FROM sub_activity ORDER BY 1")]
    assert "1.02.02.1.01.0091" in codes and "1.02.02.1.01.0090" not in codes
    assert subs(read_past).created == 1

    report = await legacy.sync(config)
    assert subs(report).created == 1
    assert await legacy.value(
        "SELECT planned_amount FROM sub_activity WHERE code = '1.02.02.1.01.0090'"
    ) == 90_000_000
    # Re-read rows that did not change are no-ops: no update, no history.
    assert subs(report).updated == 0
    again = await legacy.sync(config)
    assert again.changes == 0
    created = await legacy.fetch(
        "SELECT natural_key, count(*) FROM change_history WHERE entity = 'sub_activity' "
        "AND natural_key LIKE '%0090' GROUP BY 1"
    )
    assert [r[1] for r in created] == [1]


async def test_without_the_overlap_the_straggler_is_missed(legacy: Legacy) -> None:
    config = legacy.configure("overlap_seconds = 0")
    await legacy.sync(config)
    await _straggle(legacy, config)
    report = await legacy.sync(config)
    assert subs(report).created == 0
    assert await legacy.value(
        "SELECT count(*) FROM sub_activity WHERE code = '1.02.02.1.01.0090'"
    ) == 0
