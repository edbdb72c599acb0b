"""The demo legacy estate (estate/): deterministic, shaped like each legacy system, readable
through its own mappings, with seeded discrepancies and totals that the legacy data confirms
when recomputed by SQL against the generated databases."""

from __future__ import annotations

import json
import re
import sqlite3
import tomllib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest

from adapters.base import open_adapter
from adapters.check import check_all
from adapters.codes import (
    is_canonical_account_code,
    is_canonical_opd_code,
    is_canonical_sub_activity_code,
    normalise_account_code,
    normalise_code,
    normalise_opd_code,
    normalise_sub_activity_code,
)
from adapters.mapping import load_config
from adapters.parsing import parse_money
from adapters.records import ENTITIES
from estate.builder.region import RegionBuilder
from estate.generate import EstateResult, generate_estate, region_plans
from estate.rules import RULES
from estate.writers import drop_mariadb_database, mysql_kwargs, pg_dsn
from tests.conftest import MARIADB_URL, Server, mariadb_reachable

SEED = 7
YEARS = (2025, 2026)
REGIONS = ("53", "53.01", "53.71", "53.18")
PLANNED = ("53", "53.01", "53.71")  # with an e-planning database (flavour D has none)
D = "53.18"  # flavour D: Renja, DPA and SP2D in one finance database


@dataclass
class Estate:
    result: EstateResult
    manifest: dict[str, Any]
    finance: str  # "mariadb" or "sqlite"


async def _generate(server: Server, data_dir: Path, mariadb_url: str | None, prefix: str) -> Estate:
    result = await generate_estate(
        data_dir,
        scale="small",
        seed=SEED,
        pg_url=server.admin_url,
        mariadb_url=mariadb_url,
        fiscal_years=YEARS,
        db_prefix=prefix,
    )
    server.created.extend(result.postgres_databases)  # dropped with the session's server
    manifest = json.loads(result.manifest.read_text())
    return Estate(result, manifest, "mariadb" if mariadb_url else "sqlite")


@pytest.fixture(scope="module")
async def estate(server: Server, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Estate]:
    """`small` with MariaDB finance databases when a server answers, else SQLite files."""
    maria = MARIADB_URL if await mariadb_reachable() else None
    prefix = f"legacy_t{uuid.uuid4().hex[:6]}"
    built = await _generate(server, tmp_path_factory.mktemp("estate"), maria, prefix)
    yield built
    if maria is not None:
        for name in built.result.mariadb_databases:
            await drop_mariadb_database(maria, name)


@pytest.fixture(scope="module")
async def sqlite_estate(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Estate:
    """The same seed again, finance as SQLite files, other database names."""
    prefix = f"legacy_s{uuid.uuid4().hex[:6]}"
    return await _generate(server, tmp_path_factory.mktemp("estate_sqlite"), None, prefix)


# --- reading the legacy databases directly ----------------------------------------------------


def source(estate: Estate, kind: str, region: str) -> dict[str, Any]:
    entry: dict[str, Any] = estate.manifest["sources"][f"{kind}-{region.replace('.', '')}"]
    return entry


async def pg_rows(entry: dict[str, Any], sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg_dsn(entry["url"]))
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql)
        return rows
    finally:
        await conn.close()


async def finance_rows(estate: Estate, region: str, sql: str) -> list[tuple[Any, ...]]:
    entry = source(estate, "bpkad", region)
    if entry["kind"] == "sqlite":
        path = estate.result.data_dir / "mappings" / entry["url"].removeprefix("sqlite:///")
        conn = sqlite3.connect(path)
        try:
            return list(conn.execute(sql))
        finally:
            conn.close()
    conn2 = await aiomysql.connect(**mysql_kwargs(entry["url"]), db=entry["database"])
    try:
        cur = await conn2.cursor()
        await cur.execute(sql)
        rows: list[tuple[Any, ...]] = list(await cur.fetchall())
        await cur.close()
        return rows
    finally:
        conn2.close()


# Per finance flavour: (DPA amount column, SP2D table amount column)
FINANCE_AMOUNTS = {
    "A": ("nilai", "nilai_sp2d"),
    "B": ("nilai", "nilai"),
    "C": ("pagu", "nilai_sp2d"),
    "D": ("nilai", "nilai"),
}
# Per finance flavour: the DPA table and its sub kegiatan column
FINANCE_DPA = {"D": ("dpa", "kd_sub_kegiatan")}


