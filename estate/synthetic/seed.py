"""`seed_canonical`: a whole synthetic store, Pemda by Pemda, written with COPY."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from estate.synthetic.chain import Rows, sub_activity_chain
from estate.synthetic.vocabulary import (
    METHODS,
    OBJECTS,
    OPD_KINDS,
    REGIONS,
    SOURCES,
    VENDOR_PREFIX,
    VENDOR_WORDS,
    WORKS,
)


@dataclass
class SeedStats:
    counts: dict[str, int] = field(default_factory=dict)
    fiscal_year: int = 2025


async def seed_canonical(
    conn: asyncpg.Connection,
    *,
    sub_activities: int,
    seed: int = 1,
    fiscal_year: int = 2025,
    regions: Sequence[tuple[str, str, str]] | None = None,
) -> SeedStats:
    """Write a store of about `sub_activities` sub-activities with their whole chain.

    `regions` (code, name, level), the province first, replaces the default three Pemda;
    the province then gets half of the sub-activities and its regencies share the rest.
    """
    rng = random.Random(seed)
    now = datetime(fiscal_year, 11, 1, tzinfo=UTC)
    rows = Rows()
    prov = ("source_id", "source_key", "source_updated_at", "synced_at")

    def p(source: str, key: str) -> tuple[Any, ...]:
        return (source, key, now, now)

    for sid, name, kind in SOURCES:
        await conn.execute(
            "INSERT INTO source (id, name, kind, status, last_synced_at, last_success_at, rows)"
            " VALUES ($1, $2, $3, 'OK', $4, $4, 0) ON CONFLICT (id) DO NOTHING",
            sid,
            name,
            kind,
            datetime.now(UTC),
        )
    region_ids: dict[str, int] = {}
    plan = (
        REGIONS
        if regions is None
        else [
            (c, n, lvl, None if i == 0 else regions[0][0]) for i, (c, n, lvl) in enumerate(regions)
        ]
    )
    for code, name, level, parent in plan:
        region_ids[code] = rows.add(
            "region",
            ("code", "name", "level", "parent_code", "parent_id", *prov),
            (code, name, level, parent, region_ids.get(parent or ""), *p("ref-kemendagri", code)),
        )

    vendors: list[tuple[int, str, str]] = []
    for i in range(max(50, sub_activities // 6)):
        words = " ".join(rng.choice(VENDOR_WORDS) for _ in range(2))
        name = f"{rng.choice(VENDOR_PREFIX)} {words} {i:03d}"
        npwp = f"{rng.randrange(10**14, 10**15)}"
        vid = rows.add(
            "vendor",
            ("vendor_key", "name", "tax_id", *prov),
            (npwp, name, npwp, *p("bpbj-spse", npwp)),
        )
        vendors.append((vid, name, npwp))

    # Spread the sub-activities: half to the province, a quarter to each regency.
    if regions is None:
        shares = {"53": sub_activities // 2, "53.01": sub_activities // 4}
        shares["53.71"] = sub_activities - sum(shares.values())
    else:
        province, *others = [r[0] for r in regions]
        shares = {province: sub_activities // 2}
        for n, code in enumerate(others):
            shares[code] = (sub_activities - sub_activities // 2) // len(others) + (
                n < (sub_activities - sub_activities // 2) % len(others)
            )
    rup_seq = 30_000_000 + seed * 1_000_000
    tender_seq = 10_000 + seed * 100_000
    sp2d_seq = 0
    method_pool = [m for m in METHODS for _ in range(m[2])]

    for region_code, count in shares.items():
        region_id = region_ids[region_code]
        level_digit = 1 if "." not in region_code else 2
        opd_ids: list[tuple[int, str, str]] = []
        for bidang, opd_name, _ in OPD_KINDS:
            code = f"{bidang}.0.00.0.00.01.0000"
            oid = rows.add(
                "opd",
                ("region_id", "code", "name", *prov),
                (region_id, code, opd_name, *p("bappeda-eplanning", f"{region_code}/{code}")),
            )
            opd_ids.append((oid, bidang, code))
        made = 0
        serial = 0
        while made < count:
            for (opd_id, bidang, opd_code), (_, _, programs) in zip(
                opd_ids, OPD_KINDS, strict=True
            ):
                if made >= count:
                    break
                serial += 1
                program_no = 10 + serial % len(programs)
                program_code = f"{bidang}.{program_no:02d}"
                program_key = (region_id, program_code)
                program_id = rows.known.get(("program", program_key))
                if program_id is None:
                    program_id = rows.known[("program", program_key)] = rows.add(
                        "program",
                        ("region_id", "fiscal_year", "code", "name", *prov),
                        (
                            region_id,
                            fiscal_year,
                            program_code,
                            programs[serial % len(programs)],
                            *p("bappeda-eplanning", f"{region_code}/{fiscal_year}/{program_code}"),
                        ),
                    )
                activity_code = f"{program_code}.{level_digit}.{1 + serial % 7:02d}"
                activity_key = (region_id, activity_code)
                activity_id = rows.known.get(("activity", activity_key))
                if activity_id is None:
                    activity_id = rows.known[("activity", activity_key)] = rows.add(
                        "activity",
                        ("region_id", "program_id", "fiscal_year", "code", "name", *prov),
                        (
                            region_id,
                            program_id,
                            fiscal_year,
                            activity_code,
                            f"Kegiatan {rng.choice(WORKS)} {rng.choice(OBJECTS)}",
                            *p("bappeda-eplanning", f"{region_code}/{fiscal_year}/{activity_code}"),
                        ),
                    )
                sa_code = f"{activity_code}.{serial:04d}"
                made += 1
                sub_activity_chain(
                    rows,
                    rng,
                    p,
                    now,
                    vendors,
                    method_pool,
                    region_id,
                    region_code,
                    (opd_id, opd_code),
                    activity_id,
                    fiscal_year,
                    sa_code,
                    rup_seq + made,
                    tender_seq + made,
                    sp2d_seq,
                )
                rup_seq += 8
                tender_seq += 8
                sp2d_seq += 8

    stats = SeedStats(fiscal_year=fiscal_year)
    # The one import from the hub: its canonical models declare the store's tables, and
    # their foreign keys give the order in which the tables can be filled.
    from hub.store.models import metadata

    order = [t.name for t in metadata.sorted_tables if t.name in rows.tables]
    for table in order:
        table_rows = rows.tables[table]
        columns = list(rows.columns[table])
        await conn.copy_records_to_table(table, records=table_rows, columns=columns)
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
        stats.counts[table] = len(table_rows)
    # The store's rollup per sub kegiatan, noted by its triggers, as a sync run ends with.
    await conn.execute("SELECT refresh_sub_activity_rollup()")
    await conn.execute("ANALYZE")
    return stats
