"""Every relation of the chain, declared once.

A relation says which column of which table holds the key a parent row points with. The
schema's fields name these relations (`schema/fields.py`), and both the loaders and the
compiled path derive their SQL from them; nothing else in the hub spells out a join
between two tables of the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, Numeric, String, Table, select
from sqlalchemy.sql import Select

from hub.store import freshness
from hub.store import models as m

T = m.metadata.tables


@dataclass(frozen=True)
class Relation:
    """Rows of `table` whose `key` column equals the parent's key value.

    `through` names a link table: then `key` is a column of `through`, joined to
    `table` by `through_target` = `table.id`.
    """

    name: str
    table: Table
    key: str
    many: bool
    order_by: tuple[str, ...] = ("id",)
    through: Table | None = None
    through_target: str | None = None
    # Columns computed from the row (name, expression of the table or an alias of it).
    computed: tuple[tuple[str, Callable[[Any], Any]], ...] = field(default=())
    # Bind parameters the computed columns use (their values come from the settings).
    binds: tuple[str, ...] = field(default=())

    def key_column(self) -> Column[object]:
        return (self.through if self.through is not None else self.table).c[self.key]

    def select(self) -> Select[tuple[object, ...]]:
        key = self.key_column().label("_key")
        extra = [build(self.table).label(name) for name, build in self.computed]
        stmt = select(self.table, *extra, key)
        if self.through is not None and self.through_target is not None:
            stmt = stmt.select_from(
                self.table.join(
                    self.through, self.through.c[self.through_target] == self.table.c.id
                )
            )
        # Ties in `order_by` are broken by id, so the order is the same on every run (and
        # the same as the compiled path's, hub/serving/compiled.py).
        order = [self.table.c[c] for c in self.order_by]
        if "id" in self.table.c and "id" not in self.order_by:
            order.append(self.table.c.id)
        return stmt.order_by(key, *order)


def by_id(table: Table) -> Relation:
    """Rows of `table` by their id (`node(id)`, and links by a foreign key)."""
    return Relation(f"{table.name}_by_id", table, "id", many=False)


# A table the store derives (migration 0016, was a view since 0002), kept out of the
# models' metadata: its migration declares it (`hub.store.models.DERIVED_TABLES`).
ROLLUP = Table(
    "sub_activity_rollup",
    MetaData(),
    Column("sub_activity_id", BigInteger, primary_key=True),
    Column("region_id", BigInteger),
    Column("opd_id", BigInteger),
    Column("fiscal_year", Integer),
    Column("planned_amount", m.MONEY),
    Column("allocated", m.MONEY),
    Column("paid", m.MONEY),
    Column("procurement_ceiling", m.MONEY),
    Column("contracted", m.MONEY),
    Column("physical_percent", m.PERCENT),
    Column("stage", String),
)

# The sums a summary adds up, per Pemda-year (`level` 'region', the Pemda's own sub
# kegiatan) and OPD-year (`level` 'opd'), kept by the rollup's refresh (migration 0016).
TOTALS = Table(
    "sub_activity_totals",
    MetaData(),
    Column("level", String, primary_key=True),
    Column("owner_id", BigInteger, primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("sub_activities", BigInteger),
    Column("planned_amount", m.MONEY),
    Column("allocated", m.MONEY),
    Column("paid", m.MONEY),
    Column("procurement_ceiling", m.MONEY),
    Column("contracted", m.MONEY),
    Column("progress_weighted", Numeric),
    Column("progress_allocated", m.MONEY),
)

REGION_BY_ID = by_id(T["region"])
REGIONS_BY_PARENT = Relation("regions_by_parent", T["region"], "parent_id", True, ("code",))
OPD_BY_ID = by_id(T["opd"])
PROGRAM_BY_ID = by_id(T["program"])
ACTIVITY_BY_ID = by_id(T["activity"])
SUB_ACTIVITY_BY_ID = by_id(T["sub_activity"])
ROLLUP_BY_SUB_ACTIVITY = Relation("rollup_by_sub_activity", ROLLUP, "sub_activity_id", False, ())
INDICATORS_BY_SUB_ACTIVITY = Relation(
    "indicators_by_sub_activity", T["indicator"], "sub_activity_id", True, ("seq",)
)
BUDGET_LINES_BY_SUB_ACTIVITY = Relation(
    "budget_lines_by_sub_activity", T["budget_line"], "sub_activity_id", True, ("account_code",)
)
PAYMENTS_BY_SUB_ACTIVITY = Relation(
    "payments_by_sub_activity", T["payment"], "sub_activity_id", True, ("paid_on", "sp2d_number")
)
PAYMENTS_BY_CONTRACT = Relation(
    "payments_by_contract", T["payment"], "contract_id", True, ("paid_on", "sp2d_number")
)
PACKAGE_BY_ID = by_id(T["procurement_package"])
PACKAGES_BY_SUB_ACTIVITY = Relation(
    "packages_by_sub_activity", T["procurement_package"], "sub_activity_id", True, ("rup_code",)
)
PACKAGES_BY_TENDER = Relation(
    "packages_by_tender",
    T["procurement_package"],
    "tender_id",
    True,
    ("rup_code",),
    through=T["tender_package"],
    through_target="package_id",
)
TENDER_BY_ID = by_id(T["tender"])
TENDERS_BY_PACKAGE = Relation(
    "tenders_by_package",
    T["tender"],
    "package_id",
    True,
    ("code",),
    through=T["tender_package"],
    through_target="tender_id",
)
BIDS_BY_TENDER = Relation("bids_by_tender", T["bid"], "tender_id", True, ("id",))
VENDOR_BY_ID = by_id(T["vendor"])
CONTRACT_BY_ID = by_id(T["contract"])
CONTRACT_BY_TENDER = Relation("contract_by_tender", T["contract"], "tender_id", False, ("id",))
BUDGET_ROWS_BY_PACKAGE = Relation(
    "budget_rows_by_package", T["package_budget_row"], "package_id", True, ("mak",)
)
VERSIONS_BY_RUP_CODE = Relation(
    "versions_by_rup_code", T["package_version"], "rup_code", True, ("version",)
)
SCHEDULE_BY_TENDER_CODE = Relation(
    "schedule_by_tender_code", T["tender_schedule"], "tender_code", True, ("starts_on", "stage")
)
AMENDMENTS_BY_CONTRACT = Relation(
    "amendments_by_contract", T["contract_amendment"], "contract_id", True, ("version",)
)
PROGRESS_BY_SUB_ACTIVITY = Relation(
    "progress_by_sub_activity", T["progress_report"], "sub_activity_id", True, ("period",)
)
DISCREPANCIES_BY_SUB_ACTIVITY = Relation(
    "discrepancies_by_sub_activity", T["discrepancy"], "sub_activity_id", True, ("id",)
)
DISCREPANCY_BY_ID = by_id(T["discrepancy"])
LETTER_BY_ID = by_id(T["letter"])
LETTERS_BY_CONTRACT = Relation(
    "letters_by_contract", T["letter"], "contract_id", True, ("dated_on", "number")
)
LETTERS_BY_TENDER = Relation(
    "letters_by_tender", T["letter"], "tender_id", True, ("dated_on", "number")
)
FOLLOW_UP_BY_ID = by_id(T["follow_up"])
FOLLOW_UP_BY_DISCREPANCY = Relation(
    "follow_up_by_discrepancy", T["follow_up"], "discrepancy_id", False, ("id",)
)
ACTIONS_BY_FOLLOW_UP = Relation(
    "actions_by_follow_up", T["follow_up_action"], "follow_up_id", True, ("at",)
)
SOURCE_BY_ID = by_id(T["source"])
# A source with its staleness (hub/store/freshness.py): provenance reads it.
SOURCE_HEALTH_BY_ID = Relation(
    "source_health_by_id",
    T["source"],
    "id",
    False,
    computed=(("stale", freshness.stale),),
    binds=(freshness.FRESHNESS,),
)
INDICATOR_BY_ID = by_id(T["indicator"])
BUDGET_LINE_BY_ID = by_id(T["budget_line"])
PAYMENT_BY_ID = by_id(T["payment"])
BID_BY_ID = by_id(T["bid"])
AMENDMENT_BY_ID = by_id(T["contract_amendment"])
PROGRESS_BY_ID = by_id(T["progress_report"])
