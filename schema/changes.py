"""Live updates: every change the sync writes, as a subscription (langganan perubahan)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from functools import cache
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.lazy_type import LazyType

from hub.errors import BadUserInput, ClientError, ErrorCode, Forbidden
from hub.events.feed import ChangeFeed, ChangeFilter
from hub.events.outbox import DISCREPANCY, OutboxEvent, parse_cursor, raised
from hub.store.codec import global_id
from hub.store.relations import T
from hub.store.scope import Scope
from resolvers.context import Context
from resolvers.followup import is_overdue
from schema.common import ChangeOp
from schema.discrepancy import Discrepancy, check_rule
from schema.fields import ROW_TYPES, Column, Derived, Link, SameRow, source_of
from schema.history import FieldChange, FoundBy, field_changes, found_by
from schema.query import DiscrepancyFilter
from schema.source import Source

FOLLOW_UP_FIELD = "follow_up"  # a finding's change that is its follow-up's (hub/discrepancies)


class StoreUnavailable(ClientError):
    code = ErrorCode.STORE_UNAVAILABLE


@cache
def entity_types() -> frozenset[str]:
    """The GraphQL types a change event can name: every type of a synced table with a
    global id (`node(id)` resolves each event's `entityId`)."""
    return frozenset(
        name
        for name, kind in ROW_TYPES.items()
        if kind.table is not None and "id" in kind.table.c and _is_node(kind.cls)
    )


def _is_node(cls: Any) -> bool:
    definition = cls.__strawberry_definition__
    return any(i.name == "Node" for i in definition.interfaces)


@strawberry.input(name="ChangeFilter", description="Which changes to receive (saring perubahan).")
class ChangeFilterInput:
    region_code: str | None = strawberry.field(
        default=None, description="Kode Pemda; a province code includes its regencies."
    )
    opd_code: str | None = strawberry.field(
        default=None,
        description="Kode OPD; with regionCode, the OPD of that Pemda only (codes repeat).",
    )
    entities: list[str] | None = strawberry.field(
        default=None,
        description='GraphQL type names, e.g. ["Payment", "ProgressReport"]; an unknown name '
        "is BAD_USER_INPUT (the message lists the valid ones).",
    )
    fiscal_year: int | None = strawberry.field(default=None, description="Tahun anggaran.")

    def to_filter(self, scope: Scope | None = None) -> ChangeFilter:
        if self.entities is not None:
            unknown = sorted(set(self.entities) - entity_types())
            if unknown:
                raise BadUserInput(
                    f"Unknown entities {', '.join(map(repr, unknown))}; changes name "
                    f"these types: {', '.join(sorted(entity_types()))}.",
                    argument="filter.entities",
                )
            unseen = sorted(e for e in self.entities if scope and not scope.sees_entity(e))
            if scope is not None and unseen:
                # Silence would look like "nothing changed": say why nothing will come.
                seen = sorted(e for e in entity_types() if scope.sees_entity(e))
                raise Forbidden(
                    f"Changes of {', '.join(unseen)} are not shown to the public viewer; "
                    f"send an API key in connection_init (it may follow {', '.join(seen)}).",
                    argument="filter.entities",
                )
        return ChangeFilter(
            region_code=self.region_code,
            opd_code=self.opd_code,
            entities=frozenset(self.entities) if self.entities is not None else None,
            fiscal_year=self.fiscal_year,
            scope=scope,
        )


@strawberry.type(description="One change the sync wrote to the canonical store (perubahan).")
class ChangeEvent:
    cursor: str = strawberry.field(
        description="Position in the change feed; give it as `after` to resume right after."
    )
    entity: str = strawberry.field(description='GraphQL type of the row, e.g. "Payment".')
    entity_id: strawberry.ID = strawberry.field(
        description="Global id of the row: `node(id)` gives it (null once deleted)."
    )
    op: ChangeOp = strawberry.field(description="Jenis perubahan.")
    region_code: str | None = strawberry.field(description="Kode Pemda of the row.")
    opd_code: str | None = strawberry.field(description="Kode OPD of the row, when known.")
    fiscal_year: int | None = strawberry.field(description="Tahun anggaran of the row.")
    changed_fields: list[str] = strawberry.field(
        description="Fields of the type that changed (GraphQL names)."
    )
    occurred_at: datetime = strawberry.field(description="Waktu perubahan (commit).")
    found_by: FoundBy | None = strawberry.field(
        description="How the change was found; null: not by a sync (a link the hub resolved)."
    )
    source_id: strawberry.Private[str | None]
    event: strawberry.Private[OutboxEvent]

    @classmethod
    def from_event(cls, event: OutboxEvent) -> ChangeEvent:
        return cls(
            cursor=event.cursor,
            entity=event.entity,
            entity_id=strawberry.ID(global_id(event.entity, event.entity_id)),
            op=ChangeOp(event.op),
            region_code=event.region_code,
            opd_code=event.opd_code,
            fiscal_year=event.fiscal_year,
            changed_fields=graphql_fields(event.entity, event.changed_fields),
            occurred_at=event.occurred_at,
            found_by=found_by(event.found_by),
            source_id=event.source_id,
            event=event,
        )

    @strawberry.field(description="Sumber data that brought the change (null: the hub).")
    async def source(self, info: strawberry.Info[Context, None]) -> Source | None:
        if self.source_id is None:
            return None
        # Never cached per connection: a source's health changes over time.
        row = await _shared_row(info, self.event, "source", self.source_id)
        return Source.from_row(row) if row else None

    @strawberry.field(
        description="The fields that changed, with their values before and after, as in "
        "`history` (masked fields stay masked: null with a FORBIDDEN error)."
    )
    async def changes(self, info: strawberry.Info[Context, None]) -> list[FieldChange]:
        event = self.event
        if event.op == "LOADED":
            return []
        row = await _shared_row(info, event, "change_history", event.history_id)
        if row is None:  # pruned with its history
            return []
        return field_changes(event.entity, row.entity, row.op, row.before, row.after)

    @strawberry.field(
        description="LOADED: how many rows the first load brought for this Pemda and fiscal "
        "year (re-query them); null for the other operations."
    )
    async def count(self, info: strawberry.Info[Context, None]) -> int | None:
        event = self.event
        if event.op != "LOADED":
            return None
        row = await _shared_row(info, event, "change_history", event.history_id)
        if row is None:
            return None
        after = row.after if isinstance(row.after, dict) else json.loads(row.after or "{}")
        return int(after.get("count", 0))


def graphql_fields(type_name: str, columns: tuple[str, ...]) -> list[str]:
    """The fields of `type_name` that show the changed storage `columns`, in order, each
    once: the column's own field, the relation it keys, or the object it is part of
    (`payee_vendor_id` → `payee`, `source_key` → `provenance`). The sync reports rows kept
    under a parent type (a package's budget rows) by the parent's field itself."""
    names = _column_fields(type_name)
    out: list[str] = []
    for column in columns:
        name = names.get(column)
        if name is not None and name not in out:
            out.append(name)
    return out


@cache
def _column_fields(type_name: str) -> dict[str, str]:
    kind = ROW_TYPES.get(type_name)
    if kind is None:
        return {}
    found: dict[str, str] = {}
    for field in kind.cls.__strawberry_definition__.fields:
        name = field.graphql_name or _camel(field.python_name)
        source = source_of(field)
        if isinstance(source, Column):
            found.setdefault(source.name, name)
        elif isinstance(source, Link) and source.key != "id":
            found.setdefault(source.key, name)
        elif isinstance(source, Derived):
            for column in source.columns:
                found.setdefault(column, name)
        elif isinstance(source, SameRow):
            for column in _column_fields(_type_name(field.type)):
                found.setdefault(column, name)
        if source is not None or field.base_resolver is not None:
            found.setdefault(field.python_name, name)  # a parent field named by the sync
    return found


def _type_name(kind: Any) -> str:
    while isinstance(kind, StrawberryOptional | StrawberryList | LazyType):
        kind = kind.resolve_type() if isinstance(kind, LazyType) else kind.of_type
    return str(kind.__strawberry_definition__.name)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@strawberry.type(description="A ketimpangan raised or resolved (peristiwa ketimpangan).")
class DiscrepancyEvent:
    cursor: str = strawberry.field(
        description="Position in the change feed; give it as `after` to resume right after."
    )
    raised: bool = strawberry.field(
        description="True: the rule found it (again); false: the data no longer shows it, "
        "or its tindak lanjut changed (`followUpChanged`)."
    )
    follow_up_changed: bool = strawberry.field(
        description="True: its tindak lanjut changed (assigned, answered, reviewed, closed)."
    )
    discrepancy: Discrepancy = strawberry.field(description="The ketimpangan, as it is now.")
    event: strawberry.Private[OutboxEvent]


async def _shared_row(
    info: strawberry.Info[Context, None],
    event: OutboxEvent,
    table_name: str,
    pk: Any,
    column: str = "id",
) -> Any:
    """The row of `table_name` whose `column` is `pk`, read once per event and viewer scope
    and shared by every subscriber of the process. Shielded: one subscriber leaving must
    not cancel the read the others await."""
    access = info.context.access
    key = (table_name, access.scope.cache_key)
    if key not in event.memo:
        table = T[table_name]
        stmt = select(table).where(table.c[column] == pk)
        event.memo[key] = asyncio.ensure_future(access.first(stmt))
    return await asyncio.shield(event.memo[key])


@strawberry.type(description="Langganan: live updates over graphql-transport-ws.")
class Subscription:
    @strawberry.subscription(
        description="Every change the sync writes, in commit order. `after` resumes from a "
        "cursor an earlier event carried: nothing between is skipped, nothing is sent twice."
    )
    async def changes(
        self,
        info: strawberry.Info[Context, None],
        filter: ChangeFilterInput | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[ChangeEvent, None]:
        # Checked before the stream is handed out (a plain coroutine returning it): a bad
        # cursor or filter refuses the subscription itself, so its audit record says so.
        feed = info.context.feed
        if feed is None:
            raise StoreUnavailable("Live updates are not available on this endpoint.")
        position = parse_cursor(after) if after is not None else None
        scope = info.context.access.scope
        change_filter = (filter or ChangeFilterInput()).to_filter(scope)
        await feed.check(position)
        return _change_events(feed.subscribe(change_filter, position))

    @strawberry.subscription(
        description="Ketimpangan as the rules raise and resolve them, after each sync. "
        "`after` resumes from the cursor of an earlier event, as `changes` does."
    )
    async def discrepancy_events(
        self,
        info: strawberry.Info[Context, None],
        filter: DiscrepancyFilter | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[DiscrepancyEvent, None]:
        feed = info.context.feed
        if feed is None:
            raise StoreUnavailable("Live updates are not available on this endpoint.")
        f = filter or DiscrepancyFilter()
        check_rule(f.rule)
        if not info.context.access.scope.sees_entity(DISCREPANCY):
            raise Forbidden(
                "Ketimpangan are not shown to the public viewer; send an API key in "
                "connection_init. Their counts are public: summary.openDiscrepancies."
            )
        position = parse_cursor(after) if after is not None else None
        await feed.check(position)
        return _discrepancy_events(info, feed, f, position)


async def _change_events(events: AsyncIterator[OutboxEvent]) -> AsyncGenerator[ChangeEvent, None]:
    async for event in events:
        # One object per event for all subscribers (it only carries the event's data).
        root = event.memo.get("root")
        if root is None:
            root = event.memo["root"] = ChangeEvent.from_event(event)
        yield root


async def _discrepancy_events(
    info: strawberry.Info[Context, None],
    feed: ChangeFeed,
    f: DiscrepancyFilter,
    position: int | None,
) -> AsyncGenerator[DiscrepancyEvent, None]:
    change_filter = ChangeFilter(
        region_code=f.region_code,
        opd_code=f.opd_code,
        entities=frozenset({DISCREPANCY}),
        fiscal_year=f.fiscal_year,
        scope=info.context.access.scope,
    )
    async for event in feed.subscribe(change_filter, position):
        follow_up = event.changed_fields == (FOLLOW_UP_FIELD,)
        is_raised = not follow_up and raised(event.op, event.changed_fields)
        if f.open is not None and not follow_up and f.open != is_raised:
            continue
        row = await _shared_row(info, event, "discrepancy", event.entity_id)
        if row is None:  # deleted since, or outside the viewer's scope
            continue
        if f.open is not None and follow_up and f.open != (row.resolved_at is None):
            continue
        if f.rule is not None and row.rule != f.rule:
            continue
        if f.severity is not None and row.severity != f.severity.value:
            continue
        if f.follow_up_state is not None or f.overdue is not None:
            follow = await _shared_row(info, event, "follow_up", row.id, "discrepancy_id")
            state = follow.state if follow is not None else None
            if f.follow_up_state is not None and state != f.follow_up_state.name:
                continue
            if f.overdue is not None and f.overdue != (follow is not None and is_overdue(follow)):
                continue
        key = ("discrepancy-event", info.context.access.scope.cache_key)
        root = event.memo.get(key)
        if root is None:
            root = event.memo[key] = DiscrepancyEvent(
                cursor=event.cursor,
                raised=is_raised,
                follow_up_changed=follow_up,
                discrepancy=Discrepancy.from_row(row),
                event=event,
            )
        yield root
