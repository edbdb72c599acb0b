"""Onboarding a database the hub has never seen, from a mapping alone: one regency finance
database holding the Renja, the DPA lines and the SP2D (no tables for the Pemda, the OPD,
program or kegiatan), synced with nothing but its three entities mapped.

The Pemda comes from the reference data, the OPD from the names on the rows, program and
kegiatan from the sub kegiatan's code with their official names; a code the nomenclature
does not have is kept and raised; rows that cannot be stored wait with their reason, are
counted, make the source DEGRADED (or stale when nothing was stored) and exit 3.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from adapters.mapping import load_config
from hub.discrepancies.engine import DiscrepancyEngine
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from hub.sync import SourceReport
from tests.conftest import Server, asyncpg_dsn

YEAR = 2025
DINKES = "1.02.0.00.0.00.01.0000"
KNOWN = "1.02.02.2.01.0002"  # Pembangunan Puskesmas
OTHER = "1.02.02.2.01.0001"  # Pembangunan Rumah Sakit beserta Sarana dan Prasarana …
UNKNOWN = "1.02.02.2.01.9001"  # no such sub kegiatan in the nomenclature

TABLES = """
CREATE TABLE renja (id INTEGER, tahun INTEGER, kd_skpd TEXT, nm_skpd TEXT, kd_sub TEXT,
                    nm_sub TEXT, pagu TEXT, tgl_update DATETIME);
CREATE TABLE dpa (id INTEGER, tahun INTEGER, kd_skpd TEXT, kd_sub TEXT, kd_rek TEXT,
                  nilai TEXT);
CREATE TABLE sp2d (id INTEGER, tahun INTEGER, no_sp2d TEXT, tgl TEXT, nilai TEXT, kd_sub TEXT,
                   kd_skpd TEXT);
"""

MAPPING = """
[source]
id = "keuangan-5318"
name = "Keuangan Kabupaten Sumba Barat Daya"
kind = "sqlite"
url = "sqlite:///../keuangan.sqlite"
region = "{region}"

[[entity]]
name = "sub_activity"
table = "renja"
key = ["id"]
[entity.fields]
fiscal_year = "tahun"
code = "kd_sub"
name = "nm_sub"
opd_code = "kd_skpd"
opd_name = "nm_skpd"
planned_amount = "pagu"

[[entity]]
name = "budget_line"
table = "dpa"
[entity.fields]
fiscal_year = "tahun"
sub_activity_code = "kd_sub"
account_code = "kd_rek"
amount = "nilai"
opd_code = "kd_skpd"

