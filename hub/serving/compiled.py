"""Compiled SQL for pure-data documents: one statement builds the answer's JSON.

The ordinary path resolves every field through graphql-core and Strawberry, and for a deep
chain most of the time goes there, field by field, not to PostgreSQL. A query whose every
selected field is plain data of the store (columns, links between tables, provenance) is
compiled instead: each root field becomes a `json_build_object` whose nested lists are
correlated `json_agg` subqueries, with the viewer's scope predicates on every table, and
the JSON PostgreSQL returns is spliced into the response as it is (`orjson.Fragment`),
never parsed or walked in Python.

The compiler declines, and the ordinary path answers, whenever it is not sure to answer
exactly the same:
- a field it has no mapping for (aggregates, evidence, connections below the root,
  timestamps: their text form differs between PostgreSQL and Python);
- a field with arguments below the root, a directive other than @skip/@include;
- a masked field the viewer may not see (the ordinary path answers null + FORBIDDEN);
- argument values the ordinary path refuses (page size, cursor): it says why;
- any error while running (a store outage is then reported by the ordinary path).
`tests/test_compiled.py` runs many documents through both paths for every role and
requires the same data.

One statement is built per (document, operation, viewer scope, filter shape) and kept;
the request's values are bind parameters.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    BooleanValueNode,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.util import ClauseAdapter

from hub.db import driver_connection
from hub.errors import ClientError, TimedOut
from hub.settings import Settings
from hub.store import relations as rel
from hub.store.codec import decode_cursor
from hub.store.scope import EVERYTHING, Scope
from resolvers.planning import SubActivityQuery, sub_activity_conditions

log = logging.getLogger("rantai.compiled")

T = rel.T
SQL = Any  # a SQLAlchemy column expression
Row = Any  # a table alias (or CTE) whose columns a mapping reads


class Decline(Exception):
    """Not compiled: the ordinary path answers this request."""


# --------------------------------------------------------------------------- mappings


@dataclass(frozen=True)
class Col:
    """A scalar from the row, as PostgreSQL renders it into JSON."""

    sql: Callable[[Row], SQL]


@dataclass(frozen=True)
class Lookup:
    """A scalar from one row of another table (the chain rollup)."""

    table: Table
    key: Callable[[Row, Row], SQL]  # (parent, child) -> condition
    sql: Callable[[Row], SQL]


@dataclass(frozen=True)
class Link:
    """An object (`many=False`: the first by `order`) or a list of objects of `table`."""

    target: str
    table: Table
    many: bool
    key: Callable[[Row, Row], SQL]  # (parent, child or link row) -> condition
    order: tuple[str, ...] = ()
    through: Table | None = None
    through_on: Callable[[Row, Row], SQL] | None = None  # (link row, child)


@dataclass(frozen=True)
class Same:
    """An object read from the same row (Budget of a sub kegiatan, provenance of a row)."""

    target: str


@dataclass(frozen=True)
class Masked:
    """A field the scope may hide (`Scope.sees_field`); hidden means the ordinary path."""

    name: str
    inner: Any


@dataclass(frozen=True)
class Special:
    build: Callable[[Compiler, Row, list[FieldNode], GraphQLObjectType], SQL]


Spec = Col | Lookup | Link | Same | Masked | Special


def money(column: str) -> Col:
    """Decimal values travel as text, as Strawberry's Decimal scalar serialises them."""
    return Col(lambda r: cast(r.c[column], Text))


def plain(column: str) -> Col:
    return Col(lambda r: r.c[column])


_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]*$")


def lit(text: str) -> SQL:
    """A constant string of the compiler's own (names, keys): inlined, never user input."""
    assert _SAFE.match(text), text
    return literal_column(f"'{text}'", String)


def b64url(text: SQL) -> SQL:
    """base64url without padding, as `schema.common.global_id` and cursors encode."""
    encoded = func.encode(
        func.convert_to(text, literal_column("'UTF8'")), literal_column("'base64'")
    )
    # encode() wraps lines at 76 characters: the newline goes with '+' and '/'.
    return func.rtrim(
        func.translate(encoded, literal_column("E'+/\\n'"), literal_column("'-_'")),
        literal_column("'='"),
    )


def gid(type_name: str) -> Col:
    return Col(lambda r: b64url(lit(f"{type_name}:").concat(cast(r.c.id, Text))))


