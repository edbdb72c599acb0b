"""How every mutation runs: one transaction holding the change, its audit record and its
idempotency receipt, then the wake-up of other processes.

A mutation is a function of a connection that makes its change and says what it did
(`Change`). `mutate` runs it for the viewer:

1. only for an authenticated viewer of the mutation's roles (the request path has already
   refused anyone else with HTTP 403 before execution; this is the same rule, kept here
   too so a mutation can never run for the wrong viewer);
2. in one transaction on a writer connection of the hub's pool;
3. with an optional idempotency key: under a lock on (actor, key), a receipt of the same
   key and the same input returns the first answer and changes nothing; the same key with
   another input is IDEMPOTENCY_KEY_REUSED; receipts are kept a day, encrypted under the
   hub's secret key (a receipt can hold a new API key);
4. audited: the change's record is appended to the hash-chained audit log in the same
   transaction (hub/auth/audit.py, as the gatekeeper appends), so a change is never
   without its record nor a record without its change;
5. after the commit, the broker is told (Redis and NATS; PostgreSQL's NOTIFY went out with
   the commit itself).

Errors are ClientErrors with their codes (FORBIDDEN, NOT_FOUND, CONFLICT, BAD_USER_INPUT,
IDEMPOTENCY_KEY_REUSED): the transaction rolls back and nothing is changed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from hub.auth import Role
from hub.auth.audit import append, canonical
from hub.db import PgConnection, driver_connection
from hub.errors import BadUserInput, Forbidden, IdempotencyKeyReused, as_store_unavailable
from resolvers.context import Context

log = logging.getLogger("rantai.mutations")

RECEIPT_SECONDS = 24 * 3600  # how long a retry with the same idempotency key is answered
MAX_KEY_LENGTH = 200


@dataclass
class Change:
    """What a mutation did: the answer (JSON values the payload is built from), the audit
    record's kind and detail, and the wake-ups to publish after the commit."""

    result: dict[str, Any]
    kind: str
    detail: dict[str, Any]
    wake: list[tuple[str, str]] = field(default_factory=list)  # (broker topic, payload)


Work = Callable[[PgConnection], Awaitable[Change]]


def _fernet(secret_key: str) -> Fernet:
    digest = hmac.new(secret_key.encode(), b"rantai mutation receipts", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _lock_id(actor: str, key: str) -> int:
    digest = hashlib.sha256(f"{actor}|{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def mutate(
    ctx: Context,
    name: str,
    arguments: dict[str, Any],
    work: Work,
    *,
    roles: Collection[Role],
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Run mutation `name` with `arguments` (its input, as the client sent it) for the
    context's viewer; the answer, the first one again for a retried idempotency key."""
    viewer = ctx.viewer
    if not viewer.authenticated or viewer.role not in roles:
        needed = " or ".join(sorted(r.value for r in roles))
        raise Forbidden(f"`{name}` needs an API key of role {needed}.")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        raise BadUserInput(
            f"`idempotencyKey` must be 1 to {MAX_KEY_LENGTH} characters.",
            argument="idempotencyKey",
        )
    secret = ctx.settings.secret_key
    input_hash = hashlib.sha256(canonical({"mutation": name, "input": arguments}).encode())
    with as_store_unavailable():
        async with driver_connection(ctx.access.engine) as conn, conn.transaction():
            if idempotency_key is not None:
                replay = await _receipt(conn, secret, viewer.actor, idempotency_key)
                if replay is not None:
                    mutation, digest, result = replay
                    if (mutation, digest) != (name, input_hash.hexdigest()):
                        raise IdempotencyKeyReused(
                            f"idempotencyKey {idempotency_key!r} was used for another input; "
                            "nothing was changed.",
                            argument="idempotencyKey",
                        )
                    return result
            change = await work(conn)
            detail = {"mutation": name, **change.detail}
            if idempotency_key is not None:
                detail["idempotencyKey"] = idempotency_key
            await append(conn, secret, change.kind, viewer.actor, detail)
            if idempotency_key is not None:
                await conn.execute(
                    """INSERT INTO mutation_receipt
                       (actor, idempotency_key, mutation, input_hash, result)
                       VALUES ($1, $2, $3, $4, $5)""",
                    viewer.actor,
                    idempotency_key,
                    name,
                    input_hash.hexdigest(),
                    _fernet(secret).encrypt(orjson.dumps(change.result)),
                )
    broker = ctx.process.broker
    for topic, payload in change.wake:
        if broker is None:
            continue
        try:
            await broker.publish(topic, payload)
        except Exception as exc:  # the change is committed; the loop finds it by polling
            log.warning("could not tell the %s broker about %s: %s", broker.kind, topic, exc)
    return change.result


async def _receipt(
    conn: PgConnection, secret: str, actor: str, key: str
) -> tuple[str, str, dict[str, Any]] | None:
    """The receipt of (actor, key) within its day, read under a lock on the pair: two
    retries at once wait for each other, and the second finds the first's receipt."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_id(actor, key))
    await conn.execute(
        "DELETE FROM mutation_receipt WHERE created_at < now() - make_interval(secs => $1)",
        RECEIPT_SECONDS,
    )
    row = await conn.fetchrow(
        "SELECT mutation, input_hash, result FROM mutation_receipt "
        "WHERE actor = $1 AND idempotency_key = $2",
        actor,
        key,
    )
    if row is None:
        return None
    try:
        result = orjson.loads(_fernet(secret).decrypt(bytes(row["result"])))
    except InvalidToken:  # written under another secret key: unusable, like a lost key
        raise IdempotencyKeyReused(
            f"idempotencyKey {key!r} was used before and its answer can no longer be read; "
            "use a new key.",
            argument="idempotencyKey",
        ) from None
    return row["mutation"], row["input_hash"], result
