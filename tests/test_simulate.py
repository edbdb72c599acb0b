"""The legacy-estate simulator (estate/simulate/) on real servers: every kind of change
happens, lands in the legacy rows in each flavour's own shape, raises watermarks, keeps
payments and progress within bounds, keeps the estate free of new (or resolved) ketimpangan,
and replays the same changes for the same seed — with MariaDB and with SQLite finance; over
a long run, tenders keep being announced and finished after the seeded ones are used up."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest
from openpyxl import load_workbook

from adapters.base import open_adapter
from adapters.codes import split_mak
from adapters.mapping import Config, load_config
from estate import names, rules
from estate.generate import generate_estate
from estate.legacy.monev import MONEV_LAYOUT
from estate.model import (
    EstateAmendment,
    EstateBid,
    EstateBudgetLine,
    EstateContract,
    EstateIndicator,
    EstatePackage,
    EstatePayment,
    EstateProgress,
    EstateSubActivity,
    EstateTender,
    EstateVendor,
    RegionYear,
)
from estate.simulate import SimChange, Simulator, SimulatorError
from estate.writers import drop_mariadb_database, mysql_kwargs, pg_dsn, with_database
from tests.conftest import MARIADB_URL, Server, mariadb_reachable

ESTATE_SEED = 7
SIM_SEED = 5
STEPS = 60
LONG_STEPS = 300  # ≈ 4 simulated office days: the seeded running tenders are long gone
YEARS = (2025, 2026)
LATEST = 2026
REGIONS = ("53", "53.01", "53.71", "53.18")
KINDS = {"payment", "monev", "tender_announced", "tender_result", "amendment"}
# Rules the reconstruction below can evaluate: it rebuilds neither bid schedules (spse_jadwal,
# for SHORT_BID_WINDOW), package versions (rup_paket_histori, PUBLISHED_VALUE_CHANGED) nor
# the e-office's letters (surat_keluar, WORK_STARTED_BEFORE_CONTRACT, HANDOVER_WITHOUT_LETTER).
UNCHECKED = (
    "SHORT_BID_WINDOW",
    "PUBLISHED_VALUE_CHANGED",
    "WORK_STARTED_BEFORE_CONTRACT",
    "HANDOVER_WITHOUT_LETTER",
)
CHECKED_RULES = [r for r in rules.RULES if r not in UNCHECKED]
PROCUREMENT_TABLES = (
    "rup_paket",
    "rup_anggaran",
    "spse_tender",
    "spse_tender_rup",
    "spse_peserta",
    "spse_kontrak",
    "spse_addendum",
)
RUNNING = "Berlangsung"
WRITTEN = datetime(2026, 11, 30, 1, tzinfo=UTC)


@dataclass
class Estate:
    data_dir: Path
    manifest: dict[str, Any]
    finance: str  # "mariadb" or "sqlite"
    mariadb_databases: tuple[str, ...] = ()

    def source(self, family: str, region: str) -> dict[str, Any]:
        entry: dict[str, Any] = self.manifest["sources"][f"{family}-{region.replace('.', '')}"]
        return entry

    def flavour(self, region: str) -> str:
        """The shape of the Pemda's SiRUP/SPSE database."""
        return str(self.source("bpbj", region)["flavour"])

    def finance_flavour(self, region: str) -> str:
        """The shape of its finance (and e-Monev) sources: D differs from its SPSE's."""
        return str(self.source("bpkad", region)["flavour"])


@dataclass
class Run:
    """An estate before and after `STEPS` simulator steps."""

    estate: Estate
    changes: list[SimChange]
    max_before: dict[tuple[str, str], datetime | None]  # (source, table) → max watermark
    monev_before: dict[tuple[str, str, str], tuple[Decimal, Decimal]]
    headers_before: dict[Path, list[tuple[Any, ...]]]  # workbook → rows up to its header row
    records_after: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = field(
        default_factory=dict
    )
    tender_years: dict[tuple[str, str], int] = field(default_factory=dict)  # (region, code)


async def _generate(server: Server, data_dir: Path, mariadb_url: str | None) -> Estate:
    prefix = f"legacy_sim{uuid.uuid4().hex[:6]}"
    result = await generate_estate(
        data_dir,
        scale="small",
        seed=ESTATE_SEED,
        pg_url=server.admin_url,
        mariadb_url=mariadb_url,
        fiscal_years=YEARS,
        db_prefix=prefix,
    )
    server.created.extend(result.postgres_databases)  # dropped with the session's server
    manifest = json.loads(result.manifest.read_text())
    return Estate(
        data_dir, manifest, "mariadb" if mariadb_url else "sqlite", result.mariadb_databases
    )


# --- reading the legacy sources directly -------------------------------------------------------


async def pg_rows(entry: dict[str, Any], sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg_dsn(entry["url"]))
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


async def finance_rows(estate: Estate, region: str, sql: str) -> list[tuple[Any, ...]]:
    entry = estate.source("bpkad", region)
    if entry["kind"] == "sqlite":
        path = estate.data_dir / "mappings" / entry["url"].removeprefix("sqlite:///")
        conn = sqlite3.connect(path)
        try:
            return list(conn.execute(sql))
        finally:
            conn.close()
    maria = await aiomysql.connect(**mysql_kwargs(entry["url"]), db=entry["database"])
    try:
        cur = await maria.cursor()
        await cur.execute(sql)
        rows: list[tuple[Any, ...]] = list(await cur.fetchall())
        await cur.close()
        return rows
    finally:
        maria.close()


