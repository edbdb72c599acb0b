"""HTTP JSON sources against a real HTTP server: the national procurement API's stand-in
(estate/inaproc.py) served by uvicorn on a loopback port, read by the real sync into a
real PostgreSQL. Pages by cursor, nested fields and participants flattened into bids,
429 storms, a hanging page, a 500 mid-pagination and the resume after it, a bad key, an
expired cursor, incremental reads by `updated_since`, and the mapping's own checks."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import asyncpg
import pytest
from typer.testing import CliRunner

from adapters.base import open_adapter
from adapters.check import check_source
from adapters.mapping import MappingError, load_config, load_mapping
from estate.inaproc import Faults, InaprocData, inaproc_app, serving
from hub.cli import app
from hub.db import asyncpg_dsn
from hub.migrate import run_async
from hub.sync.engine import SyncEngine
from hub.sync.reports import SourceReport
from tests.conftest import Server

KEY = "kunci-rahasia-5371-XYZ"
KLPD = "D179"
YEAR = 2025
PACKAGES = 7
LIMIT = 3  # pages of 3: 3 pages of packages

MAPPING = """
[source]
id = "inaproc-5371"
name = "INAPROC — Kota Kupang"
kind = "http-json"
url = "http://127.0.0.1:{port}/api/v1"
region = "53.71"
api_key = "${{RANTAI_TEST_INAPROC_KEY}}"
{key_option}
retry_budget = {budget}
max_backoff_seconds = 1
read_timeout_seconds = 1
timeout_seconds = 30

[[entity]]
name = "procurement_package"
path = "/rup/paket-penyedia"
params = {{ kode_klpd = "{klpd}", tahun = {year} }}
records = "data"
paging = "cursor"
limit = {limit}
{watermark}

[entity.fields]
rup_code = "kd_rup"
fiscal_year = "tahun_anggaran"
name = "nama_paket"
method = "metode_pengadaan"
category = "jenis_pengadaan"
ceiling = "pagu"
funding_source = "sumber_dana"
opd_code = "satker.kd_satker_str"
opd_name = "satker.nama_satker"

[[entity]]
name = "tender"
path = "/tender/pengumuman"
params = {{ kode_klpd = "{klpd}", tahun = {year} }}
records = "data"
paging = "cursor"
limit = {limit}

[entity.fields]
code = "kd_tender"
name = "nama_paket"
method = "mtd_pemilihan"
owner_estimate = "hps"
ceiling = "pagu"
status = "status_tender"
announced_on = "tgl_pengumuman"

[[entity]]
name = "bid"
path = "/tender/pengumuman"
params = {{ kode_klpd = "{klpd}", tahun = {year} }}
records = "data"
each = "peserta"
paging = "cursor"
limit = {limit}

