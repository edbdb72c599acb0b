"""The operators' reads and changes: API keys, the audit log, the sources' health with the
rows they left waiting, "sync now" requests, and the compiled path's declines.

Reads go to the store as they are (an operator sees everything; the request path lets only
`admin` viewers reach these). Changes are `Work` for `resolvers.mutations.mutate`.
"""

from __future__ import annotations

from typing import Any

from hub.auth import AuthError, Role, check_role
from hub.auth import keys as api_keys
from hub.auth.audit import Verification, verify
from hub.db import PgConnection, driver_connection
from hub.errors import BadUserInput, Conflict, Forbidden, NotFound, as_store_unavailable
from hub.events.broker import KEYS, SYNC, SYNC_CHANNEL
from hub.store.freshness import stale
from hub.store.relations import T
from resolvers.context import Context
from resolvers.mutations import Change, Work

MAX_AUDIT_PAGE = 200


async def _fetch(ctx: Context, sql: str, *args: Any) -> list[Any]:
    with as_store_unavailable():
        async with driver_connection(ctx.access.engine) as conn:
            return list(await conn.fetch(sql, *args))


async def keys(ctx: Context) -> list[Any]:
    return await _fetch(
        ctx,
        "SELECT prefix, role, region_code, opd_code, label, created_at, revoked_at "
        "FROM api_key ORDER BY id",
    )


async def audit_records(ctx: Context, first: int, before: int | None) -> tuple[list[Any], bool]:
    """Newest first: up to `first` records older than id `before`, and whether there are
    more."""
    if not 1 <= first <= MAX_AUDIT_PAGE:
        raise BadUserInput(f"`first` must be 1 to {MAX_AUDIT_PAGE}.", argument="first")
    rows = await _fetch(
        ctx,
        "SELECT id, at, kind, actor, COALESCE(detail_text, detail::text) AS detail, hash "
        "FROM audit_log WHERE $1::bigint IS NULL OR id < $1 ORDER BY id DESC LIMIT $2",
        before,
        first + 1,
    )
    return rows[:first], len(rows) > first


async def audit_verification(ctx: Context) -> Verification:
    with as_store_unavailable():
        async with driver_connection(ctx.access.engine) as conn:
            return await verify(conn, ctx.settings.secret_key)


def _source_health_sql(freshness_seconds: int) -> str:
    from sqlalchemy.dialects import postgresql

    source = T["source"]
    dialect: Any = postgresql.dialect()  # type: ignore[no-untyped-call]
    expression = stale(source, freshness_seconds).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}
    )
    return f"SELECT source.*, {expression} AS stale FROM source ORDER BY id"


async def sources(ctx: Context) -> list[Any]:
    return await _fetch(ctx, _source_health_sql(ctx.settings.source_freshness_seconds))


async def waiting(ctx: Context) -> dict[str, list[Any]]:
    """Rows left waiting per source, grouped by entity and reason."""
    rows = await _fetch(
        ctx,
        """SELECT source_id, entity, reason, count(*) AS rows, min(first_seen_at) AS since
           FROM sync_pending GROUP BY source_id, entity, reason
           ORDER BY source_id, count(*) DESC, entity, reason""",
    )
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row["source_id"], []).append(row)
    return grouped


async def sync_requests(ctx: Context, first: int) -> list[Any]:
    if not 1 <= first <= MAX_AUDIT_PAGE:
        raise BadUserInput(f"`first` must be 1 to {MAX_AUDIT_PAGE}.", argument="first")
    return await _fetch(
        ctx,
        "SELECT id, source_id, requested_by, requested_at, started_at, finished_at, outcome "
        "FROM sync_request ORDER BY id DESC LIMIT $1",
        first,
    )


# --------------------------------------------------------------------------- changes


def create_key(
    ctx: Context, role: str, region: str | None, opd: str | None, label: str | None
) -> Work:
    """A new key of `role` (never admin: admin keys are made on the command line only)."""
    try:
        checked = check_role(role, region, opd)
    except AuthError as exc:
        raise BadUserInput(str(exc), argument="role") from None
    if checked is Role.ADMIN:
        raise Forbidden(
            "admin keys are made only on the command line: rantai keys create --role admin"
        )

    async def work(conn: PgConnection) -> Change:
        key, prefix = await api_keys.create(
            conn, ctx.settings.secret_key, checked.value, region, opd, label, actor=None
        )
        detail = api_keys.creation_detail(prefix, checked.value, region, opd, label)
        result = {"key": key, "prefix": prefix}
        return Change(result, "key.create", detail)

    return work


def revoke_key(ctx: Context, presented: str) -> Work:
    prefix = api_keys.prefix_of(presented)

    async def work(conn: PgConnection) -> Change:
        row = await conn.fetchrow("SELECT revoked_at FROM api_key WHERE prefix = $1", prefix)
        if row is None:
            raise NotFound(f"No API key rk_{prefix}.", argument="prefix")
        if row["revoked_at"] is not None:
            raise Conflict(f"API key rk_{prefix} is already revoked.", argument="prefix")
        if f"key:{prefix}" == ctx.viewer.actor:
            raise Conflict(
                "A key cannot revoke itself here; use another admin key or "
                "`rantai keys revoke` on the command line.",
                argument="prefix",
            )
        await api_keys.revoke(conn, ctx.settings.secret_key, prefix, actor=None)
        # The PostgreSQL broker's NOTIFY went out with the revoking transaction.
        return Change({"prefix": prefix}, "key.revoke", {"prefix": prefix}, [(KEYS, prefix)])

    return work


def request_sync(ctx: Context, source_id: str | None) -> Work:
    """Record "sync now" (of one source, or all) and wake the sync loop: NOTIFY at commit
    for the PostgreSQL broker, a publication on the `sync` topic for Redis and NATS. A
    request already waiting for the same sources is returned instead of a second one."""

    async def work(conn: PgConnection) -> Change:
        if source_id is not None:
            known = await conn.fetchval("SELECT 1 FROM source WHERE id = $1", source_id)
            if known is None:
                raise NotFound(f"No source {source_id!r}.", argument="sourceId")
        waiting = await conn.fetchrow(
            "SELECT id, requested_at FROM sync_request WHERE started_at IS NULL "
            "AND source_id IS NOT DISTINCT FROM $1 ORDER BY id LIMIT 1",
            source_id,
        )
        if waiting is not None:
            request_id, fresh = waiting["id"], False
        else:
            request_id = await conn.fetchval(
                "INSERT INTO sync_request (source_id, requested_by) VALUES ($1, $2) RETURNING id",
                source_id,
                ctx.viewer.actor,
            )
            fresh = True
            await conn.execute("SELECT pg_notify($1, $2)", SYNC_CHANNEL, str(request_id))
        result = {"id": request_id, "new": fresh}
        detail = {"source": source_id, "request": request_id, "new": fresh}
        return Change(result, "sync.request", detail, [(SYNC, str(request_id))] if fresh else [])

    return work


async def sync_request_row(ctx: Context, request_id: int) -> Any:
    rows = await _fetch(
        ctx,
        "SELECT id, source_id, requested_by, requested_at, started_at, finished_at, outcome "
        "FROM sync_request WHERE id = $1",
        request_id,
    )
    return rows[0] if rows else None


async def key_row(ctx: Context, prefix: str) -> Any:
    rows = await _fetch(
        ctx,
        "SELECT prefix, role, region_code, opd_code, label, created_at, revoked_at "
        "FROM api_key WHERE prefix = $1",
        prefix,
    )
    return rows[0] if rows else None