[[entity]]
name = "payment"
table = "sp2d"
[entity.fields]
fiscal_year = "tahun"
sp2d_number = "no_sp2d"
paid_on = "tgl"
amount = "nilai"
kind = {{ column = "no_sp2d", pattern = '^\\d+/SP2D/(LS|GU|UP|TU)/' }}
sub_activity_code = "kd_sub"
opd_code = "kd_skpd"
"""


def spaced(code: str) -> str:
    """As the legacy system writes codes: spaces, no zero padding."""
    return " ".join(str(int(s)) for s in code.split("."))


@dataclass
class Legacy:
    folder: Path
    store: str

    @property
    def database(self) -> Path:
        return self.folder / "keuangan.sqlite"

    @property
    def config(self) -> Path:
        return self.folder / "rantai.toml"

    def execute(self, sql: str, *params: Any) -> None:
        with sqlite3.connect(self.database) as conn:
            conn.execute(sql, params)

    async def sync(self) -> SourceReport:
        async with SyncJob(self.store, load_config(self.config)) as job:
            (report,) = await job.sync()
            return report

    async def fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.store))
        try:
            return list(await conn.fetch(sql, *params))
        finally:
            await conn.close()


def build(folder: Path, store: str, region: str = "53.18") -> Legacy:
    (folder / "mappings").mkdir(parents=True)
    (folder / "rantai.toml").write_text('[[source]]\nmapping = "mappings/keuangan.toml"\n')
    (folder / "mappings" / "keuangan.toml").write_text(MAPPING.format(region=region))
    legacy = Legacy(folder, store)
    skpd = spaced(DINKES)
    with sqlite3.connect(legacy.database) as conn:
        conn.executescript(TABLES)
        conn.executemany(
            "INSERT INTO renja VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (1, YEAR, skpd, "DINAS KESEHATAN", spaced(KNOWN), "Puskesmas Waitabula",
                 "1.500.000.000,00", "2025-01-10 08:00:00"),
                (2, YEAR, skpd, "DINAS KESEHATAN", spaced(UNKNOWN), "Puskesmas Keliling",
                 "250.000.000,00", None),
            ],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO dpa VALUES (?, ?, ?, ?, ?, ?)",
            [
                (1, YEAR, skpd, spaced(KNOWN), "5 2 3 1 1 1", "1.200.000.000,00"),
                (2, YEAR, skpd, spaced(OTHER), "5 1 2 1 1 24", "75.000.000,00"),  # no plan
            ],
        )
        conn.executemany(
            "INSERT INTO sp2d VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (1, YEAR, "00001/SP2D/LS/2025", "17-03-2025", "300.000.000,00", spaced(KNOWN),
                 skpd),
                (2, YEAR, "00002/SP2D/GU/2025", "18-03-2025", "5.000.000,00", spaced(OTHER), skpd),
            ],
        )  # fmt: skip
    return legacy


@pytest.fixture
async def legacy(server: Server, tmp_path: Path) -> Legacy:
    store = await server.create_database("rantai_onboard")
    await run_async(store, "upgrade", "head")
    return build(tmp_path / "legacy", store)


async def test_a_source_with_only_renja_dpa_and_sp2d_syncs_its_whole_hierarchy(
    legacy: Legacy,
) -> None:
    report = await legacy.sync()
    assert (report.status, report.waiting, report.error) == ("OK", 0, None)
    regions = await legacy.fetch(
        "SELECT r.code, r.name, r.level, p.code AS parent, r.source_id FROM region r "
        "LEFT JOIN region p ON p.id = r.parent_id ORDER BY r.code"
    )
    assert [tuple(r) for r in regions] == [
        ("53", "Nusa Tenggara Timur", "PROVINCE", None, "reference"),
        ("53.18", "Kabupaten Sumba Barat Daya", "REGENCY", "53", "reference"),
    ]
    opds = await legacy.fetch("SELECT code, name, source_id FROM opd")
    assert [tuple(r) for r in opds] == [(DINKES, "DINAS KESEHATAN", "keuangan-5318")]
    programs = await legacy.fetch("SELECT code, name FROM program")
    assert [tuple(r) for r in programs] == [
        ("1.02.02", "PROGRAM PEMENUHAN UPAYA KESEHATAN PERORANGAN DAN UPAYA KESEHATAN MASYARAKAT")
    ]
    activities = await legacy.fetch("SELECT code, name FROM activity")
    assert [tuple(r) for r in activities] == [
        (
            "1.02.02.2.01",
            "Penyediaan Fasilitas Pelayanan Kesehatan untuk UKM dan UKP Kewenangan Daerah "
            "Kabupaten/Kota",
        )
    ]
    subs = await legacy.fetch("SELECT code, name, planned_amount FROM sub_activity ORDER BY code")
    assert [tuple(r) for r in subs] == [
        (KNOWN, "Puskesmas Waitabula", Decimal("1500000000.00")),
        (UNKNOWN, "Puskesmas Keliling", Decimal("250000000.00")),
    ]
    kinds = await legacy.fetch("SELECT sp2d_number, kind FROM payment ORDER BY 1")
    assert [tuple(r) for r in kinds] == [("00001/SP2D/LS/2025", "LS"), ("00002/SP2D/GU/2025", "GU")]
    # What the sync made for the rows is in its report.
    (renja,) = [s for s in report.streams if s.entity == "sub_activity"]
    assert renja.derived == {"opd": 1, "activity": 1, "program": 1}


async def test_a_code_the_nomenclature_does_not_have_is_kept_and_raised(legacy: Legacy) -> None:
    await legacy.sync()
    conn = await asyncpg.connect(asyncpg_dsn(legacy.store))
    try:
        await DiscrepancyEngine().run(conn, full=True)
        found = await conn.fetch(
            "SELECT subject_key, severity, evidence, message FROM discrepancy "
            "WHERE rule = 'CODE_NOT_IN_NOMENCLATURE'"
        )
    finally:
        await conn.close()
    assert [r["subject_key"] for r in found] == [f"53.18/{YEAR}/{UNKNOWN}"]
    (finding,) = found
    assert finding["severity"] == "WARNING"
    evidence = json.loads(finding["evidence"])
    assert [(e["entity"], e["field"], e["value"]) for e in evidence] == [
        ("SubActivity", "code", UNKNOWN)
    ]
    assert "Kepmendagri 050-5889/2021" in finding["message"]


async def test_a_province_code_is_not_checked_without_a_provincial_edition(
    server: Server, tmp_path: Path
) -> None:
    store = await server.create_database("rantai_onboard")
    await run_async(store, "upgrade", "head")
    legacy = build(tmp_path / "legacy", store, region="53")
    provincial = "1.02.02.1.01.9001"  # a province's code: the shipped edition has no such annex
    legacy.execute("UPDATE renja SET kd_sub = ? WHERE id = 2", spaced(provincial))
    report = await legacy.sync()
    assert report.status == "OK"
    conn = await asyncpg.connect(asyncpg_dsn(store))
    try:
        await DiscrepancyEngine().run(conn, full=True)
        raised = await conn.fetch(
            "SELECT subject_key FROM discrepancy WHERE rule = 'CODE_NOT_IN_NOMENCLATURE'"
        )
        names = await conn.fetch(
            "SELECT code, name FROM activity UNION ALL SELECT code, name FROM program ORDER BY 1"
        )
    finally:
        await conn.close()
    # The province's provincial codes (and its program codes) are not checked ...
    assert [r["subject_key"] for r in raised] == []
    # ... and get no official name: named by their code. A regency/city code it uses is
    # checked, and named, against the regency/city annex.
    assert [tuple(r) for r in names] == [
        ("1.02.02", "1.02.02"),
        ("1.02.02.1.01", "1.02.02.1.01"),
        (
            "1.02.02.2.01",
            "Penyediaan Fasilitas Pelayanan Kesehatan untuk UKM dan UKP Kewenangan Daerah "
            "Kabupaten/Kota",
        ),
    ]


async def test_a_region_that_is_no_pemda_of_the_reference_data_puts_the_source_down(
    server: Server, tmp_path: Path
) -> None:
    store = await server.create_database("rantai_onboard")
    await run_async(store, "upgrade", "head")
    legacy = build(tmp_path / "legacy", store, region="53.99")
    report = await legacy.sync()
    assert report.status == "DOWN"
    assert report.error == (
        "source keuangan-5318: region '53.99' is not a Pemda of the reference data "
        "(Kemendagri codes: rantai reference)"
    )
    assert await legacy.fetch("SELECT code FROM region") == []


async def test_rows_that_wait_are_counted_by_reason_and_stored_from_the_queue_later(
    legacy: Legacy,
) -> None:
    # The Renja is read after its last id (a watermark), and an OPD table lists the OPD
    # rows name without a name of their own.
    legacy.execute("CREATE TABLE skpd (kode TEXT, nama TEXT)")
    mapping = legacy.folder / "mappings" / "keuangan.toml"
    text = mapping.read_text().replace('table = "renja"\n', 'table = "renja"\nwatermark = "id"\n')
    mapping.write_text(
        text + '\n[[entity]]\nname = "opd"\ntable = "skpd"\n[entity.fields]\n'
        'code = "kode"\nname = "nama"\n'
    )
    legacy.execute("UPDATE renja SET nm_skpd = NULL, kd_skpd = '9 9 0 0 0 0 1 0' WHERE id = 2")
    first = await legacy.sync()
    assert first.status == "DEGRADED"
    assert first.waiting == 1  # the renja row: its OPD is unknown (and no name to create it)
    (source,) = await legacy.fetch(
        "SELECT waiting, waiting_reasons, last_run_read, last_run_stored FROM source "
        "WHERE id = 'keuangan-5318'"
    )
    assert source["waiting"] == 1
    assert json.loads(source["waiting_reasons"]) == [
        {"reason": "unknown opd", "count": 1, "example": "unknown opd 9.09.0.00.0.00.01.0000"}
    ]
    assert (source["last_run_read"], source["last_run_stored"]) == (6, 5)
    # The OPD arrives; the Renja row is not read again (the watermark passed it): it is
    # stored from the waiting queue, and the report counts it.
    legacy.execute("INSERT INTO skpd VALUES ('9 9 0 0 0 0 1 0', 'Badan Baru')")
    second = await legacy.sync()
    assert (second.status, second.waiting) == ("OK", 0)
    (renja,) = [s for s in second.streams if s.stream == "sub_activity:renja"]
    assert (renja.read, renja.created) == (0, 0)
    (queue,) = [s for s in second.streams if s.mode == "waiting"]
    assert (queue.stream, queue.read, queue.created) == ("sub_activity:(waiting)", 1, 1)
    assert await legacy.fetch("SELECT 1 FROM sub_activity WHERE code = $1", UNKNOWN)


async def test_a_value_outside_a_closed_vocabulary_waits_and_never_reaches_the_store(
    legacy: Legacy,
) -> None:
    legacy.execute(
        "UPDATE sp2d SET no_sp2d = '00002/SP2D/XX/2025' WHERE id = 2"
    )  # no kind: the pattern does not match, the field stays empty
    mapping = legacy.folder / "mappings" / "keuangan.toml"
    text = mapping.read_text().replace(
        "kind = { column = \"no_sp2d\", pattern = '^\\d+/SP2D/(LS|GU|UP|TU)/' }",
        "kind = { column = \"no_sp2d\", pattern = '^\\d+/SP2D/(\\w+)/' }",
    )
    mapping.write_text(text)
    report = await legacy.sync()
    assert report.status == "DEGRADED"
    (waiting,) = await legacy.fetch("SELECT entity, reason FROM sync_pending")
    assert tuple(waiting) == ("payment", "bad row: kind: 'XX' is not one of LS, UP, GU, TU")
    kinds = await legacy.fetch("SELECT kind FROM payment")
    assert [r["kind"] for r in kinds] == ["LS"]


async def test_a_run_that_stores_nothing_is_no_success_and_its_source_is_stale(
    legacy: Legacy,
) -> None:
    legacy.execute("UPDATE renja SET nm_skpd = NULL, kd_skpd = '9 9 0 0 0 0 1 0'")
    legacy.execute("DELETE FROM dpa")
    legacy.execute("DELETE FROM sp2d")
    report = await legacy.sync()
    assert report.status == "DEGRADED"
    assert report.stored_nothing
    assert report.error is not None
    assert report.error.startswith("nothing stored: 2 rows waiting: 2 × unknown opd")
    (row,) = await legacy.fetch(
        "SELECT last_success_at, last_run_read, last_run_stored FROM source "
        "WHERE id = 'keuangan-5318'"
    )
    assert row["last_success_at"] is None
    assert (row["last_run_read"], row["last_run_stored"]) == (2, 0)


@pytest.fixture
async def client(legacy: Legacy, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(legacy.store, settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http,
    ):
        yield http


SOURCE = """{ sources { id status waiting lastRunRead lastRunStored
  waitingReasons { reason count example } } }"""


async def test_source_in_graphql_shows_waiting_rows_their_reasons_and_the_last_run(
    legacy: Legacy, client: httpx.AsyncClient
) -> None:
    legacy.execute("UPDATE renja SET nm_skpd = NULL, kd_skpd = '9 9 0 0 0 0 1 0' WHERE id = 2")
    await legacy.sync()
    body = (await client.post("/graphql", json={"query": SOURCE})).json()
    assert "errors" not in body, body
    (source,) = [s for s in body["data"]["sources"] if s["id"] == "keuangan-5318"]
    assert source == {
        "id": "keuangan-5318",
        "status": "DEGRADED",
        "waiting": 1,
        "lastRunRead": 6,
        "lastRunStored": 5,
        "waitingReasons": [
            {"reason": "unknown opd", "count": 1, "example": "unknown opd 9.09.0.00.0.00.01.0000"}
        ],
    }
    reference = [s for s in body["data"]["sources"] if s["id"] == "reference"]
    assert reference == [
        {
            "id": "reference",
            "status": "OK",
            "waiting": 0,
            "lastRunRead": None,
            "lastRunStored": None,
            "waitingReasons": [],
        }
    ]


SUMMARY = """query ($code: String!, $opd: String!) {
  region(code: $code) { summary(fiscalYear: 2025) {
    allocated paid unlinkedAllocated unlinkedPaid unlinkedProcurementCeiling } }
  opd(regionCode: $code, code: $opd) { summary(fiscalYear: 2025) {
    allocated paid unlinkedAllocated unlinkedPaid } }
}"""


async def test_summaries_report_what_no_sub_kegiatan_holds_as_its_own_amounts(
    legacy: Legacy, client: httpx.AsyncClient
) -> None:
    await legacy.sync()
    for code in ("53.18", "53"):  # a province's summary includes its regencies
        body = (
            await client.post(
                "/graphql", json={"query": SUMMARY, "variables": {"code": code, "opd": DINKES}}
            )
        ).json()
        assert "errors" not in body, body
        assert body["data"]["region"]["summary"] == {
            "allocated": "1200000000.00",
            "paid": "300000000.00",
            "unlinkedAllocated": "75000000.00",
            "unlinkedPaid": "5000000.00",
            "unlinkedProcurementCeiling": "0.00",
        }
    body = (
        await client.post(
            "/graphql", json={"query": SUMMARY, "variables": {"code": "53.18", "opd": DINKES}}
        )
    ).json()
    assert body["data"]["opd"]["summary"] == {  # the lines name their OPD
        "allocated": "1200000000.00",
        "paid": "300000000.00",
        "unlinkedAllocated": "75000000.00",
        "unlinkedPaid": "5000000.00",
    }


def rantai(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    env["RANTAI_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


async def test_sync_exits_0_when_ok_3_when_degraded_and_1_when_down(legacy: Legacy) -> None:
    config = str(legacy.config)
    ok = rantai("sync", "--config", config, "--no-progress", url=legacy.store)
    assert ok.returncode == 0, ok.stderr
    legacy.execute("UPDATE renja SET nm_skpd = NULL, kd_skpd = '9 9 0 0 0 0 1 0' WHERE id = 2")
    degraded = rantai("sync", "--config", config, "--no-progress", url=legacy.store)
    assert degraded.returncode == 3, degraded.stdout + degraded.stderr
    assert "DEGRADED" in degraded.stdout
    listed = rantai("sources", "--config", config, url=legacy.store)
    assert "1 × unknown opd" in listed.stdout
    # The run read the changed blocks of keys only (checksums per block): two rows, one
    # of them waiting for its OPD.
    assert "stored 1 of 2 read" in listed.stdout
    legacy.database.unlink()
    down = rantai("sync", "--config", config, "--no-progress", url=legacy.store)
    assert down.returncode == 1, down.stdout + down.stderr
    assert "DOWN" in down.stdout


def line_of(path: Path, fragment: str, after: str = "") -> int:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines, 1) if i > start and fragment in line)


async def test_check_reports_the_rows_that_would_wait_with_the_line_to_change(
    legacy: Legacy,
) -> None:
    mapping = legacy.folder / "mappings" / "keuangan.toml"
    # The OPD's name is not mapped: every Renja row would wait for its OPD.
    mapping.write_text(mapping.read_text().replace('opd_name = "nm_skpd"\n', ""))
    checked = rantai("sources", "check", "--config", str(legacy.config), url=legacy.store)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    line = line_of(mapping, 'opd_code = "kd_skpd"')
    assert (
        f"{mapping}:{line}: sub_activity: 2 of 2 sampled rows would wait: unknown opd "
        f"(e.g. {DINKES}): give opd_name (the OPD's name) so the sync creates it, or map the "
        "source's OPD rows"
    ) in checked.stderr
    # A DPA line whose sub kegiatan no source plans is kept: a warning, not a problem.
    line = line_of(mapping, 'sub_activity_code = "kd_sub"', after='name = "budget_line"')
    assert (
        f"{mapping}:{line}: warning: budget_line: 1 of 2 sampled rows would stay unlinked: "
        f"unknown sub kegiatan (e.g. {OTHER})"
    ) in checked.stderr
    assert "1 of 1 sources have problems" in checked.stderr


async def test_check_warns_of_a_watermark_with_empty_or_future_values(legacy: Legacy) -> None:
    mapping = legacy.folder / "mappings" / "keuangan.toml"
    mapping.write_text(
        mapping.read_text().replace(
            'table = "renja"\n', 'table = "renja"\nwatermark = "tgl_update"\n'
        )
    )
    checked = rantai("sources", "check", "--config", str(legacy.config), url=legacy.store)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    line = line_of(mapping, 'watermark = "tgl_update"')
    assert (
        f"{mapping}:{line}: warning: sub_activity: watermark column 'tgl_update' is empty in 1 "
        "of 2 rows: a sync reads such rows only once and never sees them change; leave "
        "watermark out (keyed diff) unless the application always sets it"
    ) in checked.stderr
    # … and the DPA line and SP2D of a sub kegiatan no source plans.
    assert "ok  keuangan-5318 (3 warnings)" in checked.stdout
    legacy.execute("UPDATE renja SET tgl_update = '2031-01-06 09:30:00'")
    future = rantai("sources", "check", "--config", str(legacy.config), url=legacy.store)
    assert "holds values in the future (up to 2031-01-06 09:30:00)" in future.stderr
    assert future.returncode == 0