[entity.fields]
tender_code = "kd_tender"
vendor_key = "peserta.npwp_penyedia_16"
vendor_name = "peserta.nama_penyedia"
vendor_tax_id = "peserta.npwp_penyedia_16"
amount = "peserta.nilai_penawaran"
corrected_amount = "peserta.nilai_terkoreksi"
is_winner = "peserta.pemenang"
"""


def package(n: int) -> dict[str, Any]:
    return {
        "kd_rup": str(46_000_000 + n),
        "kd_klpd": KLPD,
        "tahun_anggaran": YEAR,
        "nama_paket": f"Rehabilitasi Gedung Sekolah {n}",
        "metode_pengadaan": "Tender" if n % 2 else "E-Purchasing",
        "jenis_pengadaan": "Pekerjaan Konstruksi",
        "pagu": 1_250_000_000 + n * 1000,
        "sumber_dana": "APBD",
        "satker": {"kd_satker_str": "1.01.0.00.0.00.01.0000", "nama_satker": "Dinas Pendidikan"},
        "updated_at": f"2025-03-{n + 1:02d}T08:00:00+08:00",
    }


def tender(n: int, bidders: int) -> dict[str, Any]:
    return {
        "kd_tender": str(10_000_000 + n),
        "kd_rup": str(46_000_000 + n),
        "nama_paket": f"Rehabilitasi Gedung Sekolah {n}",
        "mtd_pemilihan": "Tender",
        "hps": 1_200_000_000,
        "pagu": 1_250_000_000,
        "status_tender": "Selesai",
        "tgl_pengumuman": "2025-04-02",
        "updated_at": f"2025-04-{n + 1:02d}T08:00:00+08:00",
        "peserta": [
            {
                "npwp_penyedia_16": f"0{n:02d}{b:02d}123456789012",
                "nama_penyedia": f"CV Karya Flobamora {n}-{b}",
                "nilai_penawaran": 1_100_000_000 + b * 5_000_000,
                "nilai_terkoreksi": 1_100_000_000.5 + b * 5_000_000,
                "pemenang": b == 0,
            }
            for b in range(bidders)
        ],
    }


@dataclass
class Api:
    folder: Path
    store_url: str
    data: InaprocData
    faults: Faults
    port: int

    def write(
        self,
        *,
        budget: int = 6,
        key: str = KEY,
        key_option: str = 'api_key_header = "X-API-Key"',
        watermark: str = "",
    ) -> None:
        os.environ["RANTAI_TEST_INAPROC_KEY"] = key
        (self.folder / "inaproc.toml").write_text(
            MAPPING.format(
                port=self.port,
                klpd=KLPD,
                year=YEAR,
                limit=LIMIT,
                budget=budget,
                key_option=key_option,
                watermark=watermark,
            )
        )
        (self.folder / "rantai.toml").write_text('[[source]]\nmapping = "inaproc.toml"\n')

    async def sync(self, *, full: bool = False) -> SourceReport:
        async with SyncEngine(self.store_url, load_config(self.folder / "rantai.toml")) as engine:
            (report,) = await engine.sync(full=full)
        return report

    async def value(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(asyncpg_dsn(self.store_url))
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()


@pytest.fixture
async def api(server: Server, tmp_path: Path) -> AsyncIterator[Api]:
    url = await server.create_database("rantai_http")
    await run_async(url, "upgrade", "head")
    data = InaprocData(KLPD, YEAR)
    data.rup = [package(n) for n in range(PACKAGES)]
    data.tenders = [tender(n, bidders=n % 3 + 1) for n in range(5)]
    faults = Faults()
    app = inaproc_app(data, api_key=KEY, rate=1000, faults=faults)
    async with serving(app) as port:
        found = Api(tmp_path, url, data, faults, port)
        found.write()
        yield found


BIDS = sum(n % 3 + 1 for n in range(5))


async def test_pages_nested_fields_and_participants_reach_the_store(api: Api) -> None:
    report = await api.sync()
    assert report.status == "OK", report.error
    assert await api.value("SELECT count(*) FROM procurement_package") == PACKAGES
    assert await api.value("SELECT count(*) FROM tender") == 5
    assert await api.value("SELECT count(*) FROM bid") == BIDS
    assert await api.value("SELECT count(*) FROM bid WHERE is_winner") == 5
    # Nested object paths: the OPD named by the package's satker was created.
    assert (
        await api.value(
            "SELECT o.name FROM procurement_package p JOIN opd o ON o.id = p.opd_id LIMIT 1"
        )
        == "Dinas Pendidikan"
    )
    assert (
        str(
            await api.value(
                "SELECT b.corrected_amount FROM bid b JOIN vendor v ON v.id = b.vendor_id "
                "WHERE v.name = 'CV Karya Flobamora 2-1'"
            )
        )
        == "1105000000.50"
    )
    assert (
        str(await api.value("SELECT ceiling FROM procurement_package WHERE rup_code = '46000003'"))
        == "1250003000.00"
    )
    assert (
        await api.value("SELECT count(*) FROM procurement_package WHERE source_id = 'inaproc-5371'")
        == PACKAGES
    )

    # A second run changes nothing; a change and a removal at the API reach the store.
    again = await api.sync()
    assert again.status == "OK"
    assert again.changes == 0
    with api.data.lock:
        api.data.rup[2]["pagu"] = 999_000_000
        del api.data.rup[6]
        api.data.tenders[1]["peserta"].pop()
    third = await api.sync()
    assert third.status == "OK", third.error
    assert (
        str(await api.value("SELECT ceiling FROM procurement_package WHERE rup_code = '46000002'"))
        == "999000000.00"
    )
    assert await api.value("SELECT count(*) FROM procurement_package") == PACKAGES - 1
    assert await api.value("SELECT count(*) FROM bid") == BIDS - 1


async def test_a_429_storm_is_waited_out_within_the_budget(api: Api) -> None:
    api.faults.storm = 4  # Retry-After: 0
    report = await api.sync()
    assert report.status == "OK", report.error
    assert await api.value("SELECT count(*) FROM procurement_package") == PACKAGES
    assert api.faults.storm == 0


async def test_a_storm_beyond_the_budget_makes_the_source_down_without_its_key(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.write(budget=2, key_option='api_key_param = "api_key"')
    api.faults.storm, api.faults.storm_retry_after = 50, None  # backoff with jitter
    report = await api.sync()
    assert report.status == "DOWN"
    error = await api.value("SELECT last_error FROM source WHERE id = 'inaproc-5371'")
    assert "429" in error
    assert "retry budget of 2 spent" in error
    assert "/api/v1/rup/paket-penyedia?" in error
    assert "api_key=***" in error
    assert KEY not in error
    # The retries are logged, with the URL as messages show it; httpx's own request
    # lines (which would carry the key in the URL) are not.
    assert "retrying in" in caplog.text
    assert "api_key=***" in caplog.text
    assert KEY not in caplog.text


async def test_a_key_is_redacted_however_a_url_writes_it(api: Api) -> None:
    """An API may echo the URL back, its key percent-encoded: that form is hidden too."""
    key = "S3cr3t key/+&=#é"
    api.write(key=key, key_option='api_key_param = "apikey"')
    adapter = open_adapter(load_mapping(api.folder / "inaproc.toml").config)
    echoed = f"bad request for /x?apikey={quote_plus(key)} and /k/{quote(key, safe='')}/{key}"
    shown = adapter.redact(echoed)  # type: ignore[attr-defined]
    assert shown == "bad request for /x?apikey=*** and /k/***/***"


async def test_a_bad_key_is_a_clear_last_error(api: Api) -> None:
    api.write(key="kunci-yang-salah-123", key_option='api_key_param = "api_key"')
    report = await api.sync()
    assert report.status == "DOWN"
    error = await api.value("SELECT last_error FROM source WHERE id = 'inaproc-5371'")
    assert "answered 401" in error
    assert "API key tidak valid" in error
    assert "kunci-yang-salah-123" not in error
    assert "api_key=***" in error
    assert await api.value("SELECT count(*) FROM procurement_package") == 0


async def test_a_hanging_page_times_out_and_is_retried(api: Api) -> None:
    api.faults.hang_seconds = 3  # read timeout 1 s: the first try gives up, the retry answers
    report = await api.sync()
    assert report.status == "OK", report.error
    api.write(budget=0)
    api.faults.hang_seconds = 3
    down = await api.sync()
    assert down.status == "DOWN"
    assert "no answer (ReadTimeout)" in (down.error or "")


async def test_an_api_that_never_stops_paging_is_down_not_read_forever(api: Api) -> None:
    """Every page says there is more, after the cursor it was asked with: the read stops
    at the repeated page, the source is DOWN saying why, and each stream asked twice."""
    api.faults.stuck = True
    before = api.faults.page_requests
    report = await asyncio.wait_for(api.sync(), 60)
    assert report.status == "DOWN"
    assert "the same page came twice" in (report.error or "")
    assert api.faults.page_requests - before <= 2 * len(report.streams)  # two pages each
    api.faults.stuck = False
    assert (await api.sync()).status == "OK"


async def test_a_500_mid_pagination_keeps_what_was_written_and_resumes(api: Api) -> None:
    api.faults.fail_page = 2  # the packages' second page
    report = await api.sync()
    assert report.status == "DOWN"
    error = await api.value("SELECT last_error FROM source WHERE id = 'inaproc-5371'")
    assert "answered 500" in error
    assert "cursor=" in error
    assert KEY not in error
    # The first page was committed, with where to go on.
    assert await api.value("SELECT count(*) FROM procurement_package") == LIMIT
    assert await api.value(
        "SELECT resume IS NOT NULL FROM sync_state WHERE stream = "
        f"'procurement_package:/rup/paket-penyedia?kode_klpd={KLPD}&tahun={YEAR}'"
    )
    before = api.faults.page_requests
    again = await api.sync()
    assert again.status == "OK", again.error
    stream = next(s for s in again.streams if s.entity == "procurement_package")
    assert stream.mode == "resumed"
    assert stream.read == PACKAGES - LIMIT
    # Resumed at the second page: 2 package pages, then 2 + 2 pages of tenders and bids.
    assert api.faults.page_requests - before == 2 + 2 + 2
    assert await api.value("SELECT count(*) FROM procurement_package") == PACKAGES
    assert await api.value("SELECT count(*) FROM sync_state WHERE resume IS NOT NULL") == 0


async def test_an_expired_cursor_reads_the_stream_again_from_its_first_page(api: Api) -> None:
    api.faults.fail_page = 2
    assert (await api.sync()).status == "DOWN"
    api.faults.expire_cursors()
    with api.data.lock:
        del api.data.rup[0]  # on the page already written: a full read sees it leave
    report = await api.sync()
    assert report.status == "OK", report.error
    stream = next(s for s in report.streams if s.entity == "procurement_package")
    assert stream.mode == "diff"
    assert stream.read == PACKAGES - 1
    assert await api.value("SELECT count(*) FROM procurement_package") == PACKAGES - 1


async def test_incremental_reads_ask_for_rows_changed_since_the_watermark(api: Api) -> None:
    api.write(watermark='watermark = "updated_at"\nsince_param = "updated_since"')
    first = await api.sync()
    assert first.status == "OK", first.error
    with api.data.lock:
        api.data.rup[1]["pagu"] = 777_000_000
        api.data.rup[1]["updated_at"] = "2025-05-01T08:00:00+08:00"
    second = await api.sync()
    stream = next(s for s in second.streams if s.entity == "procurement_package")
    assert stream.mode == "watermark"
    # Asked for rows changed since the watermark less the overlap (600 s): the changed row,
    # and the overlap's rows again, unchanged; not all of them.
    assert stream.read < PACKAGES
    assert stream.read == stream.updated + stream.unchanged
    assert stream.updated == 1
    assert (
        str(await api.value("SELECT ceiling FROM procurement_package WHERE rup_code = '46000001'"))
        == "777000000.00"
    )


async def test_sources_check_reads_one_page_and_names_missing_fields(api: Api) -> None:
    source = load_mapping(api.folder / "inaproc.toml")
    assert await check_source(source) == []
    text = (api.folder / "inaproc.toml").read_text()
    (api.folder / "inaproc.toml").write_text(text.replace('"pagu"\nfunding', '"pagu_rup"\nfunding'))
    problems = await check_source(load_mapping(api.folder / "inaproc.toml"))
    assert any("no column 'pagu_rup'" in p.reason for p in problems), problems


def test_mapping_problems_of_http_json_entities_name_their_lines(tmp_path: Path) -> None:
    os.environ["RANTAI_TEST_INAPROC_KEY"] = KEY
    file = tmp_path / "bad.toml"
    file.write_text(
        """[source]
