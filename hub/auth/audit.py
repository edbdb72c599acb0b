"""The audit log: every authenticated request and every key change, hash-chained.

hash = HMAC-SHA256(secret key, prev_hash | kind | actor | at | detail as canonical JSON).
Editing, deleting or reordering a record breaks the chain at that record; recomputing the
chain after an edit needs the hub's secret key. `rantai audit verify` walks it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

import asyncpg
import orjson

AUDIT_LOCK = 0x52414E5441490004
GENESIS = "0" * 64


def record_hash(
    secret_key: str, prev: str, kind: str, actor: str, at: datetime, detail: Any
) -> str:
    payload = b"|".join(
        [
            prev.encode(),
            kind.encode(),
            actor.encode(),
            at.isoformat().encode(),
            orjson.dumps(detail, option=orjson.OPT_SORT_KEYS),
        ]
    )
    return hmac.new(secret_key.encode(), payload, hashlib.sha256).hexdigest()


async def append(
    conn: asyncpg.Connection, secret_key: str, kind: str, actor: str, detail: dict[str, Any]
) -> None:
    """Add a record at the end of the chain (in the caller's transaction, if any)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
        prev = await conn.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
        at = await conn.fetchval("SELECT date_trunc('milliseconds', clock_timestamp())")
        prev = prev or GENESIS
        digest = record_hash(secret_key, prev, kind, actor, at, detail)
        await conn.execute(
            """INSERT INTO audit_log (at, kind, actor, detail, prev_hash, hash)
            VALUES ($1, $2, $3, $4::jsonb, $5, $6)""",
            at,
            kind,
            actor,
            orjson.dumps(detail).decode(),
            prev,
            digest,
        )


async def verify(conn: asyncpg.Connection, secret_key: str) -> tuple[int, int | None, str]:
    """(records checked, id of the first bad record or None, why)."""
    prev = GENESIS
    checked = 0
    async with conn.transaction():
        async for row in conn.cursor("SELECT * FROM audit_log ORDER BY id"):
            detail = orjson.loads(row["detail"])
            if row["prev_hash"] != prev:
                return checked, row["id"], "its prev_hash is not the previous record's hash"
            expected = record_hash(secret_key, prev, row["kind"], row["actor"], row["at"], detail)
            if not hmac.compare_digest(expected, row["hash"]):
                return checked, row["id"], "its content does not match its hash"
            prev = row["hash"]
            checked += 1
    return checked, None, ""
