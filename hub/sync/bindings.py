"""How each canonical entity lands in the store: its table, natural key and references.

A record (adapters/records.py) names other rows by codes. A binding turns it into a row of
its table: plain fields are copied, codes are normalised, and *required* references (the
Pemda of every row, the program of a kegiatan, the OPD and kegiatan of a sub kegiatan, the
vendor of a bid or contract) are resolved to ids when the row is written; a record whose
required parent is unknown waits in `sync_pending`. Every other link (a DPA line's sub
kegiatan, a tender's RUP packages, …) is stored as codes and resolved by `hub.sync.links`,
so a row whose parent is missing is kept and visible, never dropped.

Change events name GraphQL types (`type_name`), which clients resolve with `node(id)`. A
row with no type of its own is `part_of` its parent's: a RUP package's budget rows and
versions, a tender's packages and schedule are reported as changes of that package or
tender.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.codes import split_mak
from adapters.mapping import SourceMapping
from hub.events.changelog import Parent

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Ref:
    """A required reference resolved when the row is written."""

    column: str  # the id column it fills, e.g. "region_id"
    lookup: str  # a name in LOOKUPS
    key: Callable[[Record], tuple[Any, ...] | None]  # the parent's natural key from the record


@dataclass(frozen=True)
class ParentLookup:
    """A parent table found by natural key (`Resolver` batches and caches lookups)."""

    table: str
    columns: tuple[str, ...]  # natural key columns, in the order Ref.key returns them
    types: tuple[str, ...]  # PostgreSQL types of those columns


LOOKUPS: dict[str, ParentLookup] = {
    "region": ParentLookup("region", ("code",), ("text",)),
    "opd": ParentLookup("opd", ("region_id", "code"), ("int8", "text")),
    "program": ParentLookup(
        "program", ("region_id", "fiscal_year", "code"), ("int8", "int4", "text")
    ),
    "activity": ParentLookup(
        "activity", ("region_id", "fiscal_year", "code"), ("int8", "int4", "text")
    ),
    "vendor": ParentLookup("vendor", ("vendor_key",), ("text",)),
}


@dataclass(frozen=True)
class PartOf:
    """The parent of a row that has no GraphQL type of its own, and the parent's field that
    shows the row. Subscribers get the row's changes as UPDATED events of the parent, by
    the parent's id, with that field as the one changed field (`changelog.Parent`);
    change_history keeps the row's own entity and natural key, for auditors."""

    parent: Binding
    column: str  # this row's column holding the parent's natural key (its code)
    field: str  # the parent's field, snake_case like every changed field


