"""Reads of ketimpangan (discrepancies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.settings import Settings
from hub.store import relations as rel
from hub.store.access import DataAccess
from resolvers.followup import follow_up_conditions
from resolvers.paging import Page, paginate
from resolvers.planning import opd_ids, region_and_children

DISCREPANCY, OPD = rel.T["discrepancy"], rel.T["opd"]


@dataclass(frozen=True)
class DiscrepancyQuery:
    fiscal_year: int | None = None
    region_code: str | None = None
    opd_code: str | None = None
    rule: str | None = None
    severity: str | None = None
    open: bool | None = None
    follow_up_state: str | None = None
    overdue: bool | None = None


def discrepancy_conditions(
    d: Any, query: DiscrepancyQuery, value: Any = lambda name, v: v
) -> list[Any]:
    """The WHERE conditions of a ketimpangan list; `value(name, v)` as for sub kegiatan
    (resolvers.planning.sub_activity_conditions): a value, or the compiled path's bind."""
    conditions = []
    if query.fiscal_year is not None:
        conditions.append(d.c.fiscal_year == value("fiscal_year", query.fiscal_year))
    region_code = None
    if query.region_code is not None:
        region_code = value("region_code", query.region_code)
        conditions.append(d.c.region_id.in_(region_and_children(region_code)))
    if query.opd_code is not None:
        conditions.append(d.c.opd_id.in_(opd_ids(value("opd_code", query.opd_code), region_code)))
    if query.rule is not None:
        conditions.append(d.c.rule == value("rule", query.rule))
    if query.severity is not None:
        conditions.append(d.c.severity == value("severity", query.severity))
    if query.open is not None:
        conditions.append(d.c.resolved_at.is_(None) if query.open else d.c.resolved_at.is_not(None))
    return conditions


async def discrepancy_page(
    access: DataAccess,
    settings: Settings,
    query: DiscrepancyQuery,
    *,
    first: int | None,
    after: str | None,
) -> Page:
    d = DISCREPANCY
    conditions = discrepancy_conditions(d, query)
    conditions += follow_up_conditions(d, query.follow_up_state, query.overdue)
    stmt = access.select(d).where(*conditions)
    return await paginate(
        access, settings, stmt, kind="Discrepancy", order=[d.c.id], first=first, after=after
    )
