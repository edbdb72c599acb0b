"""Keyset pagination behind the Relay connections: opaque cursors, stable under deletes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Column, Row, func, select, tuple_
from sqlalchemy.sql import Select

from hub.errors import BadCursor, BadUserInput, PageTooLarge
from hub.settings import Settings
from hub.store.access import DataAccess


def encode_cursor(kind: str, values: Sequence[Any]) -> str:
    raw = orjson.dumps([kind, *values])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, arity: int) -> list[Any]:
    """The sort-key values in `cursor`; BAD_CURSOR unless it is one of ours for `kind`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadCursor(f"Cursor {cursor!r} is not a cursor this API issued.") from None
    if (
        not isinstance(payload, list)
        or len(payload) != arity + 1
        or payload[0] != kind
        or not all(_key_value(v) for v in payload[1:])
    ):
        raise BadCursor(f"Cursor {cursor!r} does not belong to a list of {kind}.")
    return payload[1:]


INT64 = 2**63


def _key_value(value: Any) -> bool:
    """A sort-key value a cursor may carry: text, or an integer the store's bigint holds."""
    if isinstance(value, bool):
        return False
    return isinstance(value, str) or (isinstance(value, int) and -INT64 <= value < INT64)


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
