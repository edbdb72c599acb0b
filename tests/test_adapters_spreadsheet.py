"""SpreadsheetAdapter on workbooks and CSV files written here the way OPDs fill them in."""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from adapters import spreadsheet
from adapters.base import (
    AdapterError,
    Batch,
    EntityQuery,
    MissingColumns,
    MissingTable,
    Row,
    SourceConfig,
    open_adapter,
)
from adapters.spreadsheet import SpreadsheetAdapter

HEADER = ["No", "Kode Sub Kegiatan", "Uraian", " Pagu ", "Realisasi", None, "Uraian", "Tanggal"]
COLUMNS = ["No", "Kode Sub Kegiatan", "Uraian", "Pagu", "Realisasi", "col_6", "col_7", "Tanggal"]
FORM_A = EntityQuery(sheet="Form A", header_row=5, cells=("B2", "B3"))


def form_a(path: Path, opd: str, rows: Sequence[Sequence[Any]]) -> None:
    """A Form A workbook: an instructions sheet first, header cells on top, header on row 5."""
    wb = Workbook()
    notes = wb.active
    assert notes is not None
    notes.title = "Petunjuk"
    notes["A1"] = "Isi Form A per triwulan"
    ws = wb.create_sheet("Form A")
    ws["A1"] = "FORM A — LAPORAN REALISASI FISIK DAN KEUANGAN"
    ws["A2"], ws["B2"] = "Kode OPD", opd
    ws["A3"], ws["B3"] = "Tahun", 2025
    ws.append([])  # row 4 stays empty
    ws.append(HEADER)
    for row in rows:
        ws.append(list(row))
    ws.append([])
    ws.append([None, None, "Jumlah", "=SUM(D6:D9)"])  # below the empty row: not data
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


DINAS_PU = [
    (2, "1.03.10.2.01.0031", "Pembangunan Jalan", "1.250.000.000,00", 0.455, None, "x", None),
    (
        1,
        "1.03.10.2.01.0030",
        "Rehabilitasi Jembatan",
        875_000_000,
        1,
        None,
        None,
        dt.date(2025, 3, 1),
    ),
    (3, "1.03.10.2.01.0032", "Drainase", "  12.500.000,50 ", None, "catatan", None, None),
]
DINKES = [
    (n, f"1.02.02.2.01.{n:04d}", f"Kegiatan {n}", f"{n * 1000}.000,00", n / 10, None, None, None)
    for n in (1, 2, 3, 4, 5)
]


@pytest.fixture
def monev(tmp_path: Path) -> Path:
    folder = tmp_path / "monev" / "53.01"
    form_a(folder / "form-a-dinkes.xlsx", "1.02.0.00.0.00.01.0000", DINKES)
    form_a(folder / "form-a-dinas-pu.xlsx", "1.03.0.00.0.00.01.0000", DINAS_PU)
    (folder / "catatan.txt").write_text("bukan spreadsheet")
    return tmp_path


def xlsx(base: Path, path: str = "monev/53.01/*.xlsx", batch_size: int = 2) -> SourceConfig:
    return SourceConfig(
        id="monev-5301", kind="xlsx", path=path, base_dir=base, batch_size=batch_size
    )


async def collect(adapter: Any, query: EntityQuery, since: Any = None) -> list[Batch]:
    return [batch async for batch in adapter.stream(query, since=since)]


def rows_of(batches: list[Batch]) -> list[Row]:
    return [row for batch in batches for row in batch.rows]


def expected(file: str, opd: str, values: Sequence[Any]) -> Row:
    row: Row = dict(zip(COLUMNS, values, strict=True))
    if isinstance(row["Tanggal"], dt.date):  # openpyxl reads dates back as datetimes
        row["Tanggal"] = dt.datetime.combine(row["Tanggal"], dt.time())
    return {**row, "@B2": opd, "@B3": 2025, "@file": file}


