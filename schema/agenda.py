"""E-Jadwal: what is due, from what the chain already knows (resolvers/agenda.py)."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from hub.store import relations as rel
from resolvers import agenda as resolve
from resolvers.context import Context

if TYPE_CHECKING:
    from schema.planning import Opd

Info = strawberry.Info[Context, None]


@strawberry.enum(description="Jenis agenda.")
class AgendaItemKind(Enum):
    TENDER_STAGE = strawberry.enum_value("TENDER_STAGE", description="Tahap jadwal tender (SPSE).")
    CONTRACT_END = strawberry.enum_value("CONTRACT_END", description="Akhir kontrak.")
    MONEV_DEADLINE = strawberry.enum_value(
        "MONEV_DEADLINE", description="Batas laporan e-Monev Form A of a month."
    )
    FOLLOW_UP_DUE = strawberry.enum_value(
        "FOLLOW_UP_DUE", description="Batas jawaban tindak lanjut."
    )
    DPA_MILESTONE = strawberry.enum_value(
        "DPA_MILESTONE", description="Target realisasi DPA at a quarter's end."
    )


@strawberry.type(description="Agenda: one thing due on a day.")
class AgendaItem:
    kind: AgendaItemKind = strawberry.field(description="Jenis.")
    date: date = strawberry.field(description="Tanggal.")
    title: str = strawberry.field(description="Judul, in Indonesian.")
    late: bool = strawberry.field(
        description="Terlambat: the day has passed (in the province's time, WITA) and what "
        "it waits for has not come."
    )
    region_code: str = strawberry.field(description="Kode Pemda.")
    subject_id: strawberry.ID = strawberry.field(
        description="Global id of what it concerns (a Tender, Contract, DiscrepancyFollowUp "
        "or Opd): `node(id)` gives it."
    )
    opd_id: strawberry.Private[int | None]

    @strawberry.field(description="The OPD concerned, when known.")
    async def opd(self, info: Info) -> Annotated[Opd, strawberry.lazy("schema.planning")] | None:
        from schema.planning import Opd

        row = await info.context.loaders.one(rel.OPD_BY_ID, self.opd_id)
        return None if row is None else Opd.from_row(row)


async def agenda_items(
    info: Info, region_code: str, opd_code: str | None, start: date, end: date
) -> list[AgendaItem]:
    ctx = info.context
    items = await resolve.agenda(
        ctx.access, region_code, opd_code, start, end, ctx.settings.monev_deadline_day
    )
    return [
        AgendaItem(
            kind=AgendaItemKind(i.kind),
            date=i.on,
            title=i.title,
            late=i.late,
            region_code=i.region_code,
            subject_id=strawberry.ID(i.subject),
            opd_id=i.opd_id,
        )
        for i in items
    ]
