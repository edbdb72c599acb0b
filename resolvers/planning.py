"""Reads for regions, OPDs and sub-activities: lookups, filtered pages and chain summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, exists, or_, select
from sqlalchemy.sql import Select

from hub.settings import Settings
from hub.store import relations as rel
from hub.store.access import DataAccess
from hub.store.scope import Scope
from resolvers.paging import Page, paginate

T = rel.T
REGION, OPD, SUB_ACTIVITY = T["region"], T["opd"], T["sub_activity"]
DISCREPANCY = T["discrepancy"]
ZERO = Decimal("0.00")


def opd_ids(code: Any, region_code: Any | None) -> Select[Any]:
    """Ids of the OPD with `code`: in the Pemda `region_code` itself when one is given (OPD
    codes repeat across Pemda, so the pair names one OPD), else in every Pemda."""
    stmt = select(OPD.c.id).where(OPD.c.code == code)
    if region_code is not None:
        stmt = stmt.where(
            OPD.c.region_id
            == select(REGION.c.id).where(REGION.c.code == region_code).scalar_subquery()
        )
    return stmt


def region_and_children(code: Any) -> Select[Any]:
    """Ids of the region with `code` and, for a province, of its regencies and cities."""
    parent = select(REGION.c.id).where(REGION.c.code == code).scalar_subquery()
    return select(REGION.c.id).where(or_(REGION.c.id == parent, REGION.c.parent_id == parent))


async def region_by_code(access: DataAccess, code: str) -> Row[Any] | None:
    return await access.first(access.select(REGION).where(REGION.c.code == code))


async def opd_by_code(access: DataAccess, region_code: str, code: str) -> Row[Any] | None:
    stmt = (
        access.select(OPD)
        .join(REGION, REGION.c.id == OPD.c.region_id)
        .where(REGION.c.code == region_code, OPD.c.code == code)
    )
    return await access.first(stmt)


async def sub_activity_by_code(
    access: DataAccess, region_code: str, fiscal_year: int, code: str
) -> Row[Any] | None:
    stmt = (
        access.select(SUB_ACTIVITY)
        .join(REGION, REGION.c.id == SUB_ACTIVITY.c.region_id)
        .where(
            REGION.c.code == region_code,
            SUB_ACTIVITY.c.fiscal_year == fiscal_year,
            SUB_ACTIVITY.c.code == code,
        )
    )
    return await access.first(stmt)


async def regions(access: DataAccess, level: str | None) -> Sequence[Row[Any]]:
    stmt = access.select(REGION).order_by(REGION.c.code)
    if level is not None:
        stmt = stmt.where(REGION.c.level == level)
    return await access.all(stmt)


def opd_conditions(
    opd: Any, region_code: Any | None = None, region_id: Any | None = None
) -> list[Any]:
    """The WHERE conditions of an OPD list: of a Pemda given by code (a province: and its
    regencies'), or of one Pemda by id (its own only)."""
    conditions = []
    if region_code is not None:
        conditions.append(opd.c.region_id.in_(region_and_children(region_code)))
    if region_id is not None:
        conditions.append(opd.c.region_id == region_id)
    return conditions


async def opd_page(
    access: DataAccess,
    settings: Settings,
    *,
    region_code: str | None = None,
    region_id: int | None = None,
    first: int | None,
    after: str | None,
) -> Page:
    stmt = access.select(OPD).where(*opd_conditions(OPD, region_code, region_id))
    return await paginate(
        access, settings, stmt, kind="Opd", order=[OPD.c.code, OPD.c.id], first=first, after=after
    )


@dataclass(frozen=True)
class SubActivityQuery:
    fiscal_year: int
    region_code: str | None = None
    opd_code: str | None = None
    opd_id: int | None = None
    stage: str | None = None
    search: str | None = None
    has_discrepancies: bool | None = None


def search_pattern(search: str) -> str:
    """The LIKE pattern that finds `search` as plain text anywhere."""
    return "%" + search.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


def sub_activity_conditions(
    sa: Any, query: SubActivityQuery, scope: Scope, value: Any = lambda name, v: v
) -> list[Any]:
    """The WHERE conditions of a sub kegiatan list for a viewer of `scope`. `value(name, v)`
    turns each filter value into what the statement holds: the value itself, or (for the
    compiled path, whose statement is built once and run with new values) a named bind
    parameter."""
    conditions = [sa.c.fiscal_year == value("fiscal_year", query.fiscal_year)]
    if query.region_code is not None:
        region_code = value("region_code", query.region_code)
        conditions.append(sa.c.region_id.in_(region_and_children(region_code)))
    if query.opd_id is not None:
        conditions.append(sa.c.opd_id == value("opd_id", query.opd_id))
    if query.opd_code is not None:
        region_code = None if query.region_code is None else value("region_code", query.region_code)
        conditions.append(sa.c.opd_id.in_(opd_ids(value("opd_code", query.opd_code), region_code)))
    if query.stage is not None:
        rollup = rel.ROLLUP
        conditions.append(
            exists().where(
                rollup.c.sub_activity_id == sa.c.id,
                rollup.c.stage == value("stage", query.stage),
            )
        )
    if query.search:
        pattern = value("search", search_pattern(query.search))
        conditions.append(or_(sa.c.name.ilike(pattern), sa.c.code.like(pattern)))
    if query.has_discrepancies is not None:
        # Only findings the viewer may see count: the public sees no ketimpangan rows, so
        # for it no sub kegiatan "has" one (the filter would otherwise reveal them).
        seen = scope.predicate(DISCREPANCY)
        open_discrepancy = exists().where(
            DISCREPANCY.c.sub_activity_id == sa.c.id,
            DISCREPANCY.c.resolved_at.is_(None),
            *([] if seen is None else [seen]),
        )
        conditions.append(open_discrepancy if query.has_discrepancies else ~open_discrepancy)
    return conditions


async def sub_activity_page(
    access: DataAccess,
    settings: Settings,
    query: SubActivityQuery,
    *,
    first: int | None,
    after: str | None,
) -> Page:
    sa = SUB_ACTIVITY
    stmt = access.select(sa).where(*sub_activity_conditions(sa, query, access.scope))
    return await paginate(
        access,
        settings,
        stmt,
        kind="SubActivity",
        order=[sa.c.code, sa.c.id],
        first=first,
        after=after,
    )
