"""The operators' console (konsol operator): what `Query.admin` shows an `admin` key.

Root fields and mutations say which roles may call them (`roles(...)` in their metadata);
the request path refuses everyone else with FORBIDDEN and HTTP 403 before anything runs
(hub/serving/permissions.py), and the resolvers check again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from hub.auth import Role
from resolvers import admin as admin_resolve
from resolvers.context import Context
from schema.common import SourceStatus
from schema.source import SourceVerification

Info = strawberry.Info[Context, None]

ROLES = "rantai_roles"  # field metadata: the roles that may call a root field


def roles(*allowed: Role) -> dict[str, frozenset[Role]]:
    """Metadata of a root field or mutation only these roles may call."""
    return {ROLES: frozenset(allowed)}


@strawberry.type(description="Kunci API: its prefix, role and scope; never its secret.")
class ApiKey:
    prefix: str = strawberry.field(description="Awalan kunci (rk_xxxxxxxx): names the key.")
    role: str = strawberry.field(
        description="Peran: province, inspector, regency, opd, public or admin."
    )
    region_code: str | None = strawberry.field(description="Kode Pemda of its scope.")
    opd_code: str | None = strawberry.field(description="Kode OPD of its scope.")
    label: str | None = strawberry.field(description="Who or what the key is for (label).")
    created_at: datetime = strawberry.field(description="Dibuat.")
    revoked_at: datetime | None = strawberry.field(description="Dicabut; null while active.")

    @classmethod
    def from_row(cls, row: Any) -> ApiKey:
        return cls(
            prefix=f"rk_{row['prefix']}",
            role=row["role"],
            region_code=row["region_code"],
            opd_code=row["opd_code"],
            label=row["label"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )


@strawberry.type(description="Satu catatan log audit.")
class AuditRecord:
    id: strawberry.ID = strawberry.field(description="Nomor urut in the chain.")
    at: datetime = strawberry.field(description="Waktu.")
    kind: str = strawberry.field(
        description="request, subscribe, key.create, key.revoke, sync.request…"
    )
    actor: str = strawberry.field(description='Pelaku: "key:<prefix>", "jwt:<sub>" or "cli".')
    detail: str = strawberry.field(description="The record's detail, the JSON text hashed.")
    hash: str = strawberry.field(description="HMAC of this record and the previous one.")


@strawberry.type(description="A page of the audit log, newest first.")
class AuditPage:
    records: list[AuditRecord] = strawberry.field(description="Catatan, newest first.")
    has_more: bool = strawberry.field(description="Older records exist: pass `before`.")
    before: strawberry.ID | None = strawberry.field(
        description="Give as `before` for the next (older) page."
    )


@strawberry.type(description="A break found in the audit chain.")
class AuditProblem:
    record: strawberry.ID = strawberry.field(description="The record's id.")
    reason: str = strawberry.field(description="What is wrong with it.")


@strawberry.type(description="Pemeriksaan rantai audit: every record against its hash.")
class AuditVerification:
    checked: int = strawberry.field(description="Records checked.")
    intact: bool = strawberry.field(description="True: no record edited, removed or reordered.")
    problems: list[AuditProblem] = strawberry.field(description="Every problem found.")


@strawberry.type(description="Baris tertunda: rows of a source left waiting, by reason.")
class WaitingGroup:
    entity: str = strawberry.field(description="The canonical entity of the rows.")
    reason: str = strawberry.field(description="Why they wait (alasan).")
    rows: int = strawberry.field(description="Jumlah baris.")
    since: datetime = strawberry.field(description="The oldest first seen.")


@strawberry.type(description='Permintaan "sinkron sekarang".')
class SyncRequest:
    id: strawberry.ID = strawberry.field(description="Nomor permintaan.")
    source_id: str | None = strawberry.field(description="Sumber; null: every source.")
    requested_by: str = strawberry.field(description="Pelaku.")
    requested_at: datetime = strawberry.field(description="Diminta.")
    started_at: datetime | None = strawberry.field(
        description="Taken by a sync loop; null: waiting (is a process running one?)."
    )
    finished_at: datetime | None = strawberry.field(description="Selesai.")
    outcome: str | None = strawberry.field(description="Status per source when finished.")

    @classmethod
    def from_row(cls, row: Any) -> SyncRequest:
        return cls(
            id=strawberry.ID(str(row["id"])),
            source_id=row["source_id"],
            requested_by=row["requested_by"],
            requested_at=row["requested_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            outcome=row["outcome"],
        )


@strawberry.type(description="Sumber data as an operator sees it: health, error, waiting rows.")
class SourceHealth:
    id: str = strawberry.field(description="Source id as configured.")
    name: str = strawberry.field(description="Nama sumber.")
    kind: str = strawberry.field(description="Jenis sumber.")
    status: SourceStatus = strawberry.field(description="Status sinkronisasi.")
    stale: bool = strawberry.field(description="Basi: its rows are the last known values.")
    last_synced_at: datetime | None = strawberry.field(description="Sinkron terakhir.")
    last_success_at: datetime | None = strawberry.field(description="Terakhir berhasil.")
    last_error: str | None = strawberry.field(description="Galat terakhir (in full).")
    rows: int = strawberry.field(description="Baris synced from it.")
    waiting: list[WaitingGroup] = strawberry.field(
        description="Rows waiting for a parent or unreadable, grouped by entity and reason."
    )
    verification: SourceVerification | None = strawberry.field(
        description="The last verification against the source (rantai verify)."
    )


@strawberry.type(description="Why the compiled path left requests to the resolvers.")
class DeclineCount:
    reason: str = strawberry.field(description="Alasan.")
    count: int = strawberry.field(description="Requests, since this process started.")


@strawberry.type(description="Konsol operator: keys, audit log, sources, the compiled path.")
class Admin:
    @strawberry.field(description="Every API key, oldest first.")
    async def keys(self, info: Info) -> list[ApiKey]:
        return [ApiKey.from_row(r) for r in await admin_resolve.keys(info.context)]

    @strawberry.field(description="The audit log, newest first, `first` (1-200) at a time.")
    async def audit_log(
        self, info: Info, first: int = 50, before: strawberry.ID | None = None
    ) -> AuditPage:
        before_id = _record_id(before)
        rows, more = await admin_resolve.audit_records(info.context, first, before_id)
        records = [
            AuditRecord(
                id=strawberry.ID(str(r["id"])),
                at=r["at"],
                kind=r["kind"],
                actor=r["actor"],
                detail=r["detail"],
                hash=r["hash"],
            )
            for r in rows
        ]
        last = records[-1].id if records and more else None
        return AuditPage(records=records, has_more=more, before=last)

    @strawberry.field(description="Walk the whole audit chain now (as `rantai audit verify`).")
    async def audit_verification(self, info: Info) -> AuditVerification:
        report = await admin_resolve.audit_verification(info.context)
        problems = [
            AuditProblem(record=strawberry.ID(str(i)), reason=r) for i, r in report.problems
        ]
        return AuditVerification(checked=report.checked, intact=report.intact, problems=problems)

    @strawberry.field(description="Every source with its health and the rows it left waiting.")
    async def sources(self, info: Info) -> list[SourceHealth]:
        rows = await admin_resolve.sources(info.context)
        waiting = await admin_resolve.waiting(info.context)
        return [
            SourceHealth(
                id=r["id"],
                name=r["name"],
                kind=r["kind"],
                status=SourceStatus(r["status"]),
                stale=r["stale"],
                last_synced_at=r["last_synced_at"],
                last_success_at=r["last_success_at"],
                last_error=r["last_error"],
                rows=r["rows"],
                verification=SourceVerification.from_stored(r["verification"]),
                waiting=[
                    WaitingGroup(
                        entity=w["entity"], reason=w["reason"], rows=w["rows"], since=w["since"]
                    )
                    for w in waiting.get(r["id"], ())
                ],
            )
            for r in rows
        ]

    @strawberry.field(description='Requests to "sync now", newest first.')
    async def sync_requests(self, info: Info, first: int = 20) -> list[SyncRequest]:
        rows = await admin_resolve.sync_requests(info.context, first)
        return [SyncRequest.from_row(r) for r in rows]

    @strawberry.field(
        description="The compiled path's declines by reason, in the process that answers."
    )
    def compiled_declines(self, info: Info) -> list[DeclineCount]:
        counts = info.context.process.declines()
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return [DeclineCount(reason=reason, count=count) for reason, count in ordered]


def _record_id(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        from hub.errors import BadUserInput

        raise BadUserInput(f"`before` must be an audit record's id, not {value!r}.")
    return int(value)
