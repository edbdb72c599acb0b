"""The chain's rollup per sub kegiatan (`sub_activity_rollup`), brought up to date after
the sync wrote the store.

The table holds what the view `sub_activity_rollup_live` computes (a sub kegiatan's
DPA, SP2D, RUP and contract totals, its latest physical progress, its stage), for the
summaries, the stage filter and `SubActivity.stage` to read without summing (migration
0016). Triggers note the sub kegiatan each write touched; `refresh` writes their rows
again. Every sync run ends with one, so what a run wrote is in the rollup when the run
returns; a reader between a batch's commit and the run's end sees the rollup as it was
(a summary a few seconds behind during a long sync, never a wrong one after it).
"""

from __future__ import annotations

from hub.db import PgConnection


async def refresh(conn: PgConnection) -> int:
    """Write again the rollup rows of every sub kegiatan noted since the last refresh;
    returns how many rows were written."""
    return int(await conn.fetchval("SELECT refresh_sub_activity_rollup()") or 0)
