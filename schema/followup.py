"""Tindak lanjut: the follow-up of a ketimpangan (who must explain it, by when, the thread
of what was said), and its counts per Pemda and OPD. Never shown to the public viewer."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.errors import Forbidden
from hub.store import relations as rel
from hub.store.relations import T
from resolvers import followup as resolve
from resolvers.context import Context
from resolvers.loaders import shared
from schema.common import Node
from schema.fields import RowBacked, column, derived, link, node_id, row_type

if TYPE_CHECKING:
    from schema.discrepancy import Discrepancy
    from schema.letters import Letter
    from schema.planning import Opd

Info = strawberry.Info[Context, None]


@strawberry.enum(description="Keadaan tindak lanjut.")
class FollowUpState(Enum):
    ASSIGNED = strawberry.enum_value("ASSIGNED", description="Ditugaskan: the OPD must answer.")
    ANSWERED = strawberry.enum_value(
        "ANSWERED", description="Dijawab: the assigner must accept or return the answer."
    )
    RETURNED = strawberry.enum_value(
        "RETURNED", description="Dikembalikan: the OPD must answer again."
    )
    ACCEPTED = strawberry.enum_value("ACCEPTED", description="Diterima: the finding is explained.")
    CLOSED = strawberry.enum_value(
        "CLOSED", description="Ditutup: the data no longer shows the finding."
    )


@strawberry.enum(description="Langkah tindak lanjut.")
class FollowUpActionKind(Enum):
    ASSIGNED = strawberry.enum_value("ASSIGNED", description="Ditugaskan.")
    ANSWERED = strawberry.enum_value("ANSWERED", description="Dijawab.")
    RETURNED = strawberry.enum_value("RETURNED", description="Dikembalikan.")
    ACCEPTED = strawberry.enum_value("ACCEPTED", description="Diterima.")
    CLOSED = strawberry.enum_value("CLOSED", description="Ditutup otomatis oleh data.")


@strawberry.type(description="Rujukan: what an answer cites (a letter or a link).")
class FollowUpReference:
    kind: str = strawberry.field(description='"letter" or "link".')
    value: str = strawberry.field(description="Nomor surat, or the address.")
    letter_id: strawberry.Private[int | None]

    @strawberry.field(description="The letter (E-Surat) cited; null for a link.")
    async def letter(
        self, info: Info
    ) -> Annotated[Letter, strawberry.lazy("schema.letters")] | None:
        from schema.letters import Letter

        row = await info.context.loaders.one(rel.LETTER_BY_ID, self.letter_id)
        return None if row is None else Letter.from_row(row)


@row_type(T["follow_up_action"])
@strawberry.type(description="One step of a follow-up's thread (riwayat tindak lanjut).")
class FollowUpAction(RowBacked):
    kind: FollowUpActionKind = column("kind", "What was done.")
    actor: str = column("actor", 'Who: "key:<prefix>", "jwt:<sub>", or "hub" for the data.')
    role: str | None = column("role", "The actor's role (province, inspector, regency, opd).")
    at: datetime = column("at", "When.")
    note: str | None = column("note", "Catatan, or the OPD's explanation (penjelasan).")
    due_on: date | None = column("due_on", "Batas waktu set by this step, if any.")
    row: strawberry.Private[Any]

    @strawberry.field(description="Rujukan the answer cites.", metadata=derived("refs"))
    def references(self) -> list[FollowUpReference]:
        return [
            FollowUpReference(kind=str(r["kind"]), value=str(r["value"]), letter_id=r.get("id"))
            for r in self.row.refs
        ]


@row_type(T["follow_up"])
@strawberry.type(description="Tindak lanjut of a ketimpangan: which OPD must explain it, by when.")
class DiscrepancyFollowUp(Node, RowBacked):
    id: strawberry.ID = node_id()
    state: FollowUpState = column("state", "Keadaan.")
    due_on: date = column(
        "due_on", "Batas waktu (a day in the province's time, WITA) for the OPD's answer."
    )
    note: str = column("note", "Catatan penugasan.")
    assigned_by: str = column("assigned_by", "Who assigned it (actor).")
    assigned_at: datetime = column("assigned_at", "Waktu penugasan.")
    answered_at: datetime | None = column(
        "answered_at", "First answer since the assignment; null while none came."
    )
    closed_at: datetime | None = column("closed_at", "When the data closed it.")
    version: int = column(
        "version", "Versi: send it with the next change; a stale one is CONFLICT."
    )
    assignee: Annotated[Opd, strawberry.lazy("schema.planning")] = link(
        rel.OPD_BY_ID, "opd_id", "The OPD that must answer."
    )
    discrepancy: Annotated[Discrepancy, strawberry.lazy("schema.discrepancy")] = link(
        rel.DISCREPANCY_BY_ID, "discrepancy_id", "The ketimpangan."
    )
    actions: list[FollowUpAction] = link(
        rel.ACTIONS_BY_FOLLOW_UP, "id", "Riwayat: every step, oldest first."
    )
    row: strawberry.Private[Any]

    @strawberry.field(
        description="Terlambat: the OPD's answer was due before today (the province's day, "
        "WITA) and has not come.",
        metadata=derived("state", "due_on"),
    )
    def overdue(self) -> bool:
        return resolve.is_overdue(self.row)


@row_type()
@strawberry.type(description="Tindak lanjut in numbers, for a Pemda or an OPD and a fiscal year.")
class FollowUpSummary(RowBacked):
    # Columns of `resolve.summary_columns`, read by the loader and the compiled path alike.
    assigned: int = column("assigned", "Ketimpangan ever assigned (ditugaskan).")
    awaiting: int = column("awaiting", "Waiting for the OPD's answer.")
    answered: int = column("answered", "Answered at least once (dijawab).")
    accepted: int = column("accepted", "Answers accepted (diterima).")
    overdue: int = column("overdue", "Waiting past their due date (terlambat).")
    median_days_to_answer: float | None = column(
        "median_days_to_answer",
        "Median days from assignment to first answer; null with no answer.",
    )
    row: strawberry.Private[Any]


async def follow_up_summary(info: Info, level: str, key: int, fiscal_year: int) -> FollowUpSummary:
    """The counts, for every role but the public's (they are not published)."""
    if info.context.access.scope.name == "public":
        raise Forbidden("Tindak lanjut is not shown to anonymous viewers; send an API key.")
    loader = info.context.loaders.custom(f"follow_up_{level}", resolve.summary_loader(level))
    row = await shared(loader.load((key, fiscal_year)))
    summary: FollowUpSummary = FollowUpSummary.from_row(SimpleNamespace(**row))
    return summary
