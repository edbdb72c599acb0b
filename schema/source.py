"""Legacy sources (sumber data) and the provenance every synced row carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row

from hub.errors import Forbidden
from hub.store import relations as rel
from resolvers.context import Context
from schema.common import SourceStatus

if TYPE_CHECKING:
    from schema.planning import Opd


def is_stale(source: Row[Any] | Any, default_freshness_seconds: int) -> bool:
    """A source's rows are stale when its last sync failed or its last success is too old.

    DEGRADED (read in full, some rows waiting for a parent) is not stale: what was stored
    is current.
    """
    if source.status in ("NEVER_SYNCED", "DOWN") or source.last_success_at is None:
        return True
    limit = timedelta(seconds=source.freshness_seconds or default_freshness_seconds)
    return bool(datetime.now(UTC) - source.last_success_at > limit)


@strawberry.type(description="A legacy database or export the hub reads (sumber data).")
class Source:
    id: strawberry.ID = strawberry.field(description="Source id as configured (id sumber).")
    name: str = strawberry.field(description="Nama sumber.")
    kind: str = strawberry.field(
        description="Jenis sumber: postgresql, mariadb, sqlite, spreadsheet, http."
    )
    status: SourceStatus = strawberry.field(description="Status sinkronisasi.")
    last_synced_at: datetime | None = strawberry.field(description="Waktu sinkron terakhir.")
    last_success_at: datetime | None = strawberry.field(
        description="Waktu sinkron terakhir yang berhasil."
    )
    error_text: strawberry.Private[str | None]
    rows: int = strawberry.field(description="Jumlah baris synced from this source.")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Source:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            kind=row.kind,
            status=SourceStatus(row.status),
            last_synced_at=row.last_synced_at,
            last_success_at=row.last_success_at,
            error_text=row.last_error,
            rows=row.rows,
            row=row,
        )

    @strawberry.field(
        description="Galat terakhir, if the last sync failed; null with a FORBIDDEN error for "
        "public viewers (it can name hosts, users, databases and files)."
    )
    def last_error(self, info: strawberry.Info[Context, None]) -> str | None:
        if not info.context.access.scope.sees_field("Source.lastError"):
            raise Forbidden("A source's error text is not shown to anonymous viewers.")
        return self.error_text

    @strawberry.field(description="OPD that owns the source (OPD pemilik).")
    async def owner(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated[Opd, strawberry.lazy("schema.planning")] | None:
        from schema.planning import Opd

        row = await info.context.loaders.one(rel.OPD_BY_ID, self.row.owner_opd_id)
        return Opd.from_row(row) if row else None


@strawberry.type(description="Where a row came from (asal data / provenans).")
class Provenance:
    source_key: str = strawberry.field(description="The row's key in its source (kunci sumber).")
    synced_at: datetime = strawberry.field(description="Waktu sinkron of this row.")
    source_id: strawberry.Private[str]
    entity: strawberry.Private[str]  # whose provenance: one source batch per entity

    @classmethod
    def from_row(cls, row: Row[Any], entity: str) -> Provenance:
        return cls(
            source_key=row.source_key,
            synced_at=row.synced_at,
            source_id=row.source_id,
            entity=entity,
        )

    @strawberry.field(description="Sumber data of this row.")
    async def source(self, info: strawberry.Info[Context, None]) -> Source:
        row = await info.context.loaders.one(rel.SOURCE_BY_ID, self.source_id, self.entity)
        assert row is not None  # source_id is a NOT NULL foreign key
        return Source.from_row(row)

    @strawberry.field(
        description="Basi: true when the source's last sync failed or is older than its "
        "freshness limit; the row is then the last known value."
    )
    async def stale(self, info: strawberry.Info[Context, None]) -> bool:
        row = await info.context.loaders.one(rel.SOURCE_BY_ID, self.source_id, self.entity)
        assert row is not None
        return is_stale(row, info.context.settings.source_freshness_seconds)
