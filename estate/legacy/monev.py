"""The OPD's e-Monev Form A workbooks: one per OPD and fiscal year, laid out per flavour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from estate import names
from estate.legacy.formats import code_as, flavour_of, percent_text
from estate.legacy.tables import Workbook
from estate.model import RegionYear

MONEV_LAYOUT: dict[str, dict[str, Any]] = {
    # header_row, cell holding the year, column headers in order
    "A": {
        "header_row": 8,
        "year_cell": "C5",
        "columns": [
            "No",
            "Kode Sub Kegiatan",
            "Nama Sub Kegiatan",
            "Periode",
            "Realisasi Fisik (%)",
            "Realisasi Keuangan (%)",
            "Permasalahan",
        ],
    },
    "B": {
        "header_row": 7,
        "year_cell": "B4",
        "columns": [
            "NO",
            "KODE SUBKEG",
            "URAIAN SUB KEGIATAN",
            "TRIWULAN",
            "FISIK (%)",
            "KEUANGAN (%)",
            "MASALAH",
        ],
    },
    "C": {
        "header_row": 6,
        "year_cell": "B4",
        "columns": ["Kode", "Sub Kegiatan", "Periode", "Fisik", "Keuangan", "Kendala"],
    },
    # A CSV export (`;`, as an Indonesian spreadsheet saves it): one line per sub kegiatan
    # and quarter, the year and OPD on every line, the quarter as 1–4.
    "D": {
        "header_row": 1,
        "year_cell": None,
        "columns": [
            "Tahun",
            "Kode SKPD",
            "Nama SKPD",
            "Kode Sub Kegiatan",
            "Nama Sub Kegiatan",
            "Triwulan",
            "Realisasi Fisik (%)",
            "Realisasi Keuangan (%)",
            "Permasalahan",
        ],
    },
}


def monev_workbooks(region: str, years: Sequence[RegionYear]) -> list[Workbook]:
    """One Form A workbook per OPD and fiscal year: header cells, a header row, then one row
    per sub-activity and quarter. B writes percentages as text ("45,5")."""
    f = flavour_of(region)
    layout = MONEV_LAYOUT[f]
    out: list[Workbook] = []
    for ry in years:
        names_by_code = {sa.code: sa.name for sa in ry.sub_activities}
        by_opd: dict[str, list[Any]] = {}
        for rep in ry.progress:
            by_opd.setdefault(rep.opd_code, []).append(rep)
        for opd in ry.opds:
            reports = sorted(by_opd.get(opd.code, []), key=lambda r: (r.sa_code, r.quarter))
            if not reports:
                continue
            region_name = names.REGION_NAMES[region]
            if f == "D":
                out.append(_csv_export(ry, opd, reports, names_by_code))
                continue
            if f == "A":
                rows: list[list[Any]] = [
                    ["FORM A - LAPORAN REALISASI FISIK DAN KEUANGAN SUB KEGIATAN"],
                    [],
                    ["Kode OPD", None, opd.code],
                    ["Nama OPD", None, opd.name],
                    ["Tahun Anggaran", None, ry.fiscal_year],
                    ["Pemerintah Daerah", None, region_name],
                    [],
                ]
            elif f == "B":
                rows = [
                    [f"LAPORAN TRIWULANAN (FORM A) {region_name.upper()}"],
                    ["KODE SKPD", code_as(opd.code, f)],
                    ["NAMA SKPD", opd.name.upper()],
                    ["TAHUN", str(ry.fiscal_year)],
                    ["KABUPATEN", region_name],
                    [],
                ]
            else:
                rows = [
                    ["Evaluasi Hasil Pelaksanaan RKPD - Form A"],
                    ["OPD", code_as(opd.code, f), opd.name],
                    ["Pemda", region_name],
                    ["Tahun", ry.fiscal_year],
                    [],
                ]
            if len(rows) != layout["header_row"] - 1:  # the mapping files read that row
                raise RuntimeError(f"monev flavour {f}: the header is not on its layout's row")
            rows.append(list(layout["columns"]))
            for n, rep in enumerate(reports, start=1):
                period = f"{ry.fiscal_year}-Q{rep.quarter}"
                code = code_as(rep.sa_code, f)
                name = names_by_code.get(rep.sa_code, "")
                if f == "A":
                    rows.append(
                        [
                            n,
                            code,
                            name,
                            period,
                            float(rep.physical),
                            float(rep.financial),
                            rep.problems,
                        ]
                    )
                elif f == "B":
                    rows.append(
                        [
                            str(n),
                            code,
                            name.upper(),
                            period,
                            percent_text(rep.physical),
                            percent_text(rep.financial),
                            rep.problems,
                        ]
                    )
                else:
                    rows.append(
                        [
                            code,
                            name,
                            period,
                            float(rep.physical),
                            float(rep.financial),
                            rep.problems,
                        ]
                    )
            out.append(Workbook(f"{ry.fiscal_year}_{opd.short.lower()}.xlsx", rows))
    return out


def _csv_export(
    ry: RegionYear, opd: Any, reports: Sequence[Any], sa_names: dict[str, str]
) -> Workbook:
    """Flavour D: the OPD's e-Monev export of the year as CSV (percentages as `45,5`)."""
    rows: list[list[Any]] = [list(MONEV_LAYOUT["D"]["columns"])]
    for rep in reports:
        rows.append(
            [
                str(ry.fiscal_year),
                code_as(opd.code, "D"),
                opd.name,
                code_as(rep.sa_code, "D"),
                sa_names.get(rep.sa_code, ""),
                str(rep.quarter),
                percent_text(rep.physical),
                percent_text(rep.financial),
                rep.problems or "",
            ]
        )
    return Workbook(f"{ry.fiscal_year}_{opd.short.lower()}.csv", rows)
