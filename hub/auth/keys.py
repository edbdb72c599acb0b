"""API keys: `rk_<prefix>_<secret>`. The store keeps the prefix (to find the key) and an
HMAC-SHA256 of the secret under the hub's secret key, never the key itself."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from hub.auth import AuthError, Viewer, check_role
from hub.auth.audit import append
from hub.db import PgConnection
from hub.events.broker import KEYS_CHANNEL

KEY = re.compile(r"^rk_([0-9a-f]{8})_([A-Za-z0-9_-]{20,100})$")


def hash_secret(secret_key: str, secret: str) -> str:
    return hmac.new(secret_key.encode(), secret.encode(), hashlib.sha256).hexdigest()


async def create(
    conn: PgConnection,
    secret_key: str,
    role: str,
    region_code: str | None = None,
    opd_code: str | None = None,
    label: str | None = None,
    *,
    actor: str | None = "cli",
    feed: bool = False,
) -> tuple[str, str]:
    """A new key: (the key, shown once; its prefix). Audited as `actor`'s `key.create`;
    `actor=None` leaves the audit record to the caller (a mutation writes its own)."""
    checked = check_role(role, region_code, opd_code)
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO api_key (prefix, secret_hash, role, region_code, opd_code, label,
                                    feed_only)
            VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            prefix,
            hash_secret(secret_key, secret),
            checked.value,
            region_code,
            opd_code,
            label,
            feed,
        )
        if actor is not None:
            detail = creation_detail(prefix, checked.value, region_code, opd_code, label)
            await append(
                conn, secret_key, "key.create", actor, {**detail, "feed": True} if feed else detail
            )
    return f"rk_{prefix}_{secret}", prefix


def creation_detail(
    prefix: str, role: str, region: str | None, opd: str | None, label: str | None
) -> dict[str, Any]:
    """What the audit log says of a new key (never its secret)."""
    return {"prefix": prefix, "role": role, "region": region, "opd": opd, "label": label}


async def revoke(
    conn: PgConnection, secret_key: str, prefix: str, *, actor: str | None = "cli"
) -> bool:
    """Revoke the active key `prefix`; False when there is none. Audited as `actor`'s
    `key.revoke` (`actor=None`: by the caller)."""
    prefix = prefix_of(prefix)
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE api_key SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL "
            "RETURNING id",
            prefix,
        )
        if done is not None:
            if actor is not None:
                await append(conn, secret_key, "key.revoke", actor, {"prefix": prefix})
            # Every serving process closes the sockets opened with this key at commit (the
            # PostgreSQL broker; revoke_everywhere() also tells a Redis or NATS broker).
            await conn.execute("SELECT pg_notify($1, $2)", KEYS_CHANNEL, prefix)
    return done is not None


async def listing(conn: PgConnection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT prefix, role, region_code, opd_code, label, created_at, revoked_at "
        "FROM api_key ORDER BY id"
    )
    return [dict(r) for r in rows]


def prefix_of(presented: str) -> str:
    """The prefix of a key, or of its prefix as shown (`rk_1a2b3c4d`)."""
    return presented.removeprefix("rk_").split("_")[0]


def parse(presented: str) -> tuple[str, str] | None:
    """(prefix, secret) of something shaped like a key, else None."""
    match = KEY.match(presented)
    return (match.group(1), match.group(2)) if match else None


def viewer_of(row: Any, secret_key: str, secret: str) -> Viewer:
    """The viewer of a stored key row, if `secret` is its secret."""
    if row is None or not hmac.compare_digest(row["secret_hash"], hash_secret(secret_key, secret)):
        raise AuthError("unknown API key")
    if row["revoked_at"] is not None:
        raise AuthError("this API key was revoked")
    role = check_role(row["role"], row["region_code"], row["opd_code"])
    feed_only = bool(row.get("feed_only", False))
    return Viewer(
        role, f"key:{row['prefix']}", row["region_code"], row["opd_code"], feed_only=feed_only
    )
