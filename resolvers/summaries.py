"""Chain summaries per OPD or Pemda and fiscal year: one statement, declared once.

`summary_select(level, keys)` sums the chain rollup for each (id, fiscal year) row of
`keys`: the loader passes every key of a request at once (`unnest` of two arrays), the
compiled path one key taken from the row it is building (hub/serving/compiled/). A
province's summary includes its regencies and cities; open ketimpangan are counted for
every viewer (summaries are aggregates, published to all).

DPA lines, SP2D and RUP packages linked to no sub kegiatan are not in the rollup; their
amounts are summed on their own (`unlinked_*`): per Pemda by their region, per OPD by the
OPD code the source gave (a DPA line or SP2D without one counts only in its Pemda's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    Numeric,
    Row,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql import Select
from strawberry.dataloader import DataLoader

from hub.store import relations as rel
from hub.store.access import DataAccess

T = rel.T
Level = Literal["opd", "region"]
MONEY = Numeric(20, 2)


def summary_select(level: Level, keys: Any) -> Select[Any]:
    """One row per row of `keys` (a FROM with columns `id` and `fy`): the summary's
    columns, named as ChainSummary's fields are declared (schema/planning.py)."""
    r = rel.ROLLUP.alias("r")
    d, dr = T["discrepancy"], T["region"].alias("dr")
    zero: Any = literal_column("0")
    if level == "opd":
        source: Any = keys.outerjoin(r, and_(r.c.opd_id == keys.c.id, r.c.fiscal_year == keys.c.fy))
        open_ = (
            select(func.count())
            .select_from(d)
            .where(d.c.opd_id == keys.c.id, d.c.fiscal_year == keys.c.fy, d.c.resolved_at.is_(None))
            .scalar_subquery()
        )
    else:
        rg = T["region"].alias("rg")
        source = keys.outerjoin(
            rg, or_(rg.c.id == keys.c.id, rg.c.parent_id == keys.c.id)
        ).outerjoin(r, and_(r.c.region_id == rg.c.id, r.c.fiscal_year == keys.c.fy))
        open_ = (
            select(func.count())
            .select_from(d.join(dr, dr.c.id == d.c.region_id))
            .where(
                or_(dr.c.id == keys.c.id, dr.c.parent_id == keys.c.id),
                d.c.fiscal_year == keys.c.fy,
                d.c.resolved_at.is_(None),
            )
            .scalar_subquery()
        )

    def total(column: Any) -> Any:
        return cast(func.coalesce(func.sum(column), zero), MONEY)

    def unlinked(table: str, amount: str) -> Any:
        x = T[table].alias(f"u_{table}")
        if level == "opd" and table == "procurement_package":
            rows: Any = x
            owner: Any = x.c.opd_id == keys.c.id
        elif level == "opd":
            o = T["opd"].alias(f"uo_{table}")
            rows = x.join(o, and_(o.c.code == x.c.opd_code, o.c.region_id == x.c.region_id))
            owner = o.c.id == keys.c.id
        else:
            ur = T["region"].alias(f"ur_{table}")
            rows = x.join(ur, ur.c.id == x.c.region_id)
            owner = or_(ur.c.id == keys.c.id, ur.c.parent_id == keys.c.id)
        return (
            select(total(x.c[amount]))
            .select_from(rows)
            .where(owner, x.c.fiscal_year == keys.c.fy, x.c.sub_activity_id.is_(None))
            .scalar_subquery()
        )

    weighted = func.sum(r.c.physical_percent * r.c.allocated) / func.nullif(
        func.sum(r.c.allocated).filter(r.c.physical_percent.is_not(None)), zero
    )
    return (
        select(
            keys.c.id.label("key_id"),
            keys.c.fy.label("key_fy"),
            func.count(r.c.sub_activity_id).label("sub_activities"),
            total(r.c.planned_amount).label("planned_amount"),
            total(r.c.allocated).label("allocated"),
            total(r.c.procurement_ceiling).label("procurement_ceiling"),
            total(r.c.contracted).label("contracted"),
            total(r.c.paid).label("paid"),
            func.round(weighted, 2).label("physical_percent"),
            open_.label("open_discrepancies"),
            unlinked("budget_line", "amount").label("unlinked_allocated"),
            unlinked("payment", "amount").label("unlinked_paid"),
            unlinked("procurement_package", "ceiling").label("unlinked_procurement_ceiling"),
        )
        .select_from(source)
        .group_by(keys.c.id, keys.c.fy)
    )


def _keys() -> Any:
    ids = bindparam("ids", type_=ARRAY(BigInteger))
    fys = bindparam("fys", type_=ARRAY(Integer))
    return func.unnest(ids, fys).table_valued("id", "fy").render_derived(name="k")


STATEMENTS = {level: summary_select(level, _keys()) for level in ("opd", "region")}


class SummaryLoader(DataLoader[tuple[int, int], Row[Any]]):
    """ChainSummary rows keyed by (OPD or region id, fiscal year)."""

    def __init__(self, access: DataAccess, level: Level) -> None:
        self.access = access
        self.statement = STATEMENTS[level]
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[tuple[int, int]]) -> list[Row[Any]]:
        params = {"ids": [k[0] for k in keys], "fys": [k[1] for k in keys]}
        rows = await self.access.aggregate(self.statement, params)
        by_key = {(row.key_id, row.key_fy): row for row in rows}
        return [by_key[key] for key in keys]


def opd_summary_loader(access: DataAccess) -> SummaryLoader:
    return SummaryLoader(access, "opd")


def region_summary_loader(access: DataAccess) -> SummaryLoader:
    return SummaryLoader(access, "region")
