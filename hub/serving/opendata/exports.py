"""Downloads of the dashboard's lists: `GET /export/{view}.xlsx` or `.csv`.

Each view mirrors one GraphQL field and takes its filters as query parameters with the
field's own names (`fiscalYear`, `regionCode`, `opdCode`, …); its rows are that field's
answer for the viewer, page by page through the one request path, so scope and masks are
GraphQL's. The XLSX opens with a block naming the view, the filter and the time of the
export, then Indonesian headers; money is a number in Rupiah format, dates are dates. Pages
are written as they arrive: a large export streams.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hub.reference.clock import PROVINCE_ZONE
from hub.serving.opendata.xlsx import SheetWriter, Style

PAGE = 500

SUMMARY = (
    "subActivities plannedAmount allocated procurementCeiling contracted paid physicalPercent "
    "openDiscrepancies"
)


@dataclass(frozen=True)
class Column:
    header: str  # Indonesian
    path: str  # dotted path in a node
    style: Style = Style.TEXT
    width: int = 16
    value: Callable[[Any], Any] | None = None  # the cell's value from the node's value


@dataclass(frozen=True)
class Param:
    name: str  # the query parameter: the GraphQL argument's name
    label: str  # Indonesian, for the header block
    kind: str = "string"  # string, int, bool, enum
    required: bool = False


@dataclass(frozen=True)
class View:
    name: str
    title: str  # Indonesian
    mirrors: str  # the GraphQL field, for the docs
    document: str
    root: str
    params: tuple[Param, ...]
    columns: tuple[Column, ...]
    variables: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda f: f)


def _summary_columns() -> tuple[Column, ...]:
    return (
        Column("Sub kegiatan", "summary.subActivities", Style.INTEGER, 12),
        Column("Rencana (pagu indikatif)", "summary.plannedAmount", Style.MONEY, 22),
        Column("DPA", "summary.allocated", Style.MONEY, 22),
        Column("RUP", "summary.procurementCeiling", Style.MONEY, 22),
        Column("Kontrak", "summary.contracted", Style.MONEY, 22),
        Column("Realisasi (SP2D)", "summary.paid", Style.MONEY, 22),
        Column("Fisik (%)", "summary.physicalPercent", Style.DECIMAL, 10),
        Column("Ketimpangan terbuka", "summary.openDiscrepancies", Style.INTEGER, 12),
    )


LEVELS = {"PROVINCE": "Provinsi", "REGENCY": "Kabupaten", "CITY": "Kota"}
STAGES = {
    "PLANNED": "Direncanakan",
    "BUDGETED": "Dianggarkan",
    "PROCURING": "Pengadaan",
    "CONTRACTED": "Berkontrak",
    "IMPLEMENTING": "Pelaksanaan",
    "COMPLETED": "Selesai",
}
SEVERITIES = {"INFO": "Informasi", "WARNING": "Peringatan", "CRITICAL": "Kritis"}
FISCAL_YEAR = Param("fiscalYear", "Tahun anggaran", "int", required=True)
REGION = Param("regionCode", "Kode wilayah")
OPD = Param("opdCode", "Kode OPD")


def _open_count(items: Any) -> int:
    return sum(1 for d in items or () if d.get("resolvedAt") is None)


def _filter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def variables(values: dict[str, Any]) -> dict[str, Any]:
        return {"filter": {k: v for k, v in values.items() if k in names}}

    return variables


VIEWS: dict[str, View] = {
    "pemda": View(
        "pemda",
        "Pemda",
        "Query.regions(level) with Region.summary(fiscalYear)",
        "query ExportPemda($fiscalYear: Int!, $level: RegionLevel) {"
        " regions(level: $level) { code name level"
        f" summary(fiscalYear: $fiscalYear) {{ {SUMMARY} }} }} }}",
        "regions",
        (FISCAL_YEAR, Param("level", "Tingkat", "enum")),
        (
            Column("Kode wilayah", "code", width=12),
            Column("Pemda", "name", width=30),
            Column("Tingkat", "level", width=12, value=lambda v: LEVELS.get(v, v)),
            *_summary_columns(),
        ),
    ),
    "opd": View(
        "opd",
        "OPD",
        "Region.opds of region(code: regionCode), with Opd.summary(fiscalYear)",
        "query ExportOpd($regionCode: String!, $fiscalYear: Int!, $first: Int, $after: String) {"
        " region(code: $regionCode) { opds(first: $first, after: $after) { totalCount"
        " pageInfo { hasNextPage endCursor } edges { node { code name"
        f" summary(fiscalYear: $fiscalYear) {{ {SUMMARY} }} }} }} }} }} }}",
        "region.opds",
        (FISCAL_YEAR, Param("regionCode", "Kode wilayah", required=True)),
        (
            Column("Kode OPD", "code", width=26),
            Column("OPD", "name", width=40),
            *_summary_columns(),
        ),
    ),
    "sub-kegiatan": View(
        "sub-kegiatan",
        "Sub kegiatan",
        "Query.subActivities(filter: SubActivityFilter)",
        "query ExportSubKegiatan($filter: SubActivityFilter!, $first: Int, $after: String) {"
        " subActivities(filter: $filter, first: $first, after: $after) { totalCount"
        " pageInfo { hasNextPage endCursor } edges { node { code name fiscalYear stage"
        " plannedAmount opd { code name region { code } } budget { allocated paid }"
        " discrepancies { resolvedAt } } } } }",
        "subActivities",
        (
            FISCAL_YEAR,
            REGION,
            OPD,
            Param("stage", "Tahap", "enum"),
            Param("search", "Cari"),
            Param("hasDiscrepancies", "Ada ketimpangan", "bool"),
        ),
        (
            Column("Kode sub kegiatan", "code", width=20),
            Column("Sub kegiatan", "name", width=44),
            Column("Kode wilayah", "opd.region.code", width=12),
            Column("Kode OPD", "opd.code", width=26),
            Column("OPD", "opd.name", width=36),
            Column("Tahun anggaran", "fiscalYear", Style.INTEGER, 10),
            Column("Tahap", "stage", width=14, value=lambda v: STAGES.get(v, v)),
            Column("Rencana (pagu indikatif)", "plannedAmount", Style.MONEY, 22),
            Column("DPA", "budget.allocated", Style.MONEY, 22),
            Column("Realisasi (SP2D)", "budget.paid", Style.MONEY, 22),
            Column("Ketimpangan terbuka", "discrepancies", Style.INTEGER, 12, _open_count),
        ),
        _filter(("fiscalYear", "regionCode", "opdCode", "stage", "search", "hasDiscrepancies")),
    ),
    "ketimpangan": View(
        "ketimpangan",
        "Ketimpangan",
        "Query.discrepancies(filter: DiscrepancyFilter)",
        "query ExportKetimpangan($filter: DiscrepancyFilter, $first: Int, $after: String) {"
        " discrepancies(filter: $filter, first: $first, after: $after) { totalCount"
        " pageInfo { hasNextPage endCursor } edges { node { rule indicatorCodes severity"
        " message fiscalYear detectedAt resolvedAt region { code name } opd { code name }"
        " subActivity { code name } } } } }",
        "discrepancies",
        (
            Param("fiscalYear", "Tahun anggaran", "int"),
            REGION,
            OPD,
            Param("rule", "Kode aturan"),
            Param("severity", "Tingkat keparahan", "enum"),
            Param("open", "Masih terbuka", "bool"),
        ),
        (
            Column("Kode aturan", "rule", width=30),
            Column(
                "Indikator red flag (OCP)",
                "indicatorCodes",
                width=14,
                value=lambda v: ", ".join(v or ()),
            ),
            Column("Tingkat", "severity", width=12, value=lambda v: SEVERITIES.get(v, v)),
            Column("Pesan", "message", width=70),
            Column("Tahun anggaran", "fiscalYear", Style.INTEGER, 10),
            Column("Kode wilayah", "region.code", width=12),
            Column("Pemda", "region.name", width=24),
            Column("Kode OPD", "opd.code", width=26),
            Column("OPD", "opd.name", width=36),
            Column("Kode sub kegiatan", "subActivity.code", width=20),
            Column("Sub kegiatan", "subActivity.name", width=40),
            Column("Terdeteksi", "detectedAt", Style.DATETIME, 18),
            Column("Selesai", "resolvedAt", Style.DATETIME, 18),
        ),
        _filter(("fiscalYear", "regionCode", "opdCode", "rule", "severity", "open")),
    ),
}


class BadFilter(ValueError):
    """A query parameter the view does not take, or a value of the wrong kind."""


def read_filter(view: View, params: dict[str, str]) -> dict[str, Any]:
    """The view's filter values from the query string, typed; BadFilter names the problem."""
    known = {p.name: p for p in view.params}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise BadFilter(f"{view.name} takes {', '.join(known)}; not {', '.join(unknown)}.")
    values: dict[str, Any] = {}
    for p in view.params:
        raw = params.get(p.name)
        if raw is None or raw == "":
            if p.required:
                raise BadFilter(f"{view.name} needs {p.name}.")
            continue
        if p.kind == "int":
            try:
                values[p.name] = int(raw)
            except ValueError:
                raise BadFilter(f"{p.name} must be a whole number, not {raw!r}.") from None
        elif p.kind == "bool":
            if raw not in ("true", "false"):
                raise BadFilter(f"{p.name} must be true or false, not {raw!r}.")
            values[p.name] = raw == "true"
        else:
            values[p.name] = raw
    return values


