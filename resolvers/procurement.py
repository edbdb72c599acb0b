"""Lookups of procurement rows by their codes in SiRUP and SPSE."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from hub.store import relations as rel
from hub.store.access import DataAccess

PACKAGE, TENDER = rel.T["procurement_package"], rel.T["tender"]


async def package_by_rup_code(access: DataAccess, rup_code: str) -> Row[Any] | None:
    return await access.first(access.select(PACKAGE).where(PACKAGE.c.rup_code == rup_code))


async def tender_by_code(access: DataAccess, code: str) -> Row[Any] | None:
    return await access.first(access.select(TENDER).where(TENDER.c.code == code))


async def sources(access: DataAccess) -> list[Row[Any]]:
    table = rel.T["source"]
    return list(await access.all(access.select(table).order_by(table.c.id)))
