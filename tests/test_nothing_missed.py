"""Nothing silently missed on a legacy MariaDB source whose updated-at column is a plain
DATETIME without `ON UPDATE` (as in old PHP applications): stragglers are re-read by the
overlap window, edits that did not bump it and deletes are found by reconciliation.

Every test gets its own store and its own MariaDB database; the legacy rows are written by
real transactions on the server, as the application would.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import httpx
import pytest

from adapters.mapping import Config, MappingError, load_config
from estate.writers import drop_mariadb_database, mysql_kwargs
from hub.jobs import SyncJob
from hub.jobs.reconcile import due, reconcile, reconcile_forever, reconciling
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from hub.sync import SyncProgress
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
            await cur.execute(f"INSERT INTO `{name}`.skpd VALUES (%s, 'Dinas Kesehatan')", (OPD,))
        await admin.commit()
    finally:
        admin.close()
    folder = tmp_path / "legacy"
    folder.mkdir()
    legacy = Legacy(folder, store_url, name)
    conn = await legacy.connect()
    try:
        for n in range(1, 6):
            await legacy.add(conn, n, 1_000_000 * n, NOW - timedelta(days=6 - n))
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
    assert "1.02.02.1.01.0091" in codes
    assert "1.02.02.1.01.0090" not in codes
    assert subs(read_past).created == 1

    report = await legacy.sync(config)
    assert subs(report).created == 1
    assert (
        await legacy.value(
            "SELECT planned_amount FROM sub_activity WHERE code = '1.02.02.1.01.0090'"
        )
        == 90_000_000
    )
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
    assert (
        await legacy.value("SELECT count(*) FROM sub_activity WHERE code = '1.02.02.1.01.0090'")
        == 0
    )


# -- scheduled reconciliation ---------------------------------------------------------------


class Crash(Exception):
    pass


async def _miss(legacy: Legacy, config: Config) -> None:
    """The legacy application edits two rows without setting updated_at and deletes one:
    the regular (watermarked) sync sees none of it."""
    await legacy.write("UPDATE subkeg SET pagu = 2500000 WHERE kode = '1.02.02.1.01.0002'")
    await legacy.write("UPDATE subkeg SET nama = 'Diubah diam-diam' WHERE kode LIKE '%0004'")
    await legacy.write("DELETE FROM subkeg WHERE kode = '1.02.02.1.01.0003'")
    report = await legacy.sync(config)
    assert report.changes == 0  # the watermark missed them
    assert await legacy.value("SELECT count(*) FROM sub_activity") == 5


async def _history(legacy: Legacy) -> list[tuple[str, str, str | None, str | None]]:
    rows = await legacy.fetch(
        """SELECT h.op, h.natural_key, h.found_by, o.found_by AS outbox
        FROM change_history h LEFT JOIN outbox o ON o.history_id = h.id
        WHERE h.entity = 'sub_activity' AND h.op IN ('UPDATED', 'DELETED') ORDER BY h.id"""
    )
    return [(r["op"], r["natural_key"][-4:], r["found_by"], r["outbox"]) for r in rows]


async def _backdate(legacy: Legacy, hours: float) -> None:
    await legacy.fetch(
        "UPDATE source SET reconciled_at = now() - make_interval(secs => $1) WHERE id = 'legacy'",
        hours * 3600,
    )


async def test_the_scheduled_reconciliation_finds_what_the_watermark_missed(
    legacy: Legacy,
) -> None:
    config = legacy.configure()
    await legacy.sync(config)
    await _miss(legacy, config)
    async with SyncJob(legacy.store_url, reconciling(config)) as job:
        async with job.pool.acquire() as conn:
            # Never reconciled: the schedule starts counting now (the first sync read all).
            assert await due(conn, config.sources) == []
            assert (
                await legacy.value(
                    "SELECT reconciled_at IS NOT NULL FROM source WHERE id = 'legacy'"
                )
                is True
            )
            await _backdate(legacy, 5.9)
            assert await due(conn, config.sources) == []
            await _backdate(legacy, 6.1)
            chosen = await due(conn, config.sources)
        assert [s.id for s in chosen] == ["legacy"]
        [report] = await reconcile(job, chosen)
        assert report.changes == 3
        async with job.pool.acquire() as conn:
            assert await due(conn, config.sources) == []  # done: due again in 6 hours
    assert await _history(legacy) == [
        ("UPDATED", "0002", "reconciliation", "reconciliation"),
        ("UPDATED", "0004", "reconciliation", "reconciliation"),
        ("DELETED", "0003", "reconciliation", "reconciliation"),
    ]
    assert (
        await legacy.value(
            "SELECT planned_amount FROM sub_activity WHERE code = '1.02.02.1.01.0002'"
        )
        == 2_500_000
    )
    # What the regular sync wrote says so: the first load, a baseline (one LOADED event).
    loaded = await legacy.fetch(
        "SELECT op, found_by, after FROM change_history WHERE entity = 'sub_activity' "
        "AND op IN ('CREATED', 'LOADED')"
    )
    assert [(r["op"], r["found_by"]) for r in loaded] == [("LOADED", "sync")]
    # A manual full sync is told apart from the schedule.
    await legacy.write("UPDATE subkeg SET pagu = 1 WHERE kode LIKE '%0001'")
    await legacy.sync(config, full=True)
    assert (await _history(legacy))[-1] == ("UPDATED", "0001", "full", "full")


async def test_never_and_a_time_of_day(legacy: Legacy) -> None:
    config = legacy.configure('reconcile_every = "never"')
    assert config.sources[0].config.reconcile_every is None
    await legacy.sync(config)
    await _backdate(legacy, 1000)
    async with SyncJob(legacy.store_url, config) as job, job.pool.acquire() as conn:
        assert await due(conn, config.sources) == []
    config = legacy.configure('reconcile_at = "02:00"')
    async with SyncJob(legacy.store_url, config) as job, job.pool.acquire() as conn:
        zone = timezone(timedelta(hours=8))  # the hub's local time (WITA)
        await conn.execute(
            "UPDATE source SET reconciled_at = $1", datetime(2026, 3, 1, 2, 5, tzinfo=zone)
        )
        assert await due(conn, config.sources, datetime(2026, 3, 2, 1, 59, tzinfo=zone)) == []
        chosen = await due(conn, config.sources, datetime(2026, 3, 2, 2, 0, tzinfo=zone))
        assert [s.id for s in chosen] == ["legacy"]


async def test_a_reconciliation_killed_half_way_resumes_and_doubles_nothing(
    legacy: Legacy,
) -> None:
    config = legacy.configure()
    await legacy.sync(config)
    await _miss(legacy, config)
    await _backdate(legacy, 7)

    def crash(event: SyncProgress) -> None:
        if event.stream.startswith("sub_activity") and not event.done and event.read >= 2:
            raise Crash

    async with SyncJob(legacy.store_url, reconciling(config), on_progress=crash) as job:
        async with job.pool.acquire() as conn:
            chosen = await due(conn, config.sources)
        with pytest.raises(Crash):
            await reconcile(job, chosen)
    # It really stopped part-way: the first batch (rows 1 and 2) is in, the rest is not.
    assert await _history(legacy) == [("UPDATED", "0002", "reconciliation", "reconciliation")]
    async with SyncJob(legacy.store_url, reconciling(config)) as job:
        async with job.pool.acquire() as conn:
            chosen = await due(conn, config.sources)
        assert [s.id for s in chosen] == ["legacy"]  # not marked done: it runs again
        await reconcile(job, chosen)
    assert await _history(legacy) == [
        ("UPDATED", "0002", "reconciliation", "reconciliation"),
        ("UPDATED", "0004", "reconciliation", "reconciliation"),
        ("DELETED", "0003", "reconciliation", "reconciliation"),
    ]


@pytest.mark.parametrize("skew", [-600, 600])
async def test_a_legacy_clock_ten_minutes_off_loses_nothing(legacy: Legacy, skew: int) -> None:
    """The legacy server stamps rows with its own clock, `skew` seconds off the hub's: the
    sync compares the source's values with the source's values only, never with the hub's
    clock, so nothing is read too early or skipped as "in the future"."""
    config = legacy.configure()
    await legacy.sync(config)

    async def stamp(code: int, offset: int) -> None:
        conn = await legacy.connect()
        try:
            async with conn.cursor() as cur:
                await cur.execute("SET timestamp = UNIX_TIMESTAMP() + %s", (offset,))
                await cur.execute(
                    "INSERT INTO subkeg VALUES (%s, %s, 'Baru', %s, 1000, NOW())",
                    (YEAR, f"1.02.02.1.01.{code:04d}", OPD),
                )
            await conn.commit()
        finally:
            conn.close()

    await stamp(50, skew)
    await legacy.sync(config)
    await stamp(51, skew)
    await stamp(52, skew)
    await legacy.sync(config)
    await legacy.sync(config)
    rows = await legacy.fetch(
        "SELECT natural_key, count(*) FROM change_history WHERE entity = 'sub_activity' "
        "AND op = 'CREATED' AND natural_key ~ '005[012]$' GROUP BY 1 ORDER BY 1"
    )
    assert [r[1] for r in rows] == [1, 1, 1]


# -- verification against the source --------------------------------------------------------


def rantai(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    env["RANTAI_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


async def test_verify_finds_what_the_watermark_missed_and_writes_nothing(legacy: Legacy) -> None:
    config = legacy.configure()
    toml = str(legacy.folder / "rantai.toml")
    await legacy.sync(config)
    clean = rantai("verify", "--config", toml, url=legacy.store_url)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("legacy: ok:")

    await _miss(legacy, config)
    history = await legacy.value("SELECT count(*) FROM change_history")
    found = rantai("verify", "--config", toml, "--json", url=legacy.store_url)
    assert found.returncode == 1, found.stderr
    [result] = json.loads(found.stdout)
    assert (result["missing"], result["extra"], result["different"]) == (0, 1, 2)
    [group] = [g for g in result["groups"] if not g["ok"]]
    assert (group["entity"], group["region_code"], group["fiscal_year"]) == (
        "sub_activity", "53", YEAR,
    )  # fmt: skip
    assert group["extra_keys"] == [f"{YEAR}/1.02.02.1.01.0003"]  # deleted in the source
    assert group["different_keys"] == [f"{YEAR}/1.02.02.1.01.0002", f"{YEAR}/1.02.02.1.01.0004"]
    assert (group["source"]["count"], group["store"]["count"]) == (4, 5)
    assert group["source"]["sums"]["planned_amount"] == "12500000.00"  # 1+2.5+4+5 million
    assert group["store"]["sums"]["planned_amount"] == "15000000.00"
    text = rantai("verify", "--config", toml, url=legacy.store_url)
    assert "extra: 2025/1.02.02.1.01.0003" in text.stdout
    # Nothing written but the outcome on the source.
    assert await legacy.value("SELECT count(*) FROM change_history") == history
    kept = await legacy.value("SELECT verification FROM source WHERE id = 'legacy'")
    kept = json.loads(kept) if isinstance(kept, str) else kept
    assert (kept["ok"], kept["extra"], kept["different"]) == (False, 1, 2)

    # In the API, as Source.verification (the operators' console lists it).
    app = create_app(legacy.store_url, Settings(database_url=None))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            response = await client.post(
                "/graphql",
                json={"query": "{ sources { id verification { ok unreachable missing extra "
                      "different seconds } } }"},
            )  # fmt: skip
    [shown] = [s for s in response.json()["data"]["sources"] if s["id"] == "legacy"]
    verification = shown["verification"]
    assert verification.pop("seconds") >= 0
    assert verification == {
        "ok": False, "unreachable": False, "missing": 0, "extra": 1, "different": 2
    }  # fmt: skip

    await legacy.sync(config, full=True)
    again = rantai("verify", "--config", toml, "--source", "legacy", url=legacy.store_url)
    assert again.returncode == 0, again.stdout


async def test_verify_on_an_unreachable_source_says_so_in_one_line(legacy: Legacy) -> None:
    config = legacy.configure()
    await legacy.sync(config)
    mapping = legacy.folder / "legacy.toml"
    mapping.write_text(mapping.read_text().replace("127.0.0.1:3306", "127.0.0.1:1"))
    down = rantai("verify", "--config", str(legacy.folder / "rantai.toml"), url=legacy.store_url)
    assert down.returncode == 2
    lines = down.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("legacy: cannot verify: ")


async def test_serve_reconciles_in_the_background_on_its_schedule(legacy: Legacy) -> None:
    config = legacy.configure('reconcile_every = "1h"')
    await legacy.sync(config)
    await _miss(legacy, config)
    stop = asyncio.Event()

    def engine(c: Config) -> SyncJob:
        assert c.sources[0].config.batch_size <= 1000  # small batches beside the cycle
        return SyncJob(legacy.store_url, c, concurrency=1)

    loop = asyncio.create_task(reconcile_forever(engine, config, stop, check_every=0.1))
    try:
        # The first look starts the schedule; nothing is due for an hour.
        await _until(legacy, "SELECT reconciled_at IS NOT NULL FROM source WHERE id = 'legacy'")
        assert await legacy.value("SELECT count(*) FROM sub_activity") == 5
        await _backdate(legacy, 1.5)
        await _until(legacy, "SELECT count(*) = 4 FROM sub_activity")
        await _until(legacy, "SELECT reconciled_at > now() - interval '1 hour' FROM source "
                             "WHERE id = 'legacy'")  # fmt: skip
    finally:
        stop.set()
        await loop
    assert await _history(legacy) == [
        ("UPDATED", "0002", "reconciliation", "reconciliation"),
        ("UPDATED", "0004", "reconciliation", "reconciliation"),
        ("DELETED", "0003", "reconciliation", "reconciliation"),
    ]


async def _until(legacy: Legacy, sql: str) -> None:
    """Wait for `sql` to be true (60 s at most: only a broken loop takes that long)."""
    async with asyncio.timeout(60):
        while not await legacy.value(sql):  # noqa: ASYNC110 - a store, not an event, says
            await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("overlap_seconds = -1", "overlap_seconds must be a whole number ≥ 0"),
        ('reconcile_every = "5s"', "reconcile_every must be seconds ≥ 60"),
        ('reconcile_every = "often"', "reconcile_every must be seconds ≥ 60"),
        ('reconcile_at = "25:00"', 'reconcile_at must be a local time "HH:MM"'),
        ('reconcile_every = "6h"\nreconcile_at = "02:00"', "not both"),
    ],
)
def test_a_wrong_schedule_or_overlap_is_a_mapping_problem(
    tmp_path: Path, line: str, reason: str
) -> None:
    (tmp_path / "m.toml").write_text(
        MAPPING.format(url="mysql://root@127.0.0.1:3306/x", extra=line)
    )
    (tmp_path / "rantai.toml").write_text('[[source]]\nmapping = "m.toml"\n')
    with pytest.raises(MappingError) as info:
        load_config(tmp_path / "rantai.toml")
    assert any(reason in p.reason for p in info.value.problems), info.value.problems


@pytest.mark.parametrize(
    ("line", "every", "at"),
    [
        ("", 6 * 3600.0, None),
        ('reconcile_every = "30m"', 1800.0, None),
        ("reconcile_every = 7200", 7200.0, None),
        ('reconcile_every = "1d"', 86400.0, None),
        ('reconcile_at = "02:00"', None, "02:00"),
        ('reconcile_at = "never"', None, None),
    ],
)
def test_schedules(tmp_path: Path, line: str, every: float | None, at: str | None) -> None:
    (tmp_path / "m.toml").write_text(
        MAPPING.format(url="mysql://root@127.0.0.1:3306/x", extra=line)
    )
    (tmp_path / "rantai.toml").write_text('[[source]]\nmapping = "m.toml"\n')
    source = load_config(tmp_path / "rantai.toml").sources[0].config
    assert (source.reconcile_every, source.reconcile_at) == (every, at)
