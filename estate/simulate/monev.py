"""The OPD's Form A workbooks (e-Monev): reading and replacing them atomically, the latest
report per sub kegiatan, and the monev change (progress raised, or the next quarter filed)."""

from __future__ import annotations

import asyncio
import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook as XlsxWorkbook
from openpyxl import load_workbook

from adapters.codes import normalise_sub_activity_code
from adapters.parsing import parse_percent
from estate import names
from estate.legacy.formats import code_as, percent_text
from estate.legacy.monev import MONEV_LAYOUT
from estate.simulate.change import SimChange
from estate.simulate.formats import HUNDRED, percent
from estate.simulate.sources import ManifestRegion
from estate.writers import write_csv

if TYPE_CHECKING:
    from estate.simulate.simulator import Simulator

# Latest progress at or above which a quarter is on schedule (clean data: Q3 ≥ 50, Q4 ≥ 85);
# below it the rule PROGRESS_BEHIND_SCHEDULE is (or may be) seeded there: leave it alone.
ON_SCHEDULE = {1: Decimal(0), 2: Decimal(20), 3: Decimal(50), 4: Decimal(85)}
PERIOD = re.compile(r"(\d{4})-Q([1-4])")


@dataclass
class Report:
    quarter: int
    physical: Decimal
    financial: Decimal


@dataclass
class Sheet:
    """A Form A workbook as rows of values (row 1 first, trailing empty cells dropped)."""

    path: Path
    name: str  # sheet title
    rows: list[list[Any]]


def _read_sheet(path: Path) -> Sheet:
    if path.suffix == ".csv":  # flavour D's export: `;`-separated, every value text
        with path.open(encoding="utf-8-sig", newline="") as handle:
            lines = [list(row) for row in csv.reader(handle, delimiter=";")]
        return Sheet(path, path.stem, lines)
    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb["Form A"] if "Form A" in wb.sheetnames else wb.worksheets[0]
        ws.reset_dimensions()
        rows: list[list[Any]] = []
        for values in ws.iter_rows(values_only=True):
            row = list(values)
            while row and row[-1] is None:
                row.pop()
            rows.append(row)
        return Sheet(path, ws.title, rows)
    finally:
        wb.close()


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _write_sheet(sheet: Sheet) -> tuple[int, int]:
    """Write the workbook (or CSV export) as the generator does, to a temporary file in the
    same folder (not matching `*.xlsx` or `*.csv`, so no reader picks it up), then put it in
    place with os.replace."""
    temporary = sheet.path.with_name(f".{sheet.path.name}.{os.getpid()}.tmp")
    try:
        if sheet.path.suffix == ".csv":
            write_csv(temporary, sheet.rows)
        else:
            wb = XlsxWorkbook(write_only=True)
            ws = wb.create_sheet(sheet.name)
            for row in sheet.rows:
                ws.append(row)
            wb.save(temporary)
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temporary, sheet.path)
    finally:
        temporary.unlink(missing_ok=True)
    return _signature(sheet.path)


@dataclass(frozen=True)
class Layout:
    header_row: int  # 1-based
    year_cell: tuple[int, int] | None  # 0-based (row, column); None: a year column (D)
    numbered: bool  # a "No" column first
    code: int
    name: int
    period: int
    physical: int
    financial: int
    problems: int
    year_column: int | None = None  # D: the year on every line
    quarter_only: bool = False  # D: the period written as the quarter, 1–4

    @classmethod
    def of(cls, flavour: str) -> Layout:
        layout = MONEV_LAYOUT[flavour]
        if flavour == "D":
            return cls(1, None, False, 3, 4, 5, 6, 7, 8, year_column=0, quarter_only=True)
        cell = str(layout["year_cell"])
        column = ord(cell[0].upper()) - ord("A")
        year_cell = (int(cell[1:]) - 1, column)
        if flavour == "C":
            return cls(int(layout["header_row"]), year_cell, False, 0, 1, 2, 3, 4, 5)
        return cls(int(layout["header_row"]), year_cell, True, 1, 2, 3, 4, 5, 6)

    def data_rows(self, sheet: Sheet) -> range:
        """Indexes (0-based) of the report rows: after the header, until the first empty row."""
        start = self.header_row
        end = start
        while end < len(sheet.rows) and sheet.rows[end]:
            end += 1
        return range(start, end)


def _cell(row: Sequence[Any], index: int) -> Any:
    return row[index] if index < len(row) else None


