"""Fields with arguments below the root: chain summaries, follow-up counts and nested
connections (a Pemda's OPD, an OPD's sub kegiatan), read per parent row with the
resolvers' own statements (`resolvers.summaries`, `resolvers.followup`, `opd_conditions`,
`sub_activity_conditions`).

Their arguments are literals or variables. A literal is part of the statement; a variable
is bound from each request (`Compiler.variable`), except the page's `first`/`after`, which
must be literals: their values decide what the ordinary path refuses (a page too large, a
cursor of another list), and the statement is kept for other values too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    IntValueNode,
    StringValueNode,
    VariableNode,
    get_named_type,
)
from sqlalchemy import Integer, func, literal, select
from sqlalchemy.sql.util import ClauseAdapter

from hub.serving.compiled.pages import Order, after_values, connection, numbered, page_size
from hub.serving.compiled.sql import SQL, Decline
from hub.store import relations as rel
from resolvers import followup
from resolvers.planning import SubActivityQuery, opd_conditions, sub_activity_conditions
from resolvers.summaries import Level, summary_columns, summary_joins

if TYPE_CHECKING:
    from hub.serving.compiled.compiler import Compiler

T = rel.T
Row = Any
OPDS = Order("Opd", ("code", "id"))
SUB_ACTIVITIES = Order("SubActivity", ("code", "id"))


def _argument(node: FieldNode, name: str) -> Any:
    for argument in node.arguments or ():
        if argument.name.value == name:
            return argument.value
    return None


def _int(c: Compiler, node: FieldNode, name: str) -> SQL:
    """A required Int argument: a literal, or a variable bound from each request."""
    value = _argument(node, name)
    if isinstance(value, IntValueNode):
        return literal(int(value.value), Integer)
    if isinstance(value, VariableNode):
        return c.variable(value.name.value, Integer)
    raise Decline(f"argument {name} is neither a literal nor a variable")


def _paging(c: Compiler, node: FieldNode, order: Order) -> tuple[int, list[Any] | None]:
    first, after = _argument(node, "first"), _argument(node, "after")
    if first is not None and not isinstance(first, IntValueNode):
        raise Decline("a nested `first` that is not a literal")
    if after is not None and not isinstance(after, StringValueNode):
        raise Decline("a nested `after` that is not a literal")
    size = page_size(None if first is None else int(first.value), c.settings)
    return size, after_values(order, None if after is None else after.value)


def _summary(level: Level) -> Any:
    def build(c: Compiler, row: Row, nodes: list[FieldNode], definition: GraphQLField) -> SQL:
        if len(nodes) != 1:
            raise Decline("a summary asked twice under one key")
        fy = _int(c, nodes[0], "fiscalYear")
        r, joins = summary_joins(level, row.c.id, fy)
        columns = summary_columns(level, r, row.c.id, fy)
        summary_type = get_named_type(definition.type)
        if not isinstance(summary_type, GraphQLObjectType):
            raise Decline("a summary that is not an object")
        value = c.object(_Columns(columns), nodes, summary_type)
        (first, on), *rest = joins
        source = first
        for table, condition in rest:
            source = source.outerjoin(table, condition)
        return select(value).select_from(source).where(on).scalar_subquery()

    return build


def _follow_ups(level: Level) -> Any:
    """A Pemda's or an OPD's follow-up counts: the loader's columns and owner condition
    (`resolvers.followup`), over the follow-ups the viewer may see."""

    def build(c: Compiler, row: Row, nodes: list[FieldNode], definition: GraphQLField) -> SQL:
        if c.scope.name == "public":
            raise Decline("follow-ups are not shown to anonymous viewers (FORBIDDEN)")
        if len(nodes) != 1:
            raise Decline("follow-ups asked twice under one key")
        fy = _int(c, nodes[0], "fiscalYear")
        f = c.alias(T["follow_up"])
        source, mine = followup.summary_owner(level, f, row.c.id)
        summary_type = get_named_type(definition.type)
        if not isinstance(summary_type, GraphQLObjectType):
            raise Decline("a summary that is not an object")
        value = c.object(_Columns(followup.summary_columns(f)), nodes, summary_type)
        where = [mine, f.c.fiscal_year == fy, *c.restrict(T["follow_up"], f)]
        return select(value).select_from(source).where(*where).scalar_subquery()

    return build


class _Columns:
    """Expressions seen as a row's columns (`.c[name]`), for `Compiler.object`."""

    def __init__(self, columns: dict[str, SQL]) -> None:
        self.c = columns


def _page(
    c: Compiler, table: Any, conditions: list[SQL], order: Order, size: int,
    after: list[Any] | None, nodes: list[FieldNode], definition: GraphQLField, parent: Row,
) -> SQL:  # fmt: skip
    """A connection below `parent`: its page per parent row (a correlated subquery)."""
    row = c.alias(table)
    adapted: list[SQL] = [ClauseAdapter(row).traverse(condition) for condition in conditions]
    adapted += c.restrict(table, row)
    count = select(func.count()).select_from(row).where(*adapted).scalar_subquery()
    base = select(row).where(*adapted)
    bound_after = None if after is None else [literal(v) for v in after]
    page = numbered(base, row, order, bound_after, literal(size + 1, Integer))
    page = page.correlate(parent).subquery(c.name("page"))
    connection_type = get_named_type(definition.type)
    if not isinstance(connection_type, GraphQLObjectType):
        raise Decline("a connection that is not an object")
    first = literal(size, Integer)
    return connection(c, page, order, first, after is not None, count, nodes, connection_type)


def _region_opds(c: Compiler, row: Row, nodes: list[FieldNode], definition: GraphQLField) -> SQL:
    if len(nodes) != 1:
        raise Decline("a connection asked twice under one key")
    size, after = _paging(c, nodes[0], OPDS)
    opd = T["opd"]
    conditions = opd_conditions(opd, region_id=row.c.id)
    return _page(c, opd, conditions, OPDS, size, after, nodes, definition, row)


def _opd_sub_activities(
    c: Compiler, row: Row, nodes: list[FieldNode], definition: GraphQLField
) -> SQL:
    if len(nodes) != 1:
        raise Decline("a connection asked twice under one key")
    size, after = _paging(c, nodes[0], SUB_ACTIVITIES)
    fy = _int(c, nodes[0], "fiscalYear")
    sa = T["sub_activity"]
    query = SubActivityQuery(fiscal_year=0, opd_id=0)
    values = {"fiscal_year": fy, "opd_id": row.c.id}
    conditions = sub_activity_conditions(sa, query, c.scope, lambda name, _: values[name])
    return _page(c, sa, conditions, SUB_ACTIVITIES, size, after, nodes, definition, row)


SPECIAL = {
    ("Region", "summary"): _summary("region"),
    ("Opd", "summary"): _summary("opd"),
    ("Region", "followUps"): _follow_ups("region"),
    ("Opd", "followUps"): _follow_ups("opd"),
    ("Region", "opds"): _region_opds,
    ("Opd", "subActivities"): _opd_sub_activities,
}
