"""The sync engine on a small legacy estate built here: SQLite e-planning with a watermark,
SQLite finance without one (keyed diff), a PostgreSQL source that can hang.

Each test gets its own store database and its own legacy files, so it can change, delete
and break sources freely. The generated demo estate is covered in test_sync_totals.py.
"""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from adapters.mapping import Config, load_config
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from hub.sync import SyncProgress
from tests.conftest import Server, assert_verified, asyncpg_dsn

OPD = "1.02.0.00.0.00.01.0000"
OTHER_OPD = "1.03.0.00.0.00.01.0000"
SA = "1.02.02.1.01.0001"
SA2 = "1.02.02.1.01.0002"
ORPHAN = "1.02.02.1.01.0099"  # budgeted, never planned (BUDGET_WITHOUT_PLAN)
ACCOUNT = "5.2.02.01.01.0001"
YEAR = 2025

PLAN_TABLES = """
CREATE TABLE wilayah (kode TEXT, nama TEXT, tingkat TEXT, induk TEXT, versi INTEGER);
CREATE TABLE skpd (kode TEXT, nama TEXT, versi INTEGER);
CREATE TABLE program (tahun INTEGER, kode TEXT, nama TEXT, versi INTEGER);
CREATE TABLE giat (tahun INTEGER, kode TEXT, nama TEXT, versi INTEGER);
CREATE TABLE subkeg (tahun INTEGER, kode TEXT, nama TEXT, skpd TEXT, pagu INTEGER,
                     versi INTEGER);
"""
FINANCE_TABLES = """
CREATE TABLE dpa (tahun INTEGER, subkeg TEXT, rek TEXT, nilai INTEGER);
CREATE TABLE sp2d (tahun INTEGER, nomor TEXT, tgl TEXT, nilai INTEGER, subkeg TEXT,
                   rek TEXT);
"""

PLAN_MAPPING = """
[source]
id = "plan"
name = "Bappeda e-planning (test)"
kind = "sqlite"
url = "sqlite:///plan.sqlite"
region = "53"
batch_size = {batch}

[[entity]]
name = "region"
table = "wilayah"
watermark = "versi"
[entity.fields]
code = "kode"
name = "nama"
level = "tingkat"
parent_code = "induk"

[[entity]]
name = "opd"
table = "skpd"
watermark = "versi"
[entity.fields]
region_code = {{ const = "53" }}
code = "kode"
name = "nama"

[[entity]]
name = "program"
table = "program"
watermark = "versi"
[entity.fields]
region_code = {{ const = "53" }}
fiscal_year = "tahun"
code = "kode"
name = "nama"

[[entity]]
name = "activity"
table = "giat"
watermark = "versi"
[entity.fields]
region_code = {{ const = "53" }}
fiscal_year = "tahun"
code = "kode"
name = "nama"

[[entity]]
name = "sub_activity"
table = "subkeg"
watermark = "versi"
[entity.fields]
region_code = {{ const = "53" }}
fiscal_year = "tahun"
code = "kode"
name = "nama"
opd_code = "skpd"
planned_amount = "pagu"
"""

FINANCE_MAPPING = """
[source]
id = "finance"
name = "BPKAD keuangan (test), no updated-at anywhere"
kind = "sqlite"
url = "sqlite:///finance.sqlite"
region = "53"
batch_size = {batch}

[[entity]]
name = "budget_line"
table = "dpa"
[entity.fields]
region_code = {{ const = "53" }}
fiscal_year = "tahun"
sub_activity_code = "subkeg"
account_code = "rek"
amount = "nilai"

[[entity]]
name = "payment"
table = "sp2d"
[entity.fields]
region_code = {{ const = "53" }}
fiscal_year = "tahun"
sp2d_number = "nomor"
paid_on = {{ column = "tgl", date = "%Y-%m-%d" }}
amount = "nilai"
sub_activity_code = "subkeg"
account_code = "rek"
"""


