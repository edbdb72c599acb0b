"""Legacy sources (sumber data) and the provenance every synced row carries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.errors import Forbidden
from hub.store import relations as rel
from schema.common import SourceStatus
from schema.fields import RowBacked, column, link, lookup, row_type

if TYPE_CHECKING:
    from schema.planning import Opd


@strawberry.type(description="Why rows of a source wait (alasan baris menunggu), and how many.")
class WaitingReason:
    reason: str = strawberry.field(
        description='What the rows wait for, without their values: "unknown activity" (a '
        'parent the store does not have), "bad row: kind" (a value the mapping refuses).'
    )
    count: int = strawberry.field(description="Jumlah baris menunggu for this reason.")
    example_text: strawberry.Private[str]

    @strawberry.field(
        description="One full reason, with the row's values; shown, as `lastError` is, to "
        "province viewers only: null with a FORBIDDEN error for others (values of the "
        "source's rows)."
    )
    def example(self, info: strawberry.Info) -> str | None:
        if not info.context.access.scope.sees_field("Source.lastError"):
            raise Forbidden("Source.waitingReasons.example is shown to province viewers only.")
        return self.example_text


@strawberry.type(
    description="The last `rantai verify` of a source (verifikasi): the source compared with "
    "the store per entity, Pemda and fiscal year, by count, money sums and a hash of each "
    "row's key and values."
)
class SourceVerification:
    at: datetime = strawberry.field(description="When it ran.")
    seconds: float = strawberry.field(description="How long it took.")
    ok: bool = strawberry.field(description="True: the store holds exactly what the source has.")
    unreachable: bool = strawberry.field(description="True: the source could not be read.")
    missing: int = strawberry.field(description="Rows of the source missing from the store.")
    extra: int = strawberry.field(
        description="Rows in the store the source no longer has (deleted there)."
    )
    different: int = strawberry.field(description="Rows whose values differ.")

    @classmethod
    def from_stored(cls, stored: Any) -> SourceVerification | None:
        if stored is None:
            return None
        data = json.loads(stored) if isinstance(stored, str) else dict(stored)
        return cls(
            at=datetime.fromisoformat(data["at"]),
            seconds=float(data["seconds"]),
            ok=bool(data["ok"]),
            unreachable=data.get("error") is not None,
            missing=int(data.get("missing", 0)),
            extra=int(data.get("extra", 0)),
            different=int(data.get("different", 0)),
        )


@row_type(rel.T["source"])
@strawberry.type(description="A legacy database or export the hub reads (sumber data).")
class Source(RowBacked):
    id: strawberry.ID = column("id", "Source id as configured (id sumber).")
    name: str = column("name", "Nama sumber.")
    kind: str = column(
        "kind",
        "Jenis sumber: postgresql, mariadb, sqlite, xlsx, csv, http-json; reference for the "
        "hub's own reference data (Pemda created from the Kemendagri code list).",
    )
    status: SourceStatus = column("status", "Status sinkronisasi.")
    last_synced_at: datetime | None = column("last_synced_at", "Waktu sinkron terakhir.")
    last_success_at: datetime | None = column(
        "last_success_at", "Waktu sinkron terakhir yang berhasil."
    )
    last_error: str | None = column(
        "last_error",
        "Galat terakhir, if the last sync failed; shown to province viewers only, null with "
        "a FORBIDDEN error for others (it can name hosts, users, databases and files).",
        masked="Source.lastError",
    )
    rows: int = column("rows", "Jumlah baris synced from this source.")
    waiting: int = column(
        "waiting",
        "Baris menunggu: rows read but not stored, waiting for a parent or refused by the "
        "mapping; tried again on every sync.",
    )
    last_run_read: int | None = column(
        "last_run_read", "Rows the last sync read from the source; null before the first."
    )
    last_run_stored: int | None = column(
        "last_run_stored",
        "Rows the last sync stored (written or confirmed unchanged, from the source or from "
        "the waiting queue). 0 while lastRunRead > 0: everything it read waits, and the "
        "source is stale.",
    )
    last_upload_file: str | None = column(
        "last_upload_file",
        "Berkas unggahan terakhir: the name of the last workbook its OPD uploaded (a source "
        "fed by uploads, POST /upload/monev); null for other sources.",
    )
    last_upload_at: datetime | None = column(
        "last_upload_at", "Waktu unggahan terakhir: when that workbook was accepted."
    )
    owner: Annotated[Opd, strawberry.lazy("schema.planning")] | None = link(
        rel.OPD_BY_ID, "owner_opd_id", "OPD that owns the source (OPD pemilik).", site="owner"
    )
    row: strawberry.Private[Any]

    @strawberry.field(description="The last verification against the source (rantai verify).")
    def verification(self) -> SourceVerification | None:
        return SourceVerification.from_stored(self.row.verification)

    @strawberry.field(description="The three commonest reasons rows of the source wait.")
    def waiting_reasons(self) -> list[WaitingReason]:
        stored = self.row.waiting_reasons
        reasons = json.loads(stored) if isinstance(stored, str) else (stored or [])
        return [
            WaitingReason(
                reason=str(r["reason"]), count=int(r["count"]), example_text=str(r["example"])
            )
            for r in reasons
        ]


@row_type()
@strawberry.type(description="Where a row came from (asal data / provenans).")
class Provenance(RowBacked):
    source: Source = link(rel.SOURCE_HEALTH_BY_ID, "source_id", "Sumber data of this row.")
    source_key: str = column("source_key", "The row's key in its source (kunci sumber).")
    synced_at: datetime = column("synced_at", "Waktu sinkron of this row.")
    stale: bool = lookup(
        rel.SOURCE_HEALTH_BY_ID,
        "source_id",
        "stale",
        "Basi: true when the source's last sync failed or is older than its freshness limit; "
        "the row is then the last known value (hub/store/freshness.py).",
    )
    row: strawberry.Private[Any]
    site: strawberry.Private[str]  # whose provenance: one batch of sources per place