@dataclass(frozen=True)
class Binding:
    entity: str  # canonical entity (records.py) and change_history.entity
    table: str
    type_name: str  # GraphQL type of its change events: its own, or its parent's (part_of)
    key: tuple[str, ...]  # store columns of the natural key (a unique constraint)
    fields: dict[str, Callable[[Record], Any]]  # store column → value from the record
    refs: tuple[Ref, ...] = ()
    # Columns set on insert only (derived later by hub.sync.links), e.g. contract.value.
    on_insert: dict[str, str] = field(default_factory=dict)
    # SELECT id, region_code, opd_code, fiscal_year for `x.id = ANY($1)`: change routing,
    # the parent's for a row part_of one.
    context: str = ""
    part_of: PartOf | None = None

    def __post_init__(self) -> None:
        if self.part_of is not None and self.type_name != self.part_of.parent.type_name:
            raise ValueError(f"{self.entity}: changes of a row part of another are its parent's")

    @property
    def parent(self) -> Parent | None:
        """The parent the change log reports this row's changes as, if it is part of one."""
        if self.part_of is None:
            return None
        parent, column = self.part_of.parent, self.part_of.column
        (key,) = parent.key  # a parent found by one code
        return Parent(
            self.part_of.field,
            f"SELECT x.id, p.id FROM {self.table} x JOIN {parent.table} p "
            f"ON p.{key} = x.{column} WHERE x.id = ANY($1)",
        )

    def key_sql(self, alias: str) -> str:
        """SQL for the natural key as history records it: codes, never ids."""
        parts = []
        for column in self.key:
            if column == "region_id":
                parts.append(f"(SELECT code FROM region WHERE id = {alias}.region_id)")
            elif column == "vendor_id":
                parts.append(f"(SELECT vendor_key FROM vendor WHERE id = {alias}.vendor_id)")
            else:
                parts.append(f"{alias}.{column}")
        return f"concat_ws('/', {', '.join(parts)})"

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column written from a record, refs included; compared to detect changes."""
        return (*self.fields, *(r.column for r in self.refs))


def _get(name: str) -> Callable[[Record], Any]:
    return lambda record: record.get(name)


def _same(*names: str) -> dict[str, Callable[[Record], Any]]:
    return {name: _get(name) for name in names}


def prefix(code: str | None, segments: int) -> str | None:
    """The parent code of a nomenclature code: its first `segments` segments."""
    if not code:
        return None
    parts = code.split(".")
    return ".".join(parts[:segments]) if len(parts) > segments else None


_DIGITS = re.compile(r"\D")
_SPACES = re.compile(r"\s+")


def tax_digits(tax_id: Any) -> str | None:
    """An NPWP as digits only (15 or 16), however a system formatted it; None if not one."""
    if tax_id is None:
        return None
    digits = _DIGITS.sub("", str(tax_id))
    return digits if len(digits) >= 15 else None


def vendor_key(tax_id: Any, name: Any) -> str | None:
    """A vendor's identity: its NPWP digits, else its name normalised."""
    digits = tax_digits(tax_id)
    if digits:
        return digits
    if name is None or not str(name).strip():
        return None
    return "NAMA:" + _SPACES.sub(" ", str(name).strip().upper())


def _region(record: Record) -> tuple[Any, ...] | None:
    code = record.get("region_code")
    return (code,) if code else None


def _mak_part(index: int) -> Callable[[Record], Any]:
    return lambda record: split_mak(str(record["mak"]))[index]


REGION_REF = Ref("region_id", "region", _region)


def _vendor_ref(tax: str, name: str) -> Ref:
    def key(record: Record) -> tuple[Any, ...] | None:
        vk = vendor_key(record.get(tax), record.get(name))
        return (vk,) if vk else None

    return Ref("vendor_id", "vendor", key)


# Routing of change events: the Pemda, OPD and year a row belongs to.
_BY_SUB_ACTIVITY = """
SELECT x.id, r.code, o.code, x.fiscal_year FROM {table} x
JOIN region r ON r.id = x.region_id
LEFT JOIN sub_activity s ON s.id = x.sub_activity_id
LEFT JOIN opd o ON o.id = s.opd_id
WHERE x.id = ANY($1)"""
_FIRST_PACKAGE = """
LEFT JOIN LATERAL (
    SELECT p.opd_code, p.fiscal_year FROM tender_package tp
    JOIN procurement_package p ON p.rup_code = tp.rup_code
    WHERE tp.tender_code = {tender_code} ORDER BY length(p.rup_code), p.rup_code LIMIT 1
) fp ON true"""


# Parents of rows that have no GraphQL type of their own (PartOf).
PACKAGE = Binding(
    "procurement_package",
    "procurement_package",
    "ProcurementPackage",
    ("rup_code",),
    _same("rup_code", "opd_code", "fiscal_year", "name", "method", "category", "ceiling")
    | _same("funding_source", "announced_on"),
    (REGION_REF,),
    context="""SELECT x.id, r.code, x.opd_code, x.fiscal_year FROM procurement_package x
        JOIN region r ON r.id = x.region_id WHERE x.id = ANY($1)""",
)
TENDER = Binding(
    "tender",
    "tender",
    "Tender",
    ("code",),
    _same("code", "name", "method", "owner_estimate", "ceiling", "status", "announced_on")
    | {"version": lambda r: r.get("version") or 1},
    (REGION_REF,),
    context="""SELECT x.id, r.code, fp.opd_code, fp.fiscal_year FROM tender x
        JOIN region r ON r.id = x.region_id"""
    + _FIRST_PACKAGE.format(tender_code="x.code")
    + " WHERE x.id = ANY($1)",
)

