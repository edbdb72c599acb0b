"""The store's side of an OPD's upload (`POST /upload/monev`, hub/serving/upload.py): an
earlier upload of the same content, and the accepted one kept with its audit record and a
"sync now" of its source, in one transaction."""

from __future__ import annotations

from typing import Any

from hub.auth.audit import append
from hub.db import PgConnection
from hub.events.broker import SYNC_CHANNEL

_FIELDS = "id, source_id, file_name, size, sha256, rows, uploaded_by, uploaded_at"


def described(row: Any) -> dict[str, Any]:
    """An upload as the endpoint answers it."""
    return {
        "id": row["id"],
        "source": row["source_id"],
        "fileName": row["file_name"],
        "size": row["size"],
        "sha256": row["sha256"],
        "rows": row["rows"],
        "uploadedBy": row["uploaded_by"],
        "uploadedAt": row["uploaded_at"].isoformat(),
    }


async def earlier(conn: PgConnection, region: str, opd: str, sha256: str) -> Any:
    """The OPD's upload of the same content, if it sent it before."""
    return await conn.fetchrow(
        f"SELECT {_FIELDS} FROM upload WHERE region_code = $1 AND opd_code = $2 "
        "AND sha256 = $3 ORDER BY id LIMIT 1",
        region,
        opd,
        sha256,
    )


async def own_sub_activities(conn: PgConnection, region: str, opd: str) -> list[str]:
    """The codes of the OPD's sub kegiatan, any fiscal year: what its Form A may report on."""
    rows = await conn.fetch(
        """SELECT DISTINCT s.code FROM sub_activity s
           JOIN opd o ON o.id = s.opd_id JOIN region r ON r.id = s.region_id
           WHERE r.code = $1 AND o.code = $2""",
        region,
        opd,
    )
    return [r["code"] for r in rows]


async def keep(
    conn: PgConnection,
    secret_key: str,
    upload: dict[str, Any],
    content: bytes,
) -> tuple[Any, int | None]:
    """Store an accepted upload, its audit record and a sync request of its source, in
    one transaction: (the upload's row, the sync request's id). A row of the same content
    stored meanwhile is returned instead, with no request (None)."""
    async with conn.transaction():
        # The source is registered by its first sync; an upload may come before it.
        await conn.execute(
            "INSERT INTO source (id, name, kind, status, rows) "
            "VALUES ($1, $1, 'xlsx', 'NEVER_SYNCED', 0) ON CONFLICT (id) DO NOTHING",
            upload["source"],
        )
        row = await conn.fetchrow(
            f"""INSERT INTO upload (source_id, region_code, opd_code, file_name, size, sha256,
                   rows, content, uploaded_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (source_id, sha256) DO NOTHING RETURNING {_FIELDS}""",
            upload["source"],
            upload["region"],
            upload["opd"],
            upload["fileName"],
            len(content),
            upload["sha256"],
            upload["rows"],
            content,
            upload["actor"],
        )
        if row is None:
            same = await earlier(conn, upload["region"], upload["opd"], upload["sha256"])
            return same, None
        await conn.execute(
            "UPDATE source SET last_upload_file = $2, last_upload_at = $3 WHERE id = $1",
            upload["source"],
            row["file_name"],
            row["uploaded_at"],
        )
        request = await conn.fetchval(
            "INSERT INTO sync_request (source_id, requested_by) VALUES ($1, $2) RETURNING id",
            upload["source"],
            upload["actor"],
        )
        await conn.execute("SELECT pg_notify($1, $2)", SYNC_CHANNEL, str(request))
        detail = {k: v for k, v in described(row).items() if k not in ("uploadedBy",)}
        await append(conn, secret_key, "upload.accepted", upload["actor"], detail)
    return row, int(request)


async def refused(conn: PgConnection, secret_key: str, actor: str, detail: dict[str, Any]) -> None:
    """The audit record of an upload refused (nothing of the file is kept)."""
    await append(conn, secret_key, "upload.refused", actor, detail)