@dataclass
class Estate:
    folder: Path
    store_url: str

    @property
    def plan(self) -> Path:
        return self.folder / "plan.sqlite"

    @property
    def finance(self) -> Path:
        return self.folder / "finance.sqlite"

    def config(self) -> Config:
        return load_config(self.folder / "rantai.toml")

    def execute(self, database: Path, sql: str, *params: Any) -> None:
        with sqlite3.connect(database) as conn:
            conn.execute(sql, params)

    def sub_activity(self, code: str, name: str, pagu: int, versi: int, opd: str = OPD) -> None:
        self.execute(
            self.plan, "INSERT INTO subkeg VALUES (?, ?, ?, ?, ?, ?)", YEAR, code, name, opd,
            pagu, versi,
        )  # fmt: skip

    async def sync(self, **kwargs: Any) -> dict[str, Any]:
        async with SyncJob(self.store_url, self.config(), **kwargs) as engine:
            return {r.source: r for r in await engine.sync()}

    async def fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.store_url))
        try:
            return list(await conn.fetch(sql, *params))
        finally:
            await conn.close()

    async def value(self, sql: str, *params: Any) -> Any:
        rows = await self.fetch(sql, *params)
        return rows[0][0] if rows else None

    async def verified(self, source_id: str) -> None:
        """The store holds exactly the source's rows (`rantai verify`)."""
        source = next(s for s in self.config().sources if s.id == source_id)
        await assert_verified(self.store_url, source)