BINDINGS: tuple[Binding, ...] = (
    Binding(
        "region",
        "region",
        "Region",
        ("code",),
        _same("code", "name", "level", "parent_code"),
        context="SELECT x.id, x.code, NULL, NULL FROM region x WHERE x.id = ANY($1)",
    ),
    Binding(
        "opd",
        "opd",
        "Opd",
        ("region_id", "code"),
        _same("code", "name"),
        (REGION_REF,),
        context="""SELECT x.id, r.code, x.code, NULL FROM opd x
            JOIN region r ON r.id = x.region_id WHERE x.id = ANY($1)""",
    ),
    Binding(
        "program",
        "program",
        "Program",
        ("region_id", "fiscal_year", "code"),
        _same("fiscal_year", "code", "name"),
        (REGION_REF,),
        context="""SELECT x.id, r.code, NULL, x.fiscal_year FROM program x
            JOIN region r ON r.id = x.region_id WHERE x.id = ANY($1)""",
    ),
    Binding(
        "activity",
        "activity",
        "Activity",
        ("region_id", "fiscal_year", "code"),
        _same("fiscal_year", "code", "name"),
        (
            REGION_REF,
            Ref(
                "program_id",
                "program",
                lambda r: (r["@region_id"], r["fiscal_year"], prefix(r["code"], 3)),
            ),
        ),
        context="""SELECT x.id, r.code, NULL, x.fiscal_year FROM activity x
            JOIN region r ON r.id = x.region_id WHERE x.id = ANY($1)""",
    ),
    Binding(
        "sub_activity",
        "sub_activity",
        "SubActivity",
        ("region_id", "fiscal_year", "code"),
        _same("fiscal_year", "code", "name", "planned_amount"),
        (
            REGION_REF,
            Ref("opd_id", "opd", lambda r: (r["@region_id"], r["opd_code"])),
            Ref(
                "activity_id",
                "activity",
                lambda r: (r["@region_id"], r["fiscal_year"], prefix(r["code"], 5)),
            ),
        ),
        context="""SELECT x.id, r.code, o.code, x.fiscal_year FROM sub_activity x
            JOIN region r ON r.id = x.region_id JOIN opd o ON o.id = x.opd_id
            WHERE x.id = ANY($1)""",
    ),
    Binding(
        "indicator",
        "indicator",
        "Indicator",
        ("region_id", "fiscal_year", "sub_activity_code", "seq"),
        _same("fiscal_year", "sub_activity_code", "seq", "description", "unit", "target")
        | _same("achieved"),
        (REGION_REF,),
        context=_BY_SUB_ACTIVITY.format(table="indicator"),
    ),
    Binding(
        "budget_line",
        "budget_line",
        "BudgetLine",
        ("region_id", "fiscal_year", "sub_activity_code", "account_code"),
        _same("fiscal_year", "sub_activity_code", "account_code", "account_name", "amount")
        | _same("dpa_number", "opd_code"),
        (REGION_REF,),
        context=_BY_SUB_ACTIVITY.format(table="budget_line"),
    ),
    PACKAGE,
    Binding(
        "package_budget_row",
        "package_budget_row",
        PACKAGE.type_name,
        ("rup_code", "mak"),
        {
            "rup_code": _get("rup_code"),
            "mak": lambda r: "{}.{}.".format(*split_mak(str(r["mak"]))),
            "sub_activity_code": _mak_part(0),
            "account_code": _mak_part(1),
            "amount": _get("amount"),
        },
        context="""SELECT x.id, r.code, p.opd_code, p.fiscal_year FROM package_budget_row x
            LEFT JOIN procurement_package p ON p.rup_code = x.rup_code
            LEFT JOIN region r ON r.id = p.region_id WHERE x.id = ANY($1)""",
        part_of=PartOf(PACKAGE, "rup_code", "budget_rows"),
    ),
    TENDER,
    Binding(
        "tender_package",
        "tender_package",
        TENDER.type_name,
        ("tender_code", "rup_code"),
        _same("tender_code", "rup_code"),
        context="""SELECT x.id, r.code, fp.opd_code, fp.fiscal_year FROM tender_package x
            LEFT JOIN tender t ON t.code = x.tender_code
            LEFT JOIN region r ON r.id = t.region_id"""
        + _FIRST_PACKAGE.format(tender_code="x.tender_code")
        + " WHERE x.id = ANY($1)",
        part_of=PartOf(TENDER, "tender_code", "packages"),
    ),
    Binding(
        "bid",
        "bid",
        "Bid",
        ("tender_code", "vendor_id"),
        _same("tender_code", "amount", "corrected_amount")
        | {"is_winner": lambda r: bool(r.get("is_winner"))},
        (_vendor_ref("vendor_tax_id", "vendor_name"),),
        context="""SELECT x.id, r.code, fp.opd_code, fp.fiscal_year FROM bid x
            LEFT JOIN tender t ON t.code = x.tender_code
            LEFT JOIN region r ON r.id = t.region_id"""
        + _FIRST_PACKAGE.format(tender_code="x.tender_code")
        + " WHERE x.id = ANY($1)",
    ),
    Binding(
        "package_version",
        "package_version",
        PACKAGE.type_name,
        ("rup_code", "version"),
        _same("rup_code", "version", "ceiling", "status", "version_date"),
        (),
        context="""SELECT x.id, r.code, p.opd_code, p.fiscal_year FROM package_version x
            LEFT JOIN procurement_package p ON p.rup_code = x.rup_code
            LEFT JOIN region r ON r.id = p.region_id WHERE x.id = ANY($1)""",
        part_of=PartOf(PACKAGE, "rup_code", "versions"),
    ),
    Binding(
        "tender_schedule",
        "tender_schedule",
        TENDER.type_name,
        ("tender_code", "stage"),
        _same("tender_code", "stage", "starts_on", "ends_on"),
        (),
        context="""SELECT x.id, r.code, fp.opd_code, fp.fiscal_year FROM tender_schedule x
            LEFT JOIN tender t ON t.code = x.tender_code
            LEFT JOIN region r ON r.id = t.region_id"""
        + _FIRST_PACKAGE.format(tender_code="x.tender_code")
        + " WHERE x.id = ANY($1)",
        part_of=PartOf(TENDER, "tender_code", "schedule"),
    ),
    Binding(
        "contract",
        "contract",
        "Contract",
        ("region_id", "number"),
        _same("number", "tender_code", "signed_on", "starts_on", "ends_on")
        | {"original_value": _get("value")},
        (REGION_REF, _vendor_ref("vendor_tax_id", "vendor_name")),
        on_insert={"value": "original_value"},
        context="""SELECT x.id, r.code, o.code, s.fiscal_year FROM contract x
            JOIN region r ON r.id = x.region_id
            LEFT JOIN sub_activity s ON s.id = x.sub_activity_id
            LEFT JOIN opd o ON o.id = s.opd_id WHERE x.id = ANY($1)""",
    ),
    Binding(
        "contract_amendment",
        "contract_amendment",
        "ContractAmendment",
        ("region_id", "contract_number", "version"),
        _same("contract_number", "version", "value", "reason", "signed_on"),
        (REGION_REF,),
        context="""SELECT x.id, r.code, o.code, s.fiscal_year FROM contract_amendment x
            JOIN region r ON r.id = x.region_id
            LEFT JOIN contract c ON c.id = x.contract_id
            LEFT JOIN sub_activity s ON s.id = c.sub_activity_id
            LEFT JOIN opd o ON o.id = s.opd_id WHERE x.id = ANY($1)""",
    ),
    Binding(
        "letter",
        "letter",
        "Letter",
        ("region_id", "number"),
        _same("number", "dated_on", "kind", "subject", "direction", "sender", "recipient")
        | _same("contract_number", "tender_code"),
        (REGION_REF,),
        context="""SELECT x.id, r.code, o.code, s.fiscal_year FROM letter x
            JOIN region r ON r.id = x.region_id
            LEFT JOIN contract c ON c.id = x.contract_id
            LEFT JOIN sub_activity s ON s.id = c.sub_activity_id
            LEFT JOIN opd o ON o.id = s.opd_id WHERE x.id = ANY($1)""",
    ),
    Binding(
        "payment",
        "payment",
        "Payment",
        ("region_id", "fiscal_year", "sp2d_number"),
        _same("fiscal_year", "sp2d_number", "paid_on", "amount", "kind", "account_code")
        | _same("sub_activity_code", "contract_number", "payee_name", "payee_tax_id")
        | _same("opd_code"),
        (REGION_REF,),
        context=_BY_SUB_ACTIVITY.format(table="payment"),
    ),
    Binding(
        "progress_report",
        "progress_report",
        "ProgressReport",
        ("region_id", "fiscal_year", "sub_activity_code", "period"),
        _same("fiscal_year", "sub_activity_code", "period", "physical_percent")
        | _same("financial_percent", "problems"),
        (REGION_REF,),
        context=_BY_SUB_ACTIVITY.format(table="progress_report"),
    ),
)

