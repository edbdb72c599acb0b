"""Root fields the compiler knows: how their arguments bind and how their answer is built.

Each root field has a binder (arguments → the statement's shape and its values; it
declines whatever the ordinary path would refuse, which then says why) and a builder (the
JSON expression). Paging and filters are the resolvers' own conditions
(`resolvers.planning.sub_activity_conditions`), bound as parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLObjectType, get_named_type
from sqlalchemy import BigInteger, Integer, String, func, literal_column, select, true, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by

from hub.errors import ClientError
from hub.serving.compiled.compiler import Compiler
from hub.serving.compiled.sql import EMPTY_LIST, SQL, Decline, lit
from hub.settings import Settings
from hub.store import relations as rel
from hub.store.codec import cursor_sql, decode_cursor
from hub.store.scope import EVERYTHING
from resolvers.planning import SubActivityQuery, sub_activity_conditions

T = rel.T
Row = Any


@dataclass(frozen=True)
class Bound:
    """A root field's arguments: what shapes its statement, the values to bind, and the
    filter they came from."""

    shape: tuple[Any, ...]
    values: dict[str, Any]
    query: Any


def bind_sub_activities(args: dict[str, Any], settings: Settings) -> Bound:
    first = args.get("first")
    if first is None:
        first = settings.default_page_size
    if not isinstance(first, int) or first < 0 or first > settings.max_page_size:
        raise Decline("page size the ordinary path refuses")
    flt = args["filter"]
    stage = flt.get("stage")
    query = SubActivityQuery(
        fiscal_year=flt["fiscalYear"],
        region_code=flt.get("regionCode"),
        opd_code=flt.get("opdCode"),
        stage=getattr(stage, "name", stage),
        search=flt.get("search"),
        has_discrepancies=flt.get("hasDiscrepancies"),
    )
    values: dict[str, Any] = {"first": first, "limit": first + 1}
    after = args.get("after")
    if after is not None:
        try:
            code, pk = decode_cursor("SubActivity", after, 2)
        except ClientError:
            raise Decline("cursor the ordinary path refuses") from None
        if not isinstance(code, str) or not isinstance(pk, int):
            raise Decline("cursor the ordinary path refuses")
        values.update(after_code=code, after_id=pk)
    # Only the values are wanted here; the scope shapes the statement, not its values.
    sub_activity_conditions(
        T["sub_activity"], query, EVERYTHING, lambda name, v: values.setdefault(name, v)
    )
    # Which filters are set (not their values) and whether `after` is: the statement's shape.
    shape = (*sorted(values), query.has_discrepancies)
    return Bound(shape, values, query)


def compile_sub_activities(
    c: Compiler, bound: Bound, nodes: list[FieldNode], connection: GraphQLObjectType
) -> SQL:
    query: SubActivityQuery = bound.query
    types: dict[str, Any] = {
        "fiscal_year": Integer,
        "region_code": String,
        "opd_code": String,
        "stage": String,
        "search": String,
    }
    sa = T["sub_activity"]
    conditions = sub_activity_conditions(
        sa, query, c.scope, lambda name, v: c.bind(name, types[name])
    )
    predicate = c.scope.predicate(sa)
    if predicate is not None:
        conditions.append(predicate)
    base = select(sa).where(*conditions)
    count = select(func.count()).select_from(base.subquery()).scalar_subquery()
    if "after_code" in bound.values:
        after = tuple_(c.bind("after_code", String), c.bind("after_id", BigInteger))
        base = base.where(tuple_(sa.c.code, sa.c.id) > after)
    number = func.row_number().over(order_by=(sa.c.code, sa.c.id)).label("_n")
    rollup = _rollup_columns(c, nodes, connection)
    if rollup:
        # Stage, allocated and paid come from the chain rollup (a view of aggregates over
        # five tables): read once per row of the page, not once per field.
        r = rel.ROLLUP.alias(c.name("t"))
        lateral = (
            select(*(r.c[n] for n in rollup))
            .where(r.c.sub_activity_id == sa.c.id, *c.restrict(rel.ROLLUP, r))
            .limit(1)
            .lateral(c.name("rollup"))
        )
        base = base.outerjoin(lateral, true()).add_columns(
            *(lateral.c[n].label(f"_rollup_{n}") for n in rollup)
        )
    page = (
        base.add_columns(number)
        .order_by(sa.c.code, sa.c.id)
        .limit(c.bind("limit", Integer))
        .cte(c.name("page"))
    )
    if rollup:
        c.joined[(id(page), rel.ROLLUP.name)] = _Renamed(page, "_rollup_")
    first = c.bind("first", Integer)
    pairs: list[SQL] = []
    for key, (name, field_nodes) in c.fields(nodes, connection).items():
        pairs.append(lit(key))
        if name == "__typename":
            pairs.append(lit(connection.name))
        elif name == "totalCount":
            pairs.append(count)
        elif name == "pageInfo":
            pairs.append(_page_info(c, page, first, bound, field_nodes))
        elif name == "edges":
            edge_type = get_named_type(connection.fields["edges"].type)
            pairs.append(_edges(c, page, first, field_nodes, edge_type))
        else:
            raise Decline(f"{connection.name}.{name} is not compiled")
    if not pairs:
        raise Decline("empty selection")
    return func.json_build_object(*pairs)


class _Renamed:
    """Columns of `row` named `prefix` + name, seen as `.c.<name>` (a joined table's)."""

    def __init__(self, row: Row, prefix: str) -> None:
        self.c = _RenamedColumns(row, prefix)


class _RenamedColumns:
    def __init__(self, row: Row, prefix: str) -> None:
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str) -> SQL:
        return self._row.c[self._prefix + name]

    __getitem__ = __getattr__


