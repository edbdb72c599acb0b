"""Legacy sources (sumber data) and the provenance every synced row carries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import relations as rel
from schema.common import SourceStatus
from schema.fields import RowBacked, column, link, lookup, row_type

if TYPE_CHECKING:
    from schema.planning import Opd


@row_type(rel.T["source"])
@strawberry.type(description="A legacy database or export the hub reads (sumber data).")
class Source(RowBacked):
    id: strawberry.ID = column("id", "Source id as configured (id sumber).")
    name: str = column("name", "Nama sumber.")
    kind: str = column("kind", "Jenis sumber: postgresql, mariadb, sqlite, spreadsheet, http.")
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
    owner: Annotated[Opd, strawberry.lazy("schema.planning")] | None = link(
        rel.OPD_BY_ID, "owner_opd_id", "OPD that owns the source (OPD pemilik).", site="owner"
    )
    row: strawberry.Private[Any]


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