def build_estate(folder: Path, store_url: str, batch: int = 1000) -> Estate:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mappings").mkdir(exist_ok=True)
    (folder / "rantai.toml").write_text(
        '[[source]]\nmapping = "mappings/plan.toml"\n\n'
        '[[source]]\nmapping = "mappings/finance.toml"\n'
    )
    (folder / "mappings" / "plan.toml").write_text(
        PLAN_MAPPING.format(batch=batch).replace("sqlite:///", "sqlite:///../")
    )
    (folder / "mappings" / "finance.toml").write_text(
        FINANCE_MAPPING.format(batch=batch).replace("sqlite:///", "sqlite:///../")
    )
    estate = Estate(folder, store_url)
    with sqlite3.connect(estate.plan) as conn:
        conn.executescript(PLAN_TABLES)
        conn.executemany(
            "INSERT INTO wilayah VALUES (?, ?, ?, ?, ?)",
            [("53", "Provinsi NTT", "PROVINCE", None, 1), ("53.01", "Kab. Kupang", "REGENCY",
             "53", 2)],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO skpd VALUES (?, ?, ?)",
            [(OPD, "Dinas Kesehatan", 3), (OTHER_OPD, "Dinas PUPR", 4)],
        )
        conn.execute("INSERT INTO program VALUES (?, ?, ?, ?)", (YEAR, "1.02.02", "Program", 5))
        conn.execute("INSERT INTO giat VALUES (?, ?, ?, ?)", (YEAR, "1.02.02.1.01", "Giat", 6))
    # Several rows share a watermark value, so a batch boundary can fall inside a value.
    for n in range(1, 8):
        estate.sub_activity(f"1.02.02.1.01.{n:04d}", f"Sub kegiatan {n}", 1_000_000 * n, 7 + n // 3)
    with sqlite3.connect(estate.finance) as conn:
        conn.executescript(FINANCE_TABLES)
        conn.executemany(
            "INSERT INTO dpa VALUES (?, ?, ?, ?)",
            [(YEAR, f"1.02.02.1.01.{n:04d}", ACCOUNT, 500_000 * n) for n in range(1, 8)]
            + [(YEAR, ORPHAN, ACCOUNT, 777_000)],
        )
        conn.executemany(
            "INSERT INTO sp2d VALUES (?, ?, ?, ?, ?, ?)",
            [
                (YEAR, f"{n:05d}/SP2D/LS/{YEAR}", f"{YEAR}-06-{n:02d}", 100_000 * n,
                 f"1.02.02.1.01.{n:04d}", ACCOUNT)
                for n in range(1, 6)
            ],
        )  # fmt: skip
    return estate


@pytest.fixture
async def estate(server: Server, tmp_path: Path) -> Estate:
    url = await server.create_database("rantai_sync")
    await run_async(url, "upgrade", "head")
    return build_estate(tmp_path / "estate", url)


CANONICAL = {
    "region": "code, name, level, parent_code, parent_id IS NOT NULL",
    "opd": "code, name",
    "sub_activity": "code, name, planned_amount, source_id, source_key",
    "budget_line": "sub_activity_code, account_code, amount, sub_activity_id IS NOT NULL",
    "payment": "sp2d_number, paid_on, amount, sub_activity_code, sub_activity_id IS NOT NULL",
}


async def snapshot(estate: Estate) -> dict[str, list[tuple[Any, ...]]]:
    """The store's data without ids and times: equal for equal content."""
    return {
        table: [tuple(r) for r in await estate.fetch(f"SELECT {cols} FROM {table} ORDER BY 1, 2")]
        for table, cols in CANONICAL.items()
    }


async def test_first_sync_stores_everything_and_a_second_changes_nothing(estate: Estate) -> None:
    reports = await estate.sync()
    assert {s: r.status for s, r in reports.items()} == {"plan": "OK", "finance": "OK"}
    assert await estate.value("SELECT count(*) FROM sub_activity") == 7
    assert await estate.value("SELECT count(*) FROM budget_line") == 8
    assert await estate.value("SELECT count(*) FROM payment") == 5
    history = await estate.value("SELECT count(*) FROM change_history")
    outbox = await estate.value("SELECT count(*) FROM outbox")
    assert history == outbox > 0
    before = await snapshot(estate)

    again = await estate.sync()
    assert all(r.changes == 0 for r in again.values()), again
    assert await estate.value("SELECT count(*) FROM change_history") == history
    assert await estate.value("SELECT count(*) FROM outbox") == outbox
    assert await snapshot(estate) == before
    # The finance source has no watermark: its checksums per block of keys were compared,
    # none had moved, no row was read (its files had not settled: their stamp says nothing).
    finance = {s.entity: s for s in again["finance"].streams}
    assert (finance["budget_line"].mode, finance["budget_line"].read) == ("blocks", 0)


async def test_links_resolve_in_both_orders_and_unresolved_rows_stay(estate: Estate) -> None:
    await estate.sync()
    orphan = await estate.fetch(
        "SELECT sub_activity_id, amount FROM budget_line WHERE sub_activity_code = $1", ORPHAN
    )
    assert [tuple(r) for r in orphan] == [(None, 777_000)]  # kept, visibly unlinked
    assert await estate.value("SELECT count(*) FROM budget_line WHERE sub_activity_id IS NULL") == 1

    # The plan catches up: the line finds its sub kegiatan, recorded as an update.
    estate.sub_activity(ORPHAN, "Sub kegiatan yang terlambat", 5_000_000, 50)
    await estate.sync()
    linked = await estate.fetch(
        """SELECT b.sub_activity_id = s.id FROM budget_line b JOIN sub_activity s
        ON s.code = b.sub_activity_code WHERE b.sub_activity_code = $1""",
        ORPHAN,
    )
    assert [r[0] for r in linked] == [True]
    change = await estate.fetch(
        "SELECT op, before, after FROM change_history WHERE entity = 'budget_line' "
        "AND op = 'UPDATED'"
    )
    assert len(change) == 1
    assert change[0]["op"] == "UPDATED"
    assert '"sub_activity_id": null' in change[0]["before"]


async def test_changes_carry_before_and_after_and_route_to_region_opd_year(
    estate: Estate,
) -> None:
    await estate.sync()
    estate.execute(estate.plan, "UPDATE subkeg SET pagu = 9999000, versi = 90 WHERE kode = ?", SA)
    reports = await estate.sync()
    plan = {s.entity: s for s in reports["plan"].streams}
    assert plan["sub_activity"].read == 1  # incremental: only the row after the watermark
    assert plan["sub_activity"].updated == 1
    rows = await estate.fetch(
        """SELECT h.op, h.natural_key, h.before, h.after, o.entity, o.region_code, o.opd_code,
                  o.fiscal_year, o.changed_fields, o.source_id
        FROM change_history h JOIN outbox o ON o.history_id = h.id
        WHERE h.entity = 'sub_activity' AND h.op = 'UPDATED'"""
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["natural_key"] == f"53/{YEAR}/{SA}"
    assert row["before"] == '{"planned_amount": "1000000.00"}'
    assert row["after"] == '{"planned_amount": "9999000.00"}'
    assert (row["entity"], row["region_code"], row["opd_code"], row["fiscal_year"]) == (
        "SubActivity",
        "53",
        OPD,
        YEAR,
    )
    assert row["changed_fields"] == ["planned_amount"]
    assert row["source_id"] == "plan"


async def test_keyed_diff_sees_updates_and_deletes(estate: Estate) -> None:
    await estate.sync()
    estate.execute(estate.finance, "DELETE FROM sp2d WHERE nomor = ?", f"00002/SP2D/LS/{YEAR}")
    estate.execute(estate.finance, "DELETE FROM dpa WHERE subkeg = ?", ORPHAN)
    estate.execute(estate.finance, "UPDATE dpa SET nilai = 123 WHERE subkeg = ?", SA)
    reports = await estate.sync()
    finance = {s.entity: s for s in reports["finance"].streams}
    assert (finance["payment"].deleted, finance["budget_line"].deleted) == (1, 1)
    assert finance["budget_line"].updated == 1
    assert await estate.value("SELECT count(*) FROM payment") == 4
    assert (
        await estate.value("SELECT amount FROM budget_line WHERE sub_activity_code = $1", SA) == 123
    )
    deleted = await estate.fetch(
        "SELECT entity, natural_key FROM change_history WHERE op = 'DELETED' ORDER BY entity"
    )
    assert [tuple(r) for r in deleted] == [
        ("budget_line", f"53/{YEAR}/{ORPHAN}/{ACCOUNT}"),
        ("payment", f"53/{YEAR}/00002/SP2D/LS/{YEAR}"),
    ]
    # Deletes reach subscribers too, with the row's last routing.
    ops = await estate.fetch("SELECT entity, op FROM outbox WHERE op = 'DELETED' ORDER BY 1")
    assert [tuple(r) for r in ops] == [("BudgetLine", "DELETED"), ("Payment", "DELETED")]


class Crash(Exception):
    """Stands for the process dying between two batches."""


async def test_a_sync_killed_between_batches_resumes_with_nothing_lost_or_doubled(
    server: Server, tmp_path: Path
) -> None:
    url = await server.create_database("rantai_sync")
    await run_async(url, "upgrade", "head")
    estate = build_estate(tmp_path / "killed", url, batch=2)
    reference_url = await server.create_database("rantai_sync")
    await run_async(reference_url, "upgrade", "head")
    reference = build_estate(tmp_path / "reference", reference_url, batch=2)
    await reference.sync()

    # Die after the 2nd batch of sub kegiatan (rows share watermark values across the batch
    # boundary), then after the 1st batch of budget lines, then once more in payments.
    for stream, rows_read in (("sub_activity", 4), ("budget_line", 2), ("payment", 2)):

        def crash(event: SyncProgress, stream: str = stream, rows_read: int = rows_read) -> None:
            if event.stream.startswith(stream) and not event.done and event.read >= rows_read:
                raise Crash

        with pytest.raises(Crash):
            await estate.sync(on_progress=crash, concurrency=1)
        if stream == "sub_activity":
            committed = await estate.value("SELECT count(*) FROM sub_activity")
            assert 0 < committed < 7  # it really stopped part-way

    await estate.sync()
    assert await snapshot(estate) == await snapshot(reference)
    doubled = await estate.fetch(
        """SELECT entity, natural_key, count(*) FROM change_history WHERE op = 'CREATED'
        GROUP BY 1, 2 HAVING count(*) > 1"""
    )
    assert doubled == []
    created = await estate.value("SELECT count(*) FROM change_history WHERE op = 'CREATED'")
    assert created == await reference.value(
        "SELECT count(*) FROM change_history WHERE op = 'CREATED'"
    )


async def test_outbox_ids_follow_history_and_every_change_has_one(estate: Estate) -> None:
    await estate.sync()
    estate.execute(estate.finance, "UPDATE sp2d SET nilai = nilai + 1")
    await estate.sync()
    rows = await estate.fetch(
        """SELECT h.id AS h, o.id AS o, h.entity_id = o.entity_id AND h.op = o.op AS same
        FROM change_history h LEFT JOIN outbox o ON o.history_id = h.id ORDER BY h.id"""
    )
    assert all(r["same"] for r in rows)
    outbox_ids = [r["o"] for r in rows]
    assert outbox_ids == sorted(outbox_ids)
    assert len(set(outbox_ids)) == len(outbox_ids)


async def test_a_row_whose_parent_is_unknown_waits_and_is_stored_when_it_arrives(
    estate: Estate,
) -> None:
    unknown_opd = "1.04.0.00.0.00.01.0000"
    estate.sub_activity(SA2.replace("0002", "0042"), "Menunggu OPD", 1_000, 30, opd=unknown_opd)
    reports = await estate.sync()
    plan = reports["plan"]
    assert plan.status == "DEGRADED"
    assert plan.waiting == 1
    assert plan.error is not None
    assert f"unknown opd {unknown_opd}" in plan.error
    waiting = await estate.fetch("SELECT entity, reason FROM sync_pending")
    assert [tuple(r) for r in waiting] == [("sub_activity", f"unknown opd {unknown_opd}")]

    estate.execute(estate.plan, "INSERT INTO skpd VALUES (?, ?, ?)", unknown_opd, "Dinas Baru", 31)
    reports = await estate.sync()
    assert reports["plan"].status == "OK"
    assert await estate.value("SELECT count(*) FROM sync_pending") == 0
    assert await estate.value("SELECT count(*) FROM sub_activity WHERE name = 'Menunggu OPD'") == 1


async def test_a_bad_value_waits_with_its_reason_and_heals_when_fixed(estate: Estate) -> None:
    estate.execute(estate.plan, "UPDATE subkeg SET pagu = 'sejuta', versi = 40 WHERE kode = ?", SA)
    reports = await estate.sync()
    assert reports["plan"].status == "DEGRADED"
    reason = await estate.value("SELECT reason FROM sync_pending")
    assert "planned_amount" in reason
    assert "sejuta" in reason
    assert await estate.value("SELECT count(*) FROM sub_activity") == 6

    estate.execute(estate.plan, "UPDATE subkeg SET pagu = 1000000, versi = 41 WHERE kode = ?", SA)
    reports = await estate.sync()
    assert reports["plan"].status == "OK"
    assert await estate.value("SELECT count(*) FROM sub_activity") == 7
    assert await estate.value("SELECT count(*) FROM sync_pending") == 0


@asynccontextmanager
async def graphql(store_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store_url, Settings(database_url=store_url, source_freshness_seconds=3600))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client


STALENESS = """
query ($code: String!) {
  subActivity(regionCode: "53", fiscalYear: 2025, code: $code) {
    plannedAmount
    provenance { stale source { id status lastError } }
    budget { allocated lines { amount provenance { stale source { id status } } } }
  }
  sources { id status lastError rows lastSuccessAt }
}
"""


async def test_a_source_that_is_down_leaves_the_others_synced_and_its_rows_stale(
    estate: Estate,
) -> None:
    await estate.sync()
    async with graphql(estate.store_url) as client:
        body = (
            await client.post("/graphql", json={"query": STALENESS, "variables": {"code": SA}})
        ).json()
    assert body["data"]["subActivity"]["budget"]["lines"][0]["provenance"]["stale"] is False

    estate.finance.rename(estate.folder / "finance.gone")  # the BPKAD server is unreachable
    estate.execute(estate.plan, "UPDATE subkeg SET pagu = 4242000, versi = 60 WHERE kode = ?", SA)
    reports = await estate.sync()
    assert reports["plan"].status == "OK"  # the other source synced its change
    assert reports["finance"].status == "DOWN"
    assert reports["finance"].error is not None
    assert "finance" in reports["finance"].error

    async with graphql(estate.store_url) as client:
        response = await client.post(
            "/graphql", json={"query": STALENESS, "variables": {"code": SA}}
        )
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    sub = body["data"]["subActivity"]
    assert sub["plannedAmount"] == "4242000.00"
    assert sub["provenance"]["stale"] is False
    line = sub["budget"]["lines"][0]
    assert line["amount"] == "500000.00"  # the last known value, still served
    assert line["provenance"]["stale"] is True
    assert line["provenance"]["source"]["status"] == "DOWN"
    sources = {s["id"]: s for s in body["data"]["sources"]}
    assert sources["finance"]["status"] == "DOWN"
    assert sources["finance"]["lastError"]
    assert sources["finance"]["rows"] == 13
    assert sources["plan"]["status"] == "OK"

    (estate.folder / "finance.gone").rename(estate.finance)  # back up: healthy again
    reports = await estate.sync()
    assert reports["finance"].status == "OK"
    assert reports["finance"].changes == 0


async def test_a_source_that_does_not_answer_times_out(estate: Estate, server: Server) -> None:
    legacy = await server.create_database("rantai_slow")
    conn = await asyncpg.connect(asyncpg_dsn(legacy))
    try:
        await conn.execute("SELECT 1")
    finally:
        await conn.close()
    slow = textwrap.dedent(
        f"""
        [source]
        id = "slow"
        name = "A finance server on a bad link"
        kind = "postgresql"
        url = "{asyncpg_dsn(legacy)}"
        region = "53"
        timeout_seconds = 1

        [[entity]]
        name = "budget_line"
        query = "SELECT 2025 AS tahun, 'x' AS subkeg, 'y' AS rek, 1 AS nilai, pg_sleep(5) AS w"
        [entity.fields]
        region_code = {{ const = "53" }}
        fiscal_year = "tahun"
        sub_activity_code = "subkeg"
        account_code = "rek"
        amount = "nilai"
        """
    )
    (estate.folder / "mappings" / "slow.toml").write_text(slow)
    with (estate.folder / "rantai.toml").open("a") as toml:
        toml.write('\n[[source]]\nmapping = "mappings/slow.toml"\n')
    reports = await estate.sync()
    assert reports["slow"].status == "DOWN"
    assert reports["slow"].error is not None
    assert "no answer within 1 s" in reports["slow"].error
    assert reports["plan"].status == reports["finance"].status == "OK"


async def test_only_one_process_syncs_a_source_at_a_time(estate: Estate) -> None:
    from hub.sync.engine import source_lock_key

    await estate.sync()
    estate.execute(estate.finance, "UPDATE sp2d SET nilai = nilai + 1")
    config = estate.config()
    async with (
        SyncJob(estate.store_url, config) as first,
        SyncJob(estate.store_url, config) as second,
        first.pool.acquire() as held,
    ):
        # Another process is syncing the plan source: it holds the source's lock.
        await held.execute("SELECT pg_advisory_lock($1)", source_lock_key("plan"))
        reports = {r.source: r for r in await second.sync()}
        await held.execute("SELECT pg_advisory_unlock($1)", source_lock_key("plan"))
    assert reports["plan"].status == "BUSY"
    assert reports["finance"].status == "OK"
    assert reports["finance"].changes == 5
    # Health is the busy process's to write: the skipped source's row is left as it was.
    assert await estate.value("SELECT status FROM source WHERE id = 'plan'") == "OK"


MONEV_MAPPING = """
[source]
id = "monev"
name = "e-Monev Form A (test), CSV exports"
kind = "csv"
path = "../monev/*.csv"
region = "53"

[[entity]]
name = "progress_report"
[entity.fields]
region_code = { const = "53" }
fiscal_year = "tahun"
sub_activity_code = "kode"
period = "periode"
physical_percent = { column = "fisik", number = "id" }
financial_percent = { column = "keuangan", number = "id" }
"""


def write_monev(folder: Path, rows: list[tuple[str, str, str, str]]) -> None:
    lines = ["tahun;kode;periode;fisik;keuangan"]
    lines += [f"{YEAR};{code};{period};{fisik};{keu}" for code, period, fisik, keu in rows]
    (folder / "monev").mkdir(exist_ok=True)
    (folder / "monev" / "dinkes.csv").write_text("\n".join(lines) + "\n")


async def test_workbooks_are_diffed_and_skipped_while_their_files_do_not_change(
    estate: Estate,
) -> None:
    (estate.folder / "mappings" / "monev.toml").write_text(MONEV_MAPPING)
    with (estate.folder / "rantai.toml").open("a") as toml:
        toml.write('\n[[source]]\nmapping = "mappings/monev.toml"\n')
    write_monev(estate.folder, [(SA, f"{YEAR}-Q1", "10,5", "8"), (SA2, f"{YEAR}-Q1", "20", "15")])
    first = await estate.sync()
    assert first["monev"].status == "OK"
    assert (
        await estate.value("SELECT count(*) FROM progress_report WHERE sub_activity_id IS NOT NULL")
        == 2
    )

    same = await estate.sync()
    assert [s.mode for s in same["monev"].streams] == ["unchanged"]  # files untouched: not read

    write_monev(estate.folder, [(SA, f"{YEAR}-Q1", "12,5", "8")])  # SA2's row is gone
    changed = await estate.sync()
    stream = changed["monev"].streams[0]
    # The file that changed is read (hub/sync/files.py), its gone row deleted.
    assert (stream.mode, stream.updated, stream.deleted) == ("files", 1, 1)
    rows = await estate.fetch("SELECT sub_activity_code, physical_percent FROM progress_report")
    assert [tuple(r) for r in rows] == [(SA, Decimal("12.50"))]
