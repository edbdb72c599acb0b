"""The outbox as a change feed: cursors, reads in commit order, retention.

Every writer (a sync batch, link resolution, the ketimpangan rules) writes outbox rows in
the transaction of the change, taking ids under a transaction-level advisory lock held
until commit (hub/events/changelog.py). Ids therefore become visible in increasing order:
a reader that has seen id N will never later see an id below N commit. `id > cursor` reads
are gap-free without any visibility bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.db import PgConnection
from hub.errors import BadCursor, CursorExpired
from hub.store.codec import decode_cursor, encode_cursor

CURSOR_KIND = "change"


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    history_id: int
    occurred_at: datetime
    entity: str  # GraphQL type name
    entity_id: int
    op: str
    region_code: str | None
    opd_code: str | None
    fiscal_year: int | None
    changed_fields: tuple[str, ...]
    source_id: str | None
    found_by: str | None = None  # sync, full, reconciliation (null: not by a sync)
    # What subscribers resolved for this event, shared by all of them (per event, never
    # per connection): e.g. its source row, fetched once however many subscribers ask.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def cursor(self) -> str:
        return encode_cursor(CURSOR_KIND, [self.id])

    @classmethod
    def from_row(cls, row: Any) -> OutboxEvent:
        return cls(
            id=row["id"],
            history_id=row["history_id"],
            occurred_at=row["occurred_at"],
            entity=row["entity"],
            entity_id=row["entity_id"],
            op=row["op"],
            region_code=row["region_code"],
            opd_code=row["opd_code"],
            fiscal_year=row["fiscal_year"],
            changed_fields=tuple(row["changed_fields"]),
            source_id=row["source_id"],
            found_by=row.get("found_by"),
        )


DISCREPANCY = "Discrepancy"  # the entity of the ketimpangan rules' findings


def raised(op: str, changed_fields: tuple[str, ...] | list[str]) -> bool:
    """Whether an outbox event of a finding raised it (else it resolved it): the rules
    create a finding, or raise it again by setting `detected_at` (hub/discrepancies/)."""
    return op == "CREATED" or "detected_at" in changed_fields


def parse_cursor(cursor: str) -> int:
    """The outbox position in a cursor; BAD_CURSOR unless this API issued it."""
    position = decode_cursor(CURSOR_KIND, cursor, 1)[0]
    if not isinstance(position, int) or position < 0:
        raise BadCursor(f"Cursor {cursor!r} is not a change cursor this API issued.")
    return position


async def head(conn: PgConnection) -> int:
    """The newest committed position (0 for an empty outbox): where a new subscriber starts."""
    value = await conn.fetchval("SELECT COALESCE(max(id), 0) FROM outbox")
    horizon = await conn.fetchval("SELECT pruned_through FROM outbox_horizon WHERE id = 1")
    return max(int(value), int(horizon or 0))


async def check_cursor(conn: PgConnection, position: int) -> None:
    """CURSOR_EXPIRED when events after `position` were already pruned."""
    horizon = await conn.fetchval("SELECT pruned_through FROM outbox_horizon WHERE id = 1")
    if horizon is not None and position < horizon:
        raise CursorExpired(
            "This cursor is older than the hub keeps change events (events up to "
            f"position {horizon} were pruned); resubscribe without `after` and reload.",
            prunedThrough=str(horizon),
        )


async def read_after(conn: PgConnection, position: int, limit: int = 1000) -> list[OutboxEvent]:
    """Committed events after `position`, in commit order, at most `limit`."""
    rows = await conn.fetch(
        "SELECT * FROM outbox WHERE id > $1 ORDER BY id LIMIT $2", position, limit
    )
    return [OutboxEvent.from_row(r) for r in rows]


async def prune(conn: PgConnection, *, older_than_seconds: int) -> int:
    """Delete events older than the retention; move the horizon; returns events deleted."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """
            WITH gone AS (
                DELETE FROM outbox
                WHERE occurred_at < now() - make_interval(secs => $1)
                RETURNING id
            )
            SELECT count(*) AS n, max(id) AS top FROM gone
            """,
            older_than_seconds,
        )
        if row is None or not row["n"]:
            return 0
        await conn.execute(
            """UPDATE outbox_horizon SET pruned_through = GREATEST(pruned_through, $1),
            pruned_at = now() WHERE id = 1""",
            row["top"],
        )
        return int(row["n"])
