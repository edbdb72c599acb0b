"""The demo's legacy estate at work: a simulator that keeps changing the sources as offices do.

`Simulator` reads `estate-manifest.json` of an estate written by `generate_estate` and, one
committed change per `step()`, makes the running (latest) fiscal year move on:

- **payment** (BPKAD, table `sp2d`): a further term on a signed contract that is not fully
  paid (payee and NPWP of the contract's vendor, sub-activity and account of its package's
  mak), or now and then a GU payment on a non-procurement DPA line;
- **monev** (Form A workbook of one OPD): a sub-activity's latest physical and financial
  progress goes up, or its next quarter's row is filed; the file is replaced atomically;
- **tender_announced** (SiRUP/SPSE): a package planned for SPSE (Tender, Seleksi, Tender
  Cepat) with no tender gets one: the running tender (HPS 90–99% of the pagu), its link to
  the package, the bid schedule, 2–5 evaluated bids with distinct amounts (nobody the winner
  yet). A generated estate has no such package left, so the change usually publishes one
  first: a further package on a mak that has a Tender/Seleksi package announced by Q3, with
  its OPD, category and funding, within 97% of the DPA line. The tender reaches SPSE's
  database with its bids evaluated: it was announced 17–44 days back (window 16–30 days,
  closed 1–14 days ago), so a result can follow within days of simulated time;
- **tender_result** (SPSE): a running tender gets its winner (the lowest corrected bid),
  its status, and the contract row, signed today where it can be (otherwise the last day
  it could be signed cleanly);
- **amendment** (SPSE): an addendum of −5%…+8% of a running contract's signed value.

Every change stays clear of the thresholds of the rules in README.md: it neither creates a
ketimpangan nor resolves a seeded one (payments stay at most 85% of the effective value
until the sub-activity reports ≥ 80% and the contract ended five days ago; progress is
only raised where it is on schedule; tenders follow their package, with its method, ≥ 2
distinct bids and a bid window of 16–30 days; contracts are signed 2–12% under HPS, 21–55
days after the announcement, by 13 December so they end by the 20th; addenda keep what was
paid under 85%).

Time in the estate is a simulated office clock (WITA, like every legacy timestamp): it
starts at the estate's `as_of` (or the newest change already in the sources) and moves a few
minutes per step through office hours on working days, never past 31 December of the
running year for business dates. Every SQL change sets its table's watermark column (named
in the source's mapping file) to the later of that clock and the table's largest value plus
one second, so watermarks strictly increase. Choices come from `random.Random(seed)` and
from the estate's content only, so a seed replays the same changes on a fresh estate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import sqlite3
import time as monotonic
import tomllib
import zipfile
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomysql  # type: ignore[import-untyped]
import aiosqlite
import asyncpg
from openpyxl import Workbook as XlsxWorkbook  # type: ignore[import-untyped]
from openpyxl import load_workbook

from adapters.codes import (
    ACCOUNT_WIDTHS,
    CodeError,
    normalise_account_code,
    normalise_code,
    normalise_sub_activity_code,
    split_mak,
)
from adapters.parsing import ParseError, parse_date, parse_money, parse_percent
from estate import names
from estate.legacy.formats import code_as, dmy, npwp_text, percent_text, rupiah_text
from estate.legacy.monev import MONEV_LAYOUT
from estate.writers import _sqlite_value, mysql_kwargs, pg_dsn

log = logging.getLogger(__name__)

MANIFEST = "estate-manifest.json"
# (kind, weight): what one step does, drawn without replacement until one is possible.
KIND_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("payment", 40),
    ("monev", 30),
    ("tender_announced", 10),
    ("tender_result", 10),
    ("amendment", 10),
)
GU_SHARE = 0.2  # of payment steps: a non-contract GU payment on a DPA line
FINISHED_TENDER = ("Selesai", "Gagal", "Batal")
RUNNING_TENDER = "Berlangsung"  # what the generator writes for a running tender, every flavour
COMPETITIVE = ("Tender", "Seleksi", "Tender Cepat")
PUBLISHED = "Terumumkan"  # SiRUP's status of a published package
# Below these a package needs no tender (Perpres 12/2021: Pengadaan Langsung up to Rp 200 jt,
# consultancy up to Rp 100 jt): the least a package the simulator publishes for SPSE holds.
MIN_TENDER_PAGU = {"Tender": 200_000_000, "Tender Cepat": 200_000_000, "Seleksi": 100_000_000}
RUP_SHARE = 97  # % of its DPA line the packages on a mak stay within (clean data)
BID_WINDOW = (16, 30)  # days from announcement to the close of "Upload Dokumen Penawaran"
BIDDERS = (2, 5)
# A tender reaches SPSE's database here with its bids opened and evaluated: its bid window
# closed this many days before the clock (so a result can follow within simulated days).
EVALUATED_AFTER = (1, 14)
AWARD_DAYS = (21, 55)  # contract signed this many days after the announcement (clean data)
AWARD_AFTER_CLOSE = 5  # … and at least this many days after the bid window closed
LAST_START = (12, 13)  # a contract of the year starts by 13 December (it ends by the 20th)
CONTRACTS_END = (12, 20)
CONSTRUCTION = "Pekerjaan Konstruksi"
MIN_PAYMENT = 1_000_000
PAY_CAP = Decimal("0.85")  # of the effective value, until the work is done and handed over
FINAL_PROGRESS = Decimal(80)  # physical % a final payment needs
NO_REPORT_PROGRESS = Decimal(60)  # what a contract without any monev report may be paid for
# Latest progress at or above which a quarter is on schedule (clean data: Q3 ≥ 50, Q4 ≥ 85);
# below it the rule PROGRESS_BEHIND_SCHEDULE is (or may be) seeded there: leave it alone.
ON_SCHEDULE = {1: Decimal(0), 2: Decimal(20), 3: Decimal(50), 4: Decimal(85)}
HUNDRED = Decimal(100)
OFFICE_OPENS, OFFICE_CLOSES = time(8), time(17)
OPD_BY_CODE = {kind.code: kind for kind in names.OPDS}
PROCUREMENT_WATERMARKED = (
    "rup_paket",
    "rup_anggaran",
    "spse_tender",
    "spse_tender_rup",
    "spse_peserta",
    "spse_kontrak",
    "spse_addendum",
)
SCHEDULE_CLOSE = "Upload Dokumen Penawaran"  # spse_jadwal: the stage that ends the bid window
PERIOD = re.compile(r"(\d{4})-Q([1-4])")
LEADING_NUMBER = re.compile(r"\s*(\d+)")


class SimulatorError(Exception):
    """No change is possible, or the estate cannot be simulated; the message says why."""


class SourceUnavailable(SimulatorError):
    """A legacy source cannot be reached or read as the simulator expects."""


# A source down or holding what it should not: that change is skipped, another one is made.
SOURCE_ERRORS: tuple[type[BaseException], ...] = (
    SourceUnavailable,
    OSError,
    TimeoutError,
    zipfile.BadZipFile,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    aiomysql.Error,
    sqlite3.Error,
    ParseError,
    CodeError,
)


@dataclass(frozen=True)
class SimChange:
    source: str  # source id, e.g. "bpkad-53"
    entity: str  # canonical entity written: payment, progress_report, contract, …
    kind: str  # payment | monev | tender_announced | tender_result | amendment
    key: str  # the natural key written, e.g. "53.01/2026/00123/SP2D/LS/2026"
    written_at: datetime  # UTC, when it was committed
    summary: str  # one short human line for the demo's log


# --- value formats per flavour (see estate/legacy/) ------------------------------------------


@dataclass(frozen=True)
class _Sp2dShape:
    id: str | None  # integer id column (A, B); C has none
    number: str
    day: str
    amount: str
    kind: str
    account: str
    sa: str
    payee: str
    npwp: str
    contract: str


SP2D = {
    "A": _Sp2dShape(
        "id",
        "nomor_sp2d",
        "tanggal_sp2d",
        "nilai_sp2d",
        "jenis",
        "kode_akun",
        "kd_sub_keg",
        "nama_penerima",
        "npwp_penerima",
        "no_kontrak",
    ),
    "B": _Sp2dShape(
        "id",
        "no_sp2d",
        "tgl_sp2d",
        "nilai",
        "jns_sp2d",
        "kd_rek",
        "kd_sub_keg",
        "nm_penerima",
        "npwp",
        "no_kontrak",
    ),
    "C": _Sp2dShape(
        None,
        "nomor_sp2d",
        "tanggal_sp2d",
        "nilai_sp2d",
        "jenis",
        "kode_rekening",
        "kd_sub_keg",
        "nama_penerima",
        "npwp_penerima",
        "no_kontrak",
    ),
}
B_ACCOUNT_PARTS = ", ".join(f"kd_rek_{n}" for n in range(1, 7))
DPA_SQL = {
    "A": "SELECT kd_sub_keg, kode_akun, nilai, no_dpa FROM dpa_rinci WHERE tahun = ?",
    "B": f"SELECT kd_sub_keg, {B_ACCOUNT_PARTS}, nilai, no_dpa FROM dpa_rinci WHERE tahun = ?",
    "C": "SELECT kd_sub_keg, kode_rekening, pagu, no_dpa FROM dpa_rinci WHERE tahun = ?",
}


def _flavour(flavour: str) -> str:
    if flavour not in SP2D:
        raise SimulatorError(f"unknown legacy flavour {flavour!r}")
    return flavour


def _finance_amount(flavour: str, amount: int) -> Any:
    return rupiah_text(amount) if flavour == "B" else Decimal(amount)


def _finance_day(flavour: str, day: date) -> Any:
    return dmy(day) if flavour == "B" else day


def _finance_account(flavour: str, account: str) -> str:
    """A canonical account code as the finance database writes it in `sp2d`."""
    if flavour == "B":
        return code_as(account, "B")
    if flavour == "C":
        return account.replace(".", "")
    return account


def _canonical_account(flavour: str, raw: str) -> str:
    if flavour == "C":
        return normalise_code(raw, ACCOUNT_WIDTHS)
    return normalise_account_code(raw)


def _finance_npwp(flavour: str, digits: str | None) -> str | None:
    if digits is None:
        return None
    return npwp_text(digits) if flavour == "B" else digits


def _procurement_day(flavour: str, day: date) -> Any:
    return dmy(day) if flavour == "B" else day


def _winner_flag(flavour: str, winner: bool = True) -> Any:
    if flavour == "A":
        return winner
    if flavour == "B":
        return int(winner)
    return "Ya" if winner else "Tidak"


def _procurement_npwp(flavour: str, digits: str) -> str:
    """An NPWP as SPSE writes it in `spse_peserta` and `spse_kontrak` (C formats it)."""
    return npwp_text(digits) if flavour == "C" else digits


def _digits(text: str | None) -> str | None:
    if text is None:
        return None
    return re.sub(r"\D", "", text) or None


def _rupiah(value: Any) -> int:
    """A legacy amount (numeric, or Indonesian text) in whole rupiah."""
    parsed = parse_money(value, locale="id")
    return 0 if parsed is None else int(parsed)


def _day(value: Any) -> date:
    parsed = parse_date(value)
    if parsed is None:
        raise SourceUnavailable(f"a date is missing where the legacy row needs one ({value!r})")
    return parsed


def _money_text(amount: int) -> str:
    return "Rp " + rupiah_text(amount).removesuffix(",00")


def _percent(value: Decimal) -> str:
    return percent_text(value.quantize(Decimal("0.1")))


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, date):
        return datetime.combine(value, OFFICE_CLOSES)
    return datetime.fromisoformat(str(value)).replace(tzinfo=None, microsecond=0)


def _number_seq(numbers: Sequence[Any]) -> int:
    """The largest leading number of document numbers such as `00123/SP2D/LS/2026`."""
    best = 0
    for number in numbers:
        match = LEADING_NUMBER.match(str(number or ""))
        if match:
            best = max(best, int(match.group(1)))
    return best


# --- the estate, as the manifest describes it ------------------------------------------------


@dataclass(frozen=True)
class _Source:
    id: str
    kind: str
    region: str
    flavour: str
    url: str | None
    database: str | None
    path: Path | None  # SQLite file, or the folder of the monev workbooks
    watermarks: dict[str, str | None]  # table → watermark column (from the mapping file)

    def watermark(self, table: str) -> str | None:
        return self.watermarks.get(table)


@dataclass(frozen=True)
class _Region:
    code: str
    flavour: str
    finance: _Source | None
    procurement: _Source | None
    monev: _Source | None


def _mapping_watermarks(path: Path) -> dict[str, str | None]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SimulatorError(f"cannot read mapping file {path}: {exc}") from exc
    found: dict[str, str | None] = {}
    for entity in data.get("entity", []):
        table = entity.get("table")
        if isinstance(table, str):
            mark = entity.get("watermark")
            found[table] = mark if isinstance(mark, str) else None
    return found


def _read_estate(data_dir: Path) -> tuple[int, date, list[_Region]]:
    manifest_path = data_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SimulatorError(
            f"cannot read {manifest_path} ({exc}); generate an estate first "
            "(rantai estate generate)"
        ) from exc
    try:
        fiscal_year = max(int(y) for y in manifest["fiscal_years"])
        as_of = date.fromisoformat(manifest["as_of"])
        entries: dict[str, dict[str, Any]] = manifest["sources"]
    except (KeyError, TypeError, ValueError) as exc:
        raise SimulatorError(f"{manifest_path} is not an estate manifest ({exc})") from exc
    by_region: dict[str, dict[str, _Source]] = defaultdict(dict)
    flavours: dict[str, str] = {}
    for source_id, entry in sorted(entries.items()):
        family = source_id.split("-", 1)[0]
        if family not in ("bpkad", "bpbj", "monev"):
            continue  # e-planning: nothing in it changes during the year
        try:
            kind, region = str(entry["kind"]), str(entry["region"])
            mapping = data_dir / entry["mapping"]
            path: Path | None = None
            if kind == "sqlite":
                relative = str(entry["url"]).removeprefix("sqlite:///").split("?", 1)[0]
                file = Path(relative)
                path = (file if file.is_absolute() else mapping.parent / file).resolve()
            elif kind == "xlsx":
                path = (data_dir / entry["path"]).parent
            flavour = _flavour(str(entry["flavour"]))
        except (KeyError, TypeError) as exc:
            raise SimulatorError(f"{manifest_path}: source {source_id}: missing {exc}") from exc
        by_region[region][family] = _Source(
            id=source_id,
            kind=kind,
            region=region,
            flavour=flavour,
            url=entry.get("url"),
            database=entry.get("database"),
            path=path,
            watermarks=_mapping_watermarks(mapping) if kind != "xlsx" else {},
        )
        flavours[region] = flavour
    order = [str(r) for r in manifest.get("regions", [])]
    order += sorted(r for r in by_region if r not in order)
    regions = [
        _Region(
            code,
            flavours[code],
            by_region[code].get("bpkad"),
            by_region[code].get("bpbj"),
            by_region[code].get("monev"),
        )
        for code in order
        if code in by_region
    ]
    return fiscal_year, as_of, regions


# --- connections -----------------------------------------------------------------------------


class _Postgres:
    """One asyncpg connection to a PostgreSQL source, opened on first use."""

    def __init__(self, source: _Source) -> None:
        if not source.url:
            raise SourceUnavailable(f"source {source.id}: no url in the manifest")
        self.source = source
        self.dsn = pg_dsn(source.url)
        self._conn: Any = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=10)
        conn = self._conn
        try:
            async with conn.transaction():
                yield conn
        except BaseException:
            await self.close()  # a broken link: connect again next time
            raise

    async def max_watermark(self, conn: Any, table: str) -> datetime | None:
        column = self.source.watermark(table)
        if column is None:
            return None
        return _as_datetime(await conn.fetchval(f'SELECT max("{column}") FROM "{table}"'))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5)


class _Finance:
    """The BPKAD database: MariaDB (aiomysql) or a SQLite file (aiosqlite). SQL uses `?`."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.flavour = source.flavour
        self._maria: Any = None
        self._sqlite: aiosqlite.Connection | None = None

    async def _connect(self) -> None:
        if self.source.kind == "sqlite":
            if self._sqlite is None:
                if self.source.path is None or not self.source.path.is_file():
                    raise SourceUnavailable(
                        f"source {self.source.id}: SQLite file {self.source.path} is missing"
                    )
                self._sqlite = await aiosqlite.connect(
                    self.source.path, isolation_level=None, timeout=10
                )
        elif self._maria is not None:
            await self._maria.ping(reconnect=True)  # MariaDB drops idle connections
        else:
            if not self.source.url:
                raise SourceUnavailable(f"source {self.source.id}: no url in the manifest")
            kwargs = mysql_kwargs(self.source.url)
            self._maria = await aiomysql.connect(
                **kwargs, db=self.source.database, connect_timeout=10
            )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Finance]:
        await self._connect()
        try:
            if self._sqlite is not None:
                await self._sqlite.execute("BEGIN IMMEDIATE")
            else:
                await self._maria.begin()
            yield self
            if self._sqlite is not None:
                await self._sqlite.execute("COMMIT")
            else:
                await self._maria.commit()
        except BaseException:
            await self.close()  # rolls back what was not committed
            raise

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self._sqlite is not None:
            values = [_sqlite_value(p) for p in params]
            async with self._sqlite.execute(sql, values) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]
        cur = await self._maria.cursor()
        try:
            await cur.execute(sql.replace("?", "%s"), params)
            return [tuple(row) for row in await cur.fetchall()]
        finally:
            await cur.close()

    async def execute(self, sql: str, *params: Any) -> None:
        if self._sqlite is not None:
            await self._sqlite.execute(sql, [_sqlite_value(p) for p in params])
            return
        cur = await self._maria.cursor()
        try:
            await cur.execute(sql.replace("?", "%s"), params)
        finally:
            await cur.close()

    async def max_watermark(self, table: str) -> datetime | None:
        column = self.source.watermark(table)
        if column is None:
            return None
        rows = await self.fetch(f"SELECT max({column}) FROM {table}")
        return _as_datetime(rows[0][0]) if rows else None

    async def close(self) -> None:
        sqlite, self._sqlite = self._sqlite, None
        maria, self._maria = self._maria, None
        if sqlite is not None:
            with contextlib.suppress(Exception):
                await sqlite.close()
        if maria is not None:
            with contextlib.suppress(Exception):
                maria.close()