def money(value: Any) -> Decimal:
    parsed = parse_money(value, locale="id")
    assert parsed is not None
    return parsed


# --- generation -----------------------------------------------------------------------------


async def test_small_estate_is_complete(estate: Estate) -> None:
    result = estate.result
    assert len(result.sources) == 19
    for region in REGIONS:
        rc = region.replace(".", "")
        for kind in ("bappeda", "bpkad", "bpbj", "monev", "esurat"):
            if kind == "bappeda" and region == D:
                assert f"{kind}-{rc}" not in result.sources  # its Renja is in BPKAD's database
                continue
            assert f"{kind}-{rc}" in result.sources
            assert (result.data_dir / "mappings" / f"{kind}-{rc}.toml").is_file()
        exports = "*.csv" if region == D else "*.xlsx"
        assert list((result.data_dir / "legacy" / "monev" / region).glob(exports))
    manifest = estate.manifest
    assert manifest["scale"] == "small"
    assert manifest["seed"] == SEED
    assert manifest["fiscal_years"] == list(YEARS)
    assert set(manifest["totals"]) == set(REGIONS)
    total = sum(
        manifest["totals"][r][str(y)]["counts"]["sub_activity"] for r in REGIONS for y in YEARS
    )
    assert 200 <= total <= 500  # "a few hundred"
    # Every rule (the 13 families of DOMAIN.md, the bid-price red flags and the codes
    # against the nomenclature) is seeded at least once.
    assert len(manifest["discrepancies"]) == len(RULES)
    families = {d["family"] for d in manifest["discrepancies"].values()}
    assert families == set(range(1, 15))
    assert all(d["count"] >= 1 for d in manifest["discrepancies"].values())
    assert all(d["count"] == len(d["examples"]) for d in manifest["discrepancies"].values())


async def test_same_seed_same_estate_sqlite_too(estate: Estate, sqlite_estate: Estate) -> None:
    assert sqlite_estate.result.sqlite_files
    assert all(path.is_file() for path in sqlite_estate.result.sqlite_files)
    assert source(sqlite_estate, "bpkad", "53")["kind"] == "sqlite"
    for key in ("totals", "discrepancies", "discrepancies_by_region"):
        assert sqlite_estate.manifest[key] == estate.manifest[key]
    tables = {k: v.get("tables") for k, v in estate.manifest["sources"].items()}
    assert {k: v.get("tables") for k, v in sqlite_estate.manifest["sources"].items()} == tables
    # A different seed gives a different estate.
    plan = region_plans("small")[0]
    other = RegionBuilder(plan, SEED + 1, YEARS).build()
    assert sum(p.pagu for p in other[0].packages) != Decimal(
        estate.manifest["totals"]["53"]["2025"]["rup_pagu"]
    )


async def test_regenerating_replaces_the_databases(server: Server, tmp_path: Path) -> None:
    prefix = f"legacy_r{uuid.uuid4().hex[:6]}"
    first = await _generate(server, tmp_path, None, prefix)
    second = await _generate(server, tmp_path, None, prefix)
    assert first.manifest["totals"] == second.manifest["totals"]
    rows = await pg_rows(source(second, "bpbj", "53"), "SELECT count(*) AS n FROM rup_paket")
    expected = sum(
        second.manifest["totals"]["53"][str(y)]["counts"]["procurement_package"] for y in YEARS
    )
    assert rows[0]["n"] == expected


# --- codes and flavours ---------------------------------------------------------------------