async def test_reads_form_a_from_every_file(monev: Path) -> None:
    adapter = open_adapter(xlsx(monev))
    assert isinstance(adapter, SpreadsheetAdapter)
    async with adapter:
        assert await adapter.columns(FORM_A) == COLUMNS
        batches = await collect(adapter, FORM_A)
    assert [(b.origin, len(b.rows)) for b in batches] == [
        ("form-a-dinas-pu.xlsx", 2),
        ("form-a-dinas-pu.xlsx", 1),
        ("form-a-dinkes.xlsx", 2),
        ("form-a-dinkes.xlsx", 2),
        ("form-a-dinkes.xlsx", 1),
    ]
    pu, kes = "1.03.0.00.0.00.01.0000", "1.02.0.00.0.00.01.0000"
    assert rows_of(batches) == [
        *(expected("form-a-dinas-pu.xlsx", pu, r) for r in DINAS_PU),
        *(expected("form-a-dinkes.xlsx", kes, r) for r in DINKES),
    ]


async def test_watermark_filters_and_sorts_within_a_file(monev: Path) -> None:
    query = EntityQuery(sheet="Form A", header_row=5, watermark="No")
    async with SpreadsheetAdapter(xlsx(monev, batch_size=10)) as adapter:
        everything = rows_of(await collect(adapter, query))
        resumed = rows_of(await collect(adapter, query, since=2))
    assert [(r["@file"], r["No"]) for r in everything] == [
        *(("form-a-dinas-pu.xlsx", n) for n in (1, 2, 3)),
        *(("form-a-dinkes.xlsx", n) for n in (1, 2, 3, 4, 5)),
    ]
    assert [(r["@file"], r["No"]) for r in resumed] == [
        ("form-a-dinas-pu.xlsx", 3),
        ("form-a-dinkes.xlsx", 3),
        ("form-a-dinkes.xlsx", 4),
        ("form-a-dinkes.xlsx", 5),
    ]


async def test_first_sheet_by_default(monev: Path) -> None:
    async with SpreadsheetAdapter(xlsx(monev, "monev/53.01/form-a-dinkes.xlsx")) as adapter:
        assert await adapter.columns(EntityQuery()) == ["Isi Form A per triwulan"]
        assert rows_of(await collect(adapter, EntityQuery())) == []


async def test_missing_sheet_and_columns(monev: Path) -> None:
    async with SpreadsheetAdapter(xlsx(monev)) as adapter:
        with pytest.raises(MissingTable, match=r"form-a-dinas-pu\.xlsx.*'Form B'") as info:
            await adapter.columns(EntityQuery(sheet="Form B", header_row=5))
        assert "Petunjuk" in str(info.value)  # the sheets it does have
        with pytest.raises(MissingTable, match="Form B"):
            await collect(adapter, EntityQuery(sheet="Form B"))
        with pytest.raises(MissingColumns) as missing:
            await collect(adapter, EntityQuery(sheet="Form A", header_row=5, columns=("Volume",)))
        assert missing.value.columns == ["Volume"]
        # Sheet names typed loosely still find the sheet.
        assert await adapter.columns(EntityQuery(sheet=" form a", header_row=5)) == COLUMNS


async def test_nothing_matches(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"monev-5301.*no file matches"):
        await SpreadsheetAdapter(xlsx(tmp_path, "monev/*.xlsx")).open()


async def test_a_broken_workbook_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "rusak.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    async with SpreadsheetAdapter(xlsx(tmp_path, "rusak.xlsx")) as adapter:
        with pytest.raises(AdapterError, match=r"monev-5301.*rusak\.xlsx"):
            await adapter.columns(EntityQuery())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count files")