BY_ENTITY: dict[str, Binding] = {b.entity: b for b in BINDINGS}

# The order a source's streams are written in; deletes run the other way.
# - Required parents first: the plan hierarchy.
# - Then parents before the rows that link to them, so that links resolve as the rows are
#   written instead of moving afterwards (each move is one more UPDATED change).
# - What other sources' rows link to comes early. A payment (BPKAD) names its contract and
#   payee vendor (bids and contracts), so tenders, bids and contracts come before the
#   large RUP budget rows (and package versions are DETACHED, below). The budget rows come
#   after the contracts, when the other sources' DPA lines are in.
# - Every stream still comes after the rows its change routing reads. A tender package
#   routes by its RUP package, a bid by its tender package; a row part of another
#   (`PartOf`) is reported as that parent.
SYNC_ORDER: tuple[str, ...] = (
    "region",
    "opd",
    "program",
    "activity",
    "sub_activity",
    "indicator",
    "budget_line",
    "procurement_package",
    "package_version",
    "tender",
    "tender_package",
    "bid",
    "contract",
    "contract_amendment",
    "letter",
    "tender_schedule",
    "package_budget_row",
    "payment",
    "progress_report",
)
if sorted(SYNC_ORDER) != sorted(BY_ENTITY):
    raise RuntimeError("every binding has its place in SYNC_ORDER, and only a binding has one")
