"""Lookups of procurement rows by their codes in SiRUP and SPSE."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, or_

from hub.settings import Settings
from hub.store import relations as rel
from hub.store.access import DataAccess
from resolvers.paging import Page, paginate
from resolvers.planning import opd_ids, region_and_children

PACKAGE, TENDER = rel.T["procurement_package"], rel.T["tender"]


async def package_by_rup_code(access: DataAccess, rup_code: str) -> Row[Any] | None:
    return await access.first(access.select(PACKAGE).where(PACKAGE.c.rup_code == rup_code))


async def tender_by_code(access: DataAccess, code: str) -> Row[Any] | None:
    return await access.first(access.select(TENDER).where(TENDER.c.code == code))


async def sources(access: DataAccess) -> list[Row[Any]]:
    table = rel.T["source"]
    return list(await access.all(access.select(table).order_by(table.c.id)))


@dataclass(frozen=True)
class PackageQuery:
    fiscal_year: int
    region_code: str | None = None
    opd_code: str | None = None


def package_conditions(
    p: Any, query: PackageQuery, value: Callable[[str, Any], Any] = lambda _, v: v
) -> list[Any]:
    """The WHERE conditions of a RUP package list (a province's region code includes its
    regencies; with an OPD code, that OPD of the Pemda named). `value` makes each value
    the statement's: itself here, a bound parameter on the compiled path."""
    conditions = [p.c.fiscal_year == value("fiscal_year", query.fiscal_year)]
    region = None if query.region_code is None else value("region_code", query.region_code)
    if region is not None:
        conditions.append(p.c.region_id.in_(region_and_children(region)))
    if query.opd_code is not None:
        conditions.append(p.c.opd_id.in_(opd_ids(value("opd_code", query.opd_code), region)))
    return conditions


async def package_page(
    access: DataAccess,
    settings: Settings,
    query: PackageQuery,
    *,
    first: int | None,
    after: str | None,
) -> Page:
    """RUP packages of a fiscal year (see `package_conditions`), by id."""
    stmt = access.select(PACKAGE).where(*package_conditions(PACKAGE, query))
    return await paginate(
        access, settings, stmt, kind="ProcurementPackage", order=[PACKAGE.c.id], first=first,
        after=after,
    )  # fmt: skip


LETTER = rel.T["letter"]


@dataclass(frozen=True)
class LetterQuery:
    region_code: str | None = None
    kind: str | None = None
    linked: bool | None = None
    contract_number: str | None = None


async def letter_page(
    access: DataAccess,
    settings: Settings,
    query: LetterQuery,
    *,
    first: int | None,
    after: str | None,
) -> Page:
    """Letters by id; `linked`: only those whose contract or tender is known (true), or
    those kept unlinked (false)."""
    x = LETTER
    conditions: list[Any] = []
    if query.region_code is not None:
        conditions.append(x.c.region_id.in_(region_and_children(query.region_code)))
    if query.kind is not None:
        conditions.append(x.c.kind == query.kind)
    if query.contract_number is not None:
        conditions.append(x.c.contract_number == query.contract_number)
    if query.linked is not None:
        known = or_(x.c.contract_id.is_not(None), x.c.tender_id.is_not(None))
        conditions.append(known if query.linked else ~known)
    stmt = access.select(x).where(*conditions)
    return await paginate(
        access, settings, stmt, kind="Letter", order=[x.c.id], first=first, after=after
    )
