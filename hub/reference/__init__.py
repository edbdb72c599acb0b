"""Reference data shipped with the hub: Kemendagri region codes and the planning
nomenclature (urusan, bidang urusan, program, kegiatan, sub kegiatan), with their editions.

The files live beside this module (`regions.csv`, `nomenclature.csv`; origin, edition and
licence in `README.md` and `sources.json`). Migration 0010 loads them into the store and
`rantai reference load FILE` loads a newer edition; both read them through this module, which
checks every row and reports `file:line: reason`. The demo estate reads the nomenclature
here too, so that its plan uses real codes and names.

The nomenclature file keeps the decree's one generic "Program Penunjang Urusan Pemerintahan
Daerah Kabupaten/Kota", written with `X` for urusan and `XX` for bidang (`X.XX.01.2.01.0001`):
the decree lists it once and it applies to every bidang urusan. `read_nomenclature` expands
it per bidang of the file (`1.02.01.2.01.0001`, …), the codes SIPD uses, and says so in
`Nomenclature.expanded`.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
REGIONS_CSV = HERE / "regions.csv"
NOMENCLATURE_CSV = HERE / "nomenclature.csv"

REGION_LEVELS = ("PROVINCE", "REGENCY", "CITY")
LEVELS = ("urusan", "bidang_urusan", "program", "kegiatan", "sub_kegiatan")
SEGMENTS = {"urusan": 1, "bidang_urusan": 2, "program": 3, "kegiatan": 5, "sub_kegiatan": 6}
WIDTHS = (1, 2, 2, 1, 2, 4)  # U.BB.PP.L.KK.SSSS
# The annex a code belongs to: the 4th segment of a kegiatan or sub kegiatan code is 1 for a
# province and 2 (or a special-autonomy variant: 3, 4 Papua, 5 DIY, 7 Aceh) for a
# regency/city. Program codes and above are shared: their annex is the Pemda's.
PROVINCIAL, REGENCY_CITY = "provinsi", "kabkota"
ANNEXES = (PROVINCIAL, REGENCY_CITY)

# The editions shipped in this folder (README.md says how each was obtained).
SHIPPED_REGIONS_EDITION = "Kepmendagri 300.2.2-2138/2025 jo. 300.2.2-2430/2025"
SHIPPED_REGIONS_ORIGIN = "github.com/cahyadsn/wilayah db/wilayah.sql (blob 182a51a9)"
SHIPPED_REGIONS_LICENCE = "MIT (c) 2017-2025 Cahya DSN; codes and names: Kepmendagri"
SHIPPED_NOMENCLATURE_EDITION = "Kepmendagri 050-5889/2021 jo. 900.1.15.5-1317/2023"
SHIPPED_NOMENCLATURE_ORIGIN = (
    "github.com/allweDepth/sesendok public/template/11. Sub keg 900.xlsx (blob 1992d694)"
)
SHIPPED_NOMENCLATURE_LICENCE = (
    "none declared by the repository; the content is a Kepmendagri annex (UU 28/2014 Pasal 42)"
)
# 900.1.15.5-1317/2023 was issued in June 2023 for the 2024 budget.
SHIPPED_NOMENCLATURE_FIRST_YEAR = 2024


class ReferenceFileError(ValueError):
    """A reference file that cannot be loaded; the message lists `file:line: reason`."""

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        shown = [f"{path}:{line}: {reason}" for line, reason in problems[:20]]
        if len(problems) > 20:
            shown.append(f"{path}: … and {len(problems) - 20} more problems")
        super().__init__("\n".join(shown))


@dataclass(frozen=True)
class ReferenceRegion:
    code: str  # "53", "53.18"
    name: str
    level: str  # PROVINCE, REGENCY, CITY
    parent_code: str | None


@dataclass(frozen=True)
class NomenclatureEntry:
    level: str  # one of LEVELS
    code: str
    name: str
    parent_code: str | None

    @property
    def annex(self) -> str | None:
        """`provinsi` or `kabkota` for a kegiatan or sub kegiatan; None above (shared)."""
        return annex_of_code(self.code)


@dataclass(frozen=True)
class Nomenclature:
    """A nomenclature file as loaded: its rows (templates expanded) and what they cover."""

    entries: tuple[NomenclatureEntry, ...]
    expanded: int = 0  # rows made from the `X` template
    file_counts: dict[str, int] = field(default_factory=dict)  # rows per level in the file

    @property
    def counts(self) -> dict[str, int]:
        """Rows per level once the template is expanded."""
        counted = Counter(e.level for e in self.entries)
        return {level: counted[level] for level in LEVELS}

    @property
    def annexes(self) -> tuple[str, ...]:
        """The annexes the file covers: those of its kegiatan and sub kegiatan codes."""
        found = {e.annex for e in self.entries if e.annex is not None}
        return tuple(a for a in ANNEXES if a in found)

    def codes(self, *, annex: str | None = None) -> frozenset[str]:
        """Every code, or those a Pemda of `annex` may use (kegiatan and sub kegiatan of
        that annex, and every shared code above them)."""
        return frozenset(e.code for e in self.entries if annex is None or e.annex in (None, annex))


def annex_of_code(code: str) -> str | None:
    """The annex of a kegiatan or sub kegiatan code by its 4th segment; None for a program
    or above, whose annex is that of the Pemda using it."""
    parts = code.split(".")
    if len(parts) < 4:
        return None
    return PROVINCIAL if parts[3] == "1" else REGENCY_CITY


def annex_of(code: str, region_level: str) -> str:
    """The annex a code is checked against for a Pemda of `region_level`."""
    return annex_of_code(code) or (PROVINCIAL if region_level == "PROVINCE" else REGENCY_CITY)


# --------------------------------------------------------------------------- regions


def read_regions(path: Path = REGIONS_CSV) -> list[ReferenceRegion]:
    """Every province and regency/city of a regions file (`code,name,level,parent_code`).

    Codes are `PP` or `PP.KK`; a regency or city names its province as parent, and the
    province is in the file. A problem anywhere raises ReferenceFileError with every line.
    """
    rows, problems = _rows(path, ("code", "name", "level", "parent_code"))
    regions: list[ReferenceRegion] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        code, name, level = row["code"], row["name"], row["level"]
        parent = row["parent_code"] or None
        if not _is_region_code(code):
            problems.append((line, f"code {code!r} is not a region code (53 or 53.18)"))
            continue
        if code in seen:
            problems.append((line, f"code {code} is already on line {seen[code]}"))
            continue
        seen[code] = line
        if not name:
            problems.append((line, f"region {code} has no name"))
        if level not in REGION_LEVELS:
            problems.append(
                (line, f"level {level!r} of {code} is not one of {', '.join(REGION_LEVELS)}")
            )
        elif (level == "PROVINCE") != ("." not in code):
            form = "province" if "." not in code else "regency/city"
            problems.append((line, f"{code} is a {form} code but its level is {level}"))
        expected = code.split(".")[0] if "." in code else None
        if parent != expected:
            problems.append(
                (line, f"parent of {code} must be {expected or 'empty'}, not {parent!r}")
            )
        regions.append(ReferenceRegion(code, name, level, parent))
    codes = {r.code for r in regions}
    for region in regions:
        if region.parent_code is not None and region.parent_code not in codes:
            problems.append(
                (
                    seen[region.code],
                    f"the province {region.parent_code} of {region.code} is not in the file",
                )
            )
    if problems:
        raise ReferenceFileError(path, sorted(problems))
    return regions


def _is_region_code(code: str) -> bool:
    parts = code.split(".")
    return 1 <= len(parts) <= 2 and all(len(p) == 2 and p.isascii() and p.isdigit() for p in parts)


# --------------------------------------------------------------------------- nomenclature

TEMPLATE_URUSAN, TEMPLATE_BIDANG = "X", "XX"


def read_nomenclature(path: Path = NOMENCLATURE_CSV) -> Nomenclature:
    """The rows of a nomenclature file (`level,code,name,parent_code`), checked, with the
    `X.XX` template expanded per bidang urusan of the file."""
    rows, problems = _rows(path, ("level", "code", "name", "parent_code"))
    entries: list[NomenclatureEntry] = []
    template: list[NomenclatureEntry] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        level, code, name = row["level"], row["code"], row["name"]
        parent = row["parent_code"] or None
        if level not in LEVELS:
            problems.append((line, f"level {level!r} is not one of {', '.join(LEVELS)}"))
            continue
        if code in seen:
            problems.append((line, f"code {code} is already on line {seen[code]}"))
            continue
        seen[code] = line
        if not name:
            problems.append((line, f"{level} {code} has no name"))
        is_template = code.startswith(TEMPLATE_URUSAN)
        reason = _code_problem(code, level, template=is_template)
        if reason:
            problems.append((line, reason))
            continue
        expected = ".".join(code.split(".")[: _parent_segments(level)]) or None
        if parent != expected:
            problems.append((line, f"parent of {level} {code} must be {expected or 'empty'}"))
        entry = NomenclatureEntry(level, code, name, parent)
        (template if is_template else entries).append(entry)
    for entry in [*entries, *template]:
        if entry.parent_code is not None and entry.parent_code not in seen:
            problems.append(
                (
                    seen[entry.code],
                    f"the parent {entry.parent_code} of {entry.code} is not in the file",
                )
            )
    if problems:
        raise ReferenceFileError(path, sorted(problems))
    file_counts = Counter(e.level for e in [*entries, *template])
    expanded = list(_expand(template, [e for e in entries if e.level == "bidang_urusan"]))
    known = {e.code for e in entries}
    # A file may list a bidang's own support program too: the explicit row wins.
    added = [e for e in expanded if e.code not in known]
    merged = sorted([*entries, *added], key=lambda e: _sort_key(e.code))
    return Nomenclature(tuple(merged), len(added), {level: file_counts[level] for level in LEVELS})


def _expand(
    template: list[NomenclatureEntry], bidang: list[NomenclatureEntry]
) -> Iterable[NomenclatureEntry]:
    for b in bidang:
        for entry in template:
            if entry.level in ("urusan", "bidang_urusan"):
                continue
            yield NomenclatureEntry(
                entry.level,
                b.code + entry.code[len("X.XX") :],
                entry.name,
                b.code + (entry.parent_code or "")[len("X.XX") :],
            )


def _parent_segments(level: str) -> int:
    index = LEVELS.index(level)
    return 0 if index == 0 else SEGMENTS[LEVELS[index - 1]]


def _code_problem(code: str, level: str, *, template: bool) -> str | None:
    parts = code.split(".")
    want = SEGMENTS[level]
    if len(parts) != want:
        return f"{level} code {code!r} has {len(parts)} segment(s) instead of {want}"
    for position, (part, width) in enumerate(zip(parts, WIDTHS, strict=False), start=1):
        if template and position == 1 and part == TEMPLATE_URUSAN:
            continue
        if template and position == 2 and part == TEMPLATE_BIDANG:
            continue
        if len(part) != width or not (part.isascii() and part.isdigit()):
            return f"{level} code {code!r}: segment {position} must be {width} digit(s)"
    return None


def _sort_key(code: str) -> tuple[int, ...]:
    return tuple(int(p) for p in code.split("."))


# --------------------------------------------------------------------------- files


def _rows(
    path: Path, header: tuple[str, ...]
) -> tuple[list[tuple[int, dict[str, str]]], list[tuple[int, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceFileError(path, [(1, f"cannot read the file: {exc}")]) from None
    reader = csv.reader(text.splitlines())
    first = next(reader, None)
    if first is None or tuple(c.strip() for c in first) != header:
        raise ReferenceFileError(
            path, [(1, f"the header must be {','.join(header)}, not {','.join(first or [])!r}")]
        )
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[tuple[int, str]] = []
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append((line, f"{len(values)} columns instead of {len(header)}"))
            continue
        rows.append((line, {k: " ".join(v.split()) for k, v in zip(header, values, strict=True)}))
    return rows, problems


def kind_of_file(path: Path) -> str | None:
    """`regions` or `nomenclature`, by the file's header; None when it is neither."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            first = handle.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    header = tuple(c.strip() for c in first.split(","))
    if header == ("code", "name", "level", "parent_code"):
        return "regions"
    if header == ("level", "code", "name", "parent_code"):
        return "nomenclature"
    return None
