"""The follow-up mutations (tindak lanjut): assign a ketimpangan to an OPD, answer it, review
the answer. Each runs through `resolvers.mutations.mutate` (roles, one transaction with its
audit record, idempotency) and reaches subscribers of `changes` (DiscrepancyFollowUp) and
`discrepancyEvents`. resolvers/followup.py says who may do what beyond the roles."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from hub.auth import Role
from hub.store.codec import parse_global_id
from hub.store.relations import T
from resolvers import followup as resolve
from resolvers.mutations import mutate
from schema.admin import Info, roles
from schema.discrepancy import Discrepancy
from schema.followup import DiscrepancyFollowUp

IDEMPOTENCY = (
    "Kunci idempotensi: a retry with the same key and input (within a day) returns the "
    "first answer and changes nothing; the same key with another input is "
    "IDEMPOTENCY_KEY_REUSED."
)
IdempotencyKey = Annotated[str | None, strawberry.argument(description=IDEMPOTENCY)]
ASSIGNERS = roles(Role.PROVINCE, Role.INSPECTOR, Role.REGENCY)
OPD_ONLY = roles(Role.OPD)
VERSION = "Versi of the follow-up the client last saw (0 when it has none); another is CONFLICT."


@strawberry.input(description="Tugaskan: ask an OPD to explain a ketimpangan by a due date.")
class AssignDiscrepancyInput:
    discrepancy_id: strawberry.ID = strawberry.field(description="The ketimpangan's id.")
    opd_code: str = strawberry.field(description="Kode OPD of the finding's Pemda.")
    due_on: date = strawberry.field(description="Batas waktu: today or later.")
    note: str = strawberry.field(description="Catatan: what the OPD must explain.")
    version: int = strawberry.field(description=VERSION)


@strawberry.input(description="Jawaban OPD: the explanation and what it cites.")
class RespondToDiscrepancyInput:
    discrepancy_id: strawberry.ID = strawberry.field(description="The ketimpangan's id.")
    explanation: str = strawberry.field(description="Penjelasan.")
    links: list[str] = strawberry.field(
        default_factory=list, description="Rujukan: http(s) addresses (at most 10)."
    )
    letters: list[str] = strawberry.field(
        default_factory=list,
        description="Nomor surat (E-Surat) of the finding's Pemda the answer cites (at most "
        "10); one the hub does not have is NOT_FOUND.",
    )
    version: int = strawberry.field(description=VERSION)


@strawberry.input(description="Tinjau jawaban: accept it, or return it with a note.")
class ReviewDiscrepancyResponseInput:
    discrepancy_id: strawberry.ID = strawberry.field(description="The ketimpangan's id.")
    accept: bool = strawberry.field(
        description="True: terima (the finding is explained); false: kembalikan (the OPD "
        "answers again)."
    )
    note: str | None = strawberry.field(
        default=None, description="Catatan; required to return an answer."
    )
    due_on: date | None = strawberry.field(
        default=None, description="A new batas waktu for a returned answer (default: the old)."
    )
    version: int = strawberry.field(description=VERSION)


@strawberry.type(description="The follow-up after the change, with its ketimpangan.")
class FollowUpPayload:
    follow_up: DiscrepancyFollowUp | None = strawberry.field(
        description="Tindak lanjut, as it is now."
    )
    discrepancy: Discrepancy | None = strawberry.field(description="Ketimpangan, as it is now.")


async def _payload(info: Info, result: dict[str, int]) -> FollowUpPayload:
    access = info.context.access
    f, d = T["follow_up"], T["discrepancy"]
    follow_up = await access.first(access.select(f).where(f.c.id == result["followUp"]))
    finding = await access.first(access.select(d).where(d.c.id == result["discrepancy"]))
    return FollowUpPayload(
        follow_up=DiscrepancyFollowUp.from_row(follow_up) if follow_up else None,
        discrepancy=Discrepancy.from_row(finding) if finding else None,
    )


def _id(value: strawberry.ID) -> str:
    parse_global_id(value)  # BAD_ID for an id this API did not issue
    return str(value)


@strawberry.type
class FollowUpMutations:
    @strawberry.mutation(
        description="Tugaskan: ask an OPD to explain an open ketimpangan by a due date "
        "(province, inspector, or a regency within its Pemda).",
        metadata=ASSIGNERS,
    )
    async def assign_discrepancy(
        self, info: Info, input: AssignDiscrepancyInput, idempotency_key: IdempotencyKey = None
    ) -> FollowUpPayload:
        ctx = info.context
        arguments = {
            "discrepancyId": input.discrepancy_id, "opdCode": input.opd_code,
            "dueOn": input.due_on.isoformat(), "note": input.note, "version": input.version,
        }  # fmt: skip
        work = resolve.assign(
            ctx.viewer, _id(input.discrepancy_id), input.opd_code, input.due_on, input.note,
            input.version,
        )  # fmt: skip
        result = await mutate(
            ctx, "assignDiscrepancy", arguments, work, roles=ASSIGNERS["rantai_roles"],
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return await _payload(info, result)

    @strawberry.mutation(
        description="Jawab: the OPD's explanation of a ketimpangan assigned to it (an opd "
        "key, for its own OPD only).",
        metadata=OPD_ONLY,
    )
    async def respond_to_discrepancy(
        self,
        info: Info,
        input: RespondToDiscrepancyInput,
        idempotency_key: IdempotencyKey = None,
    ) -> FollowUpPayload:
        ctx = info.context
        arguments = {
            "discrepancyId": input.discrepancy_id, "explanation": input.explanation,
            "links": list(input.links), "letters": list(input.letters),
            "version": input.version,
        }  # fmt: skip
        work = resolve.respond(
            ctx.viewer, _id(input.discrepancy_id), input.explanation, list(input.links),
            list(input.letters), input.version,
        )  # fmt: skip
        result = await mutate(
            ctx, "respondToDiscrepancy", arguments, work, roles=OPD_ONLY["rantai_roles"],
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return await _payload(info, result)

    @strawberry.mutation(
        description="Tinjau: accept the OPD's answer (the finding is explained) or return it "
        "with a note (the province, or the office that assigned it).",
        metadata=ASSIGNERS,
    )
    async def review_discrepancy_response(
        self,
        info: Info,
        input: ReviewDiscrepancyResponseInput,
        idempotency_key: IdempotencyKey = None,
    ) -> FollowUpPayload:
        ctx = info.context
        due = input.due_on.isoformat() if input.due_on else None
        arguments = {
            "discrepancyId": input.discrepancy_id, "accept": input.accept, "note": input.note,
            "dueOn": due, "version": input.version,
        }  # fmt: skip
        work = resolve.review(
            ctx.viewer, _id(input.discrepancy_id), input.accept, input.note, input.due_on,
            input.version,
        )  # fmt: skip
        result = await mutate(
            ctx, "reviewDiscrepancyResponse", arguments, work, roles=ASSIGNERS["rantai_roles"],
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return await _payload(info, result)