def watermark_of(estate: Estate, source_id: str, table: str) -> str | None:
    """The watermark column of `table`, from the source's mapping file."""
    if estate.data_dir not in _configs:
        _configs[estate.data_dir] = load_config(estate.data_dir / "rantai.toml")
    for src in _configs[estate.data_dir].sources:
        if src.id == source_id:
            for entity in src.entities:
                if entity.query.table == table:
                    return entity.query.watermark
    return None


_configs: dict[Path, Config] = {}


def as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


async def max_watermarks(estate: Estate) -> dict[tuple[str, str], datetime | None]:
    found: dict[tuple[str, str], datetime | None] = {}
    for region in REGIONS:
        bpbj = estate.source("bpbj", region)
        sid = f"bpbj-{region.replace('.', '')}"
        for table in PROCUREMENT_TABLES:
            column = watermark_of(estate, sid, table)
            assert column == ("updated_at" if table.startswith("rup_") else "auditupdate")
            rows = await pg_rows(bpbj, f'SELECT max("{column}") AS m FROM "{table}"')
            found[(sid, table)] = rows[0]["m"]
        fid = f"bpkad-{region.replace('.', '')}"
        column = watermark_of(estate, fid, "sp2d")
        if column is not None:
            rows2 = await finance_rows(estate, region, f"SELECT max({column}) FROM sp2d")
            found[(fid, "sp2d")] = as_datetime(rows2[0][0])
    return found


async def read_records(
    estate: Estate, families: tuple[str, ...] = ("bappeda", "bpkad", "bpbj", "monev")
) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """(raw row, canonical record) per canonical entity, through the project's own adapters
    and mapping files; every row must map."""
    config = load_config(estate.data_dir / "rantai.toml")
    out: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for src in config.sources:
        if src.id.split("-")[0] not in families:
            continue
        async with open_adapter(src.config) as adapter:
            for entity in src.entities:
                async for batch in adapter.stream(entity.query):
                    for row in batch.rows:
                        record = entity.record(row)
                        record.setdefault("region_code", src.region)
                        out[entity.spec.name].append((row, record))
    return out


def monev_values(
    records: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]],
) -> dict[tuple[str, str, str], tuple[Decimal, Decimal]]:
    values: dict[tuple[str, str, str], tuple[Decimal, Decimal]] = {}
    for _, rec in records["progress_report"]:
        if rec["fiscal_year"] == LATEST:
            key = (rec["region_code"], rec["sub_activity_code"], rec["period"])
            assert key not in values, key
            values[key] = (rec["physical_percent"], rec["financial_percent"])
    return values


def workbook_headers(estate: Estate) -> dict[Path, list[tuple[Any, ...]]]:
    out: dict[Path, list[tuple[Any, ...]]] = {}
    for region in REGIONS:
        header_row = int(MONEV_LAYOUT[estate.finance_flavour(region)]["header_row"])
        folder = estate.data_dir / "legacy" / "monev" / region
        for path in sorted(folder.glob("*.csv")):  # flavour D: the header is the first line
            out[path] = [tuple(path.read_text(encoding="utf-8-sig").splitlines()[0].split(";"))]
        for path in sorted(folder.glob("*.xlsx")):
            wb = load_workbook(path, read_only=True)
            try:
                out[path] = [
                    tuple(r) for r in wb["Form A"].iter_rows(max_row=header_row, values_only=True)
                ]
            finally:
                wb.close()
    return out


async def simulate(estate: Estate, seed: int, steps: int) -> Run:
    max_before = await max_watermarks(estate)
    monev_before = monev_values(await read_records(estate, ("monev",)))
    headers_before = workbook_headers(estate)
    sim = Simulator(estate.data_dir, seed=seed)
    try:
        changes = [await sim.step() for _ in range(steps)]
    finally:
        await sim.close()
    run = Run(estate, changes, max_before, monev_before, headers_before)
    run.records_after = await read_records(estate)
    for region in REGIONS:  # the tender entity maps no fiscal year: ask SPSE
        for row in await pg_rows(
            estate.source("bpbj", region), "SELECT kd_tender, tahun FROM spse_tender"
        ):
            run.tender_years[(region, str(row["kd_tender"]))] = row["tahun"]
    return run


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def estate(server: Server, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Estate]:
    """`small` with MariaDB finance databases when a server answers, else SQLite files."""
    maria = MARIADB_URL if await mariadb_reachable() else None
    built = await _generate(server, tmp_path_factory.mktemp("sim_estate"), maria)
    yield built
    if maria is not None:
        for name in built.mariadb_databases:
            await drop_mariadb_database(maria, name)


