"""The statement of one operation for one viewer: every object a `json_build_object`, every
list a correlated `json_agg`, every table read with the viewer's scope predicate.

What each field reads comes from its declaration in the schema (`schema/fields.py`): a
column, a relation of hub/store/relations.py, a lookup into one related row, the same row,
the global id. Fields declared otherwise (aggregates, evidence, timestamps, fields with
arguments below the root) make the compiler decline. The one field compiled by hand is
`Payment.payee`, whose vendor may be a row or only the name and NPWP on the payment.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)
from sqlalchemy import Table, bindparam, case, func, null, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.util import ClauseAdapter

from hub.serving.compiled.collect import Collected, collect
from hub.serving.compiled.nested import SPECIAL as NESTED
from hub.serving.compiled.sql import EMPTY_LIST, SQL, Decline, leaf, lit
from hub.settings import Settings
from hub.store import relations as rel
from hub.store.codec import global_id_sql
from hub.store.freshness import FRESHNESS
from hub.store.relations import Relation
from hub.store.scope import Scope
from schema.fields import Column, Link, Lookup, NodeId, SameRow, source_of

Row = Any  # a table alias (or CTE) whose columns a field reads


class Compiler:
    """Builds the JSON expression of one root field for one scope."""

    def __init__(
        self,
        schema: GraphQLSchema,
        scope: Scope,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        settings: Settings,
        prefix: str = "",
    ) -> None:
        self.schema = schema
        self.scope = scope
        self.settings = settings
        # Variables the statement binds from each request (arguments below the root).
        self.variables_bound: set[str] = set()
        self.fragments = fragments
        self.variables = variables
        self._names = itertools.count()
        # Names of aliases and bind parameters of one root field carry its prefix, so two
        # root fields never share one (the hub's freshness limit is shared by all).
        self.prefix = prefix
        # (id of a row alias, table) -> a row joined to it already, read instead of a
        # subquery per field (the chain rollup of a page of sub kegiatan).
        self.joined: dict[tuple[int, str], Any] = {}

    def name(self, kind: str) -> str:
        """A fresh name for an alias or CTE, unique in the whole statement."""
        return f"{self.prefix}{kind}{next(self._names)}"

    def alias(self, table: Table) -> Row:
        return table.alias(self.name("t"))

    def bind(self, name: str, type_: Any) -> SQL:
        return bindparam(name if name == FRESHNESS else self.prefix + name, type_=type_)

    def variable(self, name: str, type_: Any) -> SQL:
        """A variable of the request as a bind parameter of the statement: the statement is
        kept for other values, so each request binds its own (plans.py)."""
        self.variables_bound.add(name)
        return bindparam(f"var_{name}", type_=type_)

    def restrict(self, table: Table, alias: Row) -> list[SQL]:
        predicate = self.scope.predicate(table)
        return [] if predicate is None else [ClauseAdapter(alias).traverse(predicate)]

    def fields(self, nodes: list[FieldNode], runtime: GraphQLObjectType) -> Collected:
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        return collect(self.schema, sets, runtime, self.fragments, self.variables)

    def object(self, row: Row, nodes: list[FieldNode], runtime: GraphQLObjectType) -> SQL:
        pairs: list[SQL] = []
        for key, (name, field_nodes) in self.fields(nodes, runtime).items():
            pairs.append(lit(key))
            pairs.append(self.field(row, name, field_nodes, runtime))
        if not pairs or len(pairs) > 100:  # json_build_object takes at most 100 arguments
            raise Decline("empty or too wide selection")
        return func.json_build_object(*pairs)

    def field(self, row: Row, name: str, nodes: list[FieldNode], runtime: GraphQLObjectType) -> SQL:
        if name == "__typename":
            return lit(runtime.name)
        definition = runtime.fields.get(name)
        if definition is None:
            raise Decline(f"{runtime.name}.{name} is unknown")
        special = SPECIAL.get((runtime.name, name))
        if special is not None:
            return special(self, row, nodes, definition)
        if any(n.arguments for n in nodes):
            raise Decline(f"{runtime.name}.{name} has arguments")
        source = source_of(definition)
        if isinstance(source, Column):
            if source.masked is not None and not self.scope.sees_field(source.masked):
                raise Decline(f"{source.masked} is masked for this viewer")
            value = row.c[source.name]
            return leaf(value, definition.type, nullable=getattr(value, "nullable", True))
        if isinstance(source, NodeId):
            return global_id_sql(runtime.name, row.c.id)
        if isinstance(source, Link):
            return self.link(source.relation, row.c[source.key], nodes, definition)
        if isinstance(source, Lookup):
            return self.lookup(source, row, definition)
        if isinstance(source, SameRow):
            return self.object(row, nodes, _object_type(definition))
        raise Decline(f"{runtime.name}.{name} is not compiled")

    def link(
        self, relation: Relation, parent_key: SQL, nodes: list[FieldNode], definition: GraphQLField
    ) -> SQL:
        """The related rows' objects: a list in the relation's order, or the first one."""
        child = self.alias(relation.table)
        source: Any = child
        if relation.through is not None and relation.through_target is not None:
            via = self.alias(relation.through)
            source = child.join(via, via.c[relation.through_target] == child.c.id)
            conditions = [via.c[relation.key] == parent_key]
        else:
            conditions = [child.c[relation.key] == parent_key]
        conditions += self.restrict(relation.table, child)
        value = self.object(child, nodes, _object_type(definition))
        # The loaders' order (Relation.select): the relation's columns, then the id.
        order = [child.c[c] for c in relation.order_by]
        if "id" in child.c and "id" not in relation.order_by:
            order.append(child.c.id)
        if relation.many:
            aggregate = (
                func.json_agg(aggregate_order_by(value, *order)) if order else func.json_agg(value)
            )
            listed = func.coalesce(aggregate, EMPTY_LIST)
            return select(listed).select_from(source).where(*conditions).scalar_subquery()
        first = select(value).select_from(source).where(*conditions).order_by(*order).limit(1)
        return first.scalar_subquery()

    def lookup(self, source: Lookup, row: Row, definition: GraphQLField) -> SQL:
        relation = source.relation
        computed = dict(relation.computed)
        joined = self.joined.get((id(row), relation.table.name))
        if joined is not None and source.column not in computed:
            return leaf(joined.c[source.column], definition.type)
        other = self.alias(relation.table)
        expression = (
            computed[source.column](other) if source.column in computed else other.c[source.column]
        )
        conditions = [
            other.c[relation.key] == row.c[source.key],
            *self.restrict(relation.table, other),
        ]
        value = select(expression).where(*conditions).limit(1).scalar_subquery()
        return leaf(value, definition.type)


def _object_type(definition: GraphQLField) -> GraphQLObjectType:
    named = get_named_type(definition.type)
    if not isinstance(named, GraphQLObjectType):
        raise Decline(f"{named.name} is not an object type")
    return named


# --------------------------------------------------------------------------- by hand


def _payee(c: Compiler, row: Row, nodes: list[FieldNode], definition: GraphQLField) -> SQL:
    """The payee's vendor row, or a vendor of the name and NPWP written on the payment
    (its id is the payment's, negated: `node(id)` finds it through the payment)."""
    if not c.scope.sees_field("Payment.payee"):
        raise Decline("Payment.payee is masked for this viewer")
    vendor = _object_type(definition)
    pairs: list[SQL] = []
    for key, (name, _) in c.fields(nodes, vendor).items():
        pairs.append(lit(key))
        if name == "__typename":
            pairs.append(lit(vendor.name))
        elif name == "id":
            pairs.append(global_id_sql("Vendor", -row.c.id))
        elif name == "name":
            pairs.append(row.c.payee_name)
        elif name == "taxId" and c.scope.sees_field("Vendor.taxId"):
            pairs.append(row.c.payee_tax_id)
        else:
            raise Decline(f"Vendor.{name} of a payee without a vendor row")
    if not pairs:
        raise Decline("empty selection")
    inline = func.json_build_object(*pairs)
    linked = c.link(rel.VENDOR_BY_ID, row.c.payee_vendor_id, nodes, definition)
    return case(
        (row.c.payee_vendor_id.is_(None), case((row.c.payee_name.is_(None), null()), else_=inline)),
        else_=linked,
    )


Special = Callable[[Compiler, Row, list[FieldNode], GraphQLField], SQL]
SPECIAL: dict[tuple[str, str], Special] = {("Payment", "payee"): _payee, **NESTED}
