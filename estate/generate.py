"""`generate_estate`: a deterministic legacy estate — databases, workbooks, mappings, manifest."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from estate import names, rules
from estate.builder.region import RegionBuilder, RegionPlan
from estate.finance_mappings import finance_map
from estate.legacy.eplanning import eplanning_tables
from estate.legacy.esurat import esurat_tables
from estate.legacy.finance import finance_tables
from estate.legacy.formats import FLAVOUR_D_REGION, flavour_of, procurement_flavour
from estate.legacy.monev import MONEV_LAYOUT, monev_workbooks
from estate.legacy.procurement import procurement_tables
from estate.legacy.tables import Table
from estate.mappings import (
    SourceMap,
    eplanning_map,
    esurat_map,
    monev_map,
    procurement_map,
    to_toml,
)
from estate.model import RegionYear, as_of
from estate.writers import (
    with_database,
    write_mariadb,
    write_postgres,
    write_sqlite,
    write_workbooks,
)

SCALES = ("small", "province", "ntt")
MANIFEST = "estate-manifest.json"
CONFIG = "rantai.toml"


def region_plans(scale: str) -> list[RegionPlan]:
    """Per fiscal year: sub-activities, OPDs, RUP packages per sub-activity, seeds per rule."""
    small_province = RegionPlan("53", 60, 10, 3.0, (1, 2), 6)
    small_regencies = [
        RegionPlan(code, 40, 8, 3.0, (1, 2), 5, indicators=_indicators(code))
        for code in ("53.01", "53.71", FLAVOUR_D_REGION)
    ]
    province = RegionPlan("53", 3500, 33, 5.1, (3, 6), 20)  # ≈16k RUP packages a year
    if scale == "small":
        return [small_province, *small_regencies]
    if scale == "province":
        return [province, *small_regencies]
    if scale == "ntt":
        return [province] + [
            RegionPlan(code, 3500, 30, 3.5, (2, 4), 20, indicators=_indicators(code))
            for code, _, _ in names.REGIONS[1:]
        ]
    raise ValueError(f"unknown scale {scale!r}; one of {', '.join(SCALES)}")


def _indicators(region: str) -> tuple[int, int]:
    """Indicators per sub kegiatan: flavour D's Renja holds one, on the sub kegiatan's row."""
    return (1, 1) if flavour_of(region) == "D" else (1, 2)


@dataclass(frozen=True)
class EstateResult:
    data_dir: Path
    config: Path  # rantai.toml
    manifest: Path  # estate-manifest.json
    sources: tuple[str, ...]
    postgres_databases: tuple[str, ...]
    mariadb_databases: tuple[str, ...]
    sqlite_files: tuple[Path, ...]
    counts: dict[str, int] = field(default_factory=dict)  # canonical entity → rows
    discrepancies: dict[str, int] = field(default_factory=dict)  # rule code → count
    seconds: float = 0.0


def _rc(region: str) -> str:
    return region.replace(".", "")


def _amount(value: int) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


async def generate_estate(
    data_dir: Path,
    *,
    scale: str = "small",
    seed: int = 1,
    pg_url: str | None,
    mariadb_url: str | None,
    fiscal_years: tuple[int, ...] | None = None,
    db_prefix: str = "legacy",
) -> EstateResult:
    """Generate the legacy estate of `scale` into `data_dir` and the given servers.

    `pg_url` is an admin URL of a PostgreSQL server (any database on it); the e-planning and
    procurement databases `<db_prefix>_bappeda_<region>` and `<db_prefix>_bpbj_<region>` are
    dropped and created there. None starts the embedded server of `data_dir` (hub.db) for the
    run. `mariadb_url` (e.g. mysql://root@127.0.0.1:3306) receives `<db_prefix>_bpkad_<region>`;
    None writes the finance databases as SQLite files under `data_dir/legacy/`.
    `fiscal_years` defaults to the current year and the one before; the latest year is
    generated as it stands on 28 November (Q1–Q3 reported, not yet closed).
    """
    started = time.monotonic()
    plans = region_plans(scale)
    if fiscal_years is None:
        today = date.today()
        fiscal_years = (today.year - 1, today.year)
    years = tuple(sorted(set(fiscal_years)))
    if not 1 <= len(years) <= 5:
        raise ValueError("give one to five fiscal years")
    data_dir = Path(data_dir)
    embedded = None
    if pg_url is None:
        # The hub's own embedded server of the data dir (shared with any `rantai` process on
        # it, decision 2 of docs/architecture.md): the one place the generator uses the hub.
        from hub.db import EmbeddedPostgres

        embedded = EmbeddedPostgres(data_dir)
        pg_url = await asyncio.to_thread(embedded.start)
    try:
        return await _generate(
            data_dir, scale, seed, pg_url, mariadb_url, years, db_prefix, plans, started
        )
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _generate(
    data_dir: Path,
    scale: str,
    seed: int,
    pg_url: str,
    mariadb_url: str | None,
    years: tuple[int, ...],
    db_prefix: str,
    plans: list[RegionPlan],
    started: float,
) -> EstateResult:
    legacy = data_dir / "legacy"
    mappings = data_dir / "mappings"
    for folder in (legacy, mappings):
        folder.mkdir(parents=True, exist_ok=True)
    for old in mappings.glob("*.toml"):
        if old.name.split("-")[0] in ("bappeda", "bpkad", "bpbj", "monev", "esurat"):
            old.unlink()
    shutil.rmtree(legacy / "monev", ignore_errors=True)
    for pattern in ("bpkad_*.sqlite", "esurat_*.sqlite"):
        for old in legacy.glob(pattern):
            old.unlink()

    manifest: dict[str, Any] = {
        "generator": "estate",
        "scale": scale,
        "seed": seed,
        "fiscal_years": list(years),
        "as_of": as_of(years).isoformat(),
        "regions": [p.region for p in plans],
        "config": CONFIG,
        "sources": {},
        "totals": {},
        "discrepancies": {},
        "discrepancies_by_region": {},
    }
    found: dict[str, list[str]] = {code: [] for code in rules.RULES}
    counts: dict[str, int] = {}
    source_ids: list[str] = []
    pg_dbs: list[str] = []
    maria_dbs: list[str] = []
    sqlite_files: list[Path] = []

    for plan in plans:
        region, rc = plan.region, _rc(plan.region)
        region_years = RegionBuilder(plan, seed, years).build()
        _record(manifest, found, counts, region_years)

        bappeda_db = f"{db_prefix}_bappeda_{rc}"
        bpbj_db = f"{db_prefix}_bpbj_{rc}"
        bpkad_db = f"{db_prefix}_bpkad_{rc}"
        with_regions = region == "53"
        # Flavour D has no e-planning database: its Renja is in the finance database.
        has_eplanning = flavour_of(region) != "D"
        eplanning = (
            eplanning_tables(region, region_years, seed, with_regions=with_regions)
            if has_eplanning
            else []
        )
        finance = finance_tables(region, region_years, seed)
        procurement = procurement_tables(region, region_years, seed)
        workbooks = monev_workbooks(region, region_years)
        letters = esurat_tables(region, region_years)
        counts["letter"] = counts.get("letter", 0) + sum(len(t.rows) for t in letters)
        esurat_path = legacy / f"esurat_{rc}.sqlite"
        sqlite_files.append(esurat_path)
        monev_dir = legacy / "monev" / region
        monev_ext = "csv" if flavour_of(region) == "D" else "xlsx"

        writes = [
            write_postgres(pg_url, bpbj_db, procurement),
            asyncio.to_thread(write_workbooks, monev_dir, workbooks),
            asyncio.to_thread(write_sqlite, esurat_path, letters),
        ]
        if has_eplanning:
            writes.append(write_postgres(pg_url, bappeda_db, eplanning))
        if mariadb_url is not None:
            writes.append(write_mariadb(mariadb_url, bpkad_db, finance))
            finance_kind, finance_url = "mariadb", with_database(mariadb_url, bpkad_db, "mysql")
            maria_dbs.append(bpkad_db)
        else:
            sqlite_path = legacy / f"bpkad_{rc}.sqlite"
            writes.append(asyncio.to_thread(write_sqlite, sqlite_path, finance))
            finance_kind, finance_url = "sqlite", f"sqlite:///../legacy/{sqlite_path.name}"
            sqlite_files.append(sqlite_path)
        await asyncio.gather(*writes)
        pg_dbs += [bappeda_db, bpbj_db] if has_eplanning else [bpbj_db]

        bappeda_url = with_database(pg_url, bappeda_db, "postgresql")
        bpbj_url = with_database(pg_url, bpbj_db, "postgresql")
        monev_path = f"../legacy/monev/{region}/*.{monev_ext}"
        sources: list[tuple[SourceMap, Sequence[Table] | None, str | None]] = []
        if has_eplanning:
            eplanning_source = eplanning_map(region, bappeda_url, with_regions=with_regions)
            sources.append((eplanning_source, eplanning, bappeda_db))
        sources += [
            (finance_map(region, finance_kind, finance_url), finance, None),
            (procurement_map(region, bpbj_url), procurement, bpbj_db),
            (monev_map(region, monev_path), None, None),
            (
                esurat_map(region, "sqlite", f"sqlite:///../legacy/{esurat_path.name}"),
                letters,
                None,
            ),
        ]
        for source, tables, database in sources:
            (mappings / f"{source.id}.toml").write_text(to_toml(source), encoding="utf-8")
            source_ids.append(source.id)
            entry: dict[str, Any] = {
                "kind": source.kind,
                "region": region,
                # Each source's own shape: a Pemda's SPSE may differ from its finance system.
                "flavour": procurement_flavour(region)
                if source.id.startswith("bpbj-")
                else flavour_of(region),
                "mapping": f"mappings/{source.id}.toml",
                "watermark": any(e.watermark for e in source.entities),
            }
            if source.url is not None:
                entry["url"] = source.url
            if source.kind == "mariadb":
                entry["database"] = bpkad_db
            elif database is not None:
                entry["database"] = database
            if source.path is not None:
                entry["path"] = f"legacy/monev/{region}/*.{monev_ext}"
                entry["files"] = len(workbooks)
                entry["rows"] = sum(len(w.rows) - int(_header_row(region)) for w in workbooks)
            if tables is not None:
                entry["tables"] = {t.name: len(t.rows) for t in tables}
            manifest["sources"][source.id] = entry
        del region_years, eplanning, finance, procurement, workbooks, letters

    for code in rules.RULES:
        family = next(n for n, codes in rules.FAMILIES.items() if code in codes)
        keys = sorted(found[code])
        manifest["discrepancies"][code] = {
            "family": family,
            "count": len(keys),
            "examples": keys[:200],
        }
    config = data_dir / CONFIG
    config.write_text(_config_text(scale, seed, source_ids, as_of(years)), encoding="utf-8")
    manifest_path = data_dir / MANIFEST
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return EstateResult(
        data_dir=data_dir,
        config=config,
        manifest=manifest_path,
        sources=tuple(source_ids),
        postgres_databases=tuple(pg_dbs),
        mariadb_databases=tuple(maria_dbs),
        sqlite_files=tuple(sqlite_files),
        counts=counts,
        discrepancies={code: len(found[code]) for code in rules.RULES},
        seconds=round(time.monotonic() - started, 2),
    )


def _header_row(region: str) -> int:
    return int(MONEV_LAYOUT[flavour_of(region)]["header_row"])


def _record(
    manifest: dict[str, Any],
    found: dict[str, list[str]],
    counts: dict[str, int],
    region_years: Sequence[RegionYear],
) -> None:
    for ry in region_years:
        findings = rules.detect(ry)  # equal to the seeds: RegionBuilder.build checked it
        for code, keys in findings.items():
            found[code] += keys
        by_region = manifest["discrepancies_by_region"].setdefault(ry.region, {})
        by_region[str(ry.fiscal_year)] = {c: len(k) for c, k in findings.items() if k}
        contracts = ry.contracts
        planned = [sa for sa in ry.sub_activities if sa.in_plan]
        tally = {
            "program": len(ry.programs),
            "activity": len(ry.activities),
            "sub_activity": len(planned),
            "indicator": len(ry.indicators),
            "budget_line": len(ry.budget_lines),
            "payment": len(ry.payments),
            "procurement_package": len(ry.packages),
            "tender": len(ry.tenders),
            "bid": sum(len(t.bids) for t in ry.tenders),
            "contract": len(contracts),
            "contract_amendment": sum(len(c.amendments) for c in contracts),
            "progress_report": len(ry.progress),
        }
        totals: dict[str, Any] = {
            "dpa": _amount(sum(line.amount for line in ry.budget_lines)),
            "sp2d": _amount(sum(p.amount for p in ry.payments)),
            "rup_pagu": _amount(sum(p.pagu for p in ry.packages)),
            "contract_value": _amount(sum(c.value for c in contracts)),
            "counts": tally,
        }
        manifest["totals"].setdefault(ry.region, {})[str(ry.fiscal_year)] = totals
        for entity, n in tally.items():
            counts[entity] = counts.get(entity, 0) + n
    counts["region"] = len(names.REGIONS)
    counts["opd"] = counts.get("opd", 0) + len(region_years[0].opds)


def _config_text(scale: str, seed: int, source_ids: Sequence[str], day: date) -> str:
    lines = [
        f"# The demo legacy estate (scale {scale}, seed {seed}), written by estate.",
        f"# Regenerate with `rantai estate generate`; see {MANIFEST} for what it holds.",
        "",
        "# The rules compare deadlines with the day the estate's data stands on, not the",
        "# calendar: its findings are exactly those the manifest lists, on any day.",
        "[discrepancies]",
        f"as_of = {day.isoformat()}",
    ]
    for source_id in source_ids:
        lines += ["", "[[source]]", f'mapping = "mappings/{source_id}.toml"']
    return "\n".join(lines) + "\n"