async def test_codes_are_valid_after_normalising(estate: Estate) -> None:
    for region in PLANNED:
        flavour = source(estate, "bappeda", region)["flavour"]
        column = "kd_subkeg" if flavour == "B" else "kode_sub_giat"
        skpd = "kd_skpd" if flavour == "B" else "kode_skpd"
        rows = await pg_rows(
            source(estate, "bappeda", region),
            f"SELECT {column} AS c, {skpd} AS o FROM data_sub_keg",
        )
        assert rows
        for row in rows:
            assert is_canonical_sub_activity_code(normalise_sub_activity_code(row["c"]))
            assert is_canonical_opd_code(normalise_opd_code(row["o"]))
        raw = [row["c"] for row in rows]
        if flavour == "A":
            assert all(is_canonical_sub_activity_code(c) for c in raw)
        elif flavour == "B":  # no zero padding: "1.3.10.2.1.31"
            assert all(not is_canonical_sub_activity_code(c) for c in raw)
            assert all(not re.search(r"(^|\.)0\d", c) for c in raw)
        else:  # spaces: "1. 03. 10. 2. 01. 0031"
            assert all(". " in c for c in raw)
        # Account codes in the finance database, per flavour.
        if flavour == "A":
            accounts = [
                r[0] for r in await finance_rows(estate, region, "SELECT kode_akun FROM dpa_rinci")
            ]
        elif flavour == "B":
            parts = await finance_rows(
                estate,
                region,
                "SELECT kd_rek_1, kd_rek_2, kd_rek_3, kd_rek_4, kd_rek_5, kd_rek_6 FROM dpa_rinci",
            )
            accounts = [normalise_account_code(".".join(str(p) for p in r)) for r in parts]
        else:
            raw_accounts = await finance_rows(estate, region, "SELECT kode_rekening FROM dpa_rinci")
            assert all(re.fullmatch(r"\d{12}", r[0]) for r in raw_accounts)
            accounts = [normalise_code(r[0], (1, 1, 2, 2, 2, 4)) for r in raw_accounts]
        assert accounts
        assert all(is_canonical_account_code(a) for a in accounts)


async def test_flavour_d_keeps_renja_dpa_and_sp2d_in_one_database_shaped_as_an_older_system(
    estate: Estate,
) -> None:
    renja = await finance_rows(
        estate, D, "SELECT kd_skpd, nm_skpd, kd_sub_kegiatan, pagu_indikatif FROM renja"
    )
    assert renja
    for opd, name, code, planned in renja:
        assert re.fullmatch(r"\d+( \d+){7}", opd)  # "1 3 0 0 0 0 1 0"
        assert name
        assert re.fullmatch(r"\d+( \d+){5}", code)  # "1 3 10 2 1 31": spaces, no padding
        assert is_canonical_sub_activity_code(normalise_sub_activity_code(code))
        assert re.fullmatch(r"\d{1,3}(\.\d{3})*,\d\d", planned)
    dpa = await finance_rows(estate, D, "SELECT kd_rekening, nilai FROM dpa")
    assert all(re.fullmatch(r"\d( \d+){5}", account) for account, _ in dpa)
    sp2d = await finance_rows(estate, D, "SELECT no_sp2d, tgl_sp2d, tgl_update FROM sp2d")
    assert all(re.fullmatch(r"\d{5}/SP2D/(LS|GU|UP|TU)/\d{4}", n) for n, _, _ in sp2d)
    assert all(re.fullmatch(r"\d\d-\d\d-\d{4}", day) for _, day, _ in sp2d)
    # The application leaves its updated-at empty on some rows: no watermark for them.
    assert 0 < sum(1 for _, _, stamp in sp2d if stamp is None) < len(sp2d) / 5
    tables = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if estate.finance == "sqlite"
        else "SHOW TABLES"
    )
    assert sorted(r[0] for r in await finance_rows(estate, D, tables)) == ["dpa", "renja", "sp2d"]
    exports = sorted((estate.result.data_dir / "legacy" / "monev" / D).glob("*.csv"))
    assert exports
    header = exports[0].read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("Tahun;Kode SKPD;")