class Workbooks:
    """The running year's Form A workbooks: their rows, read again only when a file changed,
    and the latest report per sub kegiatan of each region."""

    def __init__(self, fiscal_year: int) -> None:
        self.fiscal_year = fiscal_year
        self._progress: dict[str, dict[str, Report]] = {}  # region → canonical sa → latest
        self._sheets: dict[Path, tuple[tuple[int, int], Sheet]] = {}  # by (mtime, size)

    def remember(self, region: ManifestRegion, sa: str, report: Report) -> None:
        """A report just written becomes the latest of its sub kegiatan (once cached)."""
        cached = self._progress.get(region.code)
        if cached is not None:
            cached[sa] = report

    def paths(self, region: ManifestRegion) -> list[Path]:
        if region.monev is None or region.monev.path is None:
            return []
        extension = "csv" if region.monev.kind == "csv" else "xlsx"
        return sorted(region.monev.path.glob(f"{self.fiscal_year}_*.{extension}"))

    def reports(self, sheet: Sheet, layout: Layout) -> dict[str, tuple[int, Report]]:
        """Canonical sa code → (row index, its latest report) of a workbook of the year."""
        if layout.year_cell is not None:
            year_row, year_column = layout.year_cell
            year = _cell(sheet.rows[year_row], year_column) if year_row < len(sheet.rows) else None
            if year is None or str(year).strip() != str(self.fiscal_year):
                return {}
        latest: dict[str, tuple[int, Report]] = {}
        for index in layout.data_rows(sheet):
            row = sheet.rows[index]
            written = str(_cell(row, layout.period) or "").strip()
            if layout.year_column is not None:
                written = f"{str(_cell(row, layout.year_column) or '').strip()}-Q{written}"
            period = PERIOD.fullmatch(written)
            code = _cell(row, layout.code)
            if period is None or code is None or int(period.group(1)) != self.fiscal_year:
                continue
            physical = parse_percent(_cell(row, layout.physical))
            financial = parse_percent(_cell(row, layout.financial))
            if physical is None:
                continue
            report = Report(int(period.group(2)), physical, financial or Decimal(0))
            sa = normalise_sub_activity_code(str(code))
            if sa not in latest or report.quarter >= latest[sa][1].quarter:
                latest[sa] = (index, report)
        return latest

    async def sheet(self, path: Path) -> Sheet:
        """A workbook's rows (a copy to change), read again only when the file changed."""
        signature = await asyncio.to_thread(_signature, path)
        cached = self._sheets.get(path)
        if cached is None or cached[0] != signature:
            cached = (signature, await asyncio.to_thread(_read_sheet, path))
            self._sheets[path] = cached
        sheet = cached[1]
        return Sheet(sheet.path, sheet.name, [list(row) for row in sheet.rows])

    async def save(self, sheet: Sheet) -> None:
        signature = await asyncio.to_thread(_write_sheet, sheet)
        self._sheets[sheet.path] = (signature, sheet)

    async def progress_of(self, region: ManifestRegion) -> dict[str, Report]:
        """Latest monev report per sub-activity of the running year (cached per region)."""
        if region.code not in self._progress:
            layout = Layout.of(region.flavour)
            progress: dict[str, Report] = {}
            for path in self.paths(region):
                sheet = await self.sheet(path)
                for sa, (_, report) in self.reports(sheet, layout).items():
                    if sa not in progress or report.quarter >= progress[sa].quarter:
                        progress[sa] = report
            self._progress[region.code] = progress
        return self._progress[region.code]


async def monev(sim: Simulator, region: ManifestRegion, today: date) -> SimChange | None:
    if region.monev is None:
        return None
    rng, f = sim.rng, region.flavour
    layout = Layout.of(f)
    quarter_now = (today.month - 1) // 3 + 1
    paths = sim.workbooks.paths(region)
    for path in rng.sample(paths, len(paths)):
        sheet = await sim.workbooks.sheet(path)
        latest = sim.workbooks.reports(sheet, layout)
        candidates = sorted(
            sa
            for sa, (_, r) in latest.items()
            if r.physical < HUNDRED and r.physical >= ON_SCHEDULE[r.quarter]
        )
        if not candidates:
            continue
        sa = rng.choice(candidates)
        index, old = latest[sa]
        step = Decimal(rng.randint(5, 60)) / 10
        physical = min(HUNDRED, old.physical + step).quantize(Decimal("0.1"))
        gain = Decimal(rng.randint(0, int(step * 10))) / 10
        financial = max(old.financial, min(physical, old.financial + gain))
        financial = financial.quantize(Decimal("0.1"))
        row = list(sheet.rows[index])
        quarter = old.quarter
        next_quarter = quarter + 1
        if (
            next_quarter <= 4
            and next_quarter <= quarter_now
            and physical >= ON_SCHEDULE[next_quarter]
        ):
            quarter = next_quarter
            period = f"{sim.fiscal_year}-Q{quarter}"
            problem = rng.choice(names.PROBLEMS) if rng.random() < 0.1 else None
            new_row = monev_row(f, layout, row, period, physical, financial, problem)
            sheet.rows.insert(index + 1, new_row)
            if layout.numbered:
                for n, i in enumerate(layout.data_rows(sheet), start=1):
                    sheet.rows[i][0] = n if f == "A" else str(n)
            what = (
                f"laporan {period} baru: fisik {percent(physical)}%, keuangan {percent(financial)}%"
            )
        else:
            period = f"{sim.fiscal_year}-Q{quarter}"
            problem = _cell(row, layout.problems)
            sheet.rows[index] = monev_row(f, layout, row, period, physical, financial, problem)
            what = (
                f"{period} fisik {percent(old.physical)}% → {percent(physical)}%, "
                f"keuangan {percent(old.financial)}% → {percent(financial)}%"
            )
        await sim.workbooks.save(sheet)
        written = datetime.now(UTC)
        sim.workbooks.remember(region, sa, Report(quarter, physical, financial))
        opd = path.stem.split("_", 1)[-1].upper()
        return SimChange(
            source=region.monev.id,
            entity="progress_report",
            kind="monev",
            key=f"{region.code}/{sim.fiscal_year}/{sa}/{period}",
            written_at=written,
            summary=f"e-Monev {opd} {code_as(sa, f)}: {what}",
        )
    return None


def monev_row(
    flavour: str,
    layout: Layout,
    template: list[Any],
    period: str,
    physical: Decimal,
    financial: Decimal,
    problem: Any,
) -> list[Any]:
    width = layout.problems + 1
    row = (list(template) + [None] * width)[:width]
    row[layout.period] = period.rsplit("Q", 1)[-1] if layout.quarter_only else period
    if flavour in ("B", "D"):
        row[layout.physical] = percent_text(physical)
        row[layout.financial] = percent_text(financial)
    else:
        row[layout.physical] = float(physical)
        row[layout.financial] = float(financial)
    row[layout.problems] = problem
    while row and row[-1] is None:
        row.pop()
    return row