@pytest.fixture(scope="module")
async def sqlite_estate(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Estate:
    """A fresh estate of the same seed, finance as SQLite files."""
    return await _generate(server, tmp_path_factory.mktemp("sim_estate_sqlite"), None)


@pytest.fixture(scope="module")
async def simulated(estate: Estate) -> Run:
    return await simulate(estate, SIM_SEED, STEPS)


@pytest.fixture(scope="module")
async def simulated_sqlite(sqlite_estate: Estate) -> Run:
    return await simulate(sqlite_estate, SIM_SEED, STEPS)


@pytest.fixture(scope="module")
async def long_estate(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Estate:
    """A third fresh estate of the same seed (SQLite finance) for the long run."""
    return await _generate(server, tmp_path_factory.mktemp("sim_estate_long"), None)


@pytest.fixture(scope="module")
async def simulated_long(long_estate: Estate) -> Run:
    return await simulate(long_estate, SIM_SEED, LONG_STEPS)


@pytest.fixture(params=["default", "sqlite", "long"])
def run(request: pytest.FixtureRequest) -> Run:
    name = {"default": "simulated", "sqlite": "simulated_sqlite", "long": "simulated_long"}
    value: Run = request.getfixturevalue(name[request.param])
    return value


# --- the changes -------------------------------------------------------------------------------


def digits(text: Any) -> str:
    return re.sub(r"\D", "", str(text or ""))


def by_key(records: list[tuple[dict[str, Any], dict[str, Any]]], *fields: str) -> dict[Any, Any]:
    return {tuple(rec[f] for f in fields): (raw, rec) for raw, rec in records}


def as_day(value: Any) -> date:
    """A procurement date as SPSE holds it: DATE, or dd-mm-yyyy text (B)."""
    if isinstance(value, date):
        return value
    return datetime.strptime(str(value), "%d-%m-%Y").date()


def announced_tenders(run: Run) -> set[tuple[str, str]]:
    """(region, tender code) of every tender the run announced."""
    return {
        (c.key.split("/", 1)[0], c.key.split("/", 1)[1])
        for c in run.changes
        if c.kind == "tender_announced"
    }


async def test_every_kind_of_change_lands_in_the_legacy_rows(run: Run) -> None:
    estate, recs = run.estate, run.records_after
    assert {c.kind for c in run.changes} == KINDS  # the seed is chosen so
    entities = {
        "payment": "payment",
        "monev": "progress_report",
        "tender_announced": "tender",
        "tender_result": "contract",
        "amendment": "contract_amendment",
    }
    payments = by_key(recs["payment"], "region_code", "fiscal_year", "sp2d_number")
    contracts = by_key(recs["contract"], "region_code", "number")
    amendments = by_key(recs["contract_amendment"], "region_code", "contract_number", "version")
    tenders = by_key(recs["tender"], "code")
    bids: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, rec in recs["bid"]:
        bids[rec["tender_code"]].append(rec)
    packages = {rec["rup_code"]: rec for _, rec in recs["package_budget_row"]}
    plans = {rec["rup_code"]: rec for _, rec in recs["procurement_package"]}
    links: dict[str, list[str]] = defaultdict(list)
    for _, rec in recs["tender_package"]:
        links[rec["tender_code"]].append(rec["rup_code"])
    monev = monev_values(recs)
    announced = announced_tenders(run)
    seen_keys: set[str] = set()
    for change in run.changes:
        assert change.entity == entities[change.kind]
        assert change.written_at.tzinfo is not None
        assert change.summary
        assert "\n" not in change.summary
        region = change.key.split("/", 1)[0]
        assert change.source.endswith("-" + region.replace(".", ""))
        flavour = estate.flavour(region)
        if change.kind == "payment":
            flavour = estate.finance_flavour(region)
            _, year, number = change.key.split("/", 2)
            raw, pay = payments[(region, int(year), number)]
            assert year == str(LATEST)
            assert pay["amount"] > 0
            assert change.key not in seen_keys  # a new SP2D number every time
            if flavour in ("B", "D"):  # in the flavour's own formats
                assert re.fullmatch(r"\d{1,3}(\.\d{3})*,00", raw["nilai"])
                assert re.fullmatch(r"\d\d-\d\d-\d{4}", raw["tgl_sp2d"])
            if flavour == "D":  # the kind only inside the number
                assert "jenis" not in raw
                assert re.fullmatch(rf"\d{{5}}/SP2D/{pay['kind']}/{LATEST}", number)
            if pay["contract_number"]:
                _, contract = contracts[(region, pay["contract_number"])]
                assert digits(pay["payee_tax_id"]) == digits(contract["vendor_tax_id"])
                assert pay["payee_name"] == contract["vendor_name"]
                mak = packages[sorted(links[contract["tender_code"]])[0]]["mak"]
                assert (pay["sub_activity_code"], pay["account_code"]) == split_mak(mak)
                if flavour in ("B", "D"):
                    assert re.fullmatch(r"\d\d\.\d{3}\.\d{3}\.\d-\d{3}\.\d{3}", raw["npwp"])
                else:
                    assert re.fullmatch(r"\d{15}", raw[next(k for k in raw if "npwp" in k)])
            else:
                assert pay["kind"] == "GU"
                assert pay["account_code"]
                assert pay["sub_activity_code"]
        elif change.kind == "monev":
            _, year, sa, period = change.key.split("/")
            after = monev[(region, sa, period)]
            before = run.monev_before.get((region, sa, period))
            assert before is None or after[0] > before[0]  # raised, or a new quarter's row
            assert after[0] <= 100
            assert after[1] <= 100
        elif change.kind == "tender_announced":
            await check_announced_tender(run, change, tenders, bids, plans, packages, links)
        elif change.kind == "tender_result":
            number = change.key.split("/", 1)[1]
            raw_contract, contract = contracts[(region, number)]
            _, tender = tenders[(contract["tender_code"],)]
            assert tender["status"] == "Selesai"
            winners = [b for b in bids[contract["tender_code"]] if b["is_winner"]]
            assert len(winners) == 1
            assert digits(winners[0]["vendor_tax_id"]) == digits(contract["vendor_tax_id"])
            assert winners[0]["corrected_amount"] == contract["value"]
            valid = [b["corrected_amount"] for b in bids[contract["tender_code"]]]
            assert contract["value"] == min(v for v in valid if v is not None)
            hps = tender["owner_estimate"]
            assert hps * Decimal("0.88") <= contract["value"] <= hps * Decimal("0.98")
            assert 21 <= (contract["signed_on"] - tender["announced_on"]).days <= 55
            assert contract["starts_on"] <= contract["ends_on"] <= date(LATEST, 12, 20)
            # Signed by the simulated clock of the change (a watermark never runs behind it) …
            assert contract["signed_on"] <= raw_contract["auditupdate"].date()
            if (region, contract["tender_code"]) in announced:  # … and not before the tender
                (link,) = await pg_rows(  # reached SPSE (the clock of its announcement)
                    estate.source("bpbj", region),
                    "SELECT auditupdate FROM spse_tender_rup WHERE kd_tender = $1",
                    int(contract["tender_code"]),
                )
                assert contract["signed_on"] >= link["auditupdate"].date()
            flags = await pg_rows(
                estate.source("bpbj", region),
                "SELECT pemenang FROM spse_peserta WHERE kd_tender = $1 ORDER BY pemenang",
                int(contract["tender_code"]),
            )
            expected = {"A": True, "B": 1, "C": "Ya"}[flavour]
            assert [r["pemenang"] for r in flags].count(expected) == 1
        else:
            number, version = change.key.split("/", 1)[1].rsplit("/", 1)
            _, amendment = amendments[(region, number, int(version))]
            _, contract = contracts[(region, number)]
            ratio = amendment["value"] / contract["value"]
            assert Decimal("0.949") <= ratio <= Decimal("1.08")
        seen_keys.add(change.key)


async def check_announced_tender(
    run: Run,
    change: SimChange,
    tenders: dict[Any, Any],
    bids: dict[str, list[dict[str, Any]]],
    plans: dict[Any, dict[str, Any]],
    packages: dict[Any, dict[str, Any]],
    links: dict[str, list[str]],
) -> None:
    """A tender the run announced: a new code in the generator's format, linked to one
    package of the running year with its method and announced after it, HPS 90–100% of the
    pagu, 2–5 distinct evaluated bids by vendors the SPSE knew, the lowest 2–12% under HPS,
    a 16–30 day bid window in the schedule, and no winner until a result finishes it."""
    estate = run.estate
    region, code = change.key.split("/", 1)
    flavour = estate.flavour(region)
    bpbj = estate.source("bpbj", region)
    raw, tender = tenders[(code,)]
    assert run.tender_years[(region, code)] == LATEST
    assert re.fullmatch(rf"1{names.REGION_INDEX[region]:02d}{LATEST % 100}\d{{6}}", code)
    assert tender["region_code"] == region
    assert tender["version"] == 1
    (rup,) = links[code]
    plan = plans[rup]
    assert (plan["region_code"], plan["fiscal_year"]) == (region, LATEST)
    assert tender["method"] == plan["method"]
    assert plan["method"] in ("Tender", "Seleksi", "Tender Cepat")
    assert plan["announced_on"] <= tender["announced_on"]
    assert tender["ceiling"] == plan["ceiling"] == packages[rup]["amount"]
    hps = tender["owner_estimate"]
    assert plan["ceiling"] * Decimal("0.9") <= hps <= plan["ceiling"]
    offers = bids[code]
    assert 2 <= len(offers) <= 5
    amounts = [b["amount"] for b in offers]
    assert None not in amounts
    assert len(set(amounts)) == len(amounts)
    assert [b["corrected_amount"] for b in offers] == amounts
    assert len({digits(b["vendor_tax_id"]) for b in offers}) == len(offers)
    assert hps * Decimal("0.88") <= min(amounts) <= hps * Decimal("0.98")
    if tender["status"] == RUNNING:
        assert not any(b["is_winner"] for b in offers)
    else:  # finished by a tender_result later in the run
        assert tender["status"] == "Selesai"
        assert [b["is_winner"] for b in offers].count(True) == 1
    if flavour == "B":
        assert re.fullmatch(r"\d\d-\d\d-\d{4}", raw["tgl_pengumuman_tender"])
    flags = await pg_rows(
        bpbj, "SELECT npwp, pemenang FROM spse_peserta WHERE kd_tender = $1", int(code)
    )
    not_winner = {"A": False, "B": 0, "C": "Tidak"}[flavour]
    if tender["status"] == RUNNING:
        assert {r["pemenang"] for r in flags} == {not_winner}
    if flavour == "C":
        assert all(re.fullmatch(r"\d\d\.\d{3}\.\d{3}\.\d-\d{3}\.\d{3}", r["npwp"]) for r in flags)
    else:
        assert all(re.fullmatch(r"\d{15}", r["npwp"]) for r in flags)
    # Bidders are vendors the region's SPSE already knew (from tenders not announced here).
    mine = [int(c) for r, c in announced_tenders(run) if r == region]
    strangers = await pg_rows(
        bpbj,
        "SELECT kd_penyedia FROM spse_peserta p WHERE kd_tender = $1 AND NOT EXISTS ("
        "SELECT 1 FROM spse_peserta q WHERE q.kd_penyedia = p.kd_penyedia "
        "AND q.npwp = p.npwp AND q.kd_tender <> ALL($2::bigint[]))",
        int(code),
        mine,
    )
    assert not strangers
    schedule = {
        r["tahapan"]: (as_day(r["tgl_mulai"]), as_day(r["tgl_selesai"]))
        for r in await pg_rows(
            bpbj,
            "SELECT tahapan, tgl_mulai, tgl_selesai FROM spse_jadwal WHERE kd_tender = $1",
            int(code),
        )
    }
    assert set(schedule) == {
        "Pengumuman Pascakualifikasi",
        "Upload Dokumen Penawaran",
        "Penetapan Pemenang",
    }
    assert schedule["Pengumuman Pascakualifikasi"][0] == tender["announced_on"]
    window = (schedule["Upload Dokumen Penawaran"][1] - tender["announced_on"]).days
    assert 16 <= window <= 30
    # Announced with its bids evaluated: the window closed before the change's clock.
    (link,) = await pg_rows(
        bpbj, "SELECT auditupdate FROM spse_tender_rup WHERE kd_tender = $1", int(code)
    )
    assert schedule["Upload Dokumen Penawaran"][1] < link["auditupdate"].date()
    assert "\n" not in change.summary


async def written_stamps(estate: Estate, change: SimChange) -> dict[str, list[datetime]]:
    """Table → watermarks of the rows a change wrote and nothing later rewrote (none for
    monev and bpkad-5371)."""
    region = change.key.split("/", 1)[0]
    if change.kind == "monev":
        return {}
    if change.kind == "payment":
        column = watermark_of(estate, change.source, "sp2d")
        if column is None:
            # bpkad-5371 (no update column) and bpkad-5318 (one not always set): keyed diff
            assert estate.finance_flavour(region) in ("C", "D")
            return {}
        number = change.key.split("/", 2)[2]
        number_column = "no_sp2d" if estate.finance_flavour(region) == "B" else "nomor_sp2d"
        rows = await finance_rows(
            estate,
            region,
            f"SELECT {column} FROM sp2d WHERE {number_column} = '{number}' AND tahun = {LATEST}",
        )
        assert len(rows) == 1
        stamp = as_datetime(rows[0][0])
        assert stamp is not None
        return {"sp2d": [stamp]}
    bpbj = estate.source("bpbj", region)
    number = change.key.split("/", 1)[1]
    if change.kind == "amendment":
        number, version = number.rsplit("/", 1)
        rows2 = await pg_rows(
            bpbj,
            "SELECT auditupdate FROM spse_addendum WHERE no_kontrak = $1 AND versi_addendum = $2",
            number,
            int(version),
        )
        return {"spse_addendum": [rows2[0]["auditupdate"]]}
    if change.kind == "tender_announced":
        code = int(number)
        (link,) = await pg_rows(
            bpbj, "SELECT kd_rup, auditupdate FROM spse_tender_rup WHERE kd_tender = $1", code
        )
        stamps = {"spse_tender_rup": [link["auditupdate"]]}
        if "paket RUP baru" in change.summary:  # published by this change too
            for table in ("rup_paket", "rup_anggaran"):
                rows2 = await pg_rows(
                    bpbj, f"SELECT updated_at FROM {table} WHERE kd_rup = $1", link["kd_rup"]
                )
                stamps[table] = [r["updated_at"] for r in rows2]
        (tender,) = await pg_rows(
            bpbj, "SELECT status_tender, auditupdate FROM spse_tender WHERE kd_tender = $1", code
        )
        if tender["status_tender"] == RUNNING:  # a result rewrites these rows' watermarks
            stamps["spse_tender"] = [tender["auditupdate"]]
            rows2 = await pg_rows(
                bpbj,
                "SELECT auditupdate FROM spse_peserta WHERE kd_tender = $1 ORDER BY auditupdate",
                code,
            )
            stamps["spse_peserta"] = [r["auditupdate"] for r in rows2]
        return stamps
    rows2 = await pg_rows(
        bpbj,
        "SELECT k.auditupdate AS k, t.auditupdate AS t, p.auditupdate AS p "
        "FROM spse_kontrak k JOIN spse_tender t USING (kd_tender) "
        "JOIN spse_peserta p USING (kd_tender) WHERE k.no_kontrak = $1 "
        "AND p.npwp = k.npwp_penyedia",
        number,
    )
    assert len(rows2) == 1
    return {
        "spse_kontrak": [rows2[0]["k"]],
        "spse_tender": [rows2[0]["t"]],
        "spse_peserta": [rows2[0]["p"]],
    }


async def test_watermarks_rise_past_every_previous_value(run: Run) -> None:
    latest: dict[tuple[str, str], datetime] = {}
    for change in run.changes:
        for table, stamps in (await written_stamps(run.estate, change)).items():
            previous = latest.get((change.source, table)) or run.max_before[(change.source, table)]
            assert previous is not None
            assert stamps
            assert min(stamps) > previous, (change, table)
            assert len(set(stamps)) == len(stamps), (change, table)  # one instant per row
            latest[(change.source, table)] = max(stamps)
    assert {table for _, table in latest} == {"sp2d", *PROCUREMENT_TABLES}


async def test_watermarks_pass_a_later_value_from_another_writer(
    sqlite_estate: Estate, simulated_sqlite: Run
) -> None:
    """Someone else's clock ran ahead and left a watermark in the future: the simulator's
    next rows still go past it (max + 1 s), whatever its own office clock says."""
    estate, future = sqlite_estate, datetime(2031, 1, 6, 9, 30)
    sim = Simulator(estate.data_dir, seed=5)
    try:
        await sim.step()  # the office clock is running (and synced with the sources) now
        bpbj = await asyncpg.connect(pg_dsn(estate.source("bpbj", "53")["url"]))
        try:
            for table in PROCUREMENT_TABLES:  # the oldest row: not one the simulator wrote
                column = watermark_of(estate, "bpbj-53", table)
                await bpbj.execute(
                    f"UPDATE {table} SET {column} = $1 WHERE ctid = "
                    f"(SELECT ctid FROM {table} ORDER BY {column} LIMIT 1)",
                    future,
                )
        finally:
            await bpbj.close()
        entry = estate.source("bpkad", "53")
        finance = sqlite3.connect(estate.data_dir / "mappings" / entry["url"][len("sqlite:///") :])
        try:
            finance.execute(
                "UPDATE sp2d SET updated_at = ? WHERE id = "
                "(SELECT id FROM sp2d ORDER BY updated_at LIMIT 1)",
                (future.strftime("%Y-%m-%d %H:%M:%S"),),
            )
            finance.commit()
        finally:
            finance.close()
        changes = [await sim.step() for _ in range(30)]
    finally:
        await sim.close()
    assert sim.now < future
    checked = 0
    for change in changes:
        if not change.source.endswith("-53"):
            continue
        for stamps in (await written_stamps(estate, change)).values():
            assert min(stamps) > future, change
            checked += 1
    assert checked


async def test_payments_stay_within_contracts_and_behind_progress(run: Run) -> None:
    """No contract is ever paid beyond its effective value; a contract the simulator paid
    goes past 85% only with a final payment: its sub-activities at ≥ 80% physical progress
    and paid at least five days after the contract's end date."""
    recs = run.records_after
    contracts = {(rec["region_code"], rec["number"]): rec for _, rec in recs["contract"]}
    effective = {key: rec["value"] for key, rec in contracts.items()}
    versions: dict[tuple[str, str], int] = {}
    for _, rec in recs["contract_amendment"]:
        key = (rec["region_code"], rec["contract_number"])
        if rec["version"] > versions.get(key, 0):
            versions[key] = rec["version"]
            effective[key] = rec["value"]
    payments: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for _, rec in recs["payment"]:
        if rec["contract_number"]:
            payments[(rec["region_code"], rec["contract_number"])].append(rec)
    for key, paid in payments.items():
        assert sum(p["amount"] for p in paid) <= effective[key], key
    # Latest physical progress per sub-activity, and the sub-activities of each tender.
    latest: dict[tuple[str, str], tuple[str, Decimal]] = {}
    for (region, sa, period), (physical, _) in monev_values(recs).items():
        if (region, sa) not in latest or period > latest[(region, sa)][0]:
            latest[(region, sa)] = (period, physical)
    maks = {rec["rup_code"]: rec["mak"] for _, rec in recs["package_budget_row"]}
    sub_activities: dict[str, set[str]] = defaultdict(set)
    for _, rec in recs["tender_package"]:
        if rec["rup_code"] in maks:
            sub_activities[rec["tender_code"]].add(split_mak(maks[rec["rup_code"]])[0])
    new_payments = {c.key for c in run.changes if c.kind == "payment"}
    touched = {
        key
        for key, paid in payments.items()
        if any(f"{key[0]}/{p['fiscal_year']}/{p['sp2d_number']}" in new_payments for p in paid)
    }
    assert touched  # the simulator paid terms on contracts
    for key in touched:
        total = sum(p["amount"] for p in payments[key])
        if total * 100 <= effective[key] * 85:
            continue
        contract = contracts[key]
        progress = [
            latest[(key[0], sa)][1]
            for sa in sub_activities[contract["tender_code"]]
            if (key[0], sa) in latest
        ]
        last_paid = max(p["paid_on"] for p in payments[key])
        assert progress, key
        assert min(progress) >= 80, key
        assert (last_paid - contract["ends_on"]).days >= 5, key


async def test_monev_progress_only_rises_and_the_workbooks_keep_their_layout(run: Run) -> None:
    after = monev_values(run.records_after)
    for key, (physical, financial) in run.monev_before.items():
        assert after[key][0] >= physical, key
        assert after[key][1] >= financial, key
    assert all(p <= 100 and f <= 100 for p, f in after.values())
    monev_keys = {c.key for c in run.changes if c.kind == "monev"}
    new_rows = set(after) - set(run.monev_before)  # next quarters' rows, each from a change
    assert {f"{r}/{LATEST}/{sa}/{p}" for r, sa, p in new_rows} <= monev_keys
    assert new_rows  # the seed files a next quarter's report too
    # Per sub-activity, a later quarter never reports less than an earlier one.
    by_sa: dict[tuple[str, str], list[tuple[str, Decimal]]] = defaultdict(list)
    for (region, sa, period), (physical, _) in after.items():
        by_sa[(region, sa)].append((period, physical))
    for reports in by_sa.values():
        values = [p for _, p in sorted(reports)]
        assert values == sorted(values)
    # Header cells and the header row stay exactly as the generator wrote them, rows stay
    # numbered 1…n where the flavour numbers them, no temporary file is left behind.
    assert workbook_headers(run.estate) == run.headers_before
    for region in ("53", "53.01"):
        flavour = run.estate.flavour(region)
        header_row = int(MONEV_LAYOUT[flavour]["header_row"])
        for path in (run.estate.data_dir / "legacy" / "monev" / region).glob(f"{LATEST}_*.xlsx"):
            wb = load_workbook(path, read_only=True)
            try:
                numbers = [
                    row[0]
                    for row in wb["Form A"].iter_rows(min_row=header_row + 1, values_only=True)
                ]
            finally:
                wb.close()
            expected = list(range(1, len(numbers) + 1))
            assert numbers == (expected if flavour == "A" else [str(n) for n in expected])
    for region in REGIONS:
        folder = run.estate.data_dir / "legacy" / "monev" / region
        exports = "*.csv" if run.estate.finance_flavour(region) == "D" else "*.xlsx"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            p.name for p in folder.glob(exports)
        )


def region_year(
    region: str,
    recs: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]],
    tender_years: dict[tuple[str, str], int],
) -> RegionYear:
    """The running year of one region, rebuilt from canonical records (as the hub will)."""
    ry = RegionYear(region, LATEST, date(LATEST, 11, 28))

    def mine(entity: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(raw, rec) for raw, rec in recs[entity] if rec.get("region_code") == region]

    for _, rec in mine("sub_activity"):
        if rec["fiscal_year"] == LATEST:
            ry.sub_activities.append(
                EstateSubActivity(rec["code"], rec["name"], rec["opd_code"], 0)
            )
    for _, rec in mine("indicator"):
        if rec["fiscal_year"] == LATEST:
            ry.indicators.append(
                EstateIndicator(
                    rec["sub_activity_code"],
                    rec["seq"],
                    rec["description"],
                    rec["unit"],
                    rec["target"],
                    rec["achieved"],
                )
            )
    for _, rec in mine("budget_line"):
        if rec["fiscal_year"] == LATEST:
            ry.budget_lines.append(
                EstateBudgetLine(
                    rec["sub_activity_code"],
                    rec["account_code"],
                    rec["account_name"],
                    rec["amount"],
                    rec["dpa_number"],
                )
            )
    maks = {rec["rup_code"]: rec["mak"] for _, rec in recs["package_budget_row"]}
    for _, rec in mine("procurement_package"):
        if rec["fiscal_year"] == LATEST:
            sa, account = split_mak(maks[rec["rup_code"]])
            ry.packages.append(
                EstatePackage(
                    rec["rup_code"],
                    rec["opd_code"],
                    "",
                    sa,
                    account,
                    rec["name"],
                    rec["method"],
                    rec["category"],
                    rec["ceiling"],
                    rec["funding_source"],
                    rec["announced_on"],
                )
            )
    links: dict[str, list[str]] = defaultdict(list)
    for _, rec in recs["tender_package"]:
        links[rec["tender_code"]].append(rec["rup_code"])
    bids: dict[str, list[EstateBid]] = defaultdict(list)
    for _, rec in recs["bid"]:
        vendor = EstateVendor(0, rec["vendor_name"], digits(rec["vendor_tax_id"]))
        bids[rec["tender_code"]].append(
            EstateBid(vendor, rec["amount"], rec["corrected_amount"], bool(rec["is_winner"]))
        )
    amendments: dict[str, list[EstateAmendment]] = defaultdict(list)
    for _, rec in mine("contract_amendment"):
        amendments[rec["contract_number"]].append(
            EstateAmendment(rec["version"], rec["value"], rec["reason"], rec["signed_on"])
        )
    contracts: dict[str, EstateContract] = {}
    for _, rec in mine("contract"):
        contracts[rec["tender_code"]] = EstateContract(
            rec["number"],
            rec["tender_code"],
            EstateVendor(0, rec["vendor_name"], digits(rec["vendor_tax_id"])),
            rec["value"],
            rec["signed_on"],
            rec["starts_on"],
            rec["ends_on"],
            amendments[rec["number"]],
        )
    for _, rec in mine("tender"):
        if tender_years[(region, rec["code"])] != LATEST:
            continue
        tender = EstateTender(
            rec["code"],
            rec["name"],
            rec["method"],
            rec["owner_estimate"],
            rec["ceiling"],
            rec["status"],
            rec["version"],
            rec["announced_on"],
            None,
            links[rec["code"]],
        )
        tender.bids = bids[rec["code"]]
        tender.contract = contracts.get(rec["code"])
        ry.tenders.append(tender)
    for _, rec in mine("payment"):
        if rec["fiscal_year"] == LATEST:
            ry.payments.append(
                EstatePayment(
                    rec["sp2d_number"],
                    rec["paid_on"],
                    rec["amount"],
                    rec["kind"],
                    rec["account_code"],
                    rec["sub_activity_code"],
                    rec["contract_number"],
                    rec["payee_name"] or "",
                    rec["payee_tax_id"],
                )
            )
    opd_of = {sa.code: sa.opd_code for sa in ry.sub_activities}
    for _, rec in mine("progress_report"):
        if rec["fiscal_year"] == LATEST:
            quarter = int(rec["period"].rsplit("Q", 1)[1])
            ry.progress.append(
                EstateProgress(
                    rec["sub_activity_code"],
                    opd_of.get(rec["sub_activity_code"], ""),
                    quarter,
                    rec["physical_percent"],
                    rec["financial_percent"],
                    rec["problems"],
                )
            )
    return ry