async def test_flavours(estate: Estate) -> None:
    sql_sources = {
        sid: entry
        for sid, entry in estate.manifest["sources"].items()
        if entry["kind"] not in ("xlsx", "csv")
    }
    without = [sid for sid, entry in sql_sources.items() if not entry["watermark"]]
    # Synced by keyed diff: C's finance database has no updated-at column, D's is not
    # always set, and no e-office keeps one.
    esurat = [f"esurat-{rc}" for rc in ("53", "5301", "5318", "5371")]
    assert sorted(without) == sorted(["bpkad-5318", "bpkad-5371", *esurat])
    # … and its tables really have no update column.
    for table in ("dpa_rinci", "sp2d"):
        if estate.finance == "sqlite":
            columns = [
                r[1] for r in await finance_rows(estate, "53.71", f"PRAGMA table_info({table})")
            ]
        else:
            columns = [
                r[0] for r in await finance_rows(estate, "53.71", f"SHOW COLUMNS FROM {table}")
            ]
        assert columns
        assert not [c for c in columns if re.search(r"update|audit", c)]
    # Kabupaten Kupang: Indonesian number strings and dd-mm-yyyy dates in text columns.
    rows = await finance_rows(estate, "53.01", "SELECT nilai, tgl_sp2d FROM sp2d")
    assert all(re.fullmatch(r"\d{1,3}(\.\d{3})*,\d\d", r[0]) for r in rows)
    assert all(re.fullmatch(r"\d\d-\d\d-\d{4}", r[1]) for r in rows)
    # The province and the regencies differ in their procurement databases too.
    kinds: dict[str, str] = {}
    for region in PLANNED:
        columns = await pg_rows(
            source(estate, "bpbj", region),
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'spse_tender' AND column_name = 'tgl_pengumuman_tender'",
        )
        kinds[region] = columns[0]["data_type"]
    assert kinds["53"] == "date"
    assert kinds["53.01"] == "text"
    # Monev: text percentages in one region's workbooks, numbers in another's.
    from openpyxl import load_workbook

    def first_physical(region: str, column: int, header_row: int) -> Any:
        path = sorted((estate.result.data_dir / "legacy" / "monev" / region).glob("*.xlsx"))[0]
        wb = load_workbook(path, read_only=True)
        try:
            return next(wb.active.iter_rows(min_row=header_row + 1, values_only=True))[column]
        finally:
            wb.close()

    assert isinstance(first_physical("53.01", 4, 7), str)
    assert isinstance(first_physical("53", 4, 8), float | int)


# --- mappings -------------------------------------------------------------------------------


async def test_mapping_files_name_canonical_entities_and_fields(estate: Estate) -> None:
    data_dir = estate.result.data_dir
    config = tomllib.loads((data_dir / "rantai.toml").read_text())
    listed = [entry["mapping"] for entry in config["source"]]
    assert len(listed) == 19
    seen_entities: set[str] = set()
    for relative in listed:
        mapping = tomllib.loads((data_dir / relative).read_text())
        assert set(mapping) == {"source", "entity"}
        assert mapping["source"]["kind"] in ("postgresql", "mariadb", "sqlite", "xlsx", "csv")
        for entity in mapping["entity"]:
            spec = ENTITIES[entity["name"]]
            seen_entities.add(spec.name)
            fields = set(entity["fields"])
            assert fields <= {f.name for f in spec.fields}, (relative, spec.name)
            # region_code may be left out: it is the source's own Pemda then.
            assert set(spec.required) - {"region_code"} <= fields, (relative, spec.name)
    assert seen_entities == set(ENTITIES)  # every canonical entity has a source
    # The project's own loader accepts them all.
    loaded = load_config(data_dir / "rantai.toml")
    assert len(loaded.sources) == 19


async def test_sources_check_clean(estate: Estate) -> None:
    config = load_config(estate.result.data_dir / "rantai.toml")
    problems = await check_all(list(config.sources))
    assert {sid: [str(p) for p in found] for sid, found in problems.items() if found} == {}


async def test_every_row_maps_and_totals_match(estate: Estate) -> None:
    """All rows through the adapters and mappings: canonical sums equal the manifest's."""
    config = load_config(estate.result.data_dir / "rantai.toml")
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for src in config.sources:
        async with open_adapter(src.config) as adapter:
            for entity in src.entities:
                async for batch in adapter.stream(entity.query):
                    for row in batch.rows:
                        record = entity.record(row)
                        name = entity.spec.name
                        region = str(record.get("region_code") or src.region)
                        counts[(region, name)] += 1
                        year = str(record.get("fiscal_year", ""))
                        if name == "budget_line":
                            sums[(region, year, "dpa")] += record["amount"]
                        elif name == "payment":
                            sums[(region, year, "sp2d")] += record["amount"]
                        elif name == "procurement_package":
                            sums[(region, year, "rup_pagu")] += record["ceiling"]
                        elif name == "contract":
                            sums[(region, "", "contract_value")] += record["value"]
    totals = estate.manifest["totals"]
    for region in REGIONS:
        contract_total = Decimal(0)
        for year in map(str, YEARS):
            expected = totals[region][year]
            for key in ("dpa", "sp2d", "rup_pagu"):
                assert sums[(region, year, key)] == Decimal(expected[key]), (region, year, key)
            contract_total += Decimal(expected["contract_value"])
            for name in ("progress_report", "bid", "tender", "contract_amendment"):
                assert name in expected["counts"]
        assert sums[(region, "", "contract_value")] == contract_total
        for name in ("progress_report", "sub_activity", "payment", "budget_line"):
            expected_rows = sum(totals[region][y]["counts"][name] for y in map(str, YEARS))
            assert counts[(region, name)] == expected_rows, (region, name)
    assert counts[("53", "region")] == 23


