"""Check one uploaded workbook against its OPD's upload source (see the package's doc).

`python -m hub.uploads.check --config rantai.toml --region 53.71 --opd 1.01.… --name
"Form A Juni.xlsx"` reads the file from standard input and prints one JSON object:
`{"source": id or null, "rows": n, "problems": [{"sheet", "row", "column", "reason",
"message"}]}`; no problems means the file may be kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import re
import resource
import sys
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import iterparse

from adapters.base import AdapterError, MissingColumns, MissingTable
from adapters.codes import CodeError, normalise_opd_code
from adapters.field_rules import RecordError
from adapters.mapping import EntityMapping, MappingError, SourceMapping, load_config
from adapters.spreadsheet import SpreadsheetAdapter

MAX_UNPACKED = 200 * 1024 * 1024  # what the workbook's parts may hold once decompressed
MAX_PROBLEMS = 200
MEMORY_LIMIT = 1024 * 1024 * 1024
CPU_SECONDS = 60
_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
# `[1]Sheet1!A1`, `'[Anggaran.xlsx]Sheet1'!A1`, a URL or a UNC path: outside the workbook.
_EXTERNAL = re.compile(
    r"\[\d+\]|\[[^\]]*\.(?:xl\w*|csv|ods)\]|[a-z]+://|\\\\"
    # DDE (`=cmd|' /C calc'!A0`) and the functions that call out of the workbook.
    r"|[A-Za-z0-9_.]+\s*\||\b(?:RTD|CALL|REGISTER(?:\.ID)?|EXEC|WEBSERVICE|FILTERXML)\s*\(",
    re.IGNORECASE,
)
_REASON_BY_KIND = {
    "percent": "bukan persentase yang dikenali",
    "money": "bukan jumlah rupiah yang dikenali",
    "decimal": "bukan angka yang dikenali",
    "int": "bukan bilangan bulat",
    "date": "bukan tanggal yang dikenali",
    "bool": "bukan nilai ya/tidak",
}


def problem(sheet: str | None, row: int | None, column: str | None, reason: str) -> dict[str, Any]:
    where = []
    if sheet:
        where.append(f"Lembar '{sheet}'")
    if row:
        where.append(f"baris {row}")
    if column:
        where.append(f"kolom {column}")
    message = (", ".join(where) + ": " if where else "") + reason
    if message:
        message = message[0].upper() + message[1:]
    return {"sheet": sheet, "row": row, "column": column, "reason": reason, "message": message}


def package_problems(data: bytes) -> list[dict[str, Any]]:
    """What makes a file no plain .xlsx workbook: not a zip of Office Open XML, macros,
    external links or data connections, formulas that refer outside it."""
    if not data.startswith(b"PK\x03\x04"):
        return [problem(None, None, None, "berkas bukan buku kerja .xlsx")]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        types = archive.read("[Content_Types].xml")
    except (zipfile.BadZipFile, KeyError, OSError):
        return [problem(None, None, None, "berkas .xlsx rusak atau bukan buku kerja Excel")]
    if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED:
        return [problem(None, None, None, "isi buku kerja terlalu besar setelah dibuka")]
    found: list[dict[str, Any]] = []
    lowered = [n.lower() for n in names]
    if (
        b"macroEnabled" in types
        or b"vbaProject" in types
        or any("vbaproject" in n for n in lowered)
    ):
        found.append(
            problem(None, None, None, "buku kerja berisi makro (VBA): kirim .xlsx tanpa makro")
        )
    if any(n.startswith("xl/externallinks/") for n in lowered):
        found.append(problem(None, None, None, "buku kerja berisi tautan ke buku kerja lain"))
    if "xl/connections.xml" in lowered:
        found.append(problem(None, None, None, "buku kerja berisi koneksi data eksternal"))
    sheets = _sheet_names(archive)
    for name in names:
        if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
            continue
        sheet = sheets.get(name, Path(name).stem)
        with archive.open(name) as part:
            cell = None
            for event, element in iterparse(part, events=("start", "end")):
                if event == "start":
                    if element.tag == f"{_NS}c":
                        cell = element.get("r")
                    continue
                if element.tag == f"{_NS}f" and element.text and _EXTERNAL.search(element.text):
                    reason = f"rumus merujuk ke luar buku kerja ({element.text[:60]})"
                    found.append(problem(sheet, None, cell, reason))
                    if len(found) >= MAX_PROBLEMS:
                        return found
                elif element.tag == f"{_NS}row":
                    element.clear()
    return found


def _sheet_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part → sheet name (for messages); best effort."""
    try:
        book = archive.read("xl/workbook.xml").decode("utf-8", "replace")
        rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    except KeyError:
        return {}
    targets = dict(re.findall(r'Id="([^"]+)"[^>]*Target="([^"]+)"', rels))
    targets |= {k: v for v, k in re.findall(r'Target="([^"]+)"[^>]*Id="([^"]+)"', rels)}
    names: dict[str, str] = {}
    for name, rid in re.findall(r'<sheet [^>]*name="([^"]+)"[^>]*r:id="([^"]+)"', book):
        target = targets.get(rid, "")
        names["xl/" + target.lstrip("/").removeprefix("xl/")] = name
    return names


