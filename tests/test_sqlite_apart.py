"""SQLite's block sums in a worker process (`adapters/apart.py`): a database replaced
between the sync's connection and the worker's is not mistaken for the one read, file
names of any kind reach the worker, and a worker that died costs no sync. Real SQLite
files and a real store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from adapters import apart
from adapters.sql import SqlAdapter
from hub.migrate import run_async
from hub.sync import SyncEngine
from tests.conftest import Server
from tests.test_sync_checksums import OPD, ROWS, TABLES, YEAR, Legacy, code


def _create(path: Path, rows: int) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        for table in TABLES:
            conn.execute(table)
        conn.execute("INSERT INTO skpd VALUES (?, ?)", (OPD, "Dinas Kesehatan"))
        for n in range(1, rows + 1):
            conn.execute("INSERT INTO uraian VALUES (?, ?)", (n, f"Sub kegiatan {n}"))
            conn.execute(
                "INSERT INTO subkeg VALUES (?, ?, ?, ?, ?)", (YEAR, code(n), n, OPD, n * 1000)
            )


async def _legacy(server: Server, folder: Path, path: Path) -> Legacy:
    async def execute(sql: str, *params: Any) -> None:
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(sql.replace("%s", "?"), params)

    store_url = await server.create_database("rantai_apart")
    await run_async(store_url, "upgrade", "head")
    return Legacy("sqlite", f"sqlite:///{quote(str(path))}", folder, store_url, execute)


@pytest.fixture
async def sqlite_legacy(server: Server, tmp_path: Path) -> Legacy:
    path = tmp_path / "legacy.sqlite"
    _create(path, ROWS)
    return await _legacy(server, tmp_path, path)


async def test_a_file_replaced_during_a_sync_is_not_lost(
    sqlite_legacy: Legacy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The legacy side replaces its database atomically (rsync, an export moved into
    place) after the sync's connection opened it, before a stream's block sums: that sync
    fails, saying why, rather than store the new file's sums beside the old file's rows
    (which would hide the change from every later sync); the next one reads it."""
    legacy = sqlite_legacy
    path = legacy.folder / "legacy.sqlite"
    await legacy.sync()
    new = legacy.folder / "legacy.sqlite.tmp"
    shutil.copy(path, new)
    with contextlib.closing(sqlite3.connect(new)) as conn, conn:
        conn.execute("UPDATE subkeg SET pagu = 7000.01 WHERE kode = ?", (code(7),))
    original = SqlAdapter.block_sums
    replaced = False

    async def block_sums(self: SqlAdapter, *args: Any, **kwargs: Any) -> dict[str, str]:
        nonlocal replaced
        if not replaced:  # the writer's rename lands now
            os.replace(new, path)
            replaced = True
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SqlAdapter, "block_sums", block_sums)
    async with SyncEngine(legacy.store_url, legacy.config()) as engine:
        [report] = await engine.sync()
    assert "was replaced by another file during the sync" in (report.error or "")
    monkeypatch.setattr(SqlAdapter, "block_sums", original)
    await legacy.sync()  # the new file, whole
    row = await legacy.sub(7)
    assert row is not None
    assert row["planned_amount"] == Decimal("7000.01")


@pytest.mark.parametrize("name", ["a b", "h#sh", "q?uery", "per%25cent", "ünï 数据", "%"])
async def test_block_sums_reach_the_worker_whatever_the_file_is_called(
    server: Server, tmp_path: Path, name: str
) -> None:
    folder = tmp_path / f"dir {name}"
    folder.mkdir()
    path = folder / f"{name}.sqlite"
    _create(path, 1)
    legacy = await _legacy(server, folder, path)
    assert (await legacy.sync()).read == 2
    await legacy.execute("UPDATE subkeg SET pagu = 6")
    again = await legacy.sync()
    assert {s.entity: (s.mode, s.updated) for s in again.streams}["sub_activity"] == ("blocks", 1)


async def test_a_worker_killed_while_idle_costs_no_sync(sqlite_legacy: Legacy) -> None:
    legacy = sqlite_legacy
    await legacy.sync()
    assert apart._pool is not None
    for pid in list(apart._pool._processes):  # the OOM killer, an operator's kill
        os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.5)
    await legacy.execute("UPDATE subkeg SET pagu = 1 WHERE kode = %s", code(3))
    async with SyncEngine(legacy.store_url, legacy.config()) as engine:
        [report] = await engine.sync()
    assert report.error is None
    assert not [s.error for s in report.streams if s.error]
    row = await legacy.sub(3)
    assert row is not None
    assert row["planned_amount"] == Decimal("1")


async def test_a_statement_past_its_deadline_is_interrupted_in_the_worker(
    tmp_path: Path,
) -> None:
    """The source's timeout stops the statement in the worker too: an endless one is
    interrupted there, not left holding a worker after the sync gave up on it."""
    path = tmp_path / "endless.sqlite"
    _create(path, 1)
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    )
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        await asyncio.wait_for(apart.sqlite_rows(path, endless, apart.file_identity(path), 0.3), 30)
    rows = await apart.sqlite_rows(
        path, "SELECT count(*) AS n FROM subkeg", apart.file_identity(path), 5
    )
    assert rows == [{"n": 1}]