# --- totals and discrepancies by SQL ----------------------------------------------------------


async def test_manifest_totals_equal_sql_sums(estate: Estate) -> None:
    for region in REGIONS:
        flavour = source(estate, "bpkad", region)["flavour"]
        dpa_col, sp2d_col = FINANCE_AMOUNTS[flavour]
        dpa_table = FINANCE_DPA.get(flavour, ("dpa_rinci",))[0]
        dpa: dict[str, Decimal] = defaultdict(Decimal)
        for year, amount in await finance_rows(
            estate, region, f"SELECT tahun, {dpa_col} FROM {dpa_table}"
        ):
            dpa[str(year)] += money(amount)
        sp2d: dict[str, Decimal] = defaultdict(Decimal)
        for year, amount in await finance_rows(
            estate, region, f"SELECT tahun, {sp2d_col} FROM sp2d"
        ):
            sp2d[str(year)] += money(amount)
        bpbj = source(estate, "bpbj", region)
        rup = {
            str(r["tahun"]): r["s"]
            for r in await pg_rows(
                bpbj, "SELECT tahun, sum(pagu) AS s FROM rup_paket GROUP BY tahun"
            )
        }
        contracts = {
            str(r["tahun"]): r["s"]
            for r in await pg_rows(
                bpbj,
                "SELECT t.tahun, sum(k.nilai_kontrak) AS s FROM spse_kontrak k "
                "JOIN spse_tender t USING (kd_tender) GROUP BY t.tahun",
            )
        }
        for year in map(str, YEARS):
            expected = estate.manifest["totals"][region][year]
            assert dpa[year] == Decimal(expected["dpa"])
            assert sp2d[year] == Decimal(expected["sp2d"])
            assert rup[year] == Decimal(expected["rup_pagu"])
            assert contracts[year] == Decimal(expected["contract_value"])