def upload_source(
    sources: tuple[SourceMapping, ...], region: str, opd: str
) -> SourceMapping | None:
    """The upload source of one OPD (`uploads = true`, its region and owner_opd)."""
    try:
        wanted = normalise_opd_code(opd)
    except CodeError:
        return None
    for source in sources:
        if not source.uploads or source.region != region or not source.owner_opd:
            continue
        try:
            if normalise_opd_code(source.owner_opd) == wanted:
                return source
        except CodeError:
            continue
    return None


def _letter(index: int) -> str:
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _reason(entity: EntityMapping, error: RecordError, row: dict[str, Any]) -> tuple[str, str]:
    """(field, Indonesian reason) of a row the mapping refuses."""
    text = str(error)
    if text.startswith("no value for "):
        name = text.removeprefix("no value for ").split(",")[0].strip()
        return name, "wajib diisi, tetapi kosong"
    name = text.split(":", 1)[0]
    rule = entity.fields.get(name)
    raw = rule.raw(row) if rule is not None else None
    kind = rule.spec.kind if rule is not None else ""
    shown = f"'{raw}'" if raw is not None else "nilai"
    if rule is not None and rule.spec.vocabulary:
        return name, f"{shown} bukan salah satu dari {', '.join(rule.spec.vocabulary)}"
    if kind in _REASON_BY_KIND:
        return name, f"{shown} {_REASON_BY_KIND[kind]}"
    if kind.endswith("_code"):
        return name, f"{shown} bukan kode yang dikenali"
    return name, f"{shown} tidak dapat dibaca ({text.split(':', 1)[-1].strip()})"


def _row_errors(entity: EntityMapping, row: dict[str, Any]) -> list[RecordError]:
    """Every field of the row that cannot be read (the sync stops at the first)."""
    errors: list[RecordError] = []
    values: dict[str, Any] = {}
    for name, read in entity.readers:
        try:
            values[name] = read(row)
        except RecordError as exc:
            errors.append(exc)
            values[name] = RecordError
    missing = [n for n in entity.spec.required if values.get(n) in (None, "")]
    if missing:
        errors.append(RecordError(f"no value for {', '.join(missing)}"))
    return errors