def sub_activity_cursor(r: Row) -> SQL:
    # orjson.dumps(["SubActivity", code, id]): compact, so built by hand, not json_build_array.
    return b64url(
        literal_column("'[\"SubActivity\",'")
        .concat(cast(func.to_json(r.c.code), Text))
        .concat(literal_column("','"))
        .concat(cast(r.c.id, Text))
        .concat(literal_column("']'"))
    )


def provenance() -> Same:
    return Same("Provenance")


def _stale(c: Compiler, row: Row, nodes: list[FieldNode], _: GraphQLObjectType) -> SQL:
    source = c.alias(T["source"])
    fresh = func.make_interval(
        0,
        0,
        0,
        0,
        0,
        0,
        func.coalesce(func.nullif(source.c.freshness_seconds, 0), c.bind("freshness", Integer)),
    )
    stale = (
        source.c.status.in_([lit("NEVER_SYNCED"), lit("DOWN")])
        | source.c.last_success_at.is_(None)
        | (func.now() - source.c.last_success_at > fresh)
    )
    conditions = [source.c.id == row.c.source_id, *c.restrict(T["source"], source)]
    return select(stale).where(*conditions).scalar_subquery()


def _payee(c: Compiler, row: Row, nodes: list[FieldNode], vendor: GraphQLObjectType) -> SQL:
    if not c.scope.sees_field("Payment.payee"):
        raise Decline("Payment.payee is masked for this viewer")
    inline = c.object("Vendor@payee", row, nodes, vendor)
    linked = c.link(
        Link("Vendor", T["vendor"], False, lambda p, v: v.c.id == p.c.payee_vendor_id),
        row,
        nodes,
        vendor,
    )
    return case(
        (
            row.c.payee_vendor_id.is_(None),
            case((row.c.payee_name.is_(None), null()), else_=inline),
        ),
        else_=linked,
    )


def _by_id(target: str, table: str, fk: str) -> Link:
    return Link(target, T[table], False, lambda p, c: c.c.id == p.c[fk])


def _children(target: str, table: str, fk: str, *order: str) -> Link:
    return Link(target, T[table], True, lambda p, c: c.c[fk] == p.c.id, order)


def _through_tender_package(
    target: str, table: str, parent_key: str, child_key: str, order: str
) -> Link:
    """Packages of a tender, or tenders of a package: through `tender_package`."""
    return Link(
        target,
        T[table],
        True,
        lambda p, link: link.c[parent_key] == p.c.id,
        (order,),
        through=T["tender_package"],
        through_on=lambda link, c: link.c[child_key] == c.c.id,
    )