# --- what the sources hold ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Contract:
    number: str
    tender_code: int
    value: int  # signed value
    effective: int  # highest-version addendum, else the signed value
    version: int  # highest addendum version, 0 without one
    signed_on: date
    starts_on: date
    ends_on: date
    vendor_name: str
    vendor_npwp: str | None  # digits only
    maks: tuple[str, ...]  # of its packages, by kd_rup: the first one is paid against

    @property
    def sa_codes(self) -> list[str]:
        return sorted({split_mak(mak)[0] for mak in self.maks})


@dataclass(frozen=True)
class _OpenPackage:
    """A SiRUP package about to get its SPSE tender."""

    rup_code: int
    opd_code: str  # kd_satker_str
    name: str
    pagu: int
    method: str
    announced_on: date
    published: bool  # by this change


@dataclass(frozen=True)
class _Bidder:
    key: int  # kd_penyedia
    name: str
    npwp: str  # as SPSE writes it in this flavour


async def _has_table(conn: Any, table: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table))


CONTRACTS_SQL = """
SELECT k.no_kontrak, k.kd_tender, k.nilai_kontrak, k.tgl_kontrak, k.tgl_mulai, k.tgl_selesai,
       k.nama_penyedia, k.npwp_penyedia, a.nilai AS efektif, a.versi_addendum AS versi,
       ARRAY(SELECT g.mak FROM spse_tender_rup l JOIN rup_anggaran g ON g.kd_rup = l.kd_rup
             WHERE l.kd_tender = k.kd_tender ORDER BY g.kd_rup, g.id) AS maks
FROM spse_kontrak k
JOIN spse_tender t ON t.kd_tender = k.kd_tender
LEFT JOIN LATERAL (
    SELECT d.nilai, d.versi_addendum FROM spse_addendum d
    WHERE d.no_kontrak = k.no_kontrak ORDER BY d.versi_addendum DESC LIMIT 1
) a ON true
WHERE t.tahun = $1
"""