@pytest.mark.parametrize("parsed", [True, False], ids=["parsed once", "openpyxl workbook"])
async def test_abandoned_stream_closes_the_workbook(
    monev: Path, parsed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not parsed:  # the fallback: openpyxl's read-only workbook, open while read
        monkeypatch.setattr(spreadsheet, "_ParsedXlsxTable", None)
    before = open_fds()
    async with SpreadsheetAdapter(xlsx(monev)) as adapter:
        stream = adapter.stream(FORM_A)
        first = await anext(stream)
        assert len(first.rows) == 2
        if not parsed:
            assert open_fds() > before  # the workbook is open while its rows are read
        await stream.aclose()  # type: ignore[attr-defined]
    assert open_fds() == before


async def test_a_workbook_parsed_once_reads_as_openpyxl_does(
    monev: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows, blanks, header cells and dates: the short way and openpyxl's workbook agree."""
    query = EntityQuery(sheet="form a", header_row=5, cells=("B2", "B3", "Z99"))

    async def read() -> list[list[dict[str, Any]]]:
        async with SpreadsheetAdapter(xlsx(monev)) as adapter:
            return [batch.rows async for batch in adapter.stream(query)]

    parsed = await read()
    monkeypatch.setattr(spreadsheet, "_ParsedXlsxTable", None)
    assert await read() == parsed
    assert parsed
    assert all(parsed)


# --- CSV -----------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list[str]], delimiter: str) -> None:
    # utf-8-sig: Excel's "CSV UTF-8" starts with a BOM.
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        csv.writer(file, delimiter=delimiter).writerows(rows)


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
async def test_csv_with_bom_and_any_delimiter(tmp_path: Path, delimiter: str) -> None:
    write_csv(
        tmp_path / "realisasi.csv",
        [
            ["Kode OPD", "1.02.0.00.0.00.01.0000"],
            [],
            ["kd_sub_keg", "uraian", "nilai", "", "nilai"],
            ["1.02.02.2.01.0001", "Belanja; ATK, kantor", "1.250.000,00", "", "1"],
            ["1.02.02.2.01.0002", "Honorarium", "375.500,50", "x"],
            ["", "", "", "", ""],
            ["Jumlah", "", "1.625.500,50", "", ""],
        ],
        delimiter,
    )
    cfg = SourceConfig(id="bpkad-csv", kind="csv", path="*.csv", base_dir=tmp_path)
    query = EntityQuery(header_row=3, cells=("B1",))
    async with SpreadsheetAdapter(cfg) as adapter:
        assert await adapter.columns(query) == ["kd_sub_keg", "uraian", "nilai", "col_4", "col_5"]
        batches = await collect(adapter, query)
    common = {"@B1": "1.02.0.00.0.00.01.0000", "@file": "realisasi.csv"}
    assert rows_of(batches) == [
        {
            "kd_sub_keg": "1.02.02.2.01.0001",
            "uraian": "Belanja; ATK, kantor",
            "nilai": "1.250.000,00",
            "col_4": None,
            "col_5": "1",
            **common,
        },
        {
            "kd_sub_keg": "1.02.02.2.01.0002",
            "uraian": "Honorarium",
            "nilai": "375.500,50",
            "col_4": "x",
            "col_5": None,
            **common,
        },
    ]


async def test_csv_semicolon_with_indonesian_numbers(tmp_path: Path) -> None:
    # Unquoted, as many exports write it: commas in every number, semicolons between fields.
    text = "\ufeffNo;Uraian;Nilai\n1;Belanja ATK;1.250.000,00\n2;Cetak;375.500,50\n"
    (tmp_path / "sp2d.csv").write_text(text, encoding="utf-8")
    cfg = SourceConfig(id="bpkad-csv", kind="csv", path="sp2d.csv", base_dir=tmp_path)
    async with SpreadsheetAdapter(cfg) as adapter:
        rows = rows_of(await collect(adapter, EntityQuery(watermark="No"), since="1"))
    assert rows == [{"No": "2", "Uraian": "Cetak", "Nilai": "375.500,50", "@file": "sp2d.csv"}]