async def row_problems(
    source: SourceMapping, file: Path, own: frozenset[str] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Every row of the file mapped as the sync maps it: (rows read, problems). With `own`
    (the sub kegiatan codes of the sending OPD), a row of another OPD's sub kegiatan is a
    problem: an OPD reports on its own work only."""
    config = replace(source.config, path=str(file), kind="xlsx")
    found: list[dict[str, Any]] = []
    read = 0
    async with SpreadsheetAdapter(config) as adapter:
        for entity in source.entities:
            query = entity.query
            sheet = query.sheet or "(lembar pertama)"
            try:
                headers = await adapter.columns(query)
            except MissingTable:
                found.append(problem(sheet, None, None, "lembar ini tidak ada di buku kerja"))
                continue
            missing = [c for c in query.columns if c not in headers]
            if missing:
                found += [
                    problem(sheet, query.header_row, None, f"kolom '{c}' tidak ada di baris judul")
                    for c in missing
                ]
                continue
            number = query.header_row
            async for batch in adapter.stream(query):
                for row in batch.rows:
                    number += 1
                    read += 1
                    errors = _row_errors(entity, row)
                    if not errors and own is not None:
                        code = entity.record(row).get("sub_activity_code")
                        if code is not None and code not in own:
                            rule = entity.fields.get("sub_activity_code")
                            column = None
                            if rule is not None and rule.column in headers:
                                column = _letter(headers.index(rule.column))
                            reason = f"sub kegiatan {code} bukan milik OPD ini"
                            found.append(problem(query.sheet, number, column, reason))
                            if len(found) >= MAX_PROBLEMS:
                                return read, found
                    for error in errors:
                        name, reason = _reason(entity, error, row)
                        rule = entity.fields.get(name)
                        column, at = None, number
                        if rule is not None and rule.column in headers:
                            column = _letter(headers.index(rule.column))
                        elif rule is not None and rule.cell:
                            column = re.sub(r"\d", "", rule.cell)
                            at = int(re.sub(r"\D", "", rule.cell))
                        found_one = problem(query.sheet, at, column, reason)
                        if found_one not in found:  # a header cell: once, not per row
                            found.append(found_one)
                        if len(found) >= MAX_PROBLEMS:
                            return read, found
    return read, found


async def check(
    config_path: Path,
    region: str,
    opd: str,
    name: str,
    data: bytes,
    own: frozenset[str] | None = None,
) -> dict[str, Any]:
    try:
        config = load_config(config_path)
    except (MappingError, OSError) as exc:
        return {"source": None, "rows": 0, "problems": [], "error": f"rantai.toml: {exc}"}
    source = upload_source(config.sources, region, opd)
    if source is None:
        reason = "OPD ini tidak punya sumber unggahan Form A (uploads = true) di rantai.toml"
        return {"source": None, "rows": 0, "problems": [problem(None, None, None, reason)]}
    found = package_problems(data)
    if found:
        return {"source": source.id, "rows": 0, "problems": found, "package": True}
    with tempfile.TemporaryDirectory(prefix="rantai-upload-") as folder:
        file = Path(folder) / "upload.xlsx"
        file.write_bytes(data)
        try:
            rows, found = await row_problems(source, file, own)
        except (AdapterError, MissingColumns) as exc:
            reason = f"buku kerja tidak dapat dibaca: {str(exc).split(': ', 1)[-1]}"
            return {"source": source.id, "rows": 0, "problems": [problem(None, None, None, reason)]}
    if not rows and not found:
        found = [problem(None, None, None, "buku kerja tidak berisi satu baris pun di bawah judul")]
    return {"source": source.id, "rows": rows, "problems": found, "name": name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--opd", required=True)
    parser.add_argument("--name", default="upload.xlsx")
    parser.add_argument(
        "--own", type=Path, help="JSON list of the OPD's sub kegiatan codes (from the store)"
    )
    args = parser.parse_args()
    own = None if args.own is None else frozenset(json.loads(args.own.read_text()))
    for limit, value in ((resource.RLIMIT_AS, MEMORY_LIMIT), (resource.RLIMIT_CPU, CPU_SECONDS)):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, (value, value))
    data = sys.stdin.buffer.read()
    result = asyncio.run(check(args.config, args.region, args.opd, args.name, data, own))
    sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