id = "api"
kind = "http-json"
url = "http://127.0.0.1:1/api"
api_key = "${RANTAI_TEST_INAPROC_KEY}"
api_key_header = "X-API-Key"
api_key_param = "api_key"

[[entity]]
name = "tender"
paging = "sometimes"
watermark = "updated_at"

[entity.fields]
code = "kd_tender"
name = "nama_paket"
method = "mtd_pemilihan"
status = "status"
region_code = { const = "53.71" }

[[entity]]
name = "bid"
table = "peserta"
path = "/peserta"

[entity.fields]
tender_code = "kd_tender"
vendor_key = "npwp"
vendor_name = "nama"
"""
    )
    with pytest.raises(MappingError) as caught:
        load_mapping(file)
    found = {(p.line, p.reason.split(":")[0]) for p in caught.value.problems}
    reasons = " | ".join(str(p) for p in caught.value.problems)
    assert (7, "give api_key_header or api_key_param, not both") in found, reasons
    assert "an http-json entity needs path" in reasons
    assert "bad.toml:11: tender: paging must be one of" in reasons
    assert "bad.toml:12: tender: an http-json watermark needs since_param" in reasons
    assert "bid: an http-json entity reads a path, not a table or sheet" in reasons
    assert KEY not in reasons


async def test_scaffold_reads_one_page_and_drafts_the_entity_and_its_paging(api: Api) -> None:
    out = api.folder / "draft.toml"
    url = f"http://127.0.0.1:{api.port}/api/v1/rup/paket-penyedia?kode_klpd={KLPD}&tahun={YEAR}"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["sources", "scaffold", "--url", url, "--region", "53.71", "--out", str(out),
         "--api-key-env", "RANTAI_TEST_INAPROC_KEY", "--id", "inaproc-draft"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert KEY not in text
    assert 'api_key = "${RANTAI_TEST_INAPROC_KEY}"' in text
    assert 'url = "http://127.0.0.1:' in text
    assert 'path = "/api/v1/rup/paket-penyedia"' in text
    assert f'params = {{ kode_klpd = "{KLPD}", tahun = "{YEAR}" }}' in text
    assert 'records = "data"' in text
    assert 'paging = "cursor"' in text
    assert 'name = "procurement_package"' in text
    assert 'rup_code = "kd_rup"' in text
    assert "satker.kd_satker_str" in text  # a nested field, by its path
    assert api.faults.page_requests == 1  # one page
    # The draft is a mapping: it loads, and its entity reads the API.
    draft = load_mapping(out)
    assert draft.kind == "http-json"
    assert draft.entities[0].query.http is not None


async def test_the_stand_in_can_be_told_to_fail_over_http(api: Api) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.port}") as client:
        refused = await client.post("/_faults", json={"fail_page": 1})
        assert refused.status_code == 401
        told = await client.post(
            "/_faults", json={"fail_page": 1, "fail_times": 50}, headers={"X-API-Key": KEY}
        )
        assert told.status_code == 200
    report = await api.sync()
    assert report.status == "DOWN"
    assert "answered 500" in (report.error or "")
