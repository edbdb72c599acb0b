"""Reads of ketimpangan (discrepancies)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.settings import Settings
from hub.store import relations as rel
from hub.store.access import DataAccess
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


async def discrepancy_page(
    access: DataAccess,
    settings: Settings,
    query: DiscrepancyQuery,
    *,
    first: int | None,
    after: str | None,
) -> Page:
    d = DISCREPANCY
    stmt = access.select(d)
    if query.fiscal_year is not None:
        stmt = stmt.where(d.c.fiscal_year == query.fiscal_year)
    if query.region_code is not None:
        stmt = stmt.where(d.c.region_id.in_(region_and_children(query.region_code)))
    if query.opd_code is not None:
        stmt = stmt.where(d.c.opd_id.in_(opd_ids(query.opd_code, query.region_code)))
    if query.rule is not None:
        stmt = stmt.where(d.c.rule == query.rule)
    if query.severity is not None:
        stmt = stmt.where(d.c.severity == query.severity)
    if query.open is not None:
        stmt = stmt.where(d.c.resolved_at.is_(None) if query.open else d.c.resolved_at.is_not(None))
    return await paginate(
        access, settings, stmt, kind="Discrepancy", order=[d.c.id], first=first, after=after
    )
