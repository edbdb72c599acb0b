"""Ketimpangan: where plan, budget, procurement, payment and progress disagree."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.discrepancies.rules import BY_CODE
from hub.errors import BadUserInput
from hub.store import relations as rel
from hub.store.codec import global_id
from resolvers.context import Context
from schema.common import Node, Severity
from schema.fields import RowBacked, column, link, node_id, row_type

if TYPE_CHECKING:
    from schema.followup import DiscrepancyFollowUp
    from schema.planning import Opd, Region, SubActivity

Info = strawberry.Info[Context, None]


def check_rule(rule: str | None) -> None:
    """BAD_USER_INPUT for a rule code the hub does not have."""
    if rule is not None and rule not in BY_CODE:
        raise BadUserInput(
            f"Unknown rule {rule!r}; the rules are {', '.join(sorted(BY_CODE))}.",
            argument="filter.rule",
        )


@strawberry.type(description="Bukti: a row and value that prove a ketimpangan.")
class Evidence:
    entity: str = strawberry.field(description='Entitas, e.g. "Contract".')
    entity_id: strawberry.ID = strawberry.field(description="Global id of the row.")
    field: str | None = strawberry.field(description="Field that shows it.")
    value: str | None = strawberry.field(description="Its value, as text.")


@row_type(rel.T["discrepancy"])
@strawberry.type(description="Ketimpangan: a discrepancy found by a rule.")
class Discrepancy(Node, RowBacked):
    id: strawberry.ID = node_id()
    rule: str = column("rule", 'Kode aturan, e.g. "CONTRACT_ABOVE_OWNER_ESTIMATE".')
    severity: Severity = column("severity", "Tingkat keparahan.")
    message: str = column("message", "Pesan in Indonesian for a governor's staff.")
    fiscal_year: int = column("fiscal_year", "Tahun anggaran.")
    detected_at: datetime = column("detected_at", "Waktu terdeteksi.")
    resolved_at: datetime | None = column(
        "resolved_at", "Waktu selesai: when the data stopped showing it."
    )
    region: Annotated[Region, strawberry.lazy("schema.planning")] = link(
        rel.REGION_BY_ID, "region_id", "Pemda where it was found."
    )
    opd: Annotated[Opd, strawberry.lazy("schema.planning")] | None = link(
        rel.OPD_BY_ID, "opd_id", "OPD concerned, if any."
    )
    sub_activity: Annotated[SubActivity, strawberry.lazy("schema.planning")] | None = link(
        rel.SUB_ACTIVITY_BY_ID, "sub_activity_id", "Sub kegiatan concerned, if any."
    )
    follow_up: Annotated[DiscrepancyFollowUp, strawberry.lazy("schema.followup")] | None = link(
        rel.FOLLOW_UP_BY_DISCREPANCY,
        "id",
        "Tindak lanjut: the OPD asked to explain it, the due date, the thread; null when "
        "it was never assigned (and for viewers who may not see it).",
    )
    row: strawberry.Private[Any]

    @strawberry.field(
        description=(
            "Kode indikator red flag (OCP's red-flag guide, as cardinal codes them, e.g. "
            '"R018") the rule computes; empty for a rule with no OCDS counterpart, such as '
            "the Indonesian HPS rules."
        )
    )
    def indicator_codes(self) -> list[str]:
        rule = BY_CODE.get(self.row.rule)
        return list(rule.indicators) if rule is not None else []

    @strawberry.field(description="Bukti.")
    def evidence(self) -> list[Evidence]:
        return [
            Evidence(
                entity=str(e.get("entity", "")),
                entity_id=strawberry.ID(global_id(str(e["entity"]), int(e["id"])))
                if e.get("id") is not None
                else strawberry.ID(str(e.get("entityId", ""))),
                field=e.get("field"),
                value=None if e.get("value") is None else str(e.get("value")),
            )
            for e in self.row.evidence
        ]
