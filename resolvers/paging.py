"""Keyset pagination behind the Relay connections: opaque cursors, stable under deletes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Row, func, select, tuple_
from sqlalchemy.sql import Select

from hub.errors import BadCursor, BadUserInput, PageTooLarge
from hub.settings import Settings
from hub.store.access import DataAccess
from hub.store.codec import decode_cursor, encode_cursor


def _integer(column: Column[Any]) -> bool:
    try:
        return column.type.python_type is int
    except NotImplementedError:
        return False


def page_size(first: int | None, settings: Settings) -> int:
    if first is None:
        return settings.default_page_size
    if first < 0:
        raise BadUserInput("`first` must be zero or more.", argument="first")
    if first > settings.max_page_size:
        raise PageTooLarge(
            f"`first` is {first}; at most {settings.max_page_size} items fit on one page.",
            maxPageSize=settings.max_page_size,
        )
    return first


@dataclass
class Page:
    rows: Sequence[Row[Any]]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    count_statement: Select[Any]


async def paginate(
    access: DataAccess,
    settings: Settings,
    stmt: Select[Any],
    *,
    kind: str,
    order: Sequence[Column[Any]],
    first: int | None,
    after: str | None,
) -> Page:
    """One page of `stmt` ordered by `order` (unique, ascending), after the cursor `after`."""
    size = page_size(first, settings)
    count_statement = select(func.count()).select_from(stmt.order_by(None).subquery())
    if after is not None:
        values = decode_cursor(kind, after, len(order))
        for column, value in zip(order, values, strict=True):
            # A cursor whose values do not fit the sort columns is not one of ours; letting
            # it through made PostgreSQL fail the statement (operator does not exist).
            if isinstance(value, int) != _integer(column):
                raise BadCursor(f"Cursor {after!r} does not belong to a list of {kind}.")
        stmt = stmt.where(tuple_(*order) > tuple_(*values))
    rows = list(await access.all(stmt.order_by(*order).limit(size + 1)))
    has_next = len(rows) > size
    rows = rows[:size]
    keys = [c.name for c in order]
    cursors = [encode_cursor(kind, [getattr(row, k) for k in keys]) for row in rows]
    return Page(rows, cursors, has_next, after is not None, count_statement)
