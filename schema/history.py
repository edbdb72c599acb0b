"""History in the API (riwayat perubahan): what the sync changed in a row, field by field,
with the values before and after, the source, when, and how it was found.

`history(first, after)` on every synced type pages the row's own change_history (oldest
first, so a cursor stays valid while changes are added). It is reached only through the
row, which the viewer's scope already let through, and its values are masked exactly as
the row's current values: a field a viewer may not see (`Vendor.taxId`, `Payment.payee`)
has its old and new values null with a FORBIDDEN error. `ChangeEvent.changes` reads the
same rows, by the event's history id.

Values are the stored ones as text (money and numbers exact, dates ISO 8601); a link's
value is the linked row's global id. Field names are GraphQL names; a field of an object
read from the same row is dotted (`budget.plannedAmount`), a row that is part of its parent
(a package's budget row) is named by the parent's field (`budgetRows.amount`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

import strawberry
from sqlalchemy import select

from hub.errors import Forbidden
from hub.store import relations as rel
from hub.store.codec import global_id
from resolvers.context import Context
from resolvers.paging import paginate
from schema.common import ChangeOp, Connection
from schema.fields import ROW_TYPES, Column, Derived, Link, SameRow, source_of
from schema.source import Source

Info = strawberry.Info[Context, None]
HISTORY = rel.T["change_history"]
CURSOR_KIND = "history"


@strawberry.enum(description="How the hub found a change (cara ditemukan).")
class FoundBy(Enum):
    SYNC = strawberry.enum_value(
        "sync", description="A regular sync: the watermark, or a keyed comparison."
    )
    FULL = strawberry.enum_value(
        "full", description="A full sync run by hand (`rantai sync --full`)."
    )
    RECONCILIATION = strawberry.enum_value(
        "reconciliation",
        description="The scheduled reconciliation: the regular sync had missed it (an edit "
        "that did not set the source's updated-at, a deleted row).",
    )


@dataclass(frozen=True)
class Place:
    """Where a stored column shows in a type: its GraphQL path, the masks that hide it,
    and for a link, the type of the linked row (its value becomes that row's global id)."""

    path: str
    masks: tuple[str, ...]
    link_type: str | None = None


@strawberry.type(description="One field's change (perubahan nilai): before and after.")
class FieldChange:
    field: str = strawberry.field(
        description="GraphQL name of the field; dotted for an object read from the same row "
        "(`budget.plannedAmount`)."
    )
    old: strawberry.Private[str | None]
    new: strawberry.Private[str | None]
    masks: strawberry.Private[tuple[str, ...]]

    def _shown(self, info: Info, value: str | None) -> str | None:
        scope = info.context.access.scope
        hidden = [m for m in self.masks if not scope.sees_field(m)]
        if hidden:
            who = "anonymous viewers" if scope.name == "public" else "this key's role"
            raise Forbidden(f"{hidden[0]} is not shown to {who}, nor its earlier values.")
        return value

    @strawberry.field(description="Nilai sebelum (null: none, or the row was created).")
    def before(self, info: Info) -> str | None:
        return self._shown(info, self.old)

    @strawberry.field(description="Nilai sesudah (null: none, or the row was deleted).")
    def after(self, info: Info) -> str | None:
        return self._shown(info, self.new)


@strawberry.type(description="One change of a row (riwayat): what, when, from where, how found.")
class EntityChange:
    op: ChangeOp = strawberry.field(description="Jenis perubahan.")
    occurred_at: datetime = strawberry.field(description="Waktu perubahan (commit).")
    found_by: FoundBy | None = strawberry.field(
        description="How the change was found; null: not by a sync (a link the hub resolved)."
    )
    changes: list[FieldChange] = strawberry.field(
        description="The fields that changed, with their values before and after (every "
        "field of the row when it was created or deleted)."
    )
    source_id: strawberry.Private[str | None]

    @strawberry.field(description="Sumber data that brought the change (null: the hub).")
    async def source(self, info: Info) -> Source | None:
        if self.source_id is None:
            return None
        row = await info.context.loaders.one(rel.SOURCE_BY_ID, self.source_id, "history")
        return None if row is None else Source.from_row(row)

    @classmethod
    def from_row(cls, row: Any, type_name: str) -> EntityChange:
        return cls(
            op=ChangeOp(row.op),
            occurred_at=row.occurred_at,
            found_by=found_by(row.found_by),
            changes=field_changes(type_name, row.entity, row.op, row.before, row.after),
            source_id=row.source_id,
        )


def found_by(value: str | None) -> FoundBy | None:
    return FoundBy(value) if value in _FOUND_BY else None


_FOUND_BY = frozenset({"sync", "full", "reconciliation"})


def field_changes(
    type_name: str, entity: str, op: str, before: Any, after: Any
) -> list[FieldChange]:
    """The changes of one change_history row of `entity` (a table) as fields of
    `type_name` (the row's type, or its parent's for a row that is part of it)."""
    old, new = _values(before), _values(after)
    own = _type_of_table(entity)
    prefix = ""
    if own is not None and own != type_name:
        prefix = _part_field(type_name, own)
    places = _places(own) if own is not None else {}
    out: dict[str, FieldChange] = {}
    for name in [*new, *[n for n in old if n not in new]]:
        place = places.get(name)
        if place is None:
            continue
        path = f"{prefix}.{place.path}" if prefix else place.path
        if path in out:
            continue  # two columns of one field (a payee's vendor and name): the first
        out[path] = FieldChange(
            field=path,
            old=_text(old.get(name), place),
            new=_text(new.get(name), place),
            masks=place.masks,
        )
    return list(out.values())


def history_field(description: str = "") -> Any:
    """`history(first, after)`: the row's changes, oldest first."""

    async def resolve(
        root: Any,
        info: Info,
        first: int | None = strawberry.UNSET,
        after: str | None = strawberry.UNSET,
    ) -> Connection[EntityChange]:
        type_name = type(root).__strawberry_definition__.name
        table = ROW_TYPES[type_name].table
        assert table is not None
        stmt = select(HISTORY).where(
            HISTORY.c.entity == table.name, HISTORY.c.entity_id == root.row.id
        )
        page = await paginate(
            info.context.access,
            info.context.settings,
            stmt,
            kind=CURSOR_KIND,
            order=[HISTORY.c.id],
            first=None if first is strawberry.UNSET else first,
            after=None if after is strawberry.UNSET else after,
        )
        return Connection.from_page(page, lambda r: EntityChange.from_row(r, type_name))

    return strawberry.field(
        resolver=resolve,
        description=description
        or "Riwayat perubahan: the changes the sync made to this row, oldest first, with "
        "the values before and after; masked fields stay masked in their history.",
    )


# -- stored columns as GraphQL fields -------------------------------------------------------


@cache
def _places(type_name: str) -> dict[str, Place]:
    kind = ROW_TYPES.get(type_name)
    if kind is None:
        return {}
    found: dict[str, Place] = {}
    for field in kind.cls.__strawberry_definition__.fields:
        name = field.graphql_name or _camel(field.python_name)
        masks: tuple[str, ...] = (f"{type_name}.{name}",)
        source = source_of(field)
        if isinstance(source, Column):
            if source.masked:
                masks = (*masks, source.masked)
            found.setdefault(source.name, Place(name, masks))
        elif isinstance(source, Link) and source.key != "id":
            found.setdefault(source.key, Place(name, masks, _type_name(field.type)))
        elif isinstance(source, Derived):
            for column in source.columns:
                found.setdefault(column, Place(name, masks))
        elif isinstance(source, SameRow):
            inner = _type_name(field.type)
            for column, place in _places(inner).items():
                found.setdefault(
                    column, Place(f"{name}.{place.path}", (*masks, *place.masks), place.link_type)
                )
    return found


@cache
def _type_of_table(table: str) -> str | None:
    for name, kind in ROW_TYPES.items():
        if kind.table is not None and kind.table.name == table:
            return name
    return None


@cache
def _part_field(parent: str, child: str) -> str:
    """The field of `parent` that lists its `child` rows (a package's `budgetRows`)."""
    kind = ROW_TYPES.get(parent)
    if kind is not None:
        for field in kind.cls.__strawberry_definition__.fields:
            try:
                if _type_name(field.type) == child:
                    return field.graphql_name or _camel(field.python_name)
            except AttributeError:
                continue
    return _camel(child[0].lower() + child[1:])


def _values(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    return dict(json.loads(data) if isinstance(data, str) else data)


def _text(value: Any, place: Place) -> str | None:
    if value is None:
        return None
    if place.link_type is not None and isinstance(value, int):
        return global_id(place.link_type, value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_name(kind: Any) -> str:
    from strawberry.types.base import StrawberryList, StrawberryOptional
    from strawberry.types.lazy_type import LazyType

    while isinstance(kind, StrawberryOptional | StrawberryList | LazyType):
        kind = kind.resolve_type() if isinstance(kind, LazyType) else kind.of_type
    return str(kind.__strawberry_definition__.name)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
