"""Root fields the compiler knows: how their arguments bind and how their answer is built.

Each root field has a binder (arguments → the statement's shape and the values to bind; it
declines whatever the ordinary path would refuse, which then says why) and a builder (the
JSON expression). Filters are the resolvers' own conditions (`sub_activity_conditions`,
`opd_conditions`, `discrepancy_conditions`), bound as parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode, GraphQLObjectType, get_named_type
from sqlalchemy import BigInteger, Integer, String, Table, func, select, true
from sqlalchemy.sql import Select

from hub.discrepancies.rules import BY_CODE
from hub.errors import ClientError
from hub.serving.compiled.compiler import Compiler
from hub.serving.compiled.pages import Order, after_values, connection, numbered, page_size
from hub.serving.compiled.sql import EMPTY_LIST, SQL, Decline
from hub.settings import Settings
from hub.store import relations as rel
from hub.store.codec import parse_global_id
from hub.store.scope import EVERYTHING
from resolvers.discrepancy import DiscrepancyQuery, discrepancy_conditions
from resolvers.planning import SubActivityQuery, opd_conditions, sub_activity_conditions
from resolvers.procurement import PackageQuery, package_conditions
from schema.fields import ROW_TYPES

T = rel.T
Row = Any
SUB_ACTIVITIES = Order("SubActivity", ("code", "id"))
OPDS = Order("Opd", ("code", "id"))
DISCREPANCIES = Order("Discrepancy", ("id",))
PACKAGES = Order("ProcurementPackage", ("id",))
TYPES: dict[str, Any] = {
    "fiscal_year": Integer, "region_code": String, "opd_code": String, "stage": String,
    "search": String, "rule": String, "severity": String, "code": String, "level": String,
    "rup_code": String, "id": BigInteger,
}  # fmt: skip


@dataclass(frozen=True)
class Bound:
    """A root field's arguments: what shapes its statement, the values to bind, and the
    query they came from."""

    shape: tuple[Any, ...]
    values: dict[str, Any]
    query: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _paging(args: dict[str, Any], settings: Settings, order: Order, values: dict[str, Any]) -> None:
    first = page_size(args.get("first"), settings)
    values.update(first=first, limit=first + 1)
    after = after_values(order, args.get("after"))
    if after is not None:
        values.update({f"after{i}": v for i, v in enumerate(after)})


def _after(c: Compiler, bound: Bound, order: Order) -> list[SQL] | None:
    if "after0" not in bound.values:
        return None
    kinds = [String] * (len(order.columns) - 1) + [BigInteger]
    return [c.bind(f"after{i}", kind) for i, kind in enumerate(kinds)]


def _shape(values: dict[str, Any], *more: Any) -> tuple[Any, ...]:
    """Which values are set (not the values themselves): a statement's shape."""
    return (*sorted(values), *more)


def _value(c: Compiler) -> Callable[[str, Any], SQL]:
    return lambda name, _: c.bind(name, TYPES[name])


def _page(
    c: Compiler, bound: Bound, table: Table, conditions: list[SQL], order: Order,
    extend: Callable[[Any], Any] | None = None,
) -> tuple[Any, SQL]:  # fmt: skip
    """A root connection's page over `table`, read once (a CTE), and its total count."""
    predicate = c.scope.predicate(table)
    if predicate is not None:
        conditions = [*conditions, predicate]
    base: Select[Any] = select(table).where(*conditions)
    count = select(func.count()).select_from(base.subquery()).scalar_subquery()
    if extend is not None:
        base = extend(base)
    page = numbered(base, table, order, _after(c, bound, order), c.bind("limit", Integer))
    return page.cte(c.name("page")), count


def _connection(
    c: Compiler, bound: Bound, page: Any, count: SQL, order: Order,
    nodes: list[FieldNode], connection_type: GraphQLObjectType,
) -> SQL:  # fmt: skip
    first = c.bind("first", Integer)
    return connection(
        c, page, order, first, "after0" in bound.values, count, nodes, connection_type
    )