def describe(view: View, values: dict[str, Any]) -> str:
    labels = {p.name: p.label for p in view.params}
    shown = "; ".join(f"{labels[k]} {_shown(v)}" for k, v in values.items())
    return shown or "semua"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    return str(value)


def _at(node: Any, path: str) -> Any:
    for step in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(step)
    return node


def typed(column: Column, node: dict[str, Any]) -> Any:
    raw = _at(node, column.path)
    if column.value is not None:
        raw = column.value(raw)
    if raw is None:
        return None
    if column.style in (Style.MONEY, Style.DECIMAL):
        return Decimal(str(raw))
    if column.style is Style.DATETIME:
        moment = datetime.fromisoformat(str(raw))
        return moment.astimezone(PROVINCE_ZONE) if moment.tzinfo else moment
    if column.style is Style.DATE:
        return date.fromisoformat(str(raw))
    return raw


def header_block(view: View, values: dict[str, Any], now: datetime, viewer: str) -> list[list[Any]]:
    return [
        [(f"Rantai — {view.title}", Style.TITLE)],
        [("Saringan", Style.HEADER), (describe(view, values), Style.TEXT)],
        [
            ("Diunduh", Style.HEADER),
            (now.replace(tzinfo=None), Style.DATETIME),
            ("WITA", Style.TEXT),
        ],
        [("Penampil", Style.HEADER), (viewer, Style.TEXT)],
        [("Sumber", Style.HEADER), (f"GraphQL {view.mirrors}", Style.TEXT)],
        [],
        [(c.header, Style.HEADER) for c in view.columns],
    ]


async def xlsx_chunks(
    view: View,
    values: dict[str, Any],
    pages: AsyncIterator[list[dict[str, Any]]],
    now: datetime,
    viewer: str,
) -> AsyncIterator[bytes]:
    writer = SheetWriter(view.title, [c.width for c in view.columns])
    yield writer.start()
    yield writer.rows(header_block(view, values, now, viewer))
    async for nodes in pages:
        yield writer.rows([[(typed(c, n), c.style) for c in view.columns] for n in nodes])
    yield writer.finish()


async def csv_chunks(
    view: View, pages: AsyncIterator[list[dict[str, Any]]]
) -> AsyncIterator[bytes]:
    """RFC 4180 CSV with a BOM (Excel then reads UTF-8); numbers with a decimal point,
    dates in ISO 8601: a file for tools as much as for people."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow([c.header for c in view.columns])
    yield ("\ufeff" + buffer.getvalue()).encode()
    async for nodes in pages:
        buffer.seek(0)
        buffer.truncate()
        for node in nodes:
            row = []
            for c in view.columns:
                value = typed(c, node)
                row.append(value.isoformat() if isinstance(value, date | datetime) else value)
            out.writerow(["" if v is None else v for v in row])
        yield buffer.getvalue().encode()
