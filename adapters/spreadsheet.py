"""Spreadsheet sources: XLSX workbooks (openpyxl, read-only) and CSV files.

`path` is a file or a glob; every matching file is read in turn (sorted by path), the same
sheet in each. A file's rows are those below `header_row` down to the first fully empty row,
as dicts keyed by the header cells. Every row also carries the file's header cells asked for
in `cells` (`"@B2"`) and the file name (`"@file"`), so a Form A's OPD code or year stays with
its rows.

Spreadsheets have no server to order rows. With a watermark, each file's rows are filtered
(`value > since`) and sorted in memory, one file at a time: memory is then bounded by the
largest file rather than by `batch_size`, and the order holds within a file, not across
files. CSV values are text, so a CSV watermark compares as text (ISO dates sort correctly,
`17-08-2025` does not).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import glob
import io
import zipfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from xml.etree.ElementTree import fromstring

from openpyxl import load_workbook
from openpyxl.packaging.manifest import Manifest
from openpyxl.packaging.relationship import get_dependents, get_rels_path
from openpyxl.packaging.workbook import WorkbookPackage
from openpyxl.reader.excel import _find_workbook_part
from openpyxl.reader.strings import read_string_table
from openpyxl.styles.numbers import (
    builtin_format_code,
    is_date_format,
    is_timedelta_format,
)
from openpyxl.utils.cell import (
    column_index_from_string,
    coordinate_from_string,
    coordinate_to_tuple,
)
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH
from openpyxl.utils.exceptions import (
    CellCoordinatesException,
    InvalidFileException,
)
from openpyxl.worksheet._reader import WorkSheetParser
from openpyxl.xml.constants import (
    ARC_CONTENT_TYPES,
    ARC_STYLE,
    SHARED_STRINGS,
    SHEET_MAIN_NS,
)

from adapters.base import (
    Adapter,
    AdapterError,
    Batch,
    EntityQuery,
    MissingColumns,
    MissingTable,
    Row,
    SourceConfig,
)

T = TypeVar("T")

_DELIMITERS = ",;\t"
_SNIFF_LINES = 50
# What a broken or unexpected file raises while being opened or read.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,  # UnicodeDecodeError included
    KeyError,
    zipfile.BadZipFile,
    InvalidFileException,
    csv.Error,
)


class _SheetNotFound(Exception):
    def __init__(self, sheet: str, available: list[str]) -> None:
        super().__init__(sheet)
        self.sheet = sheet
        self.available = available


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a year typed as a number: 2025.0 → "2025"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def _headers(raw: Sequence[Any]) -> list[str]:
    values = list(raw)
    while values and _blank(values[-1]):
        values.pop()
    names: list[str] = []
    seen: set[str] = set()
    for number, value in enumerate(values, start=1):
        name = _header_text(value)
        if not name or name in seen:
            name = f"col_{number}"
        while name in seen:
            name += "_"
        seen.add(name)
        names.append(name)
    return names


def _cell_position(coordinate: str) -> tuple[int, int]:
    """(row, column), both 1-based, of a cell such as "B3"."""
    letters, row = coordinate_from_string(coordinate.strip().upper())
    return row, column_index_from_string(letters)


class _Table(ABC):
    """One sheet of one file, read synchronously (called from worker threads)."""

    @abstractmethod
    def row(self, number: int) -> tuple[Any, ...]: ...

    @abstractmethod
    def rows_from(self, number: int, width: int) -> Iterator[tuple[Any, ...]]:
        """Rows from `number` on, each exactly `width` values, to the end of the sheet."""

    @abstractmethod
    def cell(self, row: int, column: int) -> Any: ...

    @abstractmethod
    def close(self) -> None: ...


class _XlsxTable(_Table):
    def __init__(self, path: Path, sheet: str | None) -> None:
        self.workbook: Any = load_workbook(path, read_only=True, data_only=True)
        self._open: list[Iterator[Any]] = []
        try:
            self.sheet: Any = self._pick(sheet)
        except BaseException:
            self.workbook.close()
            raise
        # Writers other than Excel often record a wrong sheet size; read what is there.
        self.sheet.reset_dimensions()

    def _pick(self, sheet: str | None) -> Any:
        worksheets = self.workbook.worksheets
        names = [ws.title for ws in worksheets]
        if sheet is None:
            if not worksheets:
                raise _SheetNotFound("(first sheet)", names)
            return worksheets[0]
        if sheet in names:
            return worksheets[names.index(sheet)]
        # Tolerate "Form A " vs "form a": common in hand-made workbooks, if unambiguous.
        loose = [ws for ws in worksheets if ws.title.strip().casefold() == sheet.strip().casefold()]
        if len(loose) == 1:
            return loose[0]
        raise _SheetNotFound(sheet, names)

    def row(self, number: int) -> tuple[Any, ...]:
        rows = self.sheet.iter_rows(min_row=number, max_row=number, values_only=True)
        try:
            return tuple(next(rows, ()))
        finally:
            rows.close()

    def rows_from(self, number: int, width: int) -> Iterator[tuple[Any, ...]]:
        rows = self.sheet.iter_rows(min_row=number, max_col=width, values_only=True)
        self._open.append(rows)
        return (tuple(values) for values in rows)

    def cell(self, row: int, column: int) -> Any:
        return self.sheet.cell(row=row, column=column).value

    def close(self) -> None:
        # A half-read row generator keeps its zip member open until closed.
        for rows in self._open:
            getattr(rows, "close", lambda: None)()
        self.workbook.close()


_INLINE = f"{{{SHEET_MAIN_NS}}}is"
_TEXT = f"{{{SHEET_MAIN_NS}}}t"


class _SheetParser(WorkSheetParser):  # type: ignore[misc]
    """openpyxl's sheet parser, with a plain inline string (`<is><t>…</t></is>`, what
    most writers emit) read directly instead of through its rich-text objects: the same
    value, `Text.content`, at a fraction of the cost."""

    def parse_cell(self, element: Any) -> dict[str, Any]:
        child = element.find(_INLINE) if element.get("t") == "inlineStr" else None
        if child is None or len(child) != 1 or child[0].tag != _TEXT or len(child[0]):
            return super().parse_cell(element)  # type: ignore[no-any-return]
        style_id = element.get("s", 0)
        if style_id:
            style_id = int(style_id)
        coordinate = element.get("r")
        if coordinate:
            row, column = coordinate_to_tuple(coordinate)
            self.col_counter = column
        else:
            self.col_counter += 1
            row, column = self.row_counter, self.col_counter
        value = child[0].text or ""
        return {
            "row": row,
            "column": column,
            "value": value,
            "data_type": "s",
            "style_id": style_id,
        }


def _date_styles(archive: zipfile.ZipFile) -> tuple[set[int], set[int]]:
    """Indexes of the cell styles that format dates and durations, as openpyxl's
    stylesheet computes them (Stylesheet._normalise_numbers)."""
    try:
        root = fromstring(archive.read(ARC_STYLE))
    except KeyError:
        return set(), set()
    ns = f"{{{SHEET_MAIN_NS}}}"
    custom = {
        int(f.get("numFmtId", "0")): f.get("formatCode")
        for f in root.iterfind(f"{ns}numFmts/{ns}numFmt")
    }
    dates, durations = set(), set()
    for index, xf in enumerate(root.iterfind(f"{ns}cellXfs/{ns}xf")):
        number = int(xf.get("numFmtId", "0"))
        fmt = custom[number] if number in custom else builtin_format_code(number)
        if is_date_format(fmt):
            dates.add(index)
        if is_timedelta_format(fmt):
            durations.add(index)
    return dates, durations


class _ParsedXlsxTable(_Table):
    """A worksheet parsed once, with openpyxl's own parts (its sheet parser, shared strings
    and date styles) but no workbook: building one (styles, theme, properties) cost more
    than reading the rows of a Form A. Rows, cells and blanks come out as _XlsxTable's do
    (ReadOnlyWorksheet._cells_by_row after reset_dimensions); anything unusual raises, and
    the caller then opens the file with openpyxl instead."""

    def __init__(self, path: Path, sheet: str | None) -> None:
        if path.suffix.lower() != ".xlsx":
            raise ValueError("not an .xlsx file")
        with zipfile.ZipFile(path) as archive:
            manifest = Manifest.from_tree(fromstring(archive.read(ARC_CONTENT_TYPES)))
            part = _find_workbook_part(manifest).PartName[1:]
            package = WorkbookPackage.from_tree(fromstring(archive.read(part)))
            rels = get_dependents(archive, get_rels_path(part))
            files = set(archive.namelist())
            sheets: list[tuple[str, str]] = []
            for entry in package.sheets:
                if not entry.id:
                    continue
                rel = rels.get(entry.id)
                if rel.target in files and "chartsheet" not in rel.Type:
                    sheets.append((entry.name, rel.target))
            target = self._pick(sheets, sheet)
            epoch = WINDOWS_EPOCH
            if package.workbookPr is not None and package.workbookPr.date1904:
                epoch = MAC_EPOCH
            strings: list[str] = []
            found = manifest.find(SHARED_STRINGS)
            if found is not None:
                with archive.open(found.PartName[1:]) as src:
                    strings = read_string_table(src)
            dates, durations = _date_styles(archive)
            with archive.open(target) as src:
                parser = _SheetParser(
                    src,
                    strings,
                    data_only=True,
                    epoch=epoch,
                    date_formats=dates,
                    timedelta_formats=durations,
                )
                self.parsed: list[tuple[int, list[dict[str, Any]]]] = list(parser.parse())

    @staticmethod
    def _pick(sheets: list[tuple[str, str]], sheet: str | None) -> str:
        names = [name for name, _ in sheets]
        if sheet is None:
            if not sheets:
                raise _SheetNotFound("(first sheet)", names)
            return sheets[0][1]
        if sheet in names:
            return sheets[names.index(sheet)][1]
        loose = [t for n, t in sheets if n.strip().casefold() == sheet.strip().casefold()]
        if len(loose) == 1:
            return loose[0]
        raise _SheetNotFound(sheet, names)

    def _rows(
        self, min_col: int, min_row: int, max_col: int | None, max_row: int | None
    ) -> Iterator[tuple[Any, ...]]:
        """ReadOnlyWorksheet._cells_by_row(values_only=True) over the parsed rows."""
        empty: tuple[Any, ...] = () if max_col is None else (None,) * (max_col + 1 - min_col)
        counter, idx = min_row, 1
        for idx, cells in self.parsed:
            if max_row is not None and idx > max_row:
                break
            for _ in range(counter, idx):
                counter += 1
                yield empty
            if counter <= idx:
                counter += 1
                if not cells and not max_col:
                    yield ()
                    continue
                last = max_col or cells[-1]["column"]
                values: list[Any] = [None] * (last + 1 - min_col)
                for cell in cells:
                    if min_col <= cell["column"] <= last:
                        values[cell["column"] - min_col] = cell["value"]
                yield tuple(values)
        if max_row is not None and max_row < idx:
            for _ in range(counter, max_row + 1):
                yield empty

    def row(self, number: int) -> tuple[Any, ...]:
        return next(self._rows(1, number, None, number), ())

    def rows_from(self, number: int, width: int) -> Iterator[tuple[Any, ...]]:
        return self._rows(1, number, width, None)

    def cell(self, row: int, column: int) -> Any:
        for values in self._rows(column, row, column, row):
            if values:
                return values[0]
        return None

    def close(self) -> None:
        self.parsed = []


class _CsvTable(_Table):
    def __init__(self, path: Path, header_row: int) -> None:
        self.path = path
        self.files: list[io.TextIOWrapper] = []
        with self._open() as file:
            lines = list(islice(file, header_row - 1, header_row - 1 + _SNIFF_LINES))
        self.delimiter = _sniff(lines)

    def _open(self) -> io.TextIOWrapper:
        # utf-8-sig drops the BOM Excel writes in front of "CSV UTF-8" files.
        return open(self.path, encoding="utf-8-sig", newline="")

    def _records(self, file: io.TextIOWrapper) -> Iterator[list[str]]:
        return csv.reader(file, delimiter=self.delimiter)

    def row(self, number: int) -> tuple[Any, ...]:
        with self._open() as file:
            for values in islice(self._records(file), number - 1, number):
                return tuple(v if v != "" else None for v in values)
        return ()

    def rows_from(self, number: int, width: int) -> Iterator[tuple[Any, ...]]:
        file = self._open()
        self.files.append(file)
        for values in islice(self._records(file), number - 1, None):
            padded = [*values[:width], *[""] * (width - len(values))]
            yield tuple(v if v != "" else None for v in padded)

    def cell(self, row: int, column: int) -> Any:
        values = self.row(row)
        return values[column - 1] if column <= len(values) else None

    def close(self) -> None:
        for file in self.files:
            file.close()


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _sniff(lines: list[str]) -> str:
    """The delimiter among `,;\\t`, judged on the header line and the lines below it.

    The header line decides first: column titles rarely contain a delimiter, while data
    often does (`1.250.000,00` in a `;` file), which can mislead csv.Sniffer.
    """
    if not lines:
        return ","
    counts = {d: _count_outside_quotes(lines[0], d) for d in _DELIMITERS}
    best = max(counts.values())
    if best == 0:
        return ","
    candidates = [d for d in _DELIMITERS if counts[d] == best]
    if len(candidates) == 1:
        return candidates[0]
    try:
        return csv.Sniffer().sniff("".join(lines), delimiters="".join(candidates)).delimiter
    except csv.Error:
        return candidates[0]


def _sheet_names(path: Path) -> list[str]:
    workbook = load_workbook(path, read_only=True)
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _until_empty(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for values in rows:
        if all(_blank(v) for v in values):
            return
        yield values


class SpreadsheetAdapter(Adapter):
    """XLSX workbooks or CSV files matching a path or glob, read file by file."""

    kinds = ("xlsx", "csv")

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.files: list[Path] = []  # found by `open`

    def _match(self) -> list[Path]:
        pattern = self.config.path
        if not pattern:
            raise AdapterError(f"source {self.config.id}: no path given for a spreadsheet source")
        base = Path(self.config.base_dir)
        # root_dir keeps glob characters in base_dir literal; absolute patterns ignore it.
        found = glob.glob(pattern, root_dir=base, recursive=True)
        return sorted(
            (path for path in (base / name for name in found) if path.is_file()),
            key=str,
        )

    async def open(self) -> None:
        """Find the files; AdapterError if the path or glob matches none."""
        files = await asyncio.to_thread(self._match)
        if not files:
            raise AdapterError(
                f"source {self.config.id}: no file matches {self.config.path!r} "
                f"(relative to {self.config.base_dir})"
            )
        self.files = files

    async def close(self) -> None:
        self.files = []

    def _require(self) -> list[Path]:
        if not self.files:
            raise AdapterError(f"source {self.config.id}: the adapter is not open")
        return self.files

    async def _run(self, path: Path, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except _SheetNotFound as exc:
            available = ", ".join(repr(name) for name in exc.available) or "none"
            raise MissingTable(
                f"source {self.config.id}: {path.name} has no sheet {exc.sheet!r} "
                f"(sheets: {available})"
            ) from None
        except AdapterError:
            raise
        except _READ_ERRORS as exc:
            raise AdapterError(
                f"source {self.config.id}: cannot read {path.name}: {type(exc).__name__}: {exc}"
            ) from exc

    def _table(self, path: Path, query: EntityQuery) -> _Table:
        if self.config.kind == "csv":
            return _CsvTable(path, query.header_row)
        try:
            return _ParsedXlsxTable(path, query.sheet)
        except Exception:
            # Whatever the short way does not know (or a broken file): openpyxl itself,
            # which reads what it can and says what it cannot.
            return _XlsxTable(path, query.sheet)

    async def _headers(self, path: Path, table: _Table, query: EntityQuery) -> list[str]:
        headers = _headers(await self._run(path, lambda: table.row(query.header_row)))
        if not headers:
            where = f" sheet {query.sheet!r}" if query.sheet else ""
            raise AdapterError(
                f"source {self.config.id}: {path.name}{where}: "
                f"header row {query.header_row} is empty"
            )
        return headers

    async def top_rows(self, sheet: str | None, count: int) -> tuple[list[str], list[Any]]:
        """The first file's sheets (one, its name, for a CSV) and the first `count` rows of
        `sheet` (the first sheet), as written: what a scaffold reads the layout from."""
        path = self._require()[0]
        if self.config.kind == "csv":
            sheets = [path.stem]
        else:
            sheets = await self._run(path, lambda: _sheet_names(path))
        table = await self._run(path, partial(self._table, path, EntityQuery(sheet=sheet)))
        try:
            rows = [await self._run(path, partial(table.row, n)) for n in range(1, count + 1)]
        finally:
            await asyncio.to_thread(table.close)
        return sheets, rows

    async def columns(self, query: EntityQuery) -> list[str]:
        """The header cells of the first file; MissingTable if it has no such sheet."""
        path = self._require()[0]
        table = await self._run(path, partial(self._table, path, query))
        try:
            return await self._headers(path, table, query)
        finally:
            await asyncio.to_thread(table.close)

    async def stream(
        self, query: EntityQuery, *, since: Any = None, resume: Any = None, files: Any = None
    ) -> AsyncIterator[Batch]:
        """Each file's rows (of those named in `files`, if given) in batches of at most
        `batch_size` (origin: the file name). With a watermark, a file's rows with a value
        > `since` are sorted by it in memory."""
        size = max(1, self.config.batch_size)
        for path in self._require():
            if files is not None and path.name not in files:
                continue
            table = await self._run(path, partial(self._table, path, query))
            try:
                async for rows in self._file_rows(path, table, query, since, size):
                    yield Batch(rows=rows, origin=path.name)
            finally:
                await asyncio.to_thread(table.close)

    async def _file_rows(
        self, path: Path, table: _Table, query: EntityQuery, since: Any, size: int
    ) -> AsyncIterator[list[Row]]:
        headers = await self._headers(path, table, query)
        wanted = [*query.columns, *([query.watermark] if query.watermark else [])]
        missing = sorted({c for c in wanted if c not in headers})
        if missing:
            raise MissingColumns(
                f"source {self.config.id}: {path.name}: header row {query.header_row} has no "
                "column(s) " + ", ".join(repr(c) for c in missing),
                missing,
            )
        extra: Row = {"@file": path.name}
        for coordinate in query.cells:
            try:
                row, column = _cell_position(coordinate)
            except (ValueError, CellCoordinatesException) as exc:
                raise AdapterError(
                    f"source {self.config.id}: {coordinate!r} is not a cell ({exc})"
                ) from None
            extra[f"@{coordinate}"] = await self._run(path, partial(table.cell, row, column))

        values = _until_empty(table.rows_from(query.header_row + 1, len(headers)))

        def make(chunk: list[tuple[Any, ...]]) -> list[Row]:
            return [{**dict(zip(headers, v, strict=True)), **extra} for v in chunk]

        if query.watermark is None:
            while chunk := await self._run(path, lambda: list(islice(values, size))):
                yield make(chunk)
            return

        rows = make(await self._run(path, lambda: list(values)))
        ordered = self._ordered(path, rows, query.watermark, since)
        for start in range(0, len(ordered), size):
            yield ordered[start : start + size]

    def _ordered(self, path: Path, rows: list[Row], watermark: str, since: Any) -> list[Row]:
        try:
            if since is not None:
                rows = [r for r in rows if r[watermark] is not None and r[watermark] > since]
            return sorted(rows, key=lambda r: (r[watermark] is not None, r[watermark]))
        except TypeError as exc:
            raise AdapterError(
                f"source {self.config.id}: {path.name}: watermark column {watermark!r} "
                f"holds values that cannot be compared ({exc})"
            ) from None
