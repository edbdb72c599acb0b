"""A streaming XLSX writer: one sheet, inline strings, typed cells, written row by row into
a ZIP that leaves as it is made (the archive's data descriptors need no seeking back), so a
download of 100,000 rows never holds more than a page of them.

openpyxl (the source adapters' reader) would build the sheet in memory or in a temporary
file before the first byte could leave, and the API process does not load it (decision
29). The format is small enough to write: SpreadsheetML (ECMA-376) with the styles the
cells need.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from enum import IntEnum
from typing import IO, Any
from xml.sax.saxutils import escape

EPOCH = datetime(1899, 12, 30)  # Excel's day 0 (with its 1900 leap-year quirk absorbed)


class Style(IntEnum):
    """Indexes into styles.xml's cellXfs, in that order."""

    TEXT = 0
    MONEY = 1  # Rupiah, Indonesian grouping: Rp 1.250.000.000,00 in an Indonesian Excel
    DATE = 2
    DATETIME = 3
    HEADER = 4
    DECIMAL = 5
    INTEGER = 6
    TITLE = 7


STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="4">
<numFmt numFmtId="164" formatCode="[$Rp-421]\\ #,##0.00"/>
<numFmt numFmtId="165" formatCode="dd/mm/yyyy"/>
<numFmt numFmtId="166" formatCode="dd/mm/yyyy\\ hh:mm"/>
<numFmt numFmtId="167" formatCode="#,##0.00"/>
</numFmts>
<fonts count="3"><font><sz val="11"/><name val="Calibri"/></font>
<font><b/><sz val="11"/><name val="Calibri"/></font>
<font><b/><sz val="14"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill>
<fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="8">
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>
<xf numFmtId="167" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>
</cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""

OPC = "http://schemas.openxmlformats.org/package/2006"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

CONTENT_TYPES = (
    f'{XML}<Types xmlns="{OPC}/content-types">'
    f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{SML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{SML}.worksheet+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{SML}.styles+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    f'{XML}<Relationships xmlns="{OPC}/relationships">'
    f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK_RELS = (
    f'{XML}<Relationships xmlns="{OPC}/relationships">'
    f'<Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{RELS}/styles" Target="styles.xml"/>'
    "</Relationships>"
)


def _workbook(sheet: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{escape(sheet[:31], {chr(34): "&quot;"})}" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>"
    )


def column_name(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def serial(value: date | datetime) -> str:
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None)
    delta = moment - EPOCH
    return repr(delta.days + delta.seconds / 86400 + delta.microseconds / 86_400_000_000)


def cell(ref: str, value: Any, style: Style) -> str:
    if value is None or value == "":
        return ""
    if style in (Style.DATE, Style.DATETIME) and isinstance(value, date | datetime):
        return f'<c r="{ref}" s="{int(style)}"><v>{serial(value)}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | Decimal | float):
        return f'<c r="{ref}" s="{int(style)}"><v>{value}</v></c>'
    text = escape(str(value))
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}" s="{int(style)}" t="inlineStr"><is><t{space}>{text}</t></is></c>'


class _Drain:
    """The ZIP's output: what was written since the last `take`."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


class SheetWriter:
    """Feed rows, take bytes: `start()`, then `rows(...)` any number of times, then
    `finish()`; each returns the bytes of the file made so far."""

    def __init__(self, sheet: str, widths: list[int]) -> None:
        self._drain = _Drain()
        self._zip = zipfile.ZipFile(self._drain, "w", zipfile.ZIP_DEFLATED)
        self._sheet: IO[bytes] | None = None
        self._name = sheet
        self._widths = widths
        self._row = 0

    def start(self) -> bytes:
        for name, text in (
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", ROOT_RELS),
            ("xl/workbook.xml", _workbook(self._name)),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
            ("xl/styles.xml", STYLES),
        ):
            self._zip.writestr(name, text)
        self._sheet = self._zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
            for i, w in enumerate(self._widths, 1)
        )
        self._sheet.write(
            (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                f"<cols>{cols}</cols><sheetData>"
            ).encode()
        )
        return self._drain.take()

    def rows(self, rows: Iterable[list[tuple[Any, Style]]]) -> bytes:
        assert self._sheet is not None, "start() first"
        parts: list[str] = []
        for row in rows:
            self._row += 1
            cells = "".join(
                cell(f"{column_name(i)}{self._row}", value, style)
                for i, (value, style) in enumerate(row)
            )
            parts.append(f'<row r="{self._row}">{cells}</row>')
        self._sheet.write("".join(parts).encode())
        return self._drain.take()

    def finish(self) -> bytes:
        assert self._sheet is not None, "start() first"
        self._sheet.write(b"</sheetData></worksheet>")
        self._sheet.close()
        self._zip.close()
        return self._drain.take()


def chunks(writer: SheetWriter, pages: Iterator[list[list[tuple[Any, Style]]]]) -> Iterator[bytes]:
    """The whole file for pages of rows (for callers without their own loop)."""
    yield writer.start()
    for page in pages:
        yield writer.rows(page)
    yield writer.finish()