# --------------------------------------------------------------------------- subActivities


def bind_sub_activities(args: dict[str, Any], settings: Settings) -> Bound:
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
    values: dict[str, Any] = {}
    _paging(args, settings, SUB_ACTIVITIES, values)
    # Only the values are wanted here; the scope shapes the statement, not its values.
    sub_activity_conditions(
        T["sub_activity"], query, EVERYTHING, lambda name, v: values.setdefault(name, v)
    )
    return Bound(_shape(values, query.has_discrepancies), values, query)


def build_sub_activities(
    c: Compiler, bound: Bound, nodes: list[FieldNode], connection_type: GraphQLObjectType
) -> SQL:
    sa = T["sub_activity"]
    conditions = sub_activity_conditions(sa, bound.query, c.scope, _value(c))
    rollup = _rollup_columns(c, nodes, connection_type)

    def with_rollup(base: Any) -> Any:
        """Stage, allocated and paid come from the chain rollup (a view of aggregates over
        five tables): read once per row of the page, not once per field."""
        r = rel.ROLLUP.alias(c.name("t"))
        lateral = (
            select(*(r.c[n] for n in rollup))
            .where(r.c.sub_activity_id == sa.c.id, *c.restrict(rel.ROLLUP, r))
            .limit(1)
            .lateral(c.name("rollup"))
        )
        return base.outerjoin(lateral, true()).add_columns(
            *(lateral.c[n].label(f"_rollup_{n}") for n in rollup)
        )

    page, count = _page(c, bound, sa, conditions, SUB_ACTIVITIES, with_rollup if rollup else None)
    if rollup:
        c.joined[(id(page), rel.ROLLUP.name)] = _Renamed(page, "_rollup_")
    return _connection(c, bound, page, count, SUB_ACTIVITIES, nodes, connection_type)


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
    c: Compiler, nodes: list[FieldNode], connection_type: GraphQLObjectType
) -> list[str]:
    """The rollup columns the page's sub kegiatan select (stage; budget allocated, paid)."""
    edge_type = get_named_type(connection_type.fields["edges"].type)
    node_type = get_named_type(edge_type.fields["node"].type)
    budget_type = get_named_type(node_type.fields["budget"].type)
    wanted: set[str] = set()
    for _, (name, edge_nodes) in c.fields(nodes, connection_type).items():
        if name != "edges":
            continue
        for _, (field_name, node_nodes) in c.fields(edge_nodes, edge_type).items():
            if field_name != "node":
                continue
            for _, (sub, sub_nodes) in c.fields(node_nodes, node_type).items():
                if sub == "stage":
                    wanted.add("stage")
                elif sub == "budget":
                    for _, (leaf_name, _) in c.fields(sub_nodes, budget_type).items():
                        if leaf_name in ("allocated", "paid"):
                            wanted.add(leaf_name)
    return sorted(wanted)


# --------------------------------------------------------------------------- opds


def bind_opds(args: dict[str, Any], settings: Settings) -> Bound:
    values: dict[str, Any] = {}
    _paging(args, settings, OPDS, values)
    if args.get("regionCode") is not None:
        values["region_code"] = args["regionCode"]
    return Bound(_shape(values), values)


def build_opds(
    c: Compiler, bound: Bound, nodes: list[FieldNode], connection_type: GraphQLObjectType
) -> SQL:
    opd = T["opd"]
    code = c.bind("region_code", String) if "region_code" in bound.values else None
    page, count = _page(c, bound, opd, opd_conditions(opd, region_code=code), OPDS)
    return _connection(c, bound, page, count, OPDS, nodes, connection_type)


# --------------------------------------------------------------------------- discrepancies