async def _contracts(conn: Any, fiscal_year: int) -> list[_Contract]:
    out: list[_Contract] = []
    for row in await conn.fetch(CONTRACTS_SQL, fiscal_year):
        value = _rupiah(row["nilai_kontrak"])
        out.append(
            _Contract(
                number=row["no_kontrak"],
                tender_code=int(row["kd_tender"]),
                value=value,
                effective=value if row["efektif"] is None else _rupiah(row["efektif"]),
                version=int(row["versi"] or 0),
                signed_on=_day(row["tgl_kontrak"]),
                starts_on=_day(row["tgl_mulai"]),
                ends_on=_day(row["tgl_selesai"]),
                vendor_name=row["nama_penyedia"],
                vendor_npwp=_digits(row["npwp_penyedia"]),
                maks=tuple(row["maks"] or ()),
            )
        )
    out.sort(key=lambda c: c.number)
    return out


@dataclass
class _Report:
    quarter: int
    physical: Decimal
    financial: Decimal


@dataclass
class _Sheet:
    """A Form A workbook as rows of values (row 1 first, trailing empty cells dropped)."""

    path: Path
    name: str  # sheet title
    rows: list[list[Any]]


def _read_sheet(path: Path) -> _Sheet:
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
        return _Sheet(path, ws.title, rows)
    finally:
        wb.close()


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _write_sheet(sheet: _Sheet) -> tuple[int, int]:
    """Write the workbook as the generator does, to a temporary file in the same folder (not
    matching `*.xlsx`, so no reader picks it up), then put it in place with os.replace."""
    wb = XlsxWorkbook(write_only=True)
    ws = wb.create_sheet(sheet.name)
    for row in sheet.rows:
        ws.append(row)
    temporary = sheet.path.with_name(f".{sheet.path.name}.{os.getpid()}.tmp")
    try:
        wb.save(temporary)
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temporary, sheet.path)
    finally:
        temporary.unlink(missing_ok=True)
    return _signature(sheet.path)


@dataclass(frozen=True)
class _Layout:
    header_row: int  # 1-based
    year_cell: tuple[int, int]  # 0-based (row, column)
    numbered: bool  # a "No" column first
    code: int
    name: int
    period: int
    physical: int
    financial: int
    problems: int

    @classmethod
    def of(cls, flavour: str) -> _Layout:
        layout = MONEV_LAYOUT[flavour]
        cell = str(layout["year_cell"])
        column = ord(cell[0].upper()) - ord("A")
        year_cell = (int(cell[1:]) - 1, column)
        if flavour == "C":
            return cls(int(layout["header_row"]), year_cell, False, 0, 1, 2, 3, 4, 5)
        return cls(int(layout["header_row"]), year_cell, True, 1, 2, 3, 4, 5, 6)

    def data_rows(self, sheet: _Sheet) -> range:
        """Indexes (0-based) of the report rows: after the header, until the first empty row."""
        start = self.header_row
        end = start
        while end < len(sheet.rows) and sheet.rows[end]:
            end += 1
        return range(start, end)


def _cell(row: Sequence[Any], index: int) -> Any:
    return row[index] if index < len(row) else None


# --- the simulator -----------------------------------------------------------------------------


