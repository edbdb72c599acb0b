"""The reference data shipped with the hub (hub/reference/): every Pemda of Indonesia and
the planning nomenclature of the edition it records, loaded by migration 0010; and
`rantai reference load FILE`, which adds a newer edition."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from hub import reference
from hub.migrate import run_async
from hub.sync.writer import Writer
from tests.conftest import Server, asyncpg_dsn

SOURCES = json.loads((reference.HERE / "sources.json").read_text(encoding="utf-8"))


def test_the_region_list_has_every_province_and_regency_of_its_edition() -> None:
    regions = reference.read_regions()
    levels = {
        level: sum(1 for r in regions if r.level == level)
        for level in ("PROVINCE", "REGENCY", "CITY")
    }
    assert (
        levels == SOURCES["regions.csv"]["counts"] == {"PROVINCE": 38, "REGENCY": 416, "CITY": 98}
    )
    ntt = [r for r in regions if r.parent_code == "53"]
    assert len(ntt) == 22
    assert {r.code: r.name for r in ntt}["53.18"] == "Kabupaten Sumba Barat Daya"


def test_the_nomenclature_counts_are_those_of_its_edition() -> None:
    nomenclature = reference.read_nomenclature()
    # The file as transcribed from the annex: the counts its provenance records …
    assert nomenclature.file_counts == SOURCES["nomenclature.csv"]["counts"]
    assert nomenclature.file_counts["sub_kegiatan"] == 3395
    # … with the decree's one support program (X.XX: 101 sub kegiatan) expanded for each of
    # the 44 bidang urusan, as SIPD codes it: 3,294 + 44 × 101 sub kegiatan.
    assert nomenclature.counts == {
        "urusan": 9,
        "bidang_urusan": 44,
        "program": 188 - 1 + 44,
        "kegiatan": 729 - 16 + 44 * 16,
        "sub_kegiatan": 3395 - 101 + 44 * 101,
    }
    assert nomenclature.annexes == ("kabkota",)
    names = {e.code: e.name for e in nomenclature.entries}
    assert names["1.02.01.2.02.0001"] == "Penyediaan Gaji dan Tunjangan ASN"
    assert names["1.03.10.2.01.0031"] == "Penggantian Jembatan"
    assert not any(code.startswith("X") for code in names)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "code,name,level,parent_code\n53,NTT,PROVINCE,\n53,NTT,PROVINCE,\n",
            ":3: code 53 is already",
        ),
        (
            "code,name,level,parent_code\n53.1,X,REGENCY,53\n",
            ":2: code '53.1' is not a region code",
        ),
        ("code,name,level,parent_code\n53.18,SBD,KABUPATEN,53\n", ":2: level 'KABUPATEN'"),
        ("code,name,level,parent_code\n53.18,SBD,REGENCY,53\n", "the province 53 of 53.18"),
        ("kode,nama\n53,NTT\n", ":1: the header must be code,name,level,parent_code"),
    ],
)
def test_a_bad_regions_file_is_refused_with_its_lines(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "regions.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(reference.ReferenceFileError) as caught:
        reference.read_regions(path)
    assert problem in str(caught.value)
    assert str(caught.value).startswith(f"{path}:")


async def test_migration_loads_both_editions(server: Server) -> None:
    url = await server.create_database("rantai_reference")
    await run_async(url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        editions = await conn.fetch(
            "SELECT kind, name, first_fiscal_year, annexes FROM reference_edition ORDER BY kind"
        )
        counts = await conn.fetch(
            "SELECT level, count(*) AS n FROM nomenclature GROUP BY level ORDER BY level"
        )
        regions = await conn.fetchval("SELECT count(*) FROM reference_region")
    finally:
        await conn.close()
    assert [tuple(e) for e in editions] == [
        ("nomenclature", reference.SHIPPED_NOMENCLATURE_EDITION, 2024, ["kabkota"]),
        ("regions", reference.SHIPPED_REGIONS_EDITION, None, []),
    ]
    assert {r["level"]: r["n"] for r in counts} == reference.read_nomenclature().counts
    assert regions == 552


async def test_a_regency_of_every_province_resolves_to_its_pemda(server: Server) -> None:
    """A row naming any regency or city of Indonesia creates that Pemda and its province
    from the reference data, with the reference as their provenance and history."""
    url = await server.create_database("rantai_reference")
    await run_async(url, "upgrade", "head")
    regions = reference.read_regions()
    wanted = sorted(
        min(r.code for r in regions if r.parent_code == p.code)
        for p in regions
        if p.level == "PROVINCE"
    )
    assert len(wanted) == 38
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        writer = Writer(conn, "a-source")
        async with writer.transaction():
            created = await writer.enrich.ensure_regions(writer, [*wanted, "99.99"])
        rows = await conn.fetch(
            "SELECT r.code, r.level, p.code AS parent, r.source_id FROM region r "
            "LEFT JOIN region p ON p.id = r.parent_id"
        )
        history = await conn.fetchval(
            "SELECT count(*) FROM change_history WHERE entity = 'region' AND op = 'CREATED' "
            "AND source_id = 'reference'"
        )
    finally:
        await conn.close()
    assert created == {"region": 76}  # 38 regencies or cities and their 38 provinces
    by_code = {r["code"]: r for r in rows}
    assert set(by_code) == set(wanted) | {code.split(".")[0] for code in wanted}
    for code in wanted:
        assert by_code[code]["parent"] == code.split(".")[0]
        assert by_code[code]["source_id"] == "reference"
    assert history == 76


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


NEWER = "\n".join(
    [
        "level,code,name,parent_code",
        "urusan,1,URUSAN PEMERINTAHAN WAJIB YANG BERKAITAN DENGAN PELAYANAN DASAR,",
        "bidang_urusan,1.02,URUSAN PEMERINTAHAN BIDANG KESEHATAN,1",
        "program,1.02.02,PROGRAM PEMENUHAN UPAYA KESEHATAN PERORANGAN DAN UPAYA KESEHATAN "
        "MASYARAKAT,1.02",
        "kegiatan,1.02.02.1.01,Penyediaan Fasilitas Pelayanan Kesehatan untuk UKM dan UKP "
        "Kewenangan Daerah Provinsi,1.02.02",
        "sub_kegiatan,1.02.02.1.01.9001,Pembangunan Rumah Sakit Provinsi Baru,1.02.02.1.01",
    ]
)


async def test_reference_load_adds_a_newer_edition_that_names_and_checks_codes(
    server: Server, tmp_path: Path
) -> None:
    url = await server.create_database("rantai_reference")
    await run_async(url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        writer = Writer(conn, "reference")
        async with writer.transaction():
            await writer.enrich.ensure_regions(writer, ["53"])
        # A province's kegiatan written before any provincial edition: named by its code.
        await conn.execute(
            "INSERT INTO program (region_id, fiscal_year, code, name, source_id, source_key) "
            "SELECT id, 2026, '1.02.02', '1.02.02', 'reference', 'p' FROM region "
            "WHERE code = '53'"
        )
        await conn.execute(
            "INSERT INTO activity (region_id, program_id, fiscal_year, code, name, source_id, "
            "source_key) SELECT r.id, p.id, 2026, '1.02.02.1.01', '1.02.02.1.01', 'reference', "
            "'a' FROM region r JOIN program p ON p.region_id = r.id WHERE r.code = '53'"
        )
        # … and two of its sub kegiatan, one the newer edition has, one it has not.
        await conn.execute(
            "INSERT INTO opd (region_id, code, name, source_id, source_key) "
            "SELECT id, '1.02.0.00.0.00.01.0000', 'Dinas Kesehatan', 'reference', 'o' "
            "FROM region WHERE code = '53'"
        )
        await conn.execute(
            "INSERT INTO sub_activity (region_id, opd_id, activity_id, fiscal_year, code, name, "
            "source_id, source_key) SELECT a.region_id, o.id, a.id, 2026, c, c, 'reference', c "
            "FROM activity a JOIN opd o ON o.region_id = a.region_id, "
            "unnest(ARRAY['1.02.02.1.01.9001', '1.02.02.1.01.9002']) AS c"
        )
    finally:
        await conn.close()
    newer = tmp_path / "nomenklatur-2026.csv"
    newer.write_text(NEWER, encoding="utf-8")
    loaded = rantai(
        "reference", "load", str(newer), "--edition", "Kepmendagri 900.1-861/2026",
        "--first-year", "2026", url=url,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert "in force from fiscal year 2026 for the provinsi annex" in loaded.stdout
    assert "3 rows named by their code got their official name" in loaded.stdout
    assert "ketimpangan:" in loaded.stdout
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        names = await conn.fetch(
            "SELECT code, name FROM program UNION ALL SELECT code, name FROM activity ORDER BY 1"
        )
        history = await conn.fetchval(
            "SELECT count(*) FROM change_history WHERE op = 'UPDATED' "
            "AND entity IN ('program', 'activity', 'sub_activity')"
        )
        raised = await conn.fetch(
            "SELECT subject_key FROM discrepancy WHERE rule = 'CODE_NOT_IN_NOMENCLATURE' "
            "AND resolved_at IS NULL"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in names] == [
        ("1.02.02", "PROGRAM PEMENUHAN UPAYA KESEHATAN PERORANGAN DAN UPAYA KESEHATAN MASYARAKAT"),
        (
            "1.02.02.1.01",
            "Penyediaan Fasilitas Pelayanan Kesehatan untuk UKM dan UKP Kewenangan Daerah Provinsi",
        ),
    ]
    assert history == 3  # the program, the kegiatan, the sub kegiatan the edition names
    assert [r["subject_key"] for r in raised] == ["53/2026/1.02.02.1.01.9002"]
    listed = rantai("reference", url=url)
    assert listed.returncode == 0, listed.stderr
    assert "Kepmendagri 900.1-861/2026" in listed.stdout
    assert "Kepmendagri 050-5889/2021" in listed.stdout
    again = rantai(
        "reference", "load", str(newer), "--edition", "Kepmendagri 900.1-861/2026",
        "--first-year", "2026", url=url,
    )  # fmt: skip
    assert again.returncode == 2
    assert "is already loaded" in again.stderr


async def test_reference_load_refuses_a_bad_file_with_its_lines_and_loads_nothing(
    server: Server, tmp_path: Path
) -> None:
    url = await server.create_database("rantai_reference")
    await run_async(url, "upgrade", "head")
    bad = tmp_path / "nomenklatur.csv"
    bad.write_text(NEWER.replace("1.02.02.1.01.9001", "1.02.02.1.01.91"), encoding="utf-8")
    refused = rantai(
        "reference", "load", str(bad), "--edition", "x", "--first-year", "2026", url=url
    )
    assert refused.returncode == 1
    assert f"{bad}:6: sub_kegiatan code '1.02.02.1.01.91': segment 6 must be 4 digit(s)" in (
        refused.stderr
    )
    no_year = rantai(
        "reference", "load", str(tmp_path / "nomenklatur.csv"), "--edition", "x", url=url
    )
    assert no_year.returncode == 2
    assert "--first-year" in no_year.stderr
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM reference_edition") == 2
    finally:
        await conn.close()


async def test_reference_load_replaces_the_region_list_and_renames_pemda_made_from_it(
    server: Server, tmp_path: Path
) -> None:
    url = await server.create_database("rantai_reference")
    await run_async(url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        writer = Writer(conn, "reference")
        async with writer.transaction():
            await writer.enrich.ensure_regions(writer, ["53.18"])
    finally:
        await conn.close()
    newer = tmp_path / "wilayah.csv"
    newer.write_text(
        "code,name,level,parent_code\n53,Nusa Tenggara Timur,PROVINCE,\n"
        "53.18,Kabupaten Sumba Barat Daya (baru),REGENCY,53\n",
        encoding="utf-8",
    )
    loaded = rantai("reference", "load", str(newer), "--edition", "Kepmendagri 2027", url=url)
    assert loaded.returncode == 0, loaded.stderr
    assert "550 codes no longer listed; 1 Pemda created from the code list updated" in (
        loaded.stdout
    )
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        name = await conn.fetchval("SELECT name FROM region WHERE code = '53.18'")
        listed = await conn.fetchval("SELECT count(*) FROM reference_region")
    finally:
        await conn.close()
    assert name == "Kabupaten Sumba Barat Daya (baru)"
    assert listed == 2