async def test_no_ketimpangan_is_created_or_resolved(run: Run) -> None:
    """The running year read back through the adapters has exactly the seeded findings."""
    by_region = run.estate.manifest["discrepancies_by_region"]
    for region in REGIONS:
        found = rules.detect(region_year(region, run.records_after, run.tender_years))
        expected = by_region[region][str(LATEST)]
        counts = {code: len(found[code]) for code in CHECKED_RULES if found[code]}
        assert counts == {c: n for c, n in expected.items() if c in CHECKED_RULES}, region
        for code in CHECKED_RULES:
            assert set(found[code]) <= set(run.estate.manifest["discrepancies"][code]["examples"])


async def test_tender_results_keep_coming_after_the_seeded_running_tenders(
    simulated_long: Run,
) -> None:
    """The estate's own running tenders are finished early on; announcements keep the supply
    up, so results still come late in a long run, on tenders the run announced, and the
    estate stays clean (the parametrised tests above check the long run too)."""
    run = simulated_long
    announced = announced_tenders(run)
    contracts = by_key(run.records_after["contract"], "region_code", "number")
    results: list[tuple[int, bool]] = []  # step, on a tender this run announced
    for step, change in enumerate(run.changes):
        if change.kind == "tender_result":
            region, number = change.key.split("/", 1)
            _, contract = contracts[(region, number)]
            results.append((step, (region, contract["tender_code"]) in announced))
    assert len(announced) >= LONG_STEPS // 20
    assert sum(ours for _, ours in results) >= LONG_STEPS // 30
    late = [ours for step, ours in results if step >= LONG_STEPS * 2 // 3]
    assert len(late) >= 3
    assert any(late)
    # Seeded running tenders that could still be finished are few: the rest are the run's.
    assert sum(not ours for _, ours in results) <= 6


async def test_same_seed_same_changes_on_a_fresh_estate(
    simulated: Run, simulated_sqlite: Run
) -> None:
    """A fresh estate of the same seed (here with SQLite finance, whatever the other one
    uses) gets the very same changes from the same simulator seed."""

    def sequence(run: Run) -> list[tuple[str, str, str, str, str]]:
        return [(c.source, c.entity, c.kind, c.key, c.summary) for c in run.changes]

    assert simulated_sqlite.estate.finance == "sqlite"
    assert sequence(simulated) == sequence(simulated_sqlite)
    assert len({c.key for c in simulated.changes}) > STEPS // 2


# --- the loop and its failures -----------------------------------------------------------------


async def test_run_skips_failing_steps_and_stops(estate: Estate) -> None:
    sim = Simulator(estate.data_dir, seed=3)
    calls = 0
    seen: list[SimChange] = []
    stop = asyncio.Event()

    async def flaky_step() -> SimChange:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionRefusedError("bpkad-53 is down")
        if calls == 2:
            raise SimulatorError("no change possible")
        return SimChange("bpkad-53", "payment", "payment", f"53/{LATEST}/{calls}", WRITTEN, "x")

    def on_change(change: SimChange) -> None:
        seen.append(change)
        if len(seen) == 2:
            raise RuntimeError("a broken log handler does not stop the simulator either")
        if len(seen) == 3:
            stop.set()

    sim.step = flaky_step  # type: ignore[method-assign]
    try:
        await asyncio.wait_for(sim.run(per_minute=60_000, stop=stop, on_change=on_change), 30)
    finally:
        await sim.close()
    assert calls == 5
    assert len(seen) == 3
    with pytest.raises(ValueError, match="per_minute"):
        await sim.run(per_minute=0, stop=stop)


async def test_no_change_possible_is_a_clear_error(tmp_path: Path, estate: Estate) -> None:
    with pytest.raises(SimulatorError, match=r"estate-manifest\.json"):
        Simulator(tmp_path)
    manifest = dict(estate.manifest, sources={})
    (tmp_path / "estate-manifest.json").write_text(json.dumps(manifest))
    sim = Simulator(tmp_path, seed=1)
    try:
        with pytest.raises(SimulatorError, match="no change possible"):
            await sim.step()
    finally:
        await sim.close()


async def test_a_source_down_does_not_stop_the_others(
    sqlite_estate: Estate,
    simulated_sqlite: Run,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With one procurement database gone and one finance file missing, every step still
    commits a change, on the sources that answer; the failures are logged."""
    copy = tmp_path / "estate"
    shutil.copytree(sqlite_estate.data_dir, copy)
    manifest = json.loads((copy / "estate-manifest.json").read_text())
    entry = manifest["sources"]["bpbj-5301"]
    entry["url"] = with_database(entry["url"], f"{entry['database']}_gone", "postgresql")
    (copy / "estate-manifest.json").write_text(json.dumps(manifest))
    (copy / "legacy" / "bpkad_53.sqlite").unlink()
    sim = Simulator(copy, seed=2)
    try:
        with caplog.at_level("WARNING", logger="estate.simulate"):
            changes = [await sim.step() for _ in range(20)]
    finally:
        await sim.close()
    assert len(changes) == 20
    assert not {c.source for c in changes} & {"bpbj-5301", "bpkad-53"}
    assert any("failed" in r.getMessage() for r in caplog.records)


async def test_the_e_office_writes_the_letters_of_awards_and_addenda(run: Run) -> None:
    """E-Surat as work proceeds: a surat perjanjian on the signing day and an SPMK on the
    day work starts for every award, an addendum letter for every addendum, each naming
    its contract only in the perihal, which the mapping reads out."""
    letters = await read_records(run.estate, ("esurat",))
    by_contract: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for _, rec in letters["letter"]:
        by_contract[(rec["region_code"], rec.get("contract_number") or "")].append(rec)
    contracts = by_key(run.records_after["contract"], "region_code", "number")
    awards = [c for c in run.changes if c.kind == "tender_result"]
    assert awards
    for change in awards:
        region, number = change.key.split("/", 1)
        kinds = {r["kind"]: r for r in by_contract[(region, number)]}
        _, contract = contracts[(region, number)]
        assert kinds["KONTRAK"]["dated_on"] == contract["signed_on"]
        assert kinds["SPMK"]["dated_on"] == contract["starts_on"]
    for change in (c for c in run.changes if c.kind == "amendment"):
        region, rest = change.key.split("/", 1)
        number, version = rest.rsplit("/", 1)
        assert [
            r for r in by_contract[(region, number)]
            if r["kind"] == "ADENDUM" and r["subject"].startswith(f"Addendum {version} ")
        ]  # fmt: skip


async def test_every_contract_past_its_end_has_its_bast_dated_that_day(run: Run) -> None:
    letters = await read_records(run.estate, ("esurat",))
    bast = {
        (rec["region_code"], rec["contract_number"]): rec["dated_on"]
        for _, rec in letters["letter"]
        if rec["kind"] == "BAST"
    }
    latest = max(c.written_at for c in run.changes).date()
    contracts = [rec for _, rec in (await read_records(run.estate, ("bpbj",)))["contract"]]
    ended = [c for c in contracts if c["ends_on"] <= min(latest, date(LATEST, 11, 28))]
    assert ended
    # HANDOVER_WITHOUT_LETTER's seeds are the contracts paid in full that never got one.
    seeded = run.estate.manifest["discrepancies"]["HANDOVER_WITHOUT_LETTER"]
    assert seeded["count"] == len(seeded["examples"]), "a small estate lists every key"
    without = set(seeded["examples"])
    assert without
    for c in ended:
        key = (c["region_code"], c["number"])
        if f"{c['region_code']}/{c['number']}" in without:
            assert key not in bast, c["number"]
        else:
            assert bast.get(key) == c["ends_on"], c["number"]
    numbers = {(c["region_code"], c["number"]) for c in contracts}
    assert set(bast) <= numbers  # a BAST always names a contract the hub will link it to
