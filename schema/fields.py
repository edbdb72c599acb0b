"""Fields declared once: where each value of a type built from a store row comes from.

- `column("code", …)`: a column of the row (`masked=` for the fields some viewers may not
  see: null with FORBIDDEN for them);
- `link(relation, "opd_id", …)`: rows of another table through a relation declared in
  hub/store/relations.py, keyed by a column of this row;
- `lookup(relation, "id", "stage", …)`: one value of one related row (the chain rollup, a
  source's staleness);
- `same_row(…)`: an object read from the same row (a sub kegiatan's Budget, a row's
  Provenance);
- `node_id()`: the type's global id (hub/store/codec.py);
- `derived(columns)`: metadata for a field resolved by hand from these columns.

`row_type()` registers a type with its table and gives it `from_row`; the resolvers of
links, lookups and masked columns are generated here. The compiled path
(hub/serving/compiled/) reads the same declarations from the schema's field metadata, so
a plain column added to a type is one model change, one migration and one schema field,
and both paths answer it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import strawberry
from sqlalchemy import Table
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.lazy_type import LazyType

from hub.errors import Forbidden
from hub.store.codec import global_id
from hub.store.relations import Relation

KEY = "rantai"  # the field metadata entry that says where a value comes from


@dataclass(frozen=True)
class Column:
    name: str
    masked: str | None = None  # "Vendor.taxId": hidden from scopes that do not see it


@dataclass(frozen=True)
class Link:
    relation: Relation
    key: str  # the column of this row holding the key the relation is looked up by
    # Loaders are per site: the same relation at two places of a document is two batches,
    # each at its own depth. None: the site the parent object was made for.
    site: str | None = None


@dataclass(frozen=True)
class Lookup:
    relation: Relation
    key: str
    column: str


@dataclass(frozen=True)
class SameRow:
    pass


@dataclass(frozen=True)
class NodeId:
    pass


@dataclass(frozen=True)
class Derived:
    """A field resolved by hand from these columns of the row (`Payment.payee`): what a
    change of them changes, for change events."""

    columns: tuple[str, ...]


Source = Column | Link | Lookup | SameRow | NodeId | Derived


def source_of(field: Any) -> Source | None:
    """The declaration behind a strawberry field (or a graphql-core field built from one)."""
    extensions = getattr(field, "extensions", None)
    if isinstance(extensions, dict):  # a graphql-core field: its strawberry definition
        field = extensions.get("strawberry-definition", field)
    metadata = getattr(field, "metadata", None) or {}
    found = metadata.get(KEY)
    return found if isinstance(found, Source) else None


def column(name: str, description: str, *, masked: str | None = None) -> Any:
    if masked is None:
        return strawberry.field(description=description, metadata={KEY: Column(name)})

    def resolve(root: Any, info: strawberry.Info) -> Any:
        scope = info.context.access.scope
        if not scope.sees_field(masked):
            if scope.name == "public":
                raise Forbidden(f"{masked} is not shown to anonymous viewers; send an API key.")
            raise Forbidden(f"{masked} is not shown to this key's role.")
        return _convert(info, getattr(root.row, name))

    return strawberry.field(
        resolver=resolve, description=description, metadata={KEY: Column(name, masked)}
    )


def link(relation: Relation, key: str, description: str, *, site: str | None = None) -> Any:
    declared = Link(relation, key, site)

    async def resolve(root: Any, info: strawberry.Info) -> Any:
        target = _target(info)
        where = site if site is not None else getattr(root, "site", "")
        value = getattr(root.row, key)
        if relation.many:
            rows = await info.context.loaders.many(relation, value, where)
            return [target.from_row(row) for row in rows]
        row = await info.context.loaders.one(relation, value, where)
        return None if row is None else target.from_row(row)

    return strawberry.field(resolver=resolve, description=description, metadata={KEY: declared})


def lookup(relation: Relation, key: str, name: str, description: str) -> Any:
    async def resolve(root: Any, info: strawberry.Info) -> Any:
        row = await info.context.loaders.one(
            relation, getattr(root.row, key), getattr(root, "site", "")
        )
        return None if row is None else _convert(info, getattr(row, name))

    return strawberry.field(
        resolver=resolve, description=description, metadata={KEY: Lookup(relation, key, name)}
    )


def same_row(description: str) -> Any:
    def resolve(root: Any, info: strawberry.Info) -> Any:
        # The parent's type is the site of everything read below: the provenance of a
        # budget line and of a tender are two batches of sources, each at its depth.
        return _target(info).from_row(root.row, site=getattr(info._field.origin, "__name__", ""))

    return strawberry.field(resolver=resolve, description=description, metadata={KEY: SameRow()})


def derived(*columns: str) -> dict[str, Any]:
    return {KEY: Derived(columns)}


def node_id() -> Any:
    return strawberry.field(description="Opaque global id (id global).", metadata={KEY: NodeId()})


# --------------------------------------------------------------------------- row types


class RowBacked:
    """A type built from store rows: `row_type` gives it `from_row(row, site="")`."""

    from_row: ClassVar[Callable[..., Any]]


@dataclass(frozen=True)
class RowType:
    cls: Any
    name: str  # the GraphQL type's name
    table: Table | None


ROW_TYPES: dict[str, RowType] = {}

T = TypeVar("T")


def row_type(table: Table | None = None) -> Callable[[T], T]:
    """Register a Strawberry type built from rows of `table` (None: from another type's
    row) and give it `from_row(row, site="")`, which sets its plain columns and id."""

    def register(cls: Any) -> Any:
        definition = cls.__strawberry_definition__
        plain: list[tuple[str, str, Callable[[Any], Any]]] = []
        with_id = False
        for field in definition.fields:
            source = source_of(field)
            if isinstance(source, Column) and source.masked is None:
                plain.append((field.python_name, source.name, _converter(field.type)))
            elif isinstance(source, NodeId):
                with_id = True
        name = definition.name
        fields = {f.python_name for f in definition.fields}
        takes_site = "site" in fields

        def from_row(row: Any, site: str = "") -> Any:
            values = {attr: convert(getattr(row, col)) for attr, col, convert in plain}
            if with_id:
                values["id"] = strawberry.ID(global_id(name, row.id))
            if takes_site:
                values["site"] = site
            return cls(row=row, **values)

        cls.from_row = staticmethod(from_row)
        ROW_TYPES[name] = RowType(cls, name, table)
        return cls

    return register


def _converter(field_type: Any) -> Callable[[Any], Any]:
    """Values stay as stored: an enum's stored text is serialised by graphql-core at its
    field (a value outside the enum is an error there, and only when that field is asked
    for, as on the compiled path), not converted for every row built."""
    return _same


def _same(value: Any) -> Any:
    return value


_TARGETS: dict[int, Any] = {}
_CONVERTERS: dict[int, Callable[[Any], Any]] = {}


def _target(info: strawberry.Info) -> Any:
    """The class a field's rows become (its type, unwrapped), found once per field."""
    field = info._field
    found = _TARGETS.get(id(field))
    if found is None:
        kind: Any = field.type
        while isinstance(kind, StrawberryOptional | StrawberryList | LazyType):
            kind = kind.resolve_type() if isinstance(kind, LazyType) else kind.of_type
        found = _TARGETS[id(field)] = kind
    return found


def _convert(info: strawberry.Info, value: Any) -> Any:
    field = info._field
    convert = _CONVERTERS.get(id(field))
    if convert is None:
        convert = _CONVERTERS[id(field)] = _converter(field.type)
    return convert(value)
