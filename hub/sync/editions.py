"""Loading a reference edition into the store (`rantai reference load FILE`).

Migration 0010 loads the editions shipped in hub/reference/; this loads a newer one:

* **regions** (`code,name,level,parent_code`): the Kemendagri code list is replaced by the
  file's (a code no longer listed leaves `reference_region`; the store's Pemda stay). A
  Pemda the hub created from the code list is renamed, re-levelled or re-parented as the
  new edition says, through the writer, so its history and outbox record it.
* **nomenclature** (`level,code,name,parent_code`): a new edition beside the others,
  in force from its first fiscal year for the annexes its codes cover. The plan's rows
  that were named by their code, for lack of an official name, get the new edition's
  name where it has one.

Each load is one transaction: a file with a problem loads nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hub import reference
from hub.db import PgConnection
from hub.sync.bindings import BY_ENTITY
from hub.sync.reference import REFERENCE_SOURCE, write_as
from hub.sync.writer import Item, Writer


class EditionError(ValueError):
    """An edition that cannot be loaded as asked (one already loaded under that name)."""


@dataclass
class LoadReport:
    kind: str
    edition: str
    rows: int
    counts: dict[str, int] = field(default_factory=dict)
    annexes: tuple[str, ...] = ()
    first_fiscal_year: int | None = None
    removed: int = 0  # codes of the previous region list no longer listed
    renamed: int = 0  # rows of the store given the new edition's name


async def load_regions(
    conn: PgConnection,
    regions: list[reference.ReferenceRegion],
    *,
    edition: str,
    origin: str | None,
    licence: str | None,
) -> LoadReport:
    counts = {
        level: sum(1 for r in regions if r.level == level) for level in reference.REGION_LEVELS
    }
    writer = Writer(conn, REFERENCE_SOURCE)
    async with writer.transaction():
        edition_id = await _edition(conn, "regions", edition, None, (), origin, licence, counts)
        await conn.execute(
            """
            INSERT INTO reference_region (code, name, level, parent_code, edition_id)
            SELECT c, n, l, p, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                AS v(c, n, l, p)
            ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level,
                parent_code = excluded.parent_code, edition_id = excluded.edition_id
            """,
            [r.code for r in regions],
            [r.name for r in regions],
            [r.level for r in regions],
            [r.parent_code for r in regions],
            edition_id,
        )
        removed = await conn.fetch(
            "DELETE FROM reference_region WHERE edition_id <> $1 RETURNING code", edition_id
        )
        changed = await conn.fetch(
            """
            SELECT rr.code, rr.name, rr.level, rr.parent_code FROM region r
            JOIN reference_region rr ON rr.code = r.code
            WHERE r.source_id = $1 AND (r.name, r.level, r.parent_code)
                IS DISTINCT FROM (rr.name, rr.level, rr.parent_code)
            ORDER BY length(rr.code), rr.code
            """,
            REFERENCE_SOURCE,
        )
        items = [Item(r["code"], dict(r)) for r in changed]
        outcome = await writer.write(BY_ENTITY["region"], items) if items else None
    return LoadReport(
        "regions",
        edition,
        len(regions),
        counts,
        removed=len(removed),
        renamed=outcome.updated if outcome is not None else 0,
    )


async def load_nomenclature(
    conn: PgConnection,
    nomenclature: reference.Nomenclature,
    *,
    edition: str,
    first_fiscal_year: int,
    origin: str | None,
    licence: str | None,
) -> LoadReport:
    counts = {
        "rows": nomenclature.counts,
        "file": nomenclature.file_counts,
        "expanded": nomenclature.expanded,
    }
    annexes = nomenclature.annexes
    writer = Writer(conn, None)
    async with writer.transaction():
        edition_id = await _edition(
            conn, "nomenclature", edition, first_fiscal_year, annexes, origin, licence, counts
        )
        await conn.copy_records_to_table(
            "nomenclature",
            records=[
                (edition_id, e.code, e.level, e.name, e.parent_code) for e in nomenclature.entries
            ],
            columns=("edition_id", "code", "level", "name", "parent_code"),
        )
        renamed = await _official_names(conn, writer)
    return LoadReport(
        "nomenclature",
        edition,
        len(nomenclature.entries),
        nomenclature.counts,
        annexes,
        first_fiscal_year,
        renamed=renamed,
    )


async def _edition(
    conn: PgConnection,
    kind: str,
    name: str,
    first_fiscal_year: int | None,
    annexes: tuple[str, ...],
    origin: str | None,
    licence: str | None,
    counts: dict[str, Any],
) -> int:
    if await conn.fetchval(
        "SELECT 1 FROM reference_edition WHERE kind = $1 AND name = $2", kind, name
    ):
        raise EditionError(
            f"the {kind} edition {name!r} is already loaded; give the newer edition its own "
            "name (--edition)"
        )
    edition_id: int = await conn.fetchval(
        """INSERT INTO reference_edition
            (kind, name, first_fiscal_year, annexes, origin, licence, counts)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING id""",
        kind,
        name,
        first_fiscal_year,
        list(annexes),
        origin,
        licence,
        json.dumps(counts),
    )
    return edition_id


# Rows of the plan named by their code (no official name was known when they were
# written) for which the edition in force now has a name.
_NAMED_BY_CODE = """
SELECT x.id, x.source_id, x.source_key, r.code AS region_code, x.fiscal_year, x.code,
       n.name {extra}
FROM {table} x JOIN region r ON r.id = x.region_id
JOIN nomenclature n
  ON n.edition_id = rantai_nomenclature_edition(x.fiscal_year, rantai_annex(x.code, r.level))
 AND n.code = x.code
WHERE x.name = x.code
ORDER BY x.id"""
_EXTRA = {
    "program": "",
    "activity": "",
    "sub_activity": ", (SELECT o.code FROM opd o WHERE o.id = x.opd_id) AS opd_code, "
    "x.planned_amount",
}


async def _official_names(conn: PgConnection, writer: Writer) -> int:
    renamed = 0
    for entity, extra in _EXTRA.items():
        rows = await conn.fetch(_NAMED_BY_CODE.format(table=entity, extra=extra))
        by_source: dict[str, list[Item]] = defaultdict(list)
        for row in rows:
            record = dict(row)
            for private in ("id", "source_id", "source_key"):
                del record[private]
            by_source[row["source_id"]].append(Item(row["source_key"], record))
        for source_id, items in by_source.items():
            outcome = await write_as(writer, source_id, BY_ENTITY[entity], items)
            renamed += outcome.updated
    return renamed


async def editions(conn: PgConnection) -> list[dict[str, Any]]:
    """Every loaded edition, newest first per kind."""
    rows = await conn.fetch(
        """SELECT kind, name, first_fiscal_year, annexes, origin, licence, counts, loaded_at
        FROM reference_edition ORDER BY kind, first_fiscal_year DESC NULLS LAST, id DESC"""
    )
    out = []
    for row in rows:
        entry = dict(row)
        counts = entry["counts"]
        entry["counts"] = json.loads(counts) if isinstance(counts, str) else counts
        out.append(entry)
    return out