MAPPINGS: dict[str, dict[str, Spec]] = {
    "Region": {
        "id": gid("Region"),
        "code": plain("code"),
        "name": plain("name"),
        "level": plain("level"),
        "parent": _by_id("Region", "region", "parent_id"),
        "children": _children("Region", "region", "parent_id", "code"),
    },
    "Opd": {
        "id": gid("Opd"),
        "code": plain("code"),
        "name": plain("name"),
        "region": _by_id("Region", "region", "region_id"),
    },
    "Program": {"code": plain("code"), "name": plain("name")},
    "Activity": {
        "code": plain("code"),
        "name": plain("name"),
        "program": _by_id("Program", "program", "program_id"),
    },
    "Indicator": {
        "description": plain("description"),
        "unit": plain("unit"),
        "target": money("target"),
        "achieved": money("achieved"),
    },
    "SubActivity": {
        "id": gid("SubActivity"),
        "code": plain("code"),
        "name": plain("name"),
        "fiscalYear": plain("fiscal_year"),
        "plannedAmount": money("planned_amount"),
        "opd": _by_id("Opd", "opd", "opd_id"),
        "activity": _by_id("Activity", "activity", "activity_id"),
        "indicators": _children("Indicator", "indicator", "sub_activity_id", "seq"),
        "budget": Same("Budget"),
        "procurementPackages": _children(
            "ProcurementPackage", "procurement_package", "sub_activity_id", "rup_code"
        ),
        "progressReports": _children(
            "ProgressReport", "progress_report", "sub_activity_id", "period"
        ),
        "stage": Lookup(
            rel.ROLLUP, lambda p, r: r.c.sub_activity_id == p.c.id, lambda r: r.c.stage
        ),
        "discrepancies": _children("Discrepancy", "discrepancy", "sub_activity_id", "id"),
        "provenance": provenance(),
    },
    "Budget": {
        "allocated": Lookup(
            rel.ROLLUP,
            lambda p, r: r.c.sub_activity_id == p.c.id,
            lambda r: cast(r.c.allocated, Text),
        ),
        "paid": Lookup(
            rel.ROLLUP, lambda p, r: r.c.sub_activity_id == p.c.id, lambda r: cast(r.c.paid, Text)
        ),
        "lines": _children("BudgetLine", "budget_line", "sub_activity_id", "account_code"),
        "payments": _children("Payment", "payment", "sub_activity_id", "paid_on", "sp2d_number"),
    },
    "BudgetLine": {
        "accountCode": plain("account_code"),
        "accountName": plain("account_name"),
        "amount": money("amount"),
        "provenance": provenance(),
    },
    "Payment": {
        "sp2dNumber": plain("sp2d_number"),
        "paidOn": plain("paid_on"),
        "amount": money("amount"),
        "accountCode": plain("account_code"),
        "payee": Special(_payee),
        "contract": _by_id("Contract", "contract", "contract_id"),
        "provenance": provenance(),
    },
    "Vendor": {
        "name": plain("name"),
        "taxId": Masked("Vendor.taxId", plain("tax_id")),
    },
    # A payee without a vendor row: its name and NPWP are on the payment itself.
    "Vendor@payee": {
        "name": plain("payee_name"),
        "taxId": Masked("Vendor.taxId", plain("payee_tax_id")),
    },
    "ProcurementPackage": {
        "id": gid("ProcurementPackage"),
        "rupCode": plain("rup_code"),
        "name": plain("name"),
        "method": plain("method"),
        "category": plain("category"),
        "ceiling": money("ceiling"),
        "fundingSource": plain("funding_source"),
        "subActivity": _by_id("SubActivity", "sub_activity", "sub_activity_id"),
        "tenders": _through_tender_package("Tender", "tender", "package_id", "tender_id", "code"),
        "provenance": provenance(),
    },
    "Tender": {
        "id": gid("Tender"),
        "code": plain("code"),
        "name": plain("name"),
        "method": plain("method"),
        "ownerEstimate": money("owner_estimate"),
        "status": plain("status"),
        "version": plain("version"),
        "announcedOn": plain("announced_on"),
        "bids": _children("Bid", "bid", "tender_id", "id"),
        "winner": _by_id("Vendor", "vendor", "winner_vendor_id"),
        "contract": Link(
            "Contract", T["contract"], False, lambda p, c: c.c.tender_id == p.c.id, ("id",)
        ),
        "packages": _through_tender_package(
            "ProcurementPackage", "procurement_package", "tender_id", "package_id", "rup_code"
        ),
        "provenance": provenance(),
    },
    "Bid": {
        "amount": money("amount"),
        "correctedAmount": money("corrected_amount"),
        "isWinner": plain("is_winner"),
        "vendor": _by_id("Vendor", "vendor", "vendor_id"),
    },
    "Contract": {
        "id": gid("Contract"),
        "number": plain("number"),
        "signedOn": plain("signed_on"),
        "value": money("value"),
        "startsOn": plain("starts_on"),
        "endsOn": plain("ends_on"),
        "vendor": _by_id("Vendor", "vendor", "vendor_id"),
        "amendments": _children(
            "ContractAmendment", "contract_amendment", "contract_id", "version"
        ),
        "payments": _children("Payment", "payment", "contract_id", "paid_on", "sp2d_number"),
        "provenance": provenance(),
    },
    "ContractAmendment": {
        "version": plain("version"),
        "value": money("value"),
        "reason": plain("reason"),
        "signedOn": plain("signed_on"),
    },
    "ProgressReport": {
        "period": plain("period"),
        "physicalPercent": money("physical_percent"),
        "financialPercent": money("financial_percent"),
        "problems": plain("problems"),
        "provenance": provenance(),
    },
    "Discrepancy": {
        "id": gid("Discrepancy"),
        "rule": plain("rule"),
        "severity": plain("severity"),
        "message": plain("message"),
        "fiscalYear": plain("fiscal_year"),
        "region": _by_id("Region", "region", "region_id"),
        "opd": _by_id("Opd", "opd", "opd_id"),
        "subActivity": _by_id("SubActivity", "sub_activity", "sub_activity_id"),
    },
    "Provenance": {
        "sourceKey": plain("source_key"),
        "source": Link("Source", T["source"], False, lambda p, s: s.c.id == p.c.source_id),
        "stale": Special(_stale),
    },
    "Source": {
        "id": plain("id"),
        "name": plain("name"),
        "kind": plain("kind"),
        "status": plain("status"),
        "lastError": Masked("Source.lastError", plain("last_error")),
        "rows": plain("rows"),
        "owner": _by_id("Opd", "opd", "owner_opd_id"),
    },
}


