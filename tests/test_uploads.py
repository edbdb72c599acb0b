"""Form A uploads by an OPD operator, over real HTTP (uvicorn) into a real PostgreSQL:
an accepted workbook is kept, audited and synced like any workbook source; every refusal
(rows the mapping cannot read, macros, external links, formulas referring outside, not
.xlsx, over 10 MB) keeps nothing; the same content twice is one upload; the permission
matrix (the OPD's own key only; another OPD's key, a province key and the public cannot);
an uploaded Form A is the report MONEV_REPORT_LATE waited for."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from openpyxl import Workbook

from adapters.mapping import load_config
from hub.auth import keys
from hub.db import asyncpg_dsn
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from hub.sync.engine import SyncEngine
from tests.conftest import Server, running

REGION = "53.71"
DINKES = "1.02.0.00.0.00.01.0000"
DIKBUD = "1.01.0.00.0.00.01.0000"
CODES = ["1.02.02.2.01.0001", "1.02.02.2.01.0002", "1.02.02.2.02.0001"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PLAN = f"""[source]
id = "plan-5371"
kind = "sqlite"
url = "sqlite:///plan.sqlite"
region = "{REGION}"

[[entity]]
name = "sub_activity"
table = "subkeg"

[entity.fields]
fiscal_year = "tahun"
code = "kode"
name = "nama"
opd_code = "kd_skpd"
opd_name = "nm_skpd"
"""

MONEV = f"""[source]
id = "forma-5371-dinkes"
name = "Form A — Dinas Kesehatan Kota Kupang (unggahan)"
kind = "xlsx"
region = "{REGION}"
owner_opd = "{DINKES}"
uploads = true

[[entity]]
name = "progress_report"
sheet = "Form A"
header_row = 4

[entity.fields]
fiscal_year = {{ cell = "C2" }}
sub_activity_code = "Kode Sub Kegiatan"
period = "Periode"
physical_percent = "Fisik (%)"
financial_percent = "Keuangan (%)"
problems = "Permasalahan"
"""


def form_a(rows: list[list[Any]], *, year: Any = 2025) -> Workbook:
    book = Workbook()
    sheet = book.active
    sheet.title = "Form A"
    sheet["A1"] = "FORM A — LAPORAN REALISASI FISIK DAN KEUANGAN"
    sheet["B2"], sheet["C2"] = "Tahun", year
    headers = ["No", "Kode Sub Kegiatan", "Periode", "Fisik (%)", "Keuangan (%)", "Permasalahan"]
    for column, title in enumerate(headers, start=1):
        sheet.cell(4, column, title)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate([number, *row], start=1):
            sheet.cell(4 + number, column, value)
    return book


def good_rows(month: str = "2025-06") -> list[list[Any]]:
    return [[code, month, 40 + n, "35,5", "-"] for n, code in enumerate(CODES)]


def xlsx(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_parts(data: bytes, parts: dict[str, bytes], types: bytes = b"") -> bytes:
    """The workbook with more zip parts (and a content type added)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "[Content_Types].xml" and types:
                content = content.replace(b"</Types>", types + b"</Types>")
            target.writestr(item, content)
        for name, content in parts.items():
            target.writestr(name, content)
    return out.getvalue()