def bind_discrepancies(args: dict[str, Any], settings: Settings) -> Bound:
    flt = args.get("filter") or {}
    severity = flt.get("severity")
    query = DiscrepancyQuery(
        fiscal_year=flt.get("fiscalYear"),
        region_code=flt.get("regionCode"),
        opd_code=flt.get("opdCode"),
        rule=flt.get("rule"),
        severity=getattr(severity, "name", severity),
        open=flt.get("open"),
    )
    if query.rule is not None and query.rule not in BY_CODE:
        raise Decline("a rule code the ordinary path refuses")
    if flt.get("followUpState") is not None or flt.get("overdue") is not None:
        raise Decline("the follow-up filters")
    values: dict[str, Any] = {}
    _paging(args, settings, DISCREPANCIES, values)
    discrepancy_conditions(T["discrepancy"], query, lambda name, v: values.setdefault(name, v))
    return Bound(_shape(values, query.open), values, query)


def build_discrepancies(
    c: Compiler, bound: Bound, nodes: list[FieldNode], connection_type: GraphQLObjectType
) -> SQL:
    d = T["discrepancy"]
    conditions = discrepancy_conditions(d, bound.query, _value(c))
    page, count = _page(c, bound, d, conditions, DISCREPANCIES)
    return _connection(c, bound, page, count, DISCREPANCIES, nodes, connection_type)


# --------------------------------------------------------------------------- procurementPackages


def bind_packages(args: dict[str, Any], settings: Settings) -> Bound:
    flt = args["filter"]
    query = PackageQuery(flt["fiscalYear"], flt.get("regionCode"), flt.get("opdCode"))
    values: dict[str, Any] = {}
    _paging(args, settings, PACKAGES, values)
    package_conditions(T["procurement_package"], query, lambda name, v: values.setdefault(name, v))
    return Bound(_shape(values), values, query)


def build_packages(
    c: Compiler, bound: Bound, nodes: list[FieldNode], connection_type: GraphQLObjectType
) -> SQL:
    p = T["procurement_package"]
    page, count = _page(c, bound, p, package_conditions(p, bound.query, _value(c)), PACKAGES)
    return _connection(c, bound, page, count, PACKAGES, nodes, connection_type)


# --------------------------------------------------------------------------- lists and lookups


def bind_regions(args: dict[str, Any], settings: Settings) -> Bound:
    level = args.get("level")
    values = {} if level is None else {"level": getattr(level, "name", level)}
    return Bound(_shape(values), values)


def build_regions(
    c: Compiler, bound: Bound, nodes: list[FieldNode], list_type: GraphQLObjectType
) -> SQL:
    region = c.alias(T["region"])
    conditions = c.restrict(T["region"], region)
    if "level" in bound.values:
        conditions.append(region.c.level == c.bind("level", String))
    return _list(c, region, conditions, (region.c.code, region.c.id), nodes, list_type)


def bind_sources(args: dict[str, Any], settings: Settings) -> Bound:
    return Bound((), {})


def build_sources(
    c: Compiler, bound: Bound, nodes: list[FieldNode], list_type: GraphQLObjectType
) -> SQL:
    source = c.alias(T["source"])
    return _list(c, source, c.restrict(T["source"], source), (source.c.id,), nodes, list_type)


def _list(
    c: Compiler, row: Row, conditions: list[SQL], order: tuple[SQL, ...],
    nodes: list[FieldNode], list_type: GraphQLObjectType,
) -> SQL:  # fmt: skip
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    value = c.object(row, nodes, list_type)
    listed = func.coalesce(func.json_agg(aggregate_order_by(value, *order)), EMPTY_LIST)
    return select(listed).select_from(row).where(*conditions).scalar_subquery()


def _lookup(names: dict[str, str]) -> Callable[[dict[str, Any], Settings], Bound]:
    """A root field that finds one row by arguments (argument → bind name)."""

    def bind(args: dict[str, Any], settings: Settings) -> Bound:
        values = {bound: args[name] for name, bound in names.items()}
        return Bound(_shape(values), values)

    return bind


