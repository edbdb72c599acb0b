"""Relay connections in SQL: a page of rows numbered in their order, its edges, its
`pageInfo` and its `totalCount`, as `resolvers.paging.paginate` answers them.

A root connection reads its page once (a CTE); a connection below another object (a
Pemda's OPD, an OPD's sub kegiatan) reads it per parent row (a correlated subquery).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLObjectType, get_named_type
from sqlalchemy import Integer, func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by

from hub.errors import ClientError
from hub.serving.compiled.sql import EMPTY_LIST, SQL, Decline, lit
from hub.settings import Settings
from hub.store.codec import cursor_sql, decode_cursor

Row = Any


@dataclass(frozen=True)
class Order:
    """How a list is sorted (columns, unique together, the id last) and its cursor kind."""

    kind: str
    columns: tuple[str, ...]


def page_size(first: Any, settings: Settings) -> int:
    """`first` as the resolvers take it; what they refuse, the compiler declines."""
    if first is None:
        return settings.default_page_size
    if (
        not isinstance(first, int)
        or isinstance(first, bool)
        or not 0 <= first <= settings.max_page_size
    ):
        raise Decline("page size the ordinary path refuses")
    return first


def after_values(order: Order, after: Any) -> list[Any] | None:
    """The sort key of an `after` cursor; what the resolvers refuse, the compiler declines."""
    if after is None:
        return None
    try:
        values = decode_cursor(order.kind, after, len(order.columns))
    except ClientError:
        raise Decline("cursor the ordinary path refuses") from None
    if not isinstance(values[-1], int) or not all(isinstance(v, str) for v in values[:-1]):
        raise Decline("cursor the ordinary path refuses")
    return values


def numbered(base: Any, table: Row, order: Order, after: list[SQL] | None, limit: SQL) -> Any:
    """`base` after the cursor, in order, numbered, one row past the page (hasNextPage)."""
    columns = [table.c[c] for c in order.columns]
    if after is not None:
        base = base.where(tuple_(*columns) > tuple_(*after))
    number = func.row_number().over(order_by=columns).label("_n")
    return base.add_columns(number).order_by(*columns).limit(limit)


def connection(
    c: Any,
    page: Row,
    order: Order,
    first: SQL,
    has_after: bool,
    count: SQL,
    nodes: list[FieldNode],
    connection_type: GraphQLObjectType,
) -> SQL:
    """The connection's JSON from its numbered `page` (a CTE or a correlated subquery)."""
    pairs: list[SQL] = []
    for key, (name, field_nodes) in c.fields(nodes, connection_type).items():
        pairs.append(lit(key))
        if name == "__typename":
            pairs.append(lit(connection_type.name))
        elif name == "totalCount":
            pairs.append(count)
        elif name == "pageInfo":
            pairs.append(_page_info(c, page, order, first, has_after, field_nodes))
        elif name == "edges":
            edge_type = get_named_type(connection_type.fields["edges"].type)
            pairs.append(_edges(c, page, order, first, field_nodes, edge_type))
        else:
            raise Decline(f"{connection_type.name}.{name} is not compiled")
    if not pairs:
        raise Decline("empty selection")
    return func.json_build_object(*pairs)


def _cursor(page: Row, order: Order) -> SQL:
    return cursor_sql(order.kind, [page.c[c] for c in order.columns])


def _page_info(
    c: Any, page: Row, order: Order, first: SQL, has_after: bool, nodes: list[FieldNode]
) -> SQL:
    info_type = c.schema.get_type("PageInfo")
    if not isinstance(info_type, GraphQLObjectType):
        raise Decline("no PageInfo type")
    pairs: list[SQL] = []
    for key, (name, _) in c.fields(nodes, info_type).items():
        pairs.append(lit(key))
        if name == "__typename":
            pairs.append(lit("PageInfo"))
        elif name == "hasNextPage":
            pairs.append(select(func.count() > first).select_from(page).scalar_subquery())
        elif name == "hasPreviousPage":
            pairs.append(literal_column("true" if has_after else "false"))
        elif name in ("startCursor", "endCursor"):
            ordering = page.c._n.asc() if name == "startCursor" else page.c._n.desc()
            pairs.append(
                select(_cursor(page, order))
                .where(page.c._n <= first)
                .order_by(ordering)
                .limit(1)
                .scalar_subquery()
            )
        else:
            raise Decline(f"PageInfo.{name} is not compiled")
    return func.json_build_object(*pairs)


def _edges(
    c: Any,
    page: Row,
    order: Order,
    first: SQL,
    nodes: list[FieldNode],
    edge_type: GraphQLObjectType,
) -> SQL:
    pairs: list[SQL] = []
    for key, (name, field_nodes) in c.fields(nodes, edge_type).items():
        pairs.append(lit(key))
        if name == "__typename":
            pairs.append(lit(edge_type.name))
        elif name == "cursor":
            pairs.append(_cursor(page, order))
        elif name == "node":
            node_type = get_named_type(edge_type.fields["node"].type)
            if not isinstance(node_type, GraphQLObjectType):
                raise Decline("a node that is not an object")
            pairs.append(c.object(page, field_nodes, node_type))
        else:
            raise Decline(f"{edge_type.name}.{name} is not compiled")
    edge = func.json_build_object(*pairs)
    listed = func.coalesce(func.json_agg(aggregate_order_by(edge, page.c._n)), EMPTY_LIST)
    return select(listed).select_from(page).where(page.c._n <= first).scalar_subquery()


INT = Integer
