"""Live updates: every change the sync writes, as a subscription (langganan perubahan)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select

from hub.discrepancies.engine import ENTITY, raised
from hub.errors import ClientError, ErrorCode
from hub.events.feed import ChangeFilter
from hub.events.outbox import OutboxEvent, parse_cursor
from hub.store.codec import global_id
from hub.store.relations import T
from hub.store.scope import Scope
from resolvers.context import Context
from schema.common import ChangeOp
from schema.discrepancy import Discrepancy
from schema.query import DiscrepancyFilter
from schema.source import Source

_SNAKE = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), name)


class StoreUnavailable(ClientError):
    code = ErrorCode.STORE_UNAVAILABLE


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
        default=None, description='Entity type names, e.g. ["Payment", "ProgressReport"].'
    )
    fiscal_year: int | None = strawberry.field(default=None, description="Tahun anggaran.")

    def to_filter(self, scope: Scope | None = None) -> ChangeFilter:
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
    entity_id: strawberry.ID = strawberry.field(description="Global id of the row.")
    op: ChangeOp = strawberry.field(description="Jenis perubahan.")
    region_code: str | None = strawberry.field(description="Kode Pemda of the row.")
    opd_code: str | None = strawberry.field(description="Kode OPD of the row, when known.")
    fiscal_year: int | None = strawberry.field(description="Tahun anggaran of the row.")
    changed_fields: list[str] = strawberry.field(description="Fields that changed.")
    occurred_at: datetime = strawberry.field(description="Waktu perubahan (commit).")
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
            changed_fields=[camel(f) for f in event.changed_fields],
            occurred_at=event.occurred_at,
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


@strawberry.type(description="A ketimpangan raised or resolved (peristiwa ketimpangan).")
class DiscrepancyEvent:
    raised: bool = strawberry.field(
        description="True: the rule found it (again); false: the data no longer shows it."
    )
    discrepancy: Discrepancy = strawberry.field(description="The ketimpangan, as it is now.")
    event: strawberry.Private[OutboxEvent]


async def _shared_row(
    info: strawberry.Info[Context, None], event: OutboxEvent, table_name: str, pk: Any
) -> Any:
    """Row `pk` of `table_name`, read once per event and viewer scope and shared by every
    subscriber of the process. Shielded: one subscriber leaving must not cancel the read
    the others await."""
    access = info.context.access
    key = (table_name, access.scope.cache_key)
    if key not in event.memo:
        table = T[table_name]
        stmt = select(table).where(table.c.id == pk)
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
        feed = info.context.feed
        if feed is None:
            raise StoreUnavailable("Live updates are not available on this endpoint.")
        position = parse_cursor(after) if after is not None else None
        scope = info.context.access.scope
        change_filter = (filter or ChangeFilterInput()).to_filter(scope)
        async for event in feed.subscribe(change_filter, position):
            # One object per event for all subscribers (it only carries the event's data).
            root = event.memo.get("root")
            if root is None:
                root = event.memo["root"] = ChangeEvent.from_event(event)
            yield root

    @strawberry.subscription(
        description="Ketimpangan as the rules raise and resolve them, after each sync."
    )
    async def discrepancy_events(
        self, info: strawberry.Info[Context, None], filter: DiscrepancyFilter | None = None
    ) -> AsyncGenerator[DiscrepancyEvent, None]:
        feed = info.context.feed
        if feed is None:
            raise StoreUnavailable("Live updates are not available on this endpoint.")
        f = filter or DiscrepancyFilter()
        change_filter = ChangeFilter(
            region_code=f.region_code,
            opd_code=f.opd_code,
            entities=frozenset({ENTITY}),
            fiscal_year=f.fiscal_year,
            scope=info.context.access.scope,
        )
        async for event in feed.subscribe(change_filter, None):
            is_raised = raised(event.op, event.changed_fields)
            if f.open is not None and f.open != is_raised:
                continue
            row = await _shared_row(info, event, "discrepancy", event.entity_id)
            if row is None:  # deleted since, or outside the viewer's scope
                continue
            if f.rule is not None and row.rule != f.rule:
                continue
            if f.severity is not None and row.severity != f.severity.value:
                continue
            key = ("discrepancy-event", info.context.access.scope.cache_key)
            root = event.memo.get(key)
            if root is None:
                root = event.memo[key] = DiscrepancyEvent(
                    raised=is_raised, discrepancy=Discrepancy.from_row(row), event=event
                )
            yield root
