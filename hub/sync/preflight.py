"""`rantai sources check`, the part that needs the store: before a sync, would each row find
its Pemda, OPD, kegiatan and program (or wait for them), and its sub kegiatan, parent package,
tender or contract (or stay unlinked)?

The parents known are the store's, the reference data's (every Pemda), those the checked
sources' own streams hold, and those the sync would make for their rows (an OPD a row names
with `opd_name`, program and kegiatan derived from codes: hub/sync/reference.py). A sample of
each entity's rows is mapped and looked up in them; the rows that would wait are reported
per reason with the mapping line to change, as problems; the rows that would stay unlinked,
as warnings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.base import AdapterError, open_adapter
from adapters.field_rules import RecordError
from adapters.mapping import EntityMapping, Problem, SourceMapping
from hub.db import PgConnection
from hub.sync.bindings import prefix
from hub.sync.reference import DERIVABLE, derived_entities

SAMPLE = 500  # rows of each entity looked up
PARENT_ROWS = 200_000  # rows read of each parent stream, at most

Key = tuple[Any, ...]
# Parent entities: how their key is read from their own records.
PARENTS: dict[str, Callable[[dict[str, Any]], Key]] = {
    "region": lambda r: (r.get("code"),),
    "opd": lambda r: (r.get("region_code"), r.get("code")),
    "program": lambda r: (r.get("region_code"), r.get("fiscal_year"), r.get("code")),
    "activity": lambda r: (r.get("region_code"), r.get("fiscal_year"), r.get("code")),
    "sub_activity": lambda r: (r.get("region_code"), r.get("fiscal_year"), r.get("code")),
    "procurement_package": lambda r: (r.get("rup_code"),),
    "tender": lambda r: (r.get("code"),),
    "contract": lambda r: (r.get("region_code"), r.get("number")),
}
# What the store holds of each, as the same keys.
STORE = {
    "region": "SELECT code FROM region UNION SELECT code FROM reference_region",
    "opd": "SELECT r.code, o.code FROM opd o JOIN region r ON r.id = o.region_id",
    "program": "SELECT r.code, x.fiscal_year, x.code FROM program x "
    "JOIN region r ON r.id = x.region_id",
    "activity": "SELECT r.code, x.fiscal_year, x.code FROM activity x "
    "JOIN region r ON r.id = x.region_id",
    "sub_activity": "SELECT r.code, x.fiscal_year, x.code FROM sub_activity x "
    "JOIN region r ON r.id = x.region_id",
    "procurement_package": "SELECT rup_code FROM procurement_package",
    "tender": "SELECT code FROM tender",
    "contract": "SELECT r.code, x.number FROM contract x JOIN region r ON r.id = x.region_id",
}


@dataclass(frozen=True)
class Need:
    """A parent a record needs: `wait` (required: the row waits without it) or not (the row
    is kept, its link empty)."""

    parent: str
    key: Callable[[dict[str, Any]], Key | None]
    field: str  # the mapping field to change
    wait: bool
    hint: str


def _code(segments: int) -> Callable[[dict[str, Any]], Key | None]:
    def key(r: dict[str, Any]) -> Key | None:
        parent = prefix(r.get("code"), segments)
        return (r.get("region_code"), r.get("fiscal_year"), parent) if parent else None

    return key


def _sub_activity(r: dict[str, Any]) -> Key | None:
    code = r.get("sub_activity_code")
    return (r.get("region_code"), r.get("fiscal_year"), code) if code else None


_UNLINKED = (
    "kept, its sub kegiatan link empty (BUDGET_WITHOUT_PLAN; the summaries' unlinked amounts)"
)
NEEDS: dict[str, tuple[Need, ...]] = {
    "opd": (),
    "sub_activity": (
        Need(
            "opd",
            lambda r: (r.get("region_code"), r.get("opd_code")),
            "opd_code",
            True,
            "give opd_name (the OPD's name) so the sync creates it, or map the source's OPD rows",
        ),
        Need(
            "activity",
            _code(5),
            "code",
            True,
            "the source maps kegiatan rows: map this one's too, or map no activity entity and "
            "the sync derives kegiatan from the sub kegiatan codes",
        ),
    ),
    "activity": (
        Need(
            "program",
            _code(3),
            "code",
            True,
            "the source maps program rows: map this one's too, or map no program entity and "
            "the sync derives programs from the kegiatan codes",
        ),
    ),
    "indicator": (Need("sub_activity", _sub_activity, "sub_activity_code", False, _UNLINKED),),
    "budget_line": (Need("sub_activity", _sub_activity, "sub_activity_code", False, _UNLINKED),),
    "progress_report": (
        Need("sub_activity", _sub_activity, "sub_activity_code", False, _UNLINKED),
    ),
    "payment": (
        Need("sub_activity", _sub_activity, "sub_activity_code", False, _UNLINKED),
        Need(
            "contract",
            lambda r: (
                (r.get("region_code"), r.get("contract_number"))
                if r.get("contract_number")
                else None
            ),
            "contract_number",
            False,
            "kept, its contract link empty",
        ),
    ),
    "package_budget_row": (
        Need(
            "procurement_package",
            lambda r: (r.get("rup_code"),),
            "rup_code",
            False,
            "kept, not counted for any package",
        ),
    ),
    "tender_package": (
        Need("tender", lambda r: (r.get("tender_code"),), "tender_code", False, "kept unlinked"),
        Need(
            "procurement_package",
            lambda r: (r.get("rup_code"),),
            "rup_code",
            False,
            "kept unlinked (TENDER_WITHOUT_RUP)",
        ),
    ),
    "bid": (
        Need("tender", lambda r: (r.get("tender_code"),), "tender_code", False, "kept unlinked"),
    ),
    "contract": (
        Need(
            "tender",
            lambda r: (r.get("tender_code"),) if r.get("tender_code") else None,
            "tender_code",
            False,
            "kept unlinked",
        ),
    ),
    "contract_amendment": (
        Need(
            "contract",
            lambda r: (r.get("region_code"), r.get("contract_number")),
            "contract_number",
            False,
            "kept unlinked",
        ),
    ),
    "letter": (
        Need(
            "contract",
            lambda r: (
                (r.get("region_code"), r.get("contract_number"))
                if r.get("contract_number")
                else None
            ),
            "contract_number",
            False,
            "kept unlinked",
        ),
        Need(
            "tender",
            lambda r: (r.get("tender_code"),) if r.get("tender_code") else None,
            "tender_code",
            False,
            "kept unlinked",
        ),
    ),
}


@dataclass
class Read:
    """One source's rows as the check read them: every parent stream in full (up to
    PARENT_ROWS), a sample of the others."""

    source: SourceMapping
    records: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # entity index
    failed: bool = False


async def _read(source: SourceMapping) -> Read:
    read = Read(source)
    try:
        adapter = open_adapter(source.config)
        await adapter.open()
    except (AdapterError, OSError):
        read.failed = True  # adapters.check has said why
        return read
    try:
        for index, entity in enumerate(source.entities):
            limit = PARENT_ROWS if entity.spec.name in PARENTS else SAMPLE
            records: list[dict[str, Any]] = []
            batches = adapter.stream(entity.query)
            try:
                async for batch in batches:
                    for row in batch.rows:
                        try:
                            records.append(entity.record(row))
                        except RecordError:
                            continue  # adapters.check reports it
                    if len(records) >= limit:
                        break
            except AdapterError:
                read.failed = True
            finally:
                aclose = getattr(batches, "aclose", None)
                if aclose is not None:
                    await aclose()
            read.records[index] = records[:limit]
    finally:
        await adapter.close()
    return read


def _known(reads: Sequence[Read]) -> dict[str, set[Key]]:
    """The parents the checked sources hold or would make."""
    known: dict[str, set[Key]] = defaultdict(set)
    for read in reads:
        derive = derived_entities(e.spec.name for e in read.source.entities)
        for index, entity in enumerate(read.source.entities):
            name = entity.spec.name
            for record in read.records.get(index, ()):
                if name in PARENTS:
                    known[name].add(PARENTS[name](record))
                if record.get("opd_code") and record.get("opd_name"):
                    known["opd"].add((record.get("region_code"), record["opd_code"]))
                if name in ("sub_activity", "activity"):
                    for parent in derive:
                        if name == "activity" and parent == "activity":
                            continue
                        key = _code(DERIVABLE[parent])(record)
                        if key is not None:
                            known[parent].add(key)
    return known


async def _stored(conn: PgConnection, wanted: dict[str, set[Key]]) -> dict[str, set[Key]]:
    stored: dict[str, set[Key]] = {}
    for parent, keys in wanted.items():
        if not keys:
            continue
        rows = await conn.fetch(STORE[parent])
        stored[parent] = {tuple(r) for r in rows}
    return stored


async def preflight(
    conn: PgConnection, sources: Sequence[SourceMapping]
) -> dict[str, list[Problem]]:
    """Per source, the rows that would wait (problems) or stay unlinked (warnings)."""
    reads = [await _read(source) for source in sources]
    known = _known(reads)
    wanted: dict[str, set[Key]] = defaultdict(set)
    wanted["region"].add(("",))
    for read in reads:
        for index, entity in enumerate(read.source.entities):
            for need in NEEDS.get(entity.spec.name, ()):
                for record in read.records.get(index, ()):
                    key = need.key(record)
                    if key is not None:
                        wanted[need.parent].add(key)
    stored = await _stored(conn, wanted)
    regions = stored.get("region", set()) | known["region"]
    found: dict[str, list[Problem]] = {}
    for read in reads:
        problems: list[Problem] = []
        source = read.source
        if source.region and (source.region,) not in regions:
            problems.append(
                Problem(
                    source.file,
                    source.locator.line("source", "region"),
                    f"region {source.region!r} is not a Pemda of the reference data "
                    "(Kemendagri codes: rantai reference)",
                )
            )
        derive = derived_entities(e.spec.name for e in source.entities)
        for index, entity in enumerate(source.entities):
            records = read.records.get(index, [])
            problems += _waiting(source, entity, records, regions, known, stored, derive)
        found[source.id] = problems
    return found


def _waiting(
    source: SourceMapping,
    entity: EntityMapping,
    records: list[dict[str, Any]],
    regions: set[Key],
    known: dict[str, set[Key]],
    stored: dict[str, set[Key]],
    derive: frozenset[str],
) -> list[Problem]:
    if not records:
        return []
    name = entity.spec.name
    groups: dict[tuple[str, bool, str], list[Any]] = defaultdict(list)  # (field, waits, why)
    sampled = records[:SAMPLE]
    for record in sampled:
        region = record.get("region_code")
        if region and entity.spec.field("region_code") and (region,) not in regions:
            groups[("region_code", True, "unknown region")].append(region)
            continue
        for need in NEEDS.get(name, ()):
            if need.wait and need.parent in derive:
                continue  # the sync makes it from the code
            key = need.key(record)
            if key is None:
                continue
            if key in known[need.parent] or key in stored.get(need.parent, set()):
                continue
            if need.parent == "opd" and record.get("opd_name"):
                continue
            groups[(need.field, need.wait, f"unknown {_label(need.parent)}")].append(key[-1])
            if need.wait:
                break
    problems: list[Problem] = []
    for (field_name, waits, why), values in sorted(groups.items()):
        hint = next(
            (
                n.hint
                for n in NEEDS.get(name, ())
                if n.field == field_name and f"unknown {_label(n.parent)}" == why
            ),
            "the Pemda must be a Kemendagri region code (rantai reference)",
        )
        line = (
            entity.lines.get(f"fields.{field_name}")
            or (source.locator.line("source", "region") if field_name == "region_code" else None)
            or entity.line
        )
        what = "would wait" if waits else "would stay unlinked"
        examples = ", ".join(str(v) for v in _first(values, 3))
        problems.append(
            Problem(
                source.file,
                line,
                f"{name}: {len(values)} of {len(sampled)} sampled rows {what}: {why} "
                f"(e.g. {examples}): {hint}",
                warning=not waits,
            )
        )
    return problems


LABELS = {"activity": "kegiatan", "sub_activity": "sub kegiatan", "procurement_package": "package"}


def _label(parent: str) -> str:
    return LABELS.get(parent, parent)


def _first(values: Iterable[Any], count: int) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
        if len(out) == count:
            break
    return out