@dataclass
class Hub:
    folder: Path
    store_url: str
    base: str
    keys: dict[str, str]

    async def upload(
        self, who: str | None, data: bytes, name: str = "Form A Juni 2025.xlsx", **form: str
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as client:
            return await client.post(
                "/upload/monev", headers=headers, files={"file": (name, data, XLSX)}, data=form
            )

    async def sync(self) -> dict[str, Any]:
        config = load_config(self.folder / "rantai.toml")
        async with SyncEngine(self.store_url, config) as engine:
            return {r.source: r for r in await engine.sync()}

    async def value(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(asyncpg_dsn(self.store_url))
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()


@pytest.fixture
async def hub(server: Server, tmp_path: Path) -> AsyncIterator[Hub]:
    url = await server.create_database("rantai_upload")
    await run_async(url, "upgrade", "head")
    with sqlite3.connect(tmp_path / "plan.sqlite") as db:
        db.execute("CREATE TABLE subkeg (tahun, kode, nama, kd_skpd, nm_skpd)")
        for code in CODES:
            db.execute(
                "INSERT INTO subkeg VALUES (?, ?, ?, ?, ?)",
                (2025, code, f"Sub kegiatan {code}", DINKES, "Dinas Kesehatan"),
            )
        db.execute(
            "INSERT INTO subkeg VALUES (?, ?, ?, ?, ?)",
            (2025, "1.01.02.2.01.0001", "Sub kegiatan sekolah", DIKBUD, "Dinas Pendidikan"),
        )
    (tmp_path / "plan.toml").write_text(PLAN)
    (tmp_path / "monev.toml").write_text(MONEV)
    (tmp_path / "rantai.toml").write_text(
        '[[source]]\nmapping = "plan.toml"\n\n[[source]]\nmapping = "monev.toml"\n'
    )
    settings = Settings(database_url=url, config=tmp_path / "rantai.toml")
    made: dict[str, str] = {}
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        made["dinkes"] = (await keys.create(conn, settings.secret_key, "opd", REGION, DINKES))[0]
        made["dikbud"] = (await keys.create(conn, settings.secret_key, "opd", REGION, DIKBUD))[0]
        made["province"] = (await keys.create(conn, settings.secret_key, "province"))[0]
    finally:
        await conn.close()
    app = create_app(url, settings)
    async with running(app, log_level="critical") as port:
        found = Hub(tmp_path, url, f"http://127.0.0.1:{port}", made)
        reports = await found.sync()
        assert reports["plan-5371"].status == "OK", reports["plan-5371"].error
        assert reports["forma-5371-dinkes"].status == "OK"  # no upload yet: nothing to read
        yield found


async def test_an_accepted_upload_is_kept_audited_and_synced(hub: Hub) -> None:
    data = xlsx(form_a(good_rows()))
    answer = await hub.upload("dinkes", data)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "ACCEPTED"
    assert body["upload"]["rows"] == len(CODES)
    assert body["upload"]["source"] == "forma-5371-dinkes"
    kept = await hub.value("SELECT content FROM upload WHERE id = $1", body["upload"]["id"])
    assert kept == data
    assert (
        await hub.value(
            "SELECT count(*) FROM sync_request WHERE source_id = 'forma-5371-dinkes' "
            "AND started_at IS NULL"
        )
        == 1
    )
    assert await hub.value("SELECT count(*) FROM audit_log WHERE kind = 'upload.accepted'") == 1
    # The source says what its OPD sent last, in GraphQL and on the command line.
    async with httpx.AsyncClient(base_url=hub.base) as client:
        answer = await client.post(
            "/graphql",
            json={"query": "{ sources { id lastUploadFile lastUploadAt } }"},
            headers={"Authorization": f"Bearer {hub.keys['province']}"},
        )
    shown = {s["id"]: s for s in answer.json()["data"]["sources"]}
    assert shown["forma-5371-dinkes"]["lastUploadFile"] == "Form A Juni 2025.xlsx"
    assert shown["forma-5371-dinkes"]["lastUploadAt"] is not None
    assert shown["plan-5371"]["lastUploadFile"] is None
    # The sync loop answers the request: the rows come in with the upload as their file.
    reports = await hub.sync()
    assert reports["forma-5371-dinkes"].status == "OK", reports["forma-5371-dinkes"].error
    assert await hub.value(
        "SELECT count(*) FROM progress_report WHERE source_id = 'forma-5371-dinkes'"
    ) == len(CODES)
    # Each row's provenance names the upload it came from (its file, its upload id).
    upload_id = body["upload"]["id"]
    keys = await hub.value("SELECT array_agg(source_key) FROM progress_report")
    assert all(k.startswith(f"Form A Juni 2025.{upload_id}.xlsx/") for k in keys), keys
    # The same content again is acknowledged, not kept twice.
    again = await hub.upload("dinkes", data, name="salinan.xlsx")
    assert again.status_code == 200
    assert again.json()["status"] == "DUPLICATE"
    assert await hub.value("SELECT count(*) FROM upload") == 1
    # A corrected file under the same name replaces the earlier one in the next sync.
    fixed = good_rows()
    fixed[0][2] = 55
    assert (await hub.upload("dinkes", xlsx(form_a(fixed)))).status_code == 201
    await hub.sync()
    assert str(
        await hub.value(
            "SELECT p.physical_percent FROM progress_report p "
            "JOIN sub_activity s ON s.id = p.sub_activity_id WHERE s.code = $1",
            CODES[0],
        )
    ).startswith("55")
    assert await hub.value("SELECT count(*) FROM progress_report") == len(CODES)


async def test_rows_the_mapping_cannot_read_are_listed_in_indonesian(hub: Hub) -> None:
    rows = good_rows()
    rows += [[CODES[0], "2025-07", 50, "35,5", "-"] for _ in range(8)]
    rows[9][2] = "dua belas"  # row 14 of the sheet, Fisik (%) in column D
    rows[10][0] = None  # row 15: no sub kegiatan code
    answer = await hub.upload("dinkes", xlsx(form_a(rows, year="tahun ini")))
    assert answer.status_code == 422, answer.text
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "UPLOAD_REFUSED"
    messages = [p["message"] for p in error["extensions"]["problems"]]
    assert "Lembar 'Form A', baris 14, kolom D: 'dua belas' bukan persentase yang dikenali" in (
        messages
    )
    assert any(m.startswith("Lembar 'Form A', baris 2, kolom C: 'tahun ini'") for m in messages)
    assert any("baris 15, kolom B" in m and "wajib diisi" in m for m in messages), messages
    assert await hub.value("SELECT count(*) FROM upload") == 0
    assert await hub.value("SELECT count(*) FROM audit_log WHERE kind = 'upload.refused'") == 1


async def test_an_opd_reports_on_its_own_sub_kegiatan_only(hub: Hub) -> None:
    """A row of another OPD's sub kegiatan would write (or overwrite) that OPD's e-Monev:
    the whole file is refused, naming the row."""
    rows = good_rows()
    rows.append(["1.01.02.2.01.0001", "2025-06", 99.9, "99", "ditimpa"])  # Dikbud's
    answer = await hub.upload("dinkes", xlsx(form_a(rows)), name="../../../tmp/Form A.xlsx")
    assert answer.status_code == 422, answer.text
    problems = answer.json()["errors"][0]["extensions"]["problems"]
    assert [p["message"] for p in problems] == [
        f"Lembar 'Form A', baris {4 + len(rows)}, kolom B: sub kegiatan 1.01.02.2.01.0001 "
        "bukan milik OPD ini"
    ]
    assert await hub.value("SELECT count(*) FROM upload") == 0
    accepted = await hub.upload("dinkes", xlsx(form_a(good_rows())), name="../../x/Form A.xlsx")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["upload"]["fileName"] == "Form A.xlsx"  # no folders kept


async def test_a_workbook_that_is_not_plain_is_refused(hub: Hub) -> None:
    plain = xlsx(form_a(good_rows()))
    macros = with_parts(
        plain,
        {"xl/vbaProject.bin": b"\0" * 64},
        b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>',
    )
    links = with_parts(plain, {"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    book = form_a(good_rows())
    book["Form A"]["H5"] = "=[1]Anggaran!B4*2"
    outside = xlsx(book)
    book = form_a(good_rows())
    book["Form A"]["H5"] = "=cmd|' /C calc'!A0"  # DDE: runs a program where it is opened
    dde = xlsx(book)
    for data, words in (
        (macros, "makro"),
        (links, "tautan ke buku kerja lain"),
        (outside, "rumus merujuk ke luar buku kerja"),
        (dde, "rumus merujuk ke luar buku kerja"),
        (b"No;Kode\n1;2\n", "bukan buku kerja .xlsx"),
    ):
        answer = await hub.upload("dinkes", data)
        assert answer.status_code == 415, answer.text
        problems = answer.json()["errors"][0]["extensions"]["problems"]
        assert any(words in p["message"] for p in problems), problems
    named = await hub.upload("dinkes", plain, name="form-a.xls")
    assert named.status_code == 415
    assert named.json()["errors"][0]["extensions"]["code"] == "UPLOAD_REFUSED"
    big = await hub.upload("dinkes", b"PK\x03\x04" + b"\0" * (10 * 1024 * 1024))
    assert big.status_code == 413
    assert big.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"
    assert await hub.value("SELECT count(*) FROM upload") == 0


async def test_only_the_opds_own_key_may_upload_for_it(hub: Hub) -> None:
    data = xlsx(form_a(good_rows()))
    public = await hub.upload(None, data)
    assert public.status_code == 403
    assert public.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    province = await hub.upload("province", data)
    assert province.status_code == 403
    other = await hub.upload("dikbud", data, opd=DINKES)
    assert other.status_code == 403
    assert DINKES in other.json()["errors"][0]["message"]
    # Another OPD's own upload goes to its own source, which it has not got.
    own = await hub.upload("dikbud", data)
    assert own.status_code == 422
    assert (
        "tidak punya sumber unggahan"
        in own.json()["errors"][0]["extensions"]["problems"][0]["message"]
    )
    assert await hub.value("SELECT count(*) FROM upload") == 0
    assert (await hub.upload("dinkes", data, opd=DINKES)).status_code == 201


def test_rantai_sources_shows_an_uploads_sources_last_upload() -> None:
    from datetime import UTC, datetime, timedelta

    from rich.console import Console

    from hub.cli.console import sources_table

    row = {
        "id": "forma-5371-dinkes",
        "kind": "xlsx",
        "status": "OK",
        "stale": False,
        "last_success_at": datetime.now(UTC),
        "rows": 3,
        "waiting": 0,
        "waiting_reasons": [],
        "last_run_read": 3,
        "last_run_stored": 3,
        "last_error": None,
        "entities": "progress_report",
        "last_upload_file": "Form A Juni 2025.xlsx",
        "last_upload_at": datetime.now(UTC) - timedelta(hours=3),
    }
    console = Console(width=250, record=True)
    console.print(sources_table([row]))
    text = console.export_text()
    assert "last upload: Form A Juni 2025.xlsx, 3 h ago" in text


async def test_an_uploaded_form_a_is_the_report_that_arrived(hub: Hub) -> None:
    """MONEV_REPORT_LATE on 11 July 2025: Dinkes, with a DPA line, sent no Form A. Its
    upload, synced as the upload asks, resolves June's in the run after that sync."""
    await hub.value(
        "INSERT INTO budget_line (region_id, fiscal_year, sub_activity_code, sub_activity_id, "
        "account_code, amount, source_id, source_key) SELECT s.region_id, s.fiscal_year, "
        "s.code, s.id, '5.1.02.01.01.0001', 1000000, 'plan-5371', 'uji' FROM sub_activity s "
        "WHERE s.code = $1",
        CODES[0],
    )
    config = hub.folder / "rantai.toml"
    config.write_text(config.read_text() + "\n[discrepancies]\nas_of = 2025-07-11\n")

    async def late() -> set[str]:
        keys = await hub.value(
            "SELECT array_agg(subject_key ORDER BY subject_key) FROM discrepancy "
            "WHERE rule = 'MONEV_REPORT_LATE' AND resolved_at IS NULL"
        )
        return set(keys or [])

    async with SyncJob(hub.store_url, load_config(config)) as job:
        await job.check_discrepancies(full=True)
        key = f"{REGION}/2025/{DINKES}/2025-"
        assert await late() == {key + "03", key + "06"}  # a quarter's months, by quarter
        assert (await hub.upload("dinkes", xlsx(form_a(good_rows("2025-06"))))).status_code == 201
        await job.sync()
        report = job.discrepancy_report
        assert report is not None
        assert not report.full
        assert "MONEV_REPORT_LATE" in report.by_rule
    # June's is in; a monthly report makes every month owed on its own.
    assert await late() == {key + m for m in ("01", "02", "03", "04", "05")}
    assert await hub.value(
        "SELECT resolved_at IS NOT NULL FROM discrepancy WHERE subject_key = $1", key + "06"
    )