class Simulator:
    """Keeps changing a demo legacy estate, one committed change per `step()`."""

    def __init__(self, data_dir: Path, *, seed: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.fiscal_year, self.as_of, self.regions = _read_estate(self.data_dir)
        self.rng = random.Random(seed)
        self.year_end = date(self.fiscal_year, 12, 31)
        self.now = datetime.combine(self.as_of, OFFICE_CLOSES)  # the simulated office clock
        self._clock_synced = False
        self._pg: dict[str, _Postgres] = {}
        self._finance: dict[str, _Finance] = {}
        self._progress: dict[str, dict[str, _Report]] = {}  # region → canonical sa → latest
        self._sheets: dict[Path, tuple[tuple[int, int], _Sheet]] = {}  # by (mtime, size)
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Simulator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- public API ------------------------------------------------------------------------

    async def step(self) -> SimChange:
        """Perform exactly one change and commit it; SimulatorError if none is possible."""
        async with self._lock:
            if not self._clock_synced:
                await self._sync_clock()
                self._clock_synced = True
            moment = self._tick()
            today = min(moment.date(), self.year_end)
            tried: list[str] = []
            failed: list[str] = []
            first_error: BaseException | None = None
            for kind in self._kind_order():
                for region in self.rng.sample(self.regions, len(self.regions)):
                    try:
                        change = await self._attempt(kind, region, today, moment)
                    except SOURCE_ERRORS as exc:  # a source down: change another one
                        log.warning("simulator: %s in %s failed: %s", kind, region.code, exc)
                        failed.append(f"{kind} in {region.code}: {type(exc).__name__}: {exc}")
                        first_error = first_error or exc
                        continue
                    if change is not None:
                        return change
                tried.append(kind)
            because = f"; failed: {'; '.join(failed)}" if failed else ""
            raise SimulatorError(
                f"no change possible in the {self.fiscal_year} estate under {self.data_dir} "
                f"(tried {', '.join(tried) or 'nothing: no BPKAD, BPBJ or monev sources'})"
                + because
            ) from first_error

    async def run(
        self,
        *,
        per_minute: float,
        stop: asyncio.Event,
        on_change: Callable[[SimChange], None] | None = None,
    ) -> None:
        """Step about `per_minute` times a minute until `stop` is set. A failing step (a
        source down, nothing left to change) is logged and skipped."""
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        interval = 60.0 / per_minute
        due = monotonic.monotonic()
        while not stop.is_set():
            try:
                change = await self.step()
            except SimulatorError as exc:
                log.info("simulator: %s", exc)
            except Exception as exc:
                log.warning("simulator: step failed, skipped: %s: %s", type(exc).__name__, exc)
            else:
                if on_change is not None:
                    try:
                        on_change(change)
                    except Exception:
                        log.exception("simulator: on_change failed")
            due = max(due + interval, monotonic.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=due - monotonic.monotonic())

    async def close(self) -> None:
        for pg in self._pg.values():
            await pg.close()
        for finance in self._finance.values():
            await finance.close()

    # --- clock and choices -----------------------------------------------------------------

    def _tick(self) -> datetime:
        """Move the office clock on by a few minutes (to the next working day after 17:00)."""
        rng = self.rng
        current = self.now
        moved = current + timedelta(minutes=rng.randint(2, 12), seconds=rng.randint(0, 59))
        if moved.date() <= self.year_end and (
            moved.time() >= OFFICE_CLOSES or moved.date() != current.date()
        ):
            day = current.date() + timedelta(days=1)
            while day.weekday() >= 5:
                day += timedelta(days=1)
            moved = datetime.combine(day, OFFICE_OPENS) + timedelta(minutes=rng.randint(0, 30))
        if moved.date() > self.year_end:  # the books close: business dates stay on 31 Dec
            moved = current + timedelta(seconds=rng.randint(1, 59))
        self.now = moved
        return moved

    def _observe(self, stamp: datetime | None) -> None:
        if stamp is not None and stamp > self.now:
            self.now = stamp

    async def _sync_clock(self) -> None:
        """Start the clock after the newest change already in the sources (after a restart);
        a source that does not answer is left out."""
        for region in self.regions:
            for source in (region.procurement, region.finance):
                if source is None:
                    continue
                try:
                    if source is region.procurement:
                        pg = self._postgres(source)
                        async with pg.transaction() as conn:
                            for table in PROCUREMENT_WATERMARKED:
                                self._observe(await pg.max_watermark(conn, table))
                        continue
                    finance = self._finance_db(source)
                    async with finance.transaction():
                        if source.watermark("sp2d"):
                            self._observe(await finance.max_watermark("sp2d"))
                        elif finance.flavour != "B":  # no watermark (C): the latest SP2D date
                            day = SP2D[finance.flavour].day
                            rows = await finance.fetch(f"SELECT max({day}) FROM sp2d")
                            self._observe(_as_datetime(rows[0][0]) if rows else None)
                except SOURCE_ERRORS as exc:
                    log.warning("simulator: cannot read the clock of %s: %s", source.id, exc)

    def _kind_order(self) -> list[str]:
        pool = list(KIND_WEIGHTS)
        order: list[str] = []
        while pool:
            total = sum(w for _, w in pool)
            pick = self.rng.uniform(0, total)
            for i, (kind, weight) in enumerate(pool):
                pick -= weight
                if pick <= 0 or i == len(pool) - 1:
                    order.append(kind)
                    del pool[i]
                    break
        return order

    def _postgres(self, source: _Source) -> _Postgres:
        if source.id not in self._pg:
            self._pg[source.id] = _Postgres(source)
        return self._pg[source.id]

    def _finance_db(self, source: _Source) -> _Finance:
        if source.id not in self._finance:
            self._finance[source.id] = _Finance(source)
        return self._finance[source.id]

    async def _attempt(
        self, kind: str, region: _Region, today: date, moment: datetime
    ) -> SimChange | None:
        if kind == "payment":
            if region.finance is None:
                return None
            if self.rng.random() < GU_SHARE:
                return await self._gu_payment(region, today, moment) or (
                    await self._contract_payment(region, today, moment)
                )
            return await self._contract_payment(region, today, moment) or (
                await self._gu_payment(region, today, moment)
            )
        if kind == "monev":
            return await self._monev(region, today)
        if kind == "tender_announced":
            return await self._tender_announced(region, today, moment)
        if kind == "tender_result":
            return await self._tender_result(region, today, moment)
        if kind == "amendment":
            return await self._amendment(region, today, moment)
        raise SimulatorError(f"unknown kind of change {kind!r}")

    @staticmethod
    def _next_stamp(moment: datetime, table_max: datetime | None) -> datetime:
        """A table's next watermark: the clock, or one second past the table's largest value
        (whole seconds: MariaDB DATETIME and the SQLite text keep no fractions)."""
        if table_max is None:
            return moment
        return max(moment, table_max + timedelta(seconds=1))

    # --- monev -----------------------------------------------------------------------------

    def _workbooks(self, region: _Region) -> list[Path]:
        if region.monev is None or region.monev.path is None:
            return []
        return sorted(region.monev.path.glob(f"{self.fiscal_year}_*.xlsx"))

    def _reports(self, sheet: _Sheet, layout: _Layout) -> dict[str, tuple[int, _Report]]:
        """Canonical sa code → (row index, its latest report) of a workbook of the year."""
        year_row, year_column = layout.year_cell
        year = _cell(sheet.rows[year_row], year_column) if year_row < len(sheet.rows) else None
        if year is None or str(year).strip() != str(self.fiscal_year):
            return {}
        latest: dict[str, tuple[int, _Report]] = {}
        for index in layout.data_rows(sheet):
            row = sheet.rows[index]
            period = PERIOD.fullmatch(str(_cell(row, layout.period) or "").strip())
            code = _cell(row, layout.code)
            if period is None or code is None or int(period.group(1)) != self.fiscal_year:
                continue
            physical = parse_percent(_cell(row, layout.physical))
            financial = parse_percent(_cell(row, layout.financial))
            if physical is None:
                continue
            report = _Report(int(period.group(2)), physical, financial or Decimal(0))
            sa = normalise_sub_activity_code(str(code))
            if sa not in latest or report.quarter >= latest[sa][1].quarter:
                latest[sa] = (index, report)
        return latest

    async def _sheet(self, path: Path) -> _Sheet:
        """A workbook's rows (a copy to change), read again only when the file changed."""
        signature = await asyncio.to_thread(_signature, path)
        cached = self._sheets.get(path)
        if cached is None or cached[0] != signature:
            cached = (signature, await asyncio.to_thread(_read_sheet, path))
            self._sheets[path] = cached
        sheet = cached[1]
        return _Sheet(sheet.path, sheet.name, [list(row) for row in sheet.rows])

    async def _save_sheet(self, sheet: _Sheet) -> None:
        signature = await asyncio.to_thread(_write_sheet, sheet)
        self._sheets[sheet.path] = (signature, sheet)

    async def _progress_of(self, region: _Region) -> dict[str, _Report]:
        """Latest monev report per sub-activity of the running year (cached per region)."""
        if region.code not in self._progress:
            layout = _Layout.of(region.flavour)
            progress: dict[str, _Report] = {}
            for path in self._workbooks(region):
                sheet = await self._sheet(path)
                for sa, (_, report) in self._reports(sheet, layout).items():
                    if sa not in progress or report.quarter >= progress[sa].quarter:
                        progress[sa] = report
            self._progress[region.code] = progress
        return self._progress[region.code]

    async def _monev(self, region: _Region, today: date) -> SimChange | None:
        if region.monev is None:
            return None
        rng, f = self.rng, region.flavour
        layout = _Layout.of(f)
        quarter_now = (today.month - 1) // 3 + 1
        paths = self._workbooks(region)
        for path in rng.sample(paths, len(paths)):
            sheet = await self._sheet(path)
            latest = self._reports(sheet, layout)
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
                period = f"{self.fiscal_year}-Q{quarter}"
                problem = rng.choice(names.PROBLEMS) if rng.random() < 0.1 else None
                new_row = self._monev_row(f, layout, row, period, physical, financial, problem)
                sheet.rows.insert(index + 1, new_row)
                if layout.numbered:
                    for n, i in enumerate(layout.data_rows(sheet), start=1):
                        sheet.rows[i][0] = n if f == "A" else str(n)
                what = (
                    f"laporan {period} baru: fisik {_percent(physical)}%, "
                    f"keuangan {_percent(financial)}%"
                )
            else:
                period = f"{self.fiscal_year}-Q{quarter}"
                problem = _cell(row, layout.problems)
                sheet.rows[index] = self._monev_row(
                    f, layout, row, period, physical, financial, problem
                )
                what = (
                    f"{period} fisik {_percent(old.physical)}% → {_percent(physical)}%, "
                    f"keuangan {_percent(old.financial)}% → {_percent(financial)}%"
                )
            await self._save_sheet(sheet)
            written = datetime.now(UTC)
            cached = self._progress.get(region.code)
            if cached is not None:
                cached[sa] = _Report(quarter, physical, financial)
            opd = path.stem.split("_", 1)[-1].upper()
            return SimChange(
                source=region.monev.id,
                entity="progress_report",
                kind="monev",
                key=f"{region.code}/{self.fiscal_year}/{sa}/{period}",
                written_at=written,
                summary=f"e-Monev {opd} {code_as(sa, f)}: {what}",
            )
        return None

    @staticmethod
    def _monev_row(
        flavour: str,
        layout: _Layout,
        template: list[Any],
        period: str,
        physical: Decimal,
        financial: Decimal,
        problem: Any,
    ) -> list[Any]:
        width = layout.problems + 1
        row = (list(template) + [None] * width)[:width]
        row[layout.period] = period
        if flavour == "B":
            row[layout.physical] = percent_text(physical)
            row[layout.financial] = percent_text(financial)
        else:
            row[layout.physical] = float(physical)
            row[layout.financial] = float(financial)
        row[layout.problems] = problem
        while row and row[-1] is None:
            row.pop()
        return row

    # --- payments --------------------------------------------------------------------------

    async def _paid_by_contract(self, finance: _Finance) -> dict[str, int]:
        shape = SP2D[finance.flavour]
        rows = await finance.fetch(
            f"SELECT {shape.contract}, {shape.amount} FROM sp2d "
            f"WHERE tahun = ? AND {shape.contract} IS NOT NULL",
            self.fiscal_year,
        )
        paid: dict[str, int] = defaultdict(int)
        for number, amount in rows:
            paid[str(number)] += _rupiah(amount)
        return paid

    async def _contract_payment(
        self, region: _Region, today: date, moment: datetime
    ) -> SimChange | None:
        if region.finance is None or region.procurement is None:
            return None
        pg = self._postgres(region.procurement)
        async with pg.transaction() as conn:
            contracts = await _contracts(conn, self.fiscal_year)
        progress = await self._progress_of(region)
        finance = self._finance_db(region.finance)
        async with finance.transaction():
            paid = await self._paid_by_contract(finance)
            options: list[tuple[_Contract, int, bool, Decimal | None]] = []
            for c in contracts:
                if not c.maks or today < c.starts_on + timedelta(days=10):
                    continue
                done = paid.get(c.number, 0)
                if done >= c.effective:
                    continue
                reports = [progress[sa].physical for sa in c.sa_codes if sa in progress]
                physical = min(reports) if reports else None
                handed_over = today >= c.ends_on + timedelta(days=5)
                if physical is not None and physical >= FINAL_PROGRESS and handed_over:
                    options.append((c, c.effective - done, True, physical))
                    continue
                reported = NO_REPORT_PROGRESS if physical is None else physical
                share = min(PAY_CAP, reported / HUNDRED)
                room = int(c.effective * share) - done
                if room >= MIN_PAYMENT:
                    options.append((c, room, False, physical))
            if not options:
                return None
            contract, room, final, physical = self.rng.choice(options)
            amount = room
            if not final:
                amount = room * self.rng.randint(35, 100) // 100
                if amount < MIN_PAYMENT:
                    amount = room
            sa, account = split_mak(contract.maks[0])
            number = await self._insert_sp2d(
                finance,
                moment,
                today,
                amount=amount,
                kind="LS",
                account=account,
                sa=sa,
                payee=contract.vendor_name,
                npwp=contract.vendor_npwp,
                contract=contract.number,
            )
        written = datetime.now(UTC)
        share_paid = (paid.get(contract.number, 0) + amount) * 100 // contract.effective
        what = "pelunasan" if final else f"termin, {share_paid}% terbayar"
        if physical is not None:
            what += f", fisik {_percent(physical)}%"
        return SimChange(
            source=region.finance.id,
            entity="payment",
            kind="payment",
            key=f"{region.code}/{self.fiscal_year}/{number}",
            written_at=written,
            summary=(
                f"SP2D {number} {_money_text(amount)} ke {contract.vendor_name} — kontrak "
                f"{contract.number} ({what})"
            ),
        )

    async def _gu_payment(self, region: _Region, today: date, moment: datetime) -> SimChange | None:
        """GU (ganti uang) on a DPA line no package procures: up to what is left on it."""
        if region.finance is None:
            return None
        finance = self._finance_db(region.finance)
        f, shape = finance.flavour, SP2D[finance.flavour]
        non_procurable = {a.code for a in names.NON_PROCURABLE}
        async with finance.transaction():
            lines = [line for line in await self._dpa_rows(finance) if line[1] in non_procurable]
            if not lines:
                return None
            spent: dict[tuple[str, str], int] = defaultdict(int)
            for sa_text, raw_account, amount in await finance.fetch(
                f"SELECT {shape.sa}, {shape.account}, {shape.amount} FROM sp2d "
                f"WHERE tahun = ? AND {shape.sa} IS NOT NULL AND {shape.account} IS NOT NULL",
                self.fiscal_year,
            ):
                spent[(str(sa_text), _canonical_account(f, str(raw_account)))] += _rupiah(amount)
            options = []
            for sa_text, account, amount, dpa in sorted(lines):
                room = amount - spent[(sa_text, account)]
                if room >= MIN_PAYMENT:
                    options.append((sa_text, account, amount, dpa, room))
            if not options:
                return None
            sa_text, account, line_amount, dpa, room = self.rng.choice(options)
            amount = min(room, line_amount * self.rng.randint(5, 20) // 100 // 1000 * 1000)
            if amount < MIN_PAYMENT:
                amount = room
            dpa_parts = dpa.split("/")  # DPA/A.1/<opd>/<n>/<year>
            opd = OPD_BY_CODE.get(dpa_parts[2]) if len(dpa_parts) > 2 else None
            payee = f"Bendahara Pengeluaran {opd.name if opd else dpa}"
            number = await self._insert_sp2d(
                finance,
                moment,
                today,
                amount=amount,
                kind="GU",
                account=account,
                sa=normalise_sub_activity_code(sa_text),
                payee=payee,
                npwp=None,
                contract=None,
            )
        written = datetime.now(UTC)
        return SimChange(
            source=region.finance.id,
            entity="payment",
            kind="payment",
            key=f"{region.code}/{self.fiscal_year}/{number}",
            written_at=written,
            summary=(
                f"SP2D {number} {_money_text(amount)} ke {payee} — "
                f"{sa_text} rekening {_finance_account(f, account)}"
            ),
        )

    async def _dpa_rows(self, finance: _Finance) -> list[tuple[str, str, int, str]]:
        """The running year's DPA lines: (sa as written, canonical account, amount, DPA no.)."""
        f = finance.flavour
        lines: list[tuple[str, str, int, str]] = []
        for row in await finance.fetch(DPA_SQL[f], self.fiscal_year):
            if f == "B":
                sa_text, parts, amount, dpa = row[0], row[1:7], row[7], row[8]
                account = normalise_account_code(".".join(str(p) for p in parts))
            else:
                sa_text, raw_account, amount, dpa = row
                account = _canonical_account(f, str(raw_account))
            lines.append((str(sa_text), account, _rupiah(amount), str(dpa)))
        return lines

    async def _insert_sp2d(
        self,
        finance: _Finance,
        moment: datetime,
        today: date,
        *,
        amount: int,
        kind: str,
        account: str,
        sa: str,
        payee: str,
        npwp: str | None,
        contract: str | None,
    ) -> str:
        """Insert one SP2D row in the flavour's shape; returns its number."""
        f, shape = finance.flavour, SP2D[finance.flavour]
        numbers = await finance.fetch(
            f"SELECT {shape.number} FROM sp2d WHERE tahun = ?", self.fiscal_year
        )
        number = f"{_number_seq([n for (n,) in numbers]) + 1:05d}/SP2D/{kind}/{self.fiscal_year}"
        values: dict[str, Any] = {}
        if shape.id is not None:
            (top,) = (await finance.fetch(f"SELECT max({shape.id}) FROM sp2d"))[0]
            values[shape.id] = int(top or 0) + 1
        values |= {
            "tahun": self.fiscal_year,
            shape.number: number,
            shape.day: _finance_day(f, today),
            shape.amount: _finance_amount(f, amount),
            shape.kind: kind,
            shape.account: _finance_account(f, account),
            shape.sa: code_as(sa, f),
            shape.payee: payee,
            shape.npwp: _finance_npwp(f, npwp),
            shape.contract: contract,
        }
        watermark = finance.source.watermark("sp2d")
        if watermark is not None:
            values[watermark] = self._next_stamp(moment, await finance.max_watermark("sp2d"))
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        await finance.execute(f"INSERT INTO sp2d ({columns}) VALUES ({marks})", *values.values())
        return number

    # --- procurement -----------------------------------------------------------------------

    async def _tender_announced(
        self, region: _Region, today: date, moment: datetime
    ) -> SimChange | None:
        """A package SiRUP plans for SPSE (Tender, Seleksi, Tender Cepat) gets its tender:
        the tender row (running), its link to the package, the bid schedule where the estate
        keeps one, and 2–5 evaluated bids, nobody marked the winner yet. Where every such
        package has a tender already (as in a generated estate), the change publishes a
        further package on a mak that already has one, within 97% of its DPA line."""
        if region.procurement is None:
            return None
        rng, f, fy = self.rng, region.flavour, self.fiscal_year
        window = rng.randint(*BID_WINDOW)
        announced = today - timedelta(days=window + rng.randint(*EVALUATED_AFTER))
        closes = announced + timedelta(days=window)
        ready = announced + timedelta(days=max(AWARD_DAYS[0], window + AWARD_AFTER_CLOSE))
        if announced.year != fy or max(today, ready) > date(fy, *LAST_START):
            return None  # no contract of the year could follow cleanly (or not after now)
        pg = self._postgres(region.procurement)
        async with pg.transaction() as conn:
            package = await self._open_package(conn, announced)
            if package is None:
                package = await self._publish_package(conn, region, announced, moment)
            if package is None:
                return None
            hps = package.pagu * rng.randint(900, 990) // 1000 // 1000 * 1000
            code = await self._new_tender_code(conn, region)
            vendors = await self._bidders(conn, f, rng.randint(*BIDDERS))
            amounts = self._bid_amounts(hps, len(vendors))
            lpse = await conn.fetchval(
                "SELECT kd_lpse FROM spse_tender WHERE kd_lpse IS NOT NULL "
                "ORDER BY kd_tender DESC LIMIT 1"
            )
            if lpse is None:
                lpse = 115 + names.REGION_INDEX.get(region.code, 0)
            await self._pg_insert(
                conn,
                region,
                moment,
                "spse_tender",
                {
                    "kd_tender": code,
                    "kd_lpse": lpse,
                    "tahun": fy,
                    "nama_paket": package.name,
                    "hps": Decimal(hps),
                    "pagu": Decimal(package.pagu),
                    "mtd_pemilihan": package.method,
                    "status_tender": RUNNING_TENDER,
                    "versi_tender": 1,
                    "tgl_pengumuman_tender": _procurement_day(f, announced),
                },
            )
            await self._pg_insert(
                conn,
                region,
                moment,
                "spse_tender_rup",
                {"kd_tender": code, "kd_rup": package.rup_code},
            )
            if await _has_table(conn, "spse_jadwal"):  # as the generator writes a schedule
                stages = (
                    ("Pengumuman Pascakualifikasi", announced, announced + timedelta(days=7)),
                    (SCHEDULE_CLOSE, announced + timedelta(days=1), closes),
                    (
                        "Penetapan Pemenang",
                        closes + timedelta(days=3),
                        closes + timedelta(days=4),
                    ),
                )
                await self._pg_insert(
                    conn,
                    region,
                    moment,
                    "spse_jadwal",
                    *(
                        {
                            "kd_tender": code,
                            "tahapan": stage,
                            "tgl_mulai": _procurement_day(f, begins),
                            "tgl_selesai": _procurement_day(f, ends),
                        }
                        for stage, begins, ends in stages
                    ),
                )
            await self._pg_insert(
                conn,
                region,
                moment,
                "spse_peserta",
                *(
                    {
                        "kd_tender": code,
                        "kd_penyedia": vendor.key,
                        "nama_penyedia": vendor.name,
                        "npwp": vendor.npwp,
                        "nilai_penawaran": Decimal(amount),
                        "nilai_terkoreksi": Decimal(amount),
                        "pemenang": _winner_flag(f, False),
                    }
                    for vendor, amount in zip(vendors, amounts, strict=True)
                ),
            )
        opd = OPD_BY_CODE.get(package.opd_code)
        where = opd.short if opd else package.opd_code
        rup = (
            f"paket RUP baru {package.rup_code} ({_money_text(package.pagu)}, "
            f"diumumkan {package.announced_on.strftime('%d-%m-%Y')})"
            if package.published
            else f"paket RUP {package.rup_code}"
        )
        return SimChange(
            source=region.procurement.id,
            entity="tender",
            kind="tender_announced",
            key=f"{region.code}/{code}",
            written_at=datetime.now(UTC),
            summary=(
                f"Tender {code} ({package.method}, {where}) {package.name}: HPS "
                f"{_money_text(hps)}, diumumkan {announced.strftime('%d-%m-%Y')}, "
                f"{len(amounts)} penawaran s.d. {closes.strftime('%d-%m-%Y')} "
                f"(terendah {_money_text(min(amounts))}) — {rup}"
            ),
        )

    async def _open_package(self, conn: Any, announced: date) -> _OpenPackage | None:
        """A published package of the year for SPSE, announced by `announced`, no tender."""
        rows = await conn.fetch(
            "SELECT p.kd_rup, p.kd_satker_str, p.nama_paket, p.pagu, p.metode_pengadaan, "
            "p.tgl_umumkan FROM rup_paket p WHERE p.tahun = $1 "
            "AND p.metode_pengadaan = ANY($2::text[]) AND p.status_umumkan = $3 "
            "AND NOT EXISTS (SELECT 1 FROM spse_tender_rup l WHERE l.kd_rup = p.kd_rup) "
            "ORDER BY p.kd_rup",
            self.fiscal_year,
            list(COMPETITIVE),
            PUBLISHED,
        )
        options = [
            _OpenPackage(
                rup_code=int(r["kd_rup"]),
                opd_code=str(r["kd_satker_str"]),
                name=str(r["nama_paket"]),
                pagu=_rupiah(r["pagu"]),
                method=str(r["metode_pengadaan"]),
                announced_on=_day(r["tgl_umumkan"]),
                published=False,
            )
            for r in rows
            if r["tgl_umumkan"] is not None and _day(r["tgl_umumkan"]) <= announced
        ]
        options = [p for p in options if p.pagu > 0]
        return self.rng.choice(options) if options else None

    async def _publish_package(
        self, conn: Any, region: _Region, tender_announced: date, moment: datetime
    ) -> _OpenPackage | None:
        """Publish a further Tender/Seleksi package in SiRUP on a mak that has one announced
        by the end of Q3 (so NOT_PROCURED_BY_Q3 stays as it is), with the OPD, category and
        funding of that one, keeping all packages on the mak within 97% of the DPA line
        (no RUP_ABOVE_DPA) and its first published version at its pagu. Needs the region's
        DPA (finance database): None without one."""
        if region.finance is None:
            return None
        rng, f, fy = self.rng, region.flavour, self.fiscal_year
        finance = self._finance_db(region.finance)
        async with finance.transaction():
            dpa_rows = await self._dpa_rows(finance)
        dpa: dict[tuple[str, str], int] = defaultdict(int)
        for sa_text, account, amount, _ in dpa_rows:
            dpa[(normalise_sub_activity_code(sa_text), account)] += amount
        rows = await conn.fetch(
            "SELECT p.kd_rup, p.kd_satker, p.kd_satker_str, p.nama_satker, p.pagu, "
            "p.metode_pengadaan, p.jenis_pengadaan, p.sumber_dana, p.tgl_umumkan, "
            "(SELECT g.mak FROM rup_anggaran g WHERE g.kd_rup = p.kd_rup ORDER BY g.id "
            "LIMIT 1) AS mak FROM rup_paket p WHERE p.tahun = $1 ORDER BY p.kd_rup",
            fy,
        )
        q3_end = date(fy, 9, 30)
        totals: dict[tuple[str, str], int] = defaultdict(int)
        siblings: dict[tuple[str, str], Any] = {}
        for row in rows:
            if row["mak"] is None:
                continue
            mak = split_mak(str(row["mak"]))
            totals[mak] += _rupiah(row["pagu"])
            if (
                row["metode_pengadaan"] in MIN_TENDER_PAGU
                and row["tgl_umumkan"] is not None
                and _day(row["tgl_umumkan"]) <= q3_end
            ):
                siblings.setdefault(mak, row)
        options = []
        for mak, sibling in sorted(siblings.items(), key=lambda item: item[0]):
            least = MIN_TENDER_PAGU[str(sibling["metode_pengadaan"])]
            room = dpa.get(mak, 0) * RUP_SHARE // 100 - totals[mak]
            if mak in dpa and room >= least:
                options.append((sibling, least, min(room, max(least, _rupiah(sibling["pagu"])))))
        if not options:
            return None
        sibling, least, most = rng.choice(options)
        pagu = rng.randint(least // 1000, most // 1000) * 1000
        announced = max(date(fy, 1, 2), tender_announced - timedelta(days=rng.randint(7, 30)))
        taken_sql = "SELECT kd_rup FROM rup_paket UNION SELECT kd_rup FROM rup_anggaran "
        taken_sql += "UNION SELECT kd_rup FROM spse_tender_rup"
        history = await _has_table(conn, "rup_paket_histori")
        if history:
            taken_sql += " UNION SELECT kd_rup FROM rup_paket_histori"
        taken = {int(code) for (code,) in await conn.fetch(taken_sql)}
        rup_code = max(int(r["kd_rup"]) for r in rows) + rng.randint(1, 7)
        while rup_code in taken:
            rup_code += rng.randint(1, 7)
        name = f"{rng.choice(names.WORKS)} {rng.choice(names.OBJECTS)}"
        method = str(sibling["metode_pengadaan"])
        await self._pg_insert(
            conn,
            region,
            moment,
            "rup_paket",
            {
                "kd_rup": rup_code,
                "tahun": fy,
                "kd_satker": sibling["kd_satker"],
                "kd_satker_str": sibling["kd_satker_str"],
                "nama_satker": sibling["nama_satker"],
                "nama_paket": name,
                "pagu": Decimal(pagu),
                "metode_pengadaan": method,
                "jenis_pengadaan": sibling["jenis_pengadaan"],
                "sumber_dana": sibling["sumber_dana"],
                "tgl_umumkan": _procurement_day(f, announced),
                "status_umumkan": PUBLISHED,
            },
        )
        budget_id = await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM rup_anggaran")
        await self._pg_insert(
            conn,
            region,
            moment,
            "rup_anggaran",
            {
                "id": int(budget_id),
                "kd_rup": rup_code,
                "mak": sibling["mak"],
                "pagu": Decimal(pagu),
            },
        )
        if history:
            await self._pg_insert(
                conn,
                region,
                moment,
                "rup_paket_histori",
                {
                    "kd_rup": rup_code,
                    "versi": 1,
                    "pagu": Decimal(pagu),
                    "status_umumkan": PUBLISHED,
                    "tgl_versi": _procurement_day(f, announced),
                },
            )
        return _OpenPackage(
            rup_code=rup_code,
            opd_code=str(sibling["kd_satker_str"]),
            name=name,
            pagu=pagu,
            method=method,
            announced_on=announced,
            published=True,
        )

    async def _new_tender_code(self, conn: Any, region: _Region) -> int:
        """A new kd_tender in the generator's national format for the running year,
        `1<region index:02><yy><sequence:06>`, a few numbers past the largest one."""
        rng = self.rng
        taken = {
            int(code)
            for (code,) in await conn.fetch(
                "SELECT kd_tender FROM spse_tender UNION SELECT kd_tender FROM spse_tender_rup "
                "UNION SELECT kd_tender FROM spse_peserta UNION SELECT kd_tender FROM spse_kontrak"
            )
        }
        index = names.REGION_INDEX.get(region.code)
        if index is None:  # not an NTT region the generator knows: past the largest code
            code = max(taken, default=1_000_000) + rng.randint(1, 5)
        else:
            prefix = f"1{index:02d}{self.fiscal_year % 100:02d}"
            sequences = [
                int(str(c)[len(prefix) :])
                for c in taken
                if len(str(c)) == len(prefix) + 6 and str(c).startswith(prefix)
            ]
            sequence = max(sequences, default=1000) + rng.randint(1, 5)
            code = int(f"{prefix}{sequence:06d}")
        while code in taken:
            code += rng.randint(1, 5)
        return code

    async def _bidders(self, conn: Any, flavour: str, count: int) -> list[_Bidder]:
        """`count` distinct vendors, taken from those who bid in this SPSE before; new ones
        (a key past the largest, a fresh NPWP) only where there are too few."""
        rng = self.rng
        known: list[_Bidder] = []
        keys: set[int] = set()
        npwps: set[str] = set()
        for row in await conn.fetch(
            "SELECT DISTINCT kd_penyedia, nama_penyedia, npwp FROM spse_peserta "
            "WHERE kd_penyedia IS NOT NULL ORDER BY kd_penyedia, nama_penyedia, npwp"
        ):
            digits = _digits(row["npwp"])
            key = int(row["kd_penyedia"])
            if digits is None or not row["nama_penyedia"] or key in keys or digits in npwps:
                continue
            keys.add(key)
            npwps.add(digits)
            known.append(_Bidder(key, str(row["nama_penyedia"]), str(row["npwp"])))
        chosen = rng.sample(known, min(count, len(known)))
        while len(chosen) < count:
            key = max(keys, default=100_000) + 1
            npwp = f"{rng.randrange(10**14, 10**15)}"
            if npwp in npwps:
                continue
            keys.add(key)
            npwps.add(npwp)
            words = " ".join(rng.sample(names.VENDOR_WORDS, 2))
            name = f"{rng.choice(names.VENDOR_PREFIX)} {words}"
            chosen.append(_Bidder(key, name, _procurement_npwp(flavour, npwp)))
        return chosen

    def _bid_amounts(self, hps: int, count: int) -> list[int]:
        """Distinct offers (corrected amounts the same): the lowest 2.5–11.5% under HPS, so
        the contract lands 2–12% under it; the others above it, up to 3% over HPS."""
        rng = self.rng
        lowest = hps * rng.randint(885, 975) // 1000 // 100 * 100
        amounts = [lowest]
        high = max(lowest + 2000, hps * 103 // 100)
        while len(amounts) < count:
            amount = rng.randint((lowest + 1000) // 100, high // 100) * 100
            if amount not in amounts:
                amounts.append(amount)
        rng.shuffle(amounts)
        return amounts

    async def _pg_insert(
        self, conn: Any, region: _Region, moment: datetime, table: str, *rows: dict[str, Any]
    ) -> None:
        """Insert rows in a procurement table, each with its own next watermark (the clock,
        or one second past the table's largest value) where the mapping names one."""
        assert region.procurement is not None
        column = region.procurement.watermark(table)
        if column is not None:
            stamp = self._next_stamp(moment, await self._pg_max(conn, region, table))
            for n, row in enumerate(rows):
                row[column] = stamp + timedelta(seconds=n)
        for row in rows:
            columns = ", ".join(f'"{c}"' for c in row)
            marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
            await conn.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', *row.values())

    async def _tender_result(
        self, region: _Region, today: date, moment: datetime
    ) -> SimChange | None:
        if region.procurement is None:
            return None
        rng = self.rng
        pg = self._postgres(region.procurement)
        async with pg.transaction() as conn:
            running = await conn.fetch(
                "SELECT kd_tender, nama_paket, hps, mtd_pemilihan, tgl_pengumuman_tender "
                "FROM spse_tender t WHERE tahun = $1 AND NOT (status_tender = ANY($2::text[])) "
                "AND NOT EXISTS (SELECT 1 FROM spse_kontrak k WHERE k.kd_tender = t.kd_tender)",
                self.fiscal_year,
                list(FINISHED_TENDER),
            )
            running = sorted(running, key=lambda r: int(r["kd_tender"]))
            for tender in rng.sample(running, len(running)):
                change = await self._award(conn, region, tender, today, moment)
                if change is not None:
                    break
            else:
                return None
        return SimChange(
            source=region.procurement.id,
            entity="contract",
            kind="tender_result",
            key=change[0],
            written_at=datetime.now(UTC),
            summary=change[1],
        )

    async def _award(
        self, conn: Any, region: _Region, tender: Any, today: date, moment: datetime
    ) -> tuple[str, str] | None:
        """Award one running tender, if it can be done cleanly today: (key, summary)."""
        rng, f = self.rng, region.flavour
        code = int(tender["kd_tender"])
        hps = _rupiah(tender["hps"])
        announced = _day(tender["tgl_pengumuman_tender"])
        bids = await conn.fetch(
            "SELECT kd_penyedia, nama_penyedia, npwp, nilai_penawaran, nilai_terkoreksi "
            "FROM spse_peserta WHERE kd_tender = $1",
            code,
        )
        valid = sorted(
            (_rupiah(b["nilai_terkoreksi"]), int(b["kd_penyedia"]), b)
            for b in bids
            if b["nilai_terkoreksi"] is not None
        )
        if not valid or (len(valid) > 1 and valid[0][0] == valid[1][0]):
            return None  # no evaluated bid, or no single lowest one
        value, vendor_key, winner = valid[0]
        if not hps * 88 <= value * 100 <= hps * 98:  # 2–12% under HPS, as clean data is
            return None
        closes = None
        if await _has_table(conn, "spse_jadwal"):
            closes = await conn.fetchval(
                "SELECT tgl_selesai FROM spse_jadwal WHERE kd_tender = $1 AND tahapan = $2",
                code,
                SCHEDULE_CLOSE,
            )
        closed_on = (
            _day(closes) if closes is not None else announced + timedelta(days=BID_WINDOW[0])
        )
        latest_start = date(self.fiscal_year, *LAST_START)
        first = max(
            announced + timedelta(days=AWARD_DAYS[0]),
            closed_on + timedelta(days=AWARD_AFTER_CLOSE),
        )
        last = min(announced + timedelta(days=AWARD_DAYS[1]), today, latest_start)
        if first > last:
            return None  # not ready yet (or the window to sign cleanly has passed)
        packages = await conn.fetch(
            "SELECT p.kd_satker_str, p.jenis_pengadaan FROM spse_tender_rup l "
            "JOIN rup_paket p ON p.kd_rup = l.kd_rup WHERE l.kd_tender = $1 ORDER BY p.kd_rup",
            code,
        )
        method = str(tender["mtd_pemilihan"])
        if packages:
            opd = OPD_BY_CODE.get(str(packages[0]["kd_satker_str"]))
            short = opd.short if opd else "UKPBJ"
            construction = packages[0]["jenis_pengadaan"] == CONSTRUCTION
        else:  # a tender SiRUP does not know (TENDER_WITHOUT_RUP): the procurement unit's
            short, construction = "UKPBJ", method == "Tender"
        signed = last  # today where it can be: the result is what happens now
        starts = min(signed + timedelta(days=rng.randint(0, 7)), latest_start)
        length = rng.randint(60, 150) if construction else rng.randint(14, 90)
        ends = min(starts + timedelta(days=length), date(self.fiscal_year, *CONTRACTS_END))
        ends = max(ends, starts + timedelta(days=7))
        existing = await conn.fetch(
            "SELECT k.no_kontrak FROM spse_kontrak k JOIN spse_tender t "
            "ON t.kd_tender = k.kd_tender WHERE t.tahun = $1",
            self.fiscal_year,
        )
        taken = {r["no_kontrak"] for r in existing}
        seq = _number_seq([r["no_kontrak"] for r in existing]) + 1
        document = "KONTRAK" if method in COMPETITIVE else "SPK"
        number = f"{seq:04d}/{document}/{short}/{self.fiscal_year}"
        while number in taken:
            seq += 1
            number = f"{seq:04d}/{document}/{short}/{self.fiscal_year}"

        async def stamp(table: str) -> datetime:
            return self._next_stamp(moment, await self._pg_max(conn, region, table))

        await conn.execute(
            "UPDATE spse_tender SET status_tender = 'Selesai', auditupdate = $2 "
            "WHERE kd_tender = $1",
            code,
            await stamp("spse_tender"),
        )
        await conn.execute(
            "UPDATE spse_peserta SET pemenang = $3, auditupdate = $4 "
            "WHERE kd_tender = $1 AND kd_penyedia = $2",
            code,
            vendor_key,
            _winner_flag(f),
            await stamp("spse_peserta"),
        )
        await conn.execute(
            "INSERT INTO spse_kontrak (no_kontrak, kd_tender, nilai_kontrak, tgl_kontrak, "
            "tgl_mulai, tgl_selesai, nama_penyedia, npwp_penyedia, auditupdate) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            number,
            code,
            Decimal(value),
            _procurement_day(f, signed),
            _procurement_day(f, starts),
            _procurement_day(f, ends),
            winner["nama_penyedia"],
            winner["npwp"],
            await stamp("spse_kontrak"),
        )
        under = (hps - value) * 1000 // hps
        summary = (
            f"Tender {code} selesai: pemenang {winner['nama_penyedia']}, kontrak {number} "
            f"{_money_text(value)} ({under // 10},{under % 10}% di bawah HPS), "
            f"ditandatangani {signed.strftime('%d-%m-%Y')}"
        )
        return f"{region.code}/{number}", summary

    async def _pg_max(self, conn: Any, region: _Region, table: str) -> datetime | None:
        assert region.procurement is not None
        return await self._postgres(region.procurement).max_watermark(conn, table)

    async def _amendment(self, region: _Region, today: date, moment: datetime) -> SimChange | None:
        """An addendum on a running contract, −5%…+8% of its signed value, where what was
        paid stays under 85% of both the old and the new effective value."""
        if region.procurement is None:
            return None
        rng, f = self.rng, region.flavour
        paid: dict[str, int] = {}
        if region.finance is not None:
            finance = self._finance_db(region.finance)
            async with finance.transaction():
                paid = await self._paid_by_contract(finance)
        pg = self._postgres(region.procurement)
        async with pg.transaction() as conn:
            contracts = await _contracts(conn, self.fiscal_year)
            options = [
                c
                for c in contracts
                if c.version < 3
                and c.starts_on <= today < c.ends_on
                and c.effective * 100 <= c.value * 110  # not already a seeded ketimpangan
                and paid.get(c.number, 0) * 100 <= c.effective * 85
            ]
            chosen: tuple[_Contract, int] | None = None
            for c in rng.sample(options, len(options)):
                value = c.value * rng.randint(950, 1080) // 1000 // 1000 * 1000
                if value != c.effective and paid.get(c.number, 0) * 100 <= value * 85:
                    chosen = (c, value)
                    break
            if chosen is None:
                return None
            c, value = chosen
            version = c.version + 1
            reason = "Pekerjaan tambah kurang (CCO)" if value > c.value else "Perubahan volume"
            stamp = self._next_stamp(moment, await self._pg_max(conn, region, "spse_addendum"))
            await conn.execute(
                "INSERT INTO spse_addendum (no_kontrak, versi_addendum, nilai, "
                "alasan_addendum, tgl_addendum, auditupdate) VALUES ($1, $2, $3, $4, $5, $6)",
                c.number,
                version,
                Decimal(value),
                reason,
                _procurement_day(f, today),
                stamp,
            )
        change = (value - c.value) * 1000 // c.value
        sign = "+" if change >= 0 else "−"
        return SimChange(
            source=region.procurement.id,
            entity="contract_amendment",
            kind="amendment",
            key=f"{region.code}/{c.number}/{version}",
            written_at=datetime.now(UTC),
            summary=(
                f"Addendum {version} kontrak {c.number}: {_money_text(c.effective)} → "
                f"{_money_text(value)} ({sign}{abs(change) // 10},{abs(change) % 10}% dari "
                f"nilai awal; {reason})"
            ),
        )
