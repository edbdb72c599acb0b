"""A source's row in the store: registered before it is synced, its health after each run.

OK: read in full, nothing waiting. DEGRADED: read, but some rows wait in sync_pending (for
a parent, or with a value the store refuses). DOWN: unreachable, a missing table, or no
answer within `timeout_seconds`; its rows keep being served, marked stale. A run that read
rows and stored none of them (everything waits) is DEGRADED and no success: the source's
last success stays where it was, and its rows are stale (hub/store/freshness.py).

The rows waiting are counted by the kind of their reason ("unknown activity", "bad row:
kind"), with one full reason as an example: `rantai sources`, `Source.waitingReasons`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

from adapters.mapping import SourceMapping
from hub.db import PgConnection
from hub.sync.bindings import BINDINGS
from hub.sync.reports import SourceReport


async def register(
    conn: PgConnection, sources: Sequence[SourceMapping], freshness_seconds: int | None
) -> None:
    """Create or update the `source` rows (name, kind, owner OPD, freshness limit)."""
    # One statement for all of them (it runs at every cycle).
    chosen = list({s.id: s for s in sources}.values())
    await conn.execute(
        """
        INSERT INTO source (id, name, kind, status, rows, freshness_seconds, owner_opd_id)
        SELECT v.id, v.name, v.kind, 'NEVER_SYNCED', 0, $6, (
            SELECT o.id FROM opd o JOIN region r ON r.id = o.region_id
            WHERE r.code = v.region AND o.code = v.opd)
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
            AS v(id, name, kind, region, opd)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
            freshness_seconds = excluded.freshness_seconds,
            owner_opd_id = COALESCE(excluded.owner_opd_id, source.owner_opd_id)
        """,
        [s.id for s in chosen],
        [s.name for s in chosen],
        [s.kind for s in chosen],
        [s.region for s in chosen],
        [s.owner_opd for s in chosen],
        freshness_seconds,
    )


def failure(exc: BaseException, source: SourceMapping) -> str:
    """Why a source, or one of its streams, could not be read: one line naming it."""
    if isinstance(exc, TimeoutError):
        return f"source {source.id}: no answer within {source.config.timeout_seconds:g} s"
    text = str(exc).strip() or type(exc).__name__
    return text if text.startswith("source ") else f"source {source.id}: {text}"


async def record_health(conn: PgConnection, source_id: str, report: SourceReport) -> int | None:
    """The run's outcome: `report` gets the source's rows, waiting rows and status, and
    the source's row gets them too, with the report of each stream. Returns the source's
    `change_seq` as the run leaves it (`hub.sync.overlap`)."""
    # One round trip for what the run left: the source's rows and its waiting reasons.
    counts = " UNION ALL ".join(
        f"SELECT count(*) FROM {table} WHERE source_id = $1"
        for table in (*(b.table for b in BINDINGS), "vendor")  # vendors: no binding's own
    )
    [found] = await conn.fetch(
        f"""SELECT (SELECT sum(count) FROM ({counts}) c) AS rows,
        (SELECT coalesce(json_agg(json_build_array(reason, n) ORDER BY n DESC, reason), '[]')
         FROM (SELECT reason, count(*) AS n FROM sync_pending WHERE source_id = $1
               GROUP BY reason) w) AS waiting""",
        source_id,
    )
    report.rows = int(found["rows"])
    waiting = [{"reason": r, "n": n} for r, n in json.loads(found["waiting"])]
    reasons = commonest_reasons([(r["reason"], r["n"]) for r in waiting])
    report.waiting = sum(r["n"] for r in waiting)
    failed = [f"{s.stream}: {s.error}" for s in report.streams if s.error]
    if report.error or failed:
        report.status = "DOWN"
        report.error = "; ".join(([report.error] if report.error else []) + failed)
    elif report.waiting:
        report.status = "DEGRADED"
        shown = "; ".join(f"{r['count']} × {r['reason']} (e.g. {r['example']})" for r in reasons)
        stored = "nothing stored: " if report.stored_nothing else ""
        report.error = f"{stored}{report.waiting} rows waiting: {shown}"
    else:
        report.status = "OK"
    success = report.status != "DOWN" and not report.stored_nothing
    seq: int | None = await conn.fetchval(
        """
        UPDATE source SET status = $2::text, last_synced_at = now(),
            last_success_at = CASE WHEN $7::bool THEN now() ELSE last_success_at END,
            last_error = $3, rows = $4, waiting = $5, last_run = $6::jsonb,
            waiting_reasons = $8::jsonb, last_run_read = $9, last_run_stored = $10
        WHERE id = $1 RETURNING change_seq
        """,
        source_id,
        report.status,
        report.error,
        report.rows,
        report.waiting,
        json.dumps({s.stream: s.as_dict() for s in report.streams}),
        success,
        json.dumps(reasons),
        report.read,
        report.stored,
    )
    return seq


# "unknown activity 2025/1.03.10.2.01" → "unknown activity"; "bad row: kind: 'X' is not
# one of …" → "bad row: kind"; "bad value: name: …" → "bad value: name".
_KIND = re.compile(r"^(unknown \w+|bad (?:row|value): (?:no value for [\w, ]+|\w+))")


def reason_kind(reason: str) -> str:
    """What a waiting row's reason says, without the row's own values."""
    match = _KIND.match(reason)
    return match.group(1) if match else reason


def commonest_reasons(counts: Sequence[tuple[str, int]], limit: int = 3) -> list[dict[str, object]]:
    """The `limit` commonest kinds of reasons, each with its count and an example."""
    by_kind: Counter[str] = Counter()
    example: dict[str, str] = {}
    for reason, n in counts:
        kind = reason_kind(reason)
        by_kind[kind] += n
        example.setdefault(kind, reason)
    ranked = sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"reason": k, "count": n, "example": example[k]} for k, n in ranked]