TENDER_SQL = {
    "CONTRACT_ABOVE_OWNER_ESTIMATE": (
        "SELECT k.no_kontrak AS key FROM spse_kontrak k JOIN spse_tender t USING (kd_tender) "
        "WHERE k.nilai_kontrak > t.hps"
    ),
    "CONTRACT_NEAR_OWNER_ESTIMATE": (
        "SELECT k.no_kontrak AS key FROM spse_kontrak k JOIN spse_tender t USING (kd_tender) "
        "WHERE k.nilai_kontrak <= t.hps AND k.nilai_kontrak >= t.hps * 0.99"
    ),
    "SINGLE_BIDDER": (
        "SELECT t.kd_tender::text AS key FROM spse_tender t "
        "WHERE t.mtd_pemilihan IN ('Tender', 'Seleksi', 'Tender Cepat') AND (SELECT count(*) "
        "FROM spse_peserta p WHERE p.kd_tender = t.kd_tender AND p.nilai_penawaran IS NOT NULL) = 1"
    ),
    "IDENTICAL_BIDS": (
        "SELECT DISTINCT kd_tender::text AS key FROM spse_peserta "
        "WHERE nilai_penawaran IS NOT NULL "
        "GROUP BY kd_tender, nilai_penawaran HAVING count(DISTINCT npwp) > 1"
    ),
    "RETENDER": "SELECT kd_tender::text AS key FROM spse_tender WHERE versi_tender > 1",
    "TENDER_WITHOUT_RUP": (
        "SELECT t.kd_tender::text AS key FROM spse_tender t WHERE NOT EXISTS (SELECT 1 FROM "
        "spse_tender_rup l JOIN rup_paket r ON r.kd_rup = l.kd_rup WHERE l.kd_tender = t.kd_tender)"
    ),
    "METHOD_DEVIATION": (
        "WITH rank(m, r) AS (VALUES ('Tender', 3), ('Seleksi', 3), ('Tender Cepat', 3), "
        "('E-Purchasing', 2), ('Pengadaan Langsung', 2), ('Penunjukan Langsung', 1), "
        "('Dikecualikan', 0)) "
        "SELECT DISTINCT t.kd_tender::text AS key FROM spse_tender t "
        "JOIN spse_tender_rup l USING (kd_tender) JOIN rup_paket p ON p.kd_rup = l.kd_rup "
        "JOIN rank rt ON rt.m = t.mtd_pemilihan JOIN rank rp ON rp.m = p.metode_pengadaan "
        "WHERE rt.r < rp.r"
    ),
    "AMENDMENT_ABOVE_10_PERCENT": (
        "SELECT k.no_kontrak AS key FROM spse_kontrak k JOIN LATERAL (SELECT a.nilai FROM "
        "spse_addendum a WHERE a.no_kontrak = k.no_kontrak ORDER BY a.versi_addendum DESC "
        "LIMIT 1) a ON true WHERE a.nilai > k.nilai_kontrak * 1.1"
    ),
    "PUBLISHED_VALUE_CHANGED": (
        "SELECT r.kd_rup::text AS key FROM rup_paket r WHERE r.pagu <> (SELECT h.pagu FROM "
        "rup_paket_histori h WHERE h.kd_rup = r.kd_rup AND h.status_umumkan = 'Terumumkan' "
        "ORDER BY h.versi LIMIT 1)"
    ),
}
REGION_KEYED = {
    "CONTRACT_ABOVE_OWNER_ESTIMATE",
    "CONTRACT_NEAR_OWNER_ESTIMATE",
    "AMENDMENT_ABOVE_10_PERCENT",
}


@pytest.mark.parametrize("rule", sorted(TENDER_SQL))
async def test_seeded_discrepancies_equal_sql(estate: Estate, rule: str) -> None:
    found: set[str] = set()
    for region in REGIONS:
        rows = await pg_rows(source(estate, "bpbj", region), TENDER_SQL[rule])
        found |= {f"{region}/{r['key']}" if rule in REGION_KEYED else r["key"] for r in rows}
    seeded = estate.manifest["discrepancies"][rule]
    assert len(found) == seeded["count"] >= 1
    assert sorted(found) == seeded["examples"]


async def test_budget_without_plan_across_sources(estate: Estate) -> None:
    """Family 1 needs two sources and normalised codes: DPA codes missing from the plan."""
    found: set[str] = set()
    for region in REGIONS:
        if region == D:  # the plan is the Renja, in the finance database
            plan = {
                (str(y), normalise_sub_activity_code(c))
                for y, c in await finance_rows(
                    estate, region, "SELECT tahun, kd_sub_kegiatan FROM renja"
                )
            }
            dpa_table, dpa_code = FINANCE_DPA["D"]
        else:
            flavour = source(estate, "bappeda", region)["flavour"]
            year_col, code_col = (
                ("thn", "kd_subkeg") if flavour == "B" else ("tahun", "kode_sub_giat")
            )
            plan = {
                (str(r["y"]), normalise_sub_activity_code(r["c"]))
                for r in await pg_rows(
                    source(estate, "bappeda", region),
                    f"SELECT {year_col} AS y, {code_col} AS c FROM data_sub_keg",
                )
            }
            dpa_table, dpa_code = "dpa_rinci", "kd_sub_keg"
        budget = {
            (str(y), normalise_sub_activity_code(c))
            for y, c in await finance_rows(
                estate, region, f"SELECT tahun, {dpa_code} FROM {dpa_table}"
            )
        }
        found |= {f"{region}/{y}/{c}" for y, c in budget - plan}
    seeded = estate.manifest["discrepancies"]["BUDGET_WITHOUT_PLAN"]
    assert sorted(found) == seeded["examples"]
    assert len(found) == seeded["count"] >= 1
