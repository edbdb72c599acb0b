"""The follow-up's (tindak lanjut) writes that both its writers share: the mutations of the
API (resolvers/followup.py) and the rules' engine, which closes a follow-up when the data
no longer shows its finding.

Every step is a row of the thread (`follow_up_action`), and a change of the follow-up
(entity `DiscrepancyFollowUp`, routed to the Pemda and the OPD that must answer) and of its
finding (`Discrepancy`, changed field `follow_up`, routed as the finding) in
change_history and the outbox, in the caller's transaction: `changes` and
`discrepancyEvents` subscribers get it, in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from hub.db import PgConnection
from hub.events.changelog import Change, LoggedEntity, record
from hub.events.outbox import DISCREPANCY
from hub.store.models.followup import CLOSED

FOLLOW_UP_TYPE = "DiscrepancyFollowUp"
FOLLOW_UP = LoggedEntity(
    "follow_up",
    FOLLOW_UP_TYPE,
    context="""SELECT f.id, rg.code, o.code, f.fiscal_year FROM follow_up f
        JOIN region rg ON rg.id = f.region_id JOIN opd o ON o.id = f.opd_id
        WHERE f.id = ANY($1)""",
)
FINDING = LoggedEntity(
    "discrepancy",
    DISCREPANCY,
    context="""SELECT d.id, rg.code, o.code, d.fiscal_year FROM discrepancy d
        JOIN region rg ON rg.id = d.region_id LEFT JOIN opd o ON o.id = d.opd_id
        WHERE d.id = ANY($1)""",
)
CLOSED_NOTE = "Ditutup otomatis: data tidak lagi menunjukkan ketimpangan ini."


async def add_action(
    conn: PgConnection,
    follow_up_id: int,
    kind: str,
    actor: str,
    role: str | None,
    note: str | None = None,
    due_on: Any = None,
    refs: Sequence[Any] = (),
) -> None:
    await conn.execute(
        """INSERT INTO follow_up_action (follow_up_id, kind, actor, role, note, due_on, refs)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)""",
        follow_up_id,
        kind,
        actor,
        role,
        note,
        due_on,
        orjson.dumps(list(refs)).decode(),
    )


async def log(
    conn: PgConnection,
    changes: Sequence[tuple[int, int, str, dict[str, Any] | None, dict[str, Any]]],
) -> None:
    """Record (follow-up id, discrepancy id, op, before, after) changes of follow-ups, and
    each as an UPDATED of its finding's `follow_up`."""
    if not changes:
        return
    await record(
        conn,
        FOLLOW_UP,
        [Change(f, f"follow_up/{d}", op, before, after) for f, d, op, before, after in changes],
    )
    await record(
        conn,
        FINDING,
        [
            Change(d, f"follow_up/{d}", "UPDATED", None, {"follow_up": after.get("state")})
            for _, d, _, _, after in changes
        ],
    )


async def close_by_data(conn: PgConnection, discrepancy_ids: Sequence[int]) -> int:
    """Close the follow-ups of findings the rules just resolved; each thread says so."""
    if not discrepancy_ids:
        return 0
    rows = await conn.fetch(
        """UPDATE follow_up f SET state = $2, closed_at = now(), updated_at = now(),
               version = f.version + 1
           FROM follow_up old
           WHERE f.id = old.id AND f.discrepancy_id = ANY($1::bigint[]) AND f.state <> $2
           RETURNING f.id, f.discrepancy_id, old.state AS before, f.version""",
        list(discrepancy_ids),
        CLOSED,
    )
    for row in rows:
        await add_action(conn, row["id"], CLOSED, "hub", None, CLOSED_NOTE)
    await log(
        conn,
        [
            (
                r["id"],
                r["discrepancy_id"],
                "UPDATED",
                {"state": r["before"]},
                {"state": CLOSED, "version": r["version"]},
            )
            for r in rows
        ],
    )
    return len(rows)
