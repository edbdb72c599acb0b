"""What a batch takes from the reference data and from what its rows already say.

Run by the writer (`Writer.write`, `Writer._resolve`) inside the batch's transaction, so
everything made here commits with the rows that needed it, with its history and outbox:

* **Pemda from the reference data.** A row naming a Pemda the store does not have yet
  creates it (and its province) from `reference_region`, the Kemendagri code list: no
  source has to list the Pemda. Their provenance is the `reference` source.
* **Official names.** A program, kegiatan or sub kegiatan named only by its code gets its
  name from the nomenclature edition in force for its fiscal year and annex
  (`rantai_nomenclature_edition`); a code the nomenclature does not know is kept, named by
  its code, and raised by CODE_NOT_IN_NOMENCLATURE.
* **The OPD a row names.** A sub kegiatan, DPA line, SP2D or RUP package with `opd_code`
  and `opd_name` creates that OPD in its Pemda when it does not exist, and renames an OPD
  this source created; an OPD another source lists keeps that source's name.
* **Parents from the code.** When a source maps no program or kegiatan rows, the kegiatan
  of a sub kegiatan (its first five segments) and the program of a kegiatan (its first
  three) are derived from the codes, named from the nomenclature.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from adapters.base import AdapterError
from hub.db import PgConnection
from hub.sync.bindings import BY_ENTITY, Binding, prefix

if TYPE_CHECKING:
    from hub.sync.writer import Item, Outcome, Writer

REFERENCE_SOURCE = "reference"
NAMED = frozenset({"program", "activity", "sub_activity"})
DERIVABLE = {"activity": 5, "program": 3}  # parent entity → segments of the child's code
WITH_OPD = frozenset({"sub_activity", "budget_line", "payment", "procurement_package"})

_REGIONS = """
WITH RECURSIVE wanted AS (
    SELECT rr.code, rr.name, rr.level, rr.parent_code FROM reference_region rr
    WHERE rr.code = ANY($1::text[])
    UNION
    SELECT p.code, p.name, p.level, p.parent_code FROM reference_region p
    JOIN wanted w ON p.code = w.parent_code
)
SELECT w.code, w.name, w.level, w.parent_code FROM wanted w
WHERE NOT EXISTS (SELECT 1 FROM region r WHERE r.code = w.code)
ORDER BY length(w.code), w.code"""

_NAMES = """
SELECT k.region, k.fy, k.code, n.name
FROM unnest($1::text[], $2::int[], $3::text[]) AS k(region, fy, code)
JOIN region r ON r.code = k.region
JOIN nomenclature n
  ON n.edition_id = rantai_nomenclature_edition(k.fy, rantai_annex(k.code, r.level))
 AND n.code = k.code"""


class Enrichment:
    """One writer's view of the reference data, and the parents it may derive."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn
        # Entities whose rows are derived from their children's codes: those the
        # source maps no stream of (set by the engine per source).
        self.derive: frozenset[str] = frozenset()
        self._names: dict[tuple[str, int, str], str | None] = {}
        self._known_regions: set[str] = set()

    # -- Pemda ---------------------------------------------------------------------------

    async def ensure_regions(self, writer: Writer, codes: Iterable[str | None]) -> Counter[str]:
        """Create the Pemda among `codes` (and their provinces) that the store lacks and
        the reference data has. Returns how many were created."""
        wanted = sorted({c for c in codes if c and c not in self._known_regions})
        if not wanted:
            return Counter()
        rows = await self.conn.fetch(_REGIONS, wanted)
        created: Counter[str] = Counter()
        if rows:
            from hub.sync.writer import Item

            items = [
                Item(
                    r["code"],
                    {
                        "code": r["code"],
                        "name": r["name"],
                        "level": r["level"],
                        "parent_code": r["parent_code"],
                    },
                )
                for r in rows
            ]
            outcome = await write_as(writer, REFERENCE_SOURCE, BY_ENTITY["region"], items)
            created["region"] += outcome.created
        found = await self.conn.fetch("SELECT code FROM region WHERE code = ANY($1)", wanted)
        self._known_regions.update(r["code"] for r in found)
        return created

    async def region_exists(self, code: str) -> bool:
        """Whether `code` names a Pemda of the store or of the reference data."""
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM region WHERE code = $1) "
                "OR EXISTS (SELECT 1 FROM reference_region WHERE code = $1)",
                code,
            )
        )

    # -- names, OPD ----------------------------------------------------------------------

    async def prepare(
        self, writer: Writer, binding: Binding, items: Sequence[Item], outcome: Outcome
    ) -> Sequence[Item]:
        """The batch's items once their Pemda, OPD and names are there."""
        if not items:
            return items
        if any(r.lookup == "region" for r in binding.refs) or binding.entity == "opd":
            codes = [i.record.get("region_code") for i in items]
            _count(outcome, await self.ensure_regions(writer, codes))
        if binding.entity in WITH_OPD:
            _count(outcome, await self._opds(writer, items))
        if binding.entity in NAMED:
            items = await self._named(items)
        return items

    async def _named(self, items: Sequence[Item]) -> Sequence[Item]:
        from hub.sync.writer import Item

        unnamed = [i for i in items if not _text(i.record.get("name"))]
        if not unnamed:
            return items
        keys = {_name_key(i.record) for i in unnamed}
        wanted = [k for k in keys if k not in self._names and None not in k]
        if wanted:
            rows = await self.conn.fetch(
                _NAMES, [k[0] for k in wanted], [k[1] for k in wanted], [k[2] for k in wanted]
            )
            for key in wanted:
                self._names[key] = None
            for r in rows:
                self._names[(r["region"], r["fy"], r["code"])] = r["name"]
            if len(self._names) > 65536:
                self._names.clear()
        named: list[Item] = []
        for item in items:
            if _text(item.record.get("name")):
                named.append(item)
                continue
            key = _name_key(item.record)
            name = self._names.get(key) or item.record.get("code")
            record = {**item.record, "name": name}
            named.append(Item(item.source_key, record, item.source_updated_at))
        return named

    async def _opds(self, writer: Writer, items: Sequence[Item]) -> Counter[str]:
        from hub.sync.writer import Item

        wanted: dict[tuple[str, str], str] = {}
        for item in items:
            record = item.record
            region, code, name = record.get("region_code"), record.get("opd_code"), None
            name = _text(record.get("opd_name"))
            if region and code and name:
                wanted[(region, code)] = name
        if not wanted:
            return Counter()
        keys = list(wanted)
        existing = await self.conn.fetch(
            """SELECT r.code AS region, o.code, o.name, o.source_id FROM opd o
            JOIN region r ON r.id = o.region_id
            JOIN unnest($1::text[], $2::text[]) AS k(region, code)
              ON k.region = r.code AND k.code = o.code""",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        known = {(r["region"], r["code"]): r for r in existing}
        write = [
            Item(code, {"region_code": region, "code": code, "name": name})
            for (region, code), name in wanted.items()
            if (region, code) not in known
            or (
                known[(region, code)]["source_id"] == writer.source_id
                and known[(region, code)]["name"] != name
            )
        ]
        if not write:
            return Counter()
        outcome = await writer.write(BY_ENTITY["opd"], write)
        return Counter({"opd": outcome.created})

    # -- parents from codes --------------------------------------------------------------

    async def derive_parents(
        self, writer: Writer, lookup: str, missing: Sequence[tuple[tuple[Any, ...], Any]]
    ) -> Counter[str]:
        """Create the `lookup` rows (program or kegiatan) the records of `missing` (key,
        scratch record) wait for, from their codes. Returns the rows created, per entity."""
        if lookup not in self.derive or lookup not in DERIVABLE:
            return Counter()
        from hub.sync.writer import Item

        parents: dict[tuple[Any, ...], Item] = {}
        for key, scratch in missing:
            code = key[-1]
            if not code or key in parents:
                continue
            parents[key] = Item(
                code,
                {
                    "region_code": scratch.get("region_code"),
                    "fiscal_year": scratch.get("fiscal_year"),
                    "code": code,
                    "name": None,
                },
            )
        if not parents:
            return Counter()
        outcome = await writer.write(BY_ENTITY[lookup], list(parents.values()))
        created = Counter({lookup: outcome.created})
        created.update(outcome.derived)
        return created


async def write_as(
    writer: Writer, source_id: str | None, binding: Binding, items: Sequence[Item]
) -> Outcome:
    """`writer.write` with another source's provenance (the reference data's Pemda; rows
    renamed from a new nomenclature edition keep their own source)."""
    own = writer.source_id
    writer.source_id = source_id
    try:
        return await writer.write(binding, items)
    finally:
        writer.source_id = own


def derived_entities(mapped: Iterable[str]) -> frozenset[str]:
    """The parents a source's rows derive from their codes: those it maps no rows of."""
    entities = set(mapped)
    return frozenset(e for e in DERIVABLE if e not in entities)


def parent_code(entity: str, code: str | None) -> str | None:
    """The code of the parent `entity` (program or kegiatan) of a child's code."""
    return prefix(code, DERIVABLE[entity])


def _name_key(record: Any) -> tuple[Any, Any, Any]:
    return (record.get("region_code"), record.get("fiscal_year"), record.get("code"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _count(outcome: Outcome, created: Counter[str]) -> None:
    for entity, n in created.items():
        if n:
            outcome.derived[entity] = outcome.derived.get(entity, 0) + n


async def own_region(writer: Writer, source_id: str, code: str | None) -> bool:
    """A source's Pemda (`region`) exists before its rows: from the reference data if need
    be; whether it was created. A `region` that is no Pemda of the store or of the
    reference data is the source's error: nothing of it could be stored."""
    if code is None:
        return False
    conn = writer.enrich.conn
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM region WHERE code = $1)", code):
        return False  # every cycle but the first: one round trip, no transaction
    if not await writer.enrich.region_exists(code):
        raise AdapterError(
            f"source {source_id}: region {code!r} is not a Pemda of the reference "
            "data (Kemendagri codes: rantai reference)"
        )
    async with writer.transaction():
        created = await writer.enrich.ensure_regions(writer, [code])
    return bool(created)
