"""Chain summaries per OPD or Pemda and fiscal year: one statement, declared once.

`summary_select(level, keys)` adds up the chain's totals (`sub_activity_totals`, per
Pemda-year and OPD-year, hub/sync/rollup.py) for each (id, fiscal year) row of `keys`: the
loader passes every key of a request at once (`unnest` of two arrays), the compiled path
one key taken from the row it is building (hub/serving/compiled/). A province's summary
includes its regencies and cities; open ketimpangan are counted for every viewer
(summaries are aggregates, published to all).

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


def summary_joins(level: Level, key_id: Any, key_fy: Any) -> tuple[Any, list[tuple[Any, Any]]]:
    """(the totals alias `r`, the tables to join in order, each with its condition) for
    the summary of `key_id` in fiscal year `key_fy`: an OPD's own totals, or a Pemda's and
    its regencies' and cities' (`sub_activity_totals`, kept by the rollup's refresh)."""
    r = rel.TOTALS.alias("r")
    if level == "opd":
        own = and_(r.c.level == "opd", r.c.owner_id == key_id, r.c.fiscal_year == key_fy)
        return r, [(r, own)]
    rg = T["region"].alias("rg")
    return r, [
        (rg, or_(rg.c.id == key_id, rg.c.parent_id == key_id)),
        (r, and_(r.c.level == "region", r.c.owner_id == rg.c.id, r.c.fiscal_year == key_fy)),
    ]


def summary_columns(level: Level, r: Any, key_id: Any, key_fy: Any) -> dict[str, Any]:
    """The summary's columns over the totals rows `r`, named as ChainSummary's fields are
    declared (schema/planning.py)."""
    d = T["discrepancy"]
    zero: Any = literal_column("0")
    if level == "opd":
        mine = d.c.opd_id == key_id
        open_from: Any = d
        own: tuple[Any, ...] = (d,)
    else:
        dr = T["region"].alias("dr")
        mine = or_(dr.c.id == key_id, dr.c.parent_id == key_id)
        open_from = d.join(dr, dr.c.id == d.c.region_id)
        own = (d, dr)
    open_ = (
        select(func.count())
        .select_from(open_from)
        .where(mine, d.c.fiscal_year == key_fy, d.c.resolved_at.is_(None))
        # The key comes from outside, however deep this is nested (the compiled path
        # puts it two levels down): only its own tables are its FROM.
        .correlate_except(*own)
        .scalar_subquery()
    )

    def total(column: Any) -> Any:
        return cast(func.coalesce(func.sum(column), zero), MONEY)

    def unlinked(table: str, amount: str) -> Any:
        x = T[table].alias(f"u_{table}")
        if level == "opd" and table == "procurement_package":
            rows: Any = x
            owner: Any = x.c.opd_id == key_id
            tables: tuple[Any, ...] = (x,)
        elif level == "opd":
            o = T["opd"].alias(f"uo_{table}")
            rows = x.join(o, and_(o.c.code == x.c.opd_code, o.c.region_id == x.c.region_id))
            owner = o.c.id == key_id
            tables = (x, o)
        else:
            ur = T["region"].alias(f"ur_{table}")
            rows = x.join(ur, ur.c.id == x.c.region_id)
            owner = or_(ur.c.id == key_id, ur.c.parent_id == key_id)
            tables = (x, ur)
        return (
            select(total(x.c[amount]))
            .select_from(rows)
            .where(owner, x.c.fiscal_year == key_fy, x.c.sub_activity_id.is_(None))
            .correlate_except(*tables)  # the key comes from outside, as for `open_`
            .scalar_subquery()
        )

    weighted = func.sum(r.c.progress_weighted) / func.nullif(func.sum(r.c.progress_allocated), zero)
    return {
        "sub_activities": cast(func.coalesce(func.sum(r.c.sub_activities), zero), BigInteger),
        "planned_amount": total(r.c.planned_amount),
        "allocated": total(r.c.allocated),
        "procurement_ceiling": total(r.c.procurement_ceiling),
        "contracted": total(r.c.contracted),
        "paid": total(r.c.paid),
        "physical_percent": func.round(weighted, 2),
        "open_discrepancies": open_,
        "unlinked_allocated": unlinked("budget_line", "amount"),
        "unlinked_paid": unlinked("payment", "amount"),
        "unlinked_procurement_ceiling": unlinked("procurement_package", "ceiling"),
    }


def summary_select(level: Level, keys: Any) -> Select[Any]:
    """One summary row per row of `keys` (a FROM with columns `id` and `fy`)."""
    r, joins = summary_joins(level, keys.c.id, keys.c.fy)
    columns = summary_columns(level, r, keys.c.id, keys.c.fy)
    source = keys
    for table, condition in joins:
        source = source.outerjoin(table, condition)
    return (
        select(
            keys.c.id.label("key_id"),
            keys.c.fy.label("key_fy"),
            *(expression.label(name) for name, expression in columns.items()),
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