def _one(
    c: Compiler, table: Table, nodes: list[FieldNode], object_type: GraphQLObjectType,
    where: Callable[[Row], list[SQL]],
) -> SQL:  # fmt: skip
    row = c.alias(table)
    value = c.object(row, nodes, object_type)
    conditions = [*where(row), *c.restrict(table, row)]
    return select(value).select_from(row).where(*conditions).limit(1).scalar_subquery()


def _in_region(c: Compiler, row: Row) -> SQL:
    region = T["region"]
    code = c.bind("region_code", String)
    return row.c.region_id == select(region.c.id).where(region.c.code == code).scalar_subquery()


def build_region(c: Compiler, b: Bound, nodes: list[FieldNode], t: GraphQLObjectType) -> SQL:
    return _one(c, T["region"], nodes, t, lambda r: [r.c.code == c.bind("code", String)])


def build_opd(c: Compiler, b: Bound, nodes: list[FieldNode], t: GraphQLObjectType) -> SQL:
    return _one(
        c, T["opd"], nodes, t, lambda r: [_in_region(c, r), r.c.code == c.bind("code", String)]
    )


def build_sub_activity(c: Compiler, b: Bound, nodes: list[FieldNode], t: GraphQLObjectType) -> SQL:
    return _one(
        c, T["sub_activity"], nodes, t,
        lambda r: [
            _in_region(c, r),
            r.c.fiscal_year == c.bind("fiscal_year", Integer),
            r.c.code == c.bind("code", String),
        ],
    )  # fmt: skip


def build_package(c: Compiler, b: Bound, nodes: list[FieldNode], t: GraphQLObjectType) -> SQL:
    table = T["procurement_package"]
    return _one(c, table, nodes, t, lambda r: [r.c.rup_code == c.bind("rup_code", String)])


def build_tender(c: Compiler, b: Bound, nodes: list[FieldNode], t: GraphQLObjectType) -> SQL:
    return _one(c, T["tender"], nodes, t, lambda r: [r.c.code == c.bind("code", String)])


def bind_node(args: dict[str, Any], settings: Settings) -> Bound:
    try:
        type_name, pk = parse_global_id(args["id"])
    except ClientError:
        raise Decline("an id the ordinary path refuses") from None
    kind = ROW_TYPES.get(type_name)
    if pk < 0 or kind is None or kind.table is None or "id" not in kind.table.c:
        raise Decline("an id of no stored row")
    return Bound(("node", type_name), {"id": pk}, extra={"type": type_name})


def build_node(c: Compiler, b: Bound, nodes: list[FieldNode], t: Any) -> SQL:
    type_name = b.extra["type"]
    runtime = c.schema.get_type(type_name)
    table = ROW_TYPES[type_name].table
    if not isinstance(runtime, GraphQLObjectType) or table is None:
        raise Decline("not an object type")
    if not any(interface.name == "Node" for interface in runtime.interfaces):
        raise Decline("not a Node")  # the ordinary path answers null
    return _one(c, table, nodes, runtime, lambda r: [r.c.id == c.bind("id", BigInteger)])


Binder = Callable[[dict[str, Any], Settings], Bound]
Builder = Callable[..., SQL]
ROOTS: dict[str, tuple[Binder, Builder]] = {
    "subActivities": (bind_sub_activities, build_sub_activities),
    "opds": (bind_opds, build_opds),
    "discrepancies": (bind_discrepancies, build_discrepancies),
    "procurementPackages": (bind_packages, build_packages),
    "regions": (bind_regions, build_regions),
    "sources": (bind_sources, build_sources),
    "region": (_lookup({"code": "code"}), build_region),
    "opd": (_lookup({"regionCode": "region_code", "code": "code"}), build_opd),
    "subActivity": (
        _lookup({"regionCode": "region_code", "fiscalYear": "fiscal_year", "code": "code"}),
        build_sub_activity,
    ),
    "procurementPackage": (_lookup({"rupCode": "rup_code"}), build_package),
    "tender": (_lookup({"code": "code"}), build_tender),
    "node": (bind_node, build_node),
}