ORDER: dict[str, int] = {entity: i for i, entity in enumerate(SYNC_ORDER)}
# Streams that nothing later in their source reads (no link, no routing, no required
# reference points at them) and that move no link of other rows: a SQL source writes them
# on a connection of their own, from their place in SYNC_ORDER on, while its later streams
# go on (hub/sync/engine.py). RUP package versions are the largest procurement stream.
# RUP budget rows are not detached: the package sub kegiatan they move is read by the
# contracts' link, whose plan went quadratic while those moves ran beside it.
DETACHED = frozenset({"package_version"})

# Which entities a wave of sources provides: sources holding the Pemda list sync first,
# then those holding the rest of the plan hierarchy, then everything else.
WAVE_OF_ENTITY = {"region": 0, "opd": 1, "program": 1, "activity": 1, "sub_activity": 1}


def source_wave(source: SourceMapping) -> int:
    """The wave a source syncs in among others synced with it: that of its entity that
    comes first (others' rows are parents of the later waves')."""
    return min((WAVE_OF_ENTITY.get(e.spec.name, 2) for e in source.entities), default=2)


VENDOR = Binding(
    "vendor",
    "vendor",
    "Vendor",
    ("vendor_key",),
    _same("vendor_key", "name", "tax_id"),
    context="SELECT x.id, NULL, NULL, NULL FROM vendor x WHERE x.id = ANY($1)",
)