# --------------------------------------------------------------------------- selections


Collected = dict[str, tuple[str, list[FieldNode]]]  # response key -> (field name, nodes)


def _included(node: Any, variables: dict[str, Any]) -> bool:
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            raise Decline(f"directive @{name}")
        value: Any = None
        for argument in directive.arguments or ():
            if argument.name.value == "if":
                if isinstance(argument.value, BooleanValueNode):
                    value = argument.value.value
                elif isinstance(argument.value, VariableNode):
                    value = variables.get(argument.value.name.value)
        if bool(value) == (name == "skip"):
            return False
    return True


def _condition_matches(schema: GraphQLSchema, condition: str, runtime: GraphQLObjectType) -> bool:
    if condition == runtime.name:
        return True
    named = schema.get_type(condition)
    return isinstance(named, GraphQLInterfaceType) and schema.is_sub_type(named, runtime)


def collect(
    schema: GraphQLSchema,
    selection_sets: list[SelectionSetNode],
    runtime: GraphQLObjectType,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> Collected:
    """The fields of `selection_sets` on `runtime`, by response key, in document order
    (the merging graphql-core's execution does: fragments, inline fragments, @skip and
    @include, the same key asked twice)."""
    out: Collected = {}

    def walk(selection_set: SelectionSetNode, seen: frozenset[str]) -> None:
        for selection in selection_set.selections:
            if not _included(selection, variables):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                entry = out.get(key)
                if entry is None:
                    out[key] = (selection.name.value, [selection])
                else:
                    entry[1].append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or _condition_matches(schema, condition.name.value, runtime):
                    walk(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:
                    continue
                if _condition_matches(schema, fragment.type_condition.name.value, runtime):
                    walk(fragment.selection_set, seen | {name})

    for selection_set in selection_sets:
        walk(selection_set, frozenset())
    return out


# --------------------------------------------------------------------------- compiler


class Compiler:
    """Builds the JSON expression of one operation for one scope."""

    def __init__(
        self,
        schema: GraphQLSchema,
        scope: Scope,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        prefix: str = "",
    ) -> None:
        self.schema = schema
        self.scope = scope
        self.fragments = fragments
        self.variables = variables
        self._names = itertools.count()
        # Names of aliases and bind parameters of one root field carry its prefix, so two
        # root fields never share one (the settings' `freshness` is shared by all).
        self.prefix = prefix
        # (id of a row alias, table) -> columns of that table already joined to the row.
        self.joined: dict[tuple[int, str], Any] = {}

    def name(self, kind: str) -> str:
        """A fresh name for an alias or CTE, unique in the whole statement."""
        return f"{self.prefix}{kind}{next(self._names)}"

    def alias(self, table: Table) -> Row:
        return table.alias(self.name("t"))

    def bind(self, name: str, type_: Any) -> SQL:
        return bindparam(name if name == "freshness" else self.prefix + name, type_=type_)

    def restrict(self, table: Table, alias: Row) -> list[SQL]:
        predicate = self.scope.predicate(table)
        return [] if predicate is None else [ClauseAdapter(alias).traverse(predicate)]

    def fields(self, nodes: list[FieldNode], runtime: GraphQLObjectType) -> Collected:
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        return collect(self.schema, sets, runtime, self.fragments, self.variables)

    def object(
        self, mapping: str, row: Row, nodes: list[FieldNode], runtime: GraphQLObjectType
    ) -> SQL:
        specs = MAPPINGS[mapping]
        pairs: list[SQL] = []
        for key, (name, field_nodes) in self.fields(nodes, runtime).items():
            pairs.append(lit(key))
            pairs.append(self.field(specs, row, name, field_nodes, runtime))
        if not pairs or len(pairs) > 100:  # json_build_object takes at most 100 arguments
            raise Decline("empty or too wide selection")
        return func.json_build_object(*pairs)

    def field(
        self,
        specs: dict[str, Spec],
        row: Row,
        name: str,
        nodes: list[FieldNode],
        runtime: GraphQLObjectType,
    ) -> SQL:
        if name == "__typename":
            return lit(runtime.name)
        spec = specs.get(name)
        if spec is None:
            raise Decline(f"{runtime.name}.{name} is not compiled")
        if any(n.arguments for n in nodes):
            raise Decline(f"{runtime.name}.{name} has arguments")
        target = get_named_type(runtime.fields[name].type)
        while isinstance(spec, Masked):
            if not self.scope.sees_field(spec.name):
                raise Decline(f"{spec.name} is masked for this viewer")
            spec = spec.inner
        if isinstance(spec, Col):
            return spec.sql(row)
        if isinstance(spec, Lookup):
            joined = self.joined.get((id(row), spec.table.name))
            if joined is not None:  # read once per row by the page (compile_sub_activities)
                return spec.sql(joined)
            other = self.alias(spec.table)
            conditions = [spec.key(row, other), *self.restrict(spec.table, other)]
            return select(spec.sql(other)).where(*conditions).limit(1).scalar_subquery()
        if isinstance(spec, Link):
            return self.link(spec, row, nodes, target)
        if isinstance(spec, Same):
            return self.object(spec.target, row, nodes, target)
        assert isinstance(spec, Special)
        return spec.build(self, row, nodes, target)

    def link(self, spec: Link, parent: Row, nodes: list[FieldNode], runtime: Any) -> SQL:
        child = self.alias(spec.table)
        source: Any = child
        if spec.through is not None:
            assert spec.through_on is not None
            via = self.alias(spec.through)
            source = child.join(via, spec.through_on(via, child))
            conditions = [spec.key(parent, via)]
        else:
            conditions = [spec.key(parent, child)]
        conditions += self.restrict(spec.table, child)
        value = self.object(spec.target, child, nodes, runtime)
        # The ordinary path's relations order by these columns, then by id.
        order = [child.c[c] for c in spec.order]
        if "id" in child.c and "id" not in spec.order:
            order.append(child.c.id)
        if spec.many:
            aggregate = (
                func.json_agg(aggregate_order_by(value, *order)) if order else func.json_agg(value)
            )
            listed = func.coalesce(aggregate, literal_column("'[]'::json"))
            return select(listed).select_from(source).where(*conditions).scalar_subquery()
        return (
            select(value).select_from(source).where(*conditions).order_by(*order).limit(1)
        ).scalar_subquery()


# --------------------------------------------------------------------------- root fields


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
    assert isinstance(info_type, GraphQLObjectType)
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
                select(sub_activity_cursor(page))
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
            pairs.append(sub_activity_cursor(page))
        elif name == "node":
            node_type = get_named_type(edge_type.fields["node"].type)
            pairs.append(c.object("SubActivity", page, field_nodes, node_type))
        else:
            raise Decline(f"{edge_type.name}.{name} is not compiled")
    edge = func.json_build_object(*pairs)
    listed = func.coalesce(
        func.json_agg(aggregate_order_by(edge, page.c._n)), literal_column("'[]'::json")
    )
    return select(listed).select_from(page).where(page.c._n <= first).scalar_subquery()


ROOTS: dict[str, tuple[Callable[..., Bound], Callable[..., SQL]]] = {
    "subActivities": (bind_sub_activities, compile_sub_activities),
}


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Plan:
    sql: str
    names: tuple[str, ...]  # bind parameter names in $n order
    constants: dict[str, Any]
    # Root response keys in document order, each with its column (None: `__typename`).
    roots: tuple[tuple[str, int | None], ...]


class CompiledQueries:
    """Answers pure-data queries with one statement; None means "use the ordinary path"."""

    def __init__(self, schema: GraphQLSchema, engine: AsyncEngine, settings: Settings) -> None:
        self.schema = schema
        self.engine = engine
        self.settings = settings
        # Plans by document and shape, bounded by bytes (documents and statements can be
        # large) as well as by number.
        self._plans: OrderedDict[tuple[Any, ...], Plan | None] = OrderedDict()
        self.size = 256
        self.max_bytes = 16 * 1024 * 1024
        self.bytes = 0
        self.answered = 0  # requests answered compiled (for tests and benches)

    async def answer(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
        scope: Scope,
        *,
        time_limit: float,
    ) -> ExecutionResult | None:
        if operation.operation is not OperationType.QUERY:
            return None
        try:
            prepared = self._prepare(document, operation, variables or {}, scope)
        except Decline as why:
            log.debug("not compiled: %s", why)
            return None
        if prepared is None:
            return None
        plan, values = prepared
        args = [values.get(name, plan.constants.get(name)) for name in plan.names]
        try:
            async with asyncio.timeout(time_limit):
                async with driver_connection(self.engine) as driver:
                    row = await driver.fetchrow(plan.sql, *args)
        except TimeoutError:
            # Not the ordinary path: it would take as long again.
            message = f"The request took longer than {time_limit:g} s and was stopped."
            return ExecutionResult(None, [TimedOut(message)])
        except Exception:  # the ordinary path answers, and reports a failure with its code
            log.debug("compiled statement failed; the ordinary path answers", exc_info=True)
            return None
        data = {
            key: "Query" if column is None else orjson.Fragment(row[column])
            for key, column in plan.roots
        }
        self.answered += 1
        return ExecutionResult(data, None)

    def _prepare(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        raw_variables: dict[str, Any],
        scope: Scope,
    ) -> tuple[Plan, dict[str, Any]] | None:
        coerced = get_variable_values(
            self.schema, operation.variable_definitions or (), raw_variables
        )
        if not isinstance(coerced, VariableValues):
            return None  # the ordinary path reports the variables' errors
        variables = coerced.coerced
        fragments = _fragments(document)
        query_type = self.schema.query_type
        assert query_type is not None
        roots = collect(self.schema, [operation.selection_set], query_type, fragments, variables)
        bound: dict[str, Bound] = {}
        values: dict[str, Any] = {"freshness": self.settings.source_freshness_seconds}
        shapes: list[Any] = []
        for index, (key, (name, nodes)) in enumerate(roots.items()):
            if name == "__typename":
                shapes.append((key, name))
                continue
            if name not in ROOTS or len(nodes) != 1:
                raise Decline(f"root field {name}")
            binder, _ = ROOTS[name]
            field_def = query_type.fields[name]
            args = get_argument_values(field_def, nodes[0], coerced)
            b = binder(args, self.settings)
            bound[key] = b
            shapes.append((key, name, b.shape))
            for k, v in b.values.items():
                values[f"r{index}_{k}"] = v
        source = document.loc.source.body if document.loc is not None else None
        if source is None:
            return None
        directive_values: tuple[Any, ...] = ()
        if "@" in source:
            used = _directive_variables(document)
            directive_values = tuple(
                sorted((k, repr(v)) for k, v in variables.items() if k in used)
            )
        plan_key = (source, operation.name.value if operation.name else None, scope.cache_key,
                    tuple(shapes), directive_values)  # fmt: skip
        if plan_key in self._plans:
            self._plans.move_to_end(plan_key)
            plan = self._plans[plan_key]
        else:
            try:
                plan = self._build(roots, bound, fragments, variables, scope, query_type)
            except Decline as why:
                log.debug("not compiled: %s", why)
                plan = None
            except Exception:  # a compiler bug must not cost the request its answer
                log.exception("compiling a document failed; the ordinary path answers it")
                plan = None
            self._plans[plan_key] = plan
            self.bytes += _weight(plan_key, plan)
            while self.bytes > self.max_bytes or len(self._plans) > self.size:
                old_key, old_plan = self._plans.popitem(last=False)
                self.bytes -= _weight(old_key, old_plan)
        if plan is None:
            return None
        return plan, values

    def _build(
        self,
        roots: Collected,
        bound: dict[str, Bound],
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        scope: Scope,
        query_type: GraphQLObjectType,
    ) -> Plan:
        columns: list[SQL] = []
        order: list[tuple[str, int | None]] = []
        for index, (key, (name, nodes)) in enumerate(roots.items()):
            if name == "__typename":
                order.append((key, None))
                continue
            compiler = Compiler(self.schema, scope, fragments, variables, f"r{index}_")
            _, build = ROOTS[name]
            connection = get_named_type(query_type.fields[name].type)
            expression = build(compiler, bound[key], nodes, connection)
            order.append((key, len(columns)))
            columns.append(cast(expression, Text).label(f"c{len(columns)}"))
        if not columns:
            raise Decline("nothing to compile")
        statement = select(*columns)
        compiled = statement.compile(dialect=self.engine.dialect)
        names = tuple(compiled.positiontup or ())
        constants = {k: v for k, v in compiled.params.items() if v is not None}
        return Plan(str(compiled), names, constants, tuple(order))


def _weight(key: tuple[Any, ...], plan: Plan | None) -> int:
    return len(key[0]) + (len(plan.sql) if plan is not None else 0)


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _directive_variables(document: DocumentNode) -> frozenset[str]:
    """Variables used in @skip/@include anywhere: their values shape the statement."""
    from graphql.language import Visitor, visit

    found: set[str] = set()

    class Find(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            for argument in node.arguments or ():
                if isinstance(argument.value, VariableNode):
                    found.add(argument.value.name.value)

    visit(document, Find())
    return frozenset(found)
