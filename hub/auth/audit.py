"""The audit log: every authenticated request and every key change, hash-chained.

hash = HMAC-SHA256(secret key, prev_hash | kind | actor | at | detail_text), where
`detail_text` is the canonical JSON text of the detail, stored as it was hashed (the jsonb
beside it is for queries: PostgreSQL rewrites some values there, such as `-0.0`). Editing,
deleting or reordering a record breaks the chain at that record; recomputing the chain after
an edit needs the hub's secret key. `rantai audit verify` walks it and reports every record
that does not match and every break in the chain, not only the first.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from hub.db import PgConnection

AUDIT_LOCK = 0x52414E5441490004
GENESIS = "0" * 64


def canonical(detail: Any) -> str:
    """The text a record's hash covers: compact JSON with sorted keys."""
    return orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode()


def record_hash(
    secret_key: str, prev: str, kind: str, actor: str, at: datetime, detail_text: str
) -> str:
    payload = b"|".join(
        [
            prev.encode(),
            kind.encode(),
            actor.encode(),
            at.isoformat().encode(),
            detail_text.encode(),
        ]
    )
    return hmac.new(secret_key.encode(), payload, hashlib.sha256).hexdigest()


async def append(
    conn: PgConnection, secret_key: str, kind: str, actor: str, detail: dict[str, Any]
) -> None:
    """Add a record at the end of the chain (in the caller's transaction, if any)."""
    text = canonical(detail)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
        prev = await conn.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
        at = await conn.fetchval("SELECT date_trunc('milliseconds', clock_timestamp())")
        prev = prev or GENESIS
        digest = record_hash(secret_key, prev, kind, actor, at, text)
        await conn.execute(
            """INSERT INTO audit_log (at, kind, actor, detail, detail_text, prev_hash, hash)
            VALUES ($1, $2, $3, $4::text::jsonb, $5::text, $6, $7)""",
            at,
            kind,
            actor,
            text,
            text,
            prev,
            digest,
        )


@dataclass
class Verification:
    checked: int = 0
    # (record id, why) for every record that does not match or does not link.
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


async def verify(conn: PgConnection, secret_key: str) -> Verification:
    """Every record checked: its content against its hash, its link against the previous
    record's stored hash (so one edited record is reported once, and a removed one as a
    break at the record after it)."""
    report = Verification()
    prev = GENESIS
    async with conn.transaction():
        rows = conn.cursor(
            "SELECT id, at, kind, actor, detail::text AS detail, detail_text, "
            "detail_text IS NULL OR detail = detail_text::jsonb AS consistent, prev_hash, hash "
            "FROM audit_log ORDER BY id"
        )
        async for row in rows:
            report.checked += 1
            if row["prev_hash"] != prev:
                report.problems.append(
                    (row["id"], "its prev_hash is not the previous record's hash")
                )
            text = row["detail_text"]
            if text is None:  # written before the canonical text was kept
                text = canonical(orjson.loads(row["detail"]))
            expected = record_hash(
                secret_key, row["prev_hash"], row["kind"], row["actor"], row["at"], text
            )
            if not hmac.compare_digest(expected, row["hash"]):
                report.problems.append((row["id"], "its content does not match its hash"))
            elif not row["consistent"]:
                report.problems.append((row["id"], "its detail differs from the text hashed"))
            prev = row["hash"]
    return report