def _rollup_columns(
    c: Compiler, nodes: list[FieldNode], connection: GraphQLObjectType
) -> list[str]:
    """The rollup columns the page's sub kegiatan select (stage; budget allocated, paid)."""
    edge_type = get_named_type(connection.fields["edges"].type)
    node_type = get_named_type(edge_type.fields["node"].type)
    budget_type = get_named_type(node_type.fields["budget"].type)
    wanted: set[str] = set()
    for _, (name, edge_nodes) in c.fields(nodes, connection).items():
        if name != "edges":
            continue
        for _, (field, node_nodes) in c.fields(edge_nodes, edge_type).items():
            if field != "node":
                continue
            for _, (sub, sub_nodes) in c.fields(node_nodes, node_type).items():
                if sub == "stage":
                    wanted.add("stage")
                elif sub == "budget":
                    for _, (leaf, _) in c.fields(sub_nodes, budget_type).items():
                        if leaf in ("allocated", "paid"):
                            wanted.add(leaf)
    return sorted(wanted)


def _page_info(c: Compiler, page: Row, first: SQL, bound: Bound, nodes: list[FieldNode]) -> SQL:
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
            pairs.append(literal_column("true" if "after_code" in bound.values else "false"))
        elif name in ("startCursor", "endCursor"):
            ordering = page.c._n.asc() if name == "startCursor" else page.c._n.desc()
            pairs.append(
                select(cursor_sql("SubActivity", [page.c.code, page.c.id]))
                .where(page.c._n <= first)
                .order_by(ordering)
                .limit(1)
                .scalar_subquery()
            )
        else:
            raise Decline(f"PageInfo.{name} is not compiled")
    return func.json_build_object(*pairs)


def _edges(
    c: Compiler, page: Row, first: SQL, nodes: list[FieldNode], edge_type: GraphQLObjectType
) -> SQL:
    pairs: list[SQL] = []
    for key, (name, field_nodes) in c.fields(nodes, edge_type).items():
        pairs.append(lit(key))
        if name == "__typename":
            pairs.append(lit(edge_type.name))
        elif name == "cursor":
            pairs.append(cursor_sql("SubActivity", [page.c.code, page.c.id]))
        elif name == "node":
            node_type = get_named_type(edge_type.fields["node"].type)
            pairs.append(c.object(page, field_nodes, node_type))
        else:
            raise Decline(f"{edge_type.name}.{name} is not compiled")
    edge = func.json_build_object(*pairs)
    listed = func.coalesce(func.json_agg(aggregate_order_by(edge, page.c._n)), EMPTY_LIST)
    return select(listed).select_from(page).where(page.c._n <= first).scalar_subquery()


ROOTS: dict[str, tuple[Callable[..., Bound], Callable[..., SQL]]] = {
    "subActivities": (bind_sub_activities, compile_sub_activities),
}
