"""Ketimpangan: where plan, budget, procurement, payment and progress disagree."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row

from hub.store import relations as rel
from resolvers.context import Context
from resolvers.paging import Page
from schema.common import Node, PageInfo, Severity, global_id

if TYPE_CHECKING:
    from schema.planning import Opd, Region, SubActivity

Info = strawberry.Info[Context, None]


@strawberry.type(description="Bukti: a row and value that prove a ketimpangan.")
class Evidence:
    entity: str = strawberry.field(description='Entitas, e.g. "Contract".')
    entity_id: strawberry.ID = strawberry.field(description="Global id of the row.")
    field: str | None = strawberry.field(description="Field that shows it.")
    value: str | None = strawberry.field(description="Its value, as text.")


@strawberry.type(description="Ketimpangan: a discrepancy found by a rule.")
class Discrepancy(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    rule: str = strawberry.field(description='Kode aturan, e.g. "CONTRACT_ABOVE_OWNER_ESTIMATE".')
    severity: Severity = strawberry.field(description="Tingkat keparahan.")
    message: str = strawberry.field(description="Pesan in Indonesian for a governor's staff.")
    fiscal_year: int = strawberry.field(description="Tahun anggaran.")
    detected_at: datetime = strawberry.field(description="Waktu terdeteksi.")
    resolved_at: datetime | None = strawberry.field(
        description="Waktu selesai: when the data stopped showing it."
    )
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Discrepancy:
        return cls(
            id=global_id("Discrepancy", row.id),
            rule=row.rule,
            severity=Severity(row.severity),
            message=row.message,
            fiscal_year=row.fiscal_year,
            detected_at=row.detected_at,
            resolved_at=row.resolved_at,
            row=row,
        )

    @strawberry.field(description="Pemda where it was found.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy("schema.planning")]:
        from schema.planning import Region

        row = await info.context.loaders.one(rel.REGION_BY_ID, self.row.region_id)
        assert row is not None
        return Region.from_row(row)

    @strawberry.field(description="OPD concerned, if any.")
    async def opd(self, info: Info) -> Annotated[Opd, strawberry.lazy("schema.planning")] | None:
        from schema.planning import Opd

        row = await info.context.loaders.one(rel.OPD_BY_ID, self.row.opd_id)
        return Opd.from_row(row) if row else None

    @strawberry.field(description="Sub kegiatan concerned, if any.")
    async def sub_activity(
        self, info: Info
    ) -> Annotated[SubActivity, strawberry.lazy("schema.planning")] | None:
        from schema.planning import SubActivity

        row = await info.context.loaders.one(rel.SUB_ACTIVITY_BY_ID, self.row.sub_activity_id)
        return SubActivity.from_row(row) if row else None

    @strawberry.field(description="Bukti.")
    def evidence(self) -> list[Evidence]:
        return [
            Evidence(
                entity=str(e.get("entity", "")),
                entity_id=global_id(str(e["entity"]), int(e["id"]))
                if e.get("id") is not None
                else strawberry.ID(str(e.get("entityId", ""))),
                field=e.get("field"),
                value=None if e.get("value") is None else str(e.get("value")),
            )
            for e in self.row.evidence
        ]


@strawberry.type(description="A ketimpangan in a connection, with its cursor.")
class DiscrepancyEdge:
    cursor: str = strawberry.field(description="Opaque cursor (kursor).")
    node: Discrepancy = strawberry.field(description="The ketimpangan.")


@strawberry.type(description="A page of ketimpangan.")
class DiscrepancyConnection:
    edges: list[DiscrepancyEdge] = strawberry.field(description="Ketimpangan on this page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    page: strawberry.Private[Page]

    @classmethod
    def from_page(cls, page: Page) -> DiscrepancyConnection:
        edges = [
            DiscrepancyEdge(cursor=c, node=Discrepancy.from_row(r))
            for c, r in zip(page.cursors, page.rows, strict=True)
        ]
        return cls(edges=edges, page_info=PageInfo.from_page(page), page=page)

    @strawberry.field(description="Jumlah total matching the filter, on all pages.")
    async def total_count(self, info: Info) -> int:
        return int(await info.context.access.scalar(self.page.count_statement))
