"""What the sync keeps in the store between batches and runs, per source.

* `sync_state`, per stream: the watermark reached, the fingerprint of the files a
  workbook stream read, and where a paged read (http-json) resumes after a failed run;
* `sync_pending`: rows waiting for a parent, or holding a value the store refuses, with
  the record to try again and the reason;
* `source.change_seq`: counts the batches that changed rows (`hub.sync.overlap`).

Values are stored as typed JSON (`hub.sync.encoding`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.db import PgConnection
from hub.sync.encoding import decode_record, decode_value, encode_record, encode_value
from hub.sync.writer import Item

if TYPE_CHECKING:
    from hub.sync.run import Seen


@dataclass(frozen=True)
class StreamState:
    """A stream's row of sync_state."""

    stored_watermark: Any  # jsonb as the driver returns it
    fingerprint: str | None
    loading: bool = False  # a baseline load under way (`start_loading`)
    stored_resume: Any = None  # jsonb: {"position", "since", "highest"} of a paged read
    stored_checksums: Any = None  # jsonb: a keyed-diff stream's checksums (hub.sync.checksums)

    @property
    def watermark(self) -> Any:
        """The watermark reached, as the source gave it."""
        value = self.stored_watermark
        if value is None:
            return None
        return decode_value(json.loads(value) if isinstance(value, str) else dict(value))

    @property
    def resume(self) -> Resume | None:
        """Where a paged read that failed resumes (None: from its first page)."""
        value = self.stored_resume
        if value is None:
            return None
        data = json.loads(value) if isinstance(value, str) else dict(value)
        return Resume(*(None if data.get(k) is None else decode_value(data[k]) for k in _RESUME))


_RESUME = ("position", "since", "highest")


@dataclass(frozen=True)
class Resume:
    """A paged read's committed place: the position asking for its next page, the
    watermark it was reading after and the highest watermark value it had read."""

    position: Any
    since: Any = None
    highest: Any = None

    def encoded(self) -> str:
        values = (self.position, self.since, self.highest)
        return json.dumps(
            {
                k: None if v is None else encode_value(v)
                for k, v in zip(_RESUME, values, strict=True)
            }
        )


async def save_resume(
    conn: PgConnection, source_id: str, stream: str, resume: Resume | None
) -> None:
    """Where the stream's paged read resumes (None: it finished; the next starts afresh)."""
    await conn.execute(
        """INSERT INTO sync_state (source_id, stream, resume) VALUES ($1, $2, $3::jsonb)
        ON CONFLICT (source_id, stream) DO UPDATE
        SET resume = excluded.resume, updated_at = now()""",
        source_id,
        stream,
        None if resume is None else resume.encoded(),
    )


async def stream_state(conn: PgConnection, source_id: str, stream: str) -> StreamState | None:
    row = await conn.fetchrow(
        "SELECT watermark, fingerprint, loading, resume, checksums FROM sync_state "
        "WHERE source_id = $1 AND stream = $2",
        source_id,
        stream,
    )
    if row is None:
        return None
    return StreamState(
        row["watermark"], row["fingerprint"], row["loading"], row["resume"], row["checksums"]
    )


@dataclass(frozen=True)
class RunStart:
    """What a source's run needs from the store before it reads, in one round trip."""

    states: dict[str, StreamState]  # every stream's row of sync_state
    seq: int | None  # the source's change_seq (`hub.sync.overlap`)
    region_known: bool  # the source's Pemda is in the store (`reference.own_region`)
    pending: bool  # rows of the source wait with a record to try again


async def run_start(conn: PgConnection, source_id: str, region: str | None) -> RunStart:
    """Read at a run's start (only the source's own run, which holds its lock, writes its
    stream states and waiting rows)."""
    rows = await conn.fetch(
        "SELECT s.change_seq, EXISTS (SELECT 1 FROM region WHERE code = $2) AS region_known, "
        "EXISTS (SELECT 1 FROM sync_pending p WHERE p.source_id = $1 "
        "AND p.record IS NOT NULL) AS pending, t.stream, t.watermark, t.fingerprint, "
        "t.loading, t.resume, t.checksums "
        "FROM source s LEFT JOIN sync_state t ON t.source_id = s.id WHERE s.id = $1",
        source_id,
        region,
    )
    if not rows:  # not registered: nothing known
        return RunStart({}, None, False, True)
    states = {
        r["stream"]: StreamState(
            r["watermark"], r["fingerprint"], r["loading"], r["resume"], r["checksums"]
        )
        for r in rows
        if r["stream"] is not None
    }
    first = rows[0]
    return RunStart(states, first["change_seq"], first["region_known"], first["pending"])


async def start_loading(conn: PgConnection, source_id: str, stream: str) -> None:
    """The stream's first load is a baseline: until `loaded`, its new rows get no per-row
    CREATED history (a sync killed meanwhile resumes the same way)."""
    await conn.execute(
        """INSERT INTO sync_state (source_id, stream, loading) VALUES ($1, $2, true)
        ON CONFLICT (source_id, stream) DO UPDATE SET loading = true, updated_at = now()""",
        source_id,
        stream,
    )


async def loaded(conn: PgConnection, source_id: str, stream: str) -> None:
    await conn.execute(
        "UPDATE sync_state SET loading = false, updated_at = now() "
        "WHERE source_id = $1 AND stream = $2",
        source_id,
        stream,
    )


async def save_watermark(conn: PgConnection, source_id: str, stream: str, watermark: Any) -> None:
    """The stream's watermark (a stored one is kept when `watermark` is None; the row is
    created either way: the stream has been read)."""
    encoded = None if watermark is None else json.dumps(encode_value(watermark))
    await conn.execute(
        """INSERT INTO sync_state (source_id, stream, watermark) VALUES ($1, $2, $3::jsonb)
        ON CONFLICT (source_id, stream) DO UPDATE
        SET watermark = COALESCE(excluded.watermark, sync_state.watermark), updated_at = now()""",
        source_id,
        stream,
        encoded,
    )


async def save_fingerprint(
    conn: PgConnection, source_id: str, stream: str, prints: str | None
) -> None:
    await conn.execute(
        """INSERT INTO sync_state (source_id, stream, fingerprint) VALUES ($1, $2, $3)
        ON CONFLICT (source_id, stream) DO UPDATE
        SET fingerprint = excluded.fingerprint, updated_at = now()""",
        source_id,
        stream,
        prints,
    )


# $1 source, $2 entity, $3 the source keys the batch stored (no longer waiting), $4 its
# stream when it reached a watermark ($5, JSON), $6 whether it changed rows.
_BATCH_DONE = """
WITH done AS (
    DELETE FROM sync_pending
    WHERE source_id = $1 AND entity = $2 AND source_key = ANY($3::text[])
),
mark AS (
    INSERT INTO sync_state (source_id, stream, watermark)
    SELECT $1, $4::text, $5::jsonb WHERE $4::text IS NOT NULL
    ON CONFLICT (source_id, stream) DO UPDATE
    SET watermark = COALESCE(excluded.watermark, sync_state.watermark), updated_at = now()
)
UPDATE source SET change_seq = change_seq + 1 WHERE id = $1 AND $6::bool"""


async def batch_done(
    conn: PgConnection,
    source_id: str,
    entity: str,
    stored: Sequence[str],
    mark: tuple[str, Any] | None,
    changed: bool,
) -> None:
    """A batch's bookkeeping in one statement (a round trip each was a third of a
    batch's): the rows it `stored` no longer wait, its stream reached the watermark of
    `mark` (stream, value), and the source's change counter moves if it `changed` rows."""
    await conn.execute(
        _BATCH_DONE,
        source_id,
        entity,
        list(stored),
        None if mark is None else mark[0],
        None if mark is None else json.dumps(encode_value(mark[1])),
        changed,
    )


async def source_changed(conn: PgConnection, source_id: str) -> None:
    await conn.execute("UPDATE source SET change_seq = change_seq + 1 WHERE id = $1", source_id)


async def save_waiting(
    conn: PgConnection, source_id: str, entity: str, waiting: Sequence[tuple[Item, str]]
) -> None:
    """The batch's rows that wait for a parent or hold a bad value, with the reason."""
    if not waiting:
        return
    latest: dict[str, tuple[Item, str]] = {}
    for item, reason in waiting:
        latest[item.source_key] = (item, reason)
    keys = list(latest)
    await conn.execute(
        """
        INSERT INTO sync_pending (source_id, entity, source_key, record, reason)
        SELECT $1, $2, k, r, w FROM unnest($3::text[], $4::jsonb[], $5::text[]) AS v(k, r, w)
        ON CONFLICT (source_id, entity, source_key) DO UPDATE
        SET record = excluded.record, reason = excluded.reason, last_tried_at = now()
        """,
        source_id,
        entity,
        keys,
        [encode_record(dict(latest[k][0].record)) if latest[k][0].record else None for k in keys],
        [latest[k][1] for k in keys],
    )


async def waiting_entities(conn: PgConnection, source_id: str) -> set[str]:
    """The entities of the source that have rows waiting."""
    rows = await conn.fetch(
        "SELECT DISTINCT entity FROM sync_pending WHERE source_id = $1", source_id
    )
    return {r[0] for r in rows}


async def waiting_items(conn: PgConnection, source_id: str) -> dict[str, list[Item]]:
    """The source's waiting rows that have a record to try again, per entity, oldest first."""
    rows = await conn.fetch(
        "SELECT entity, source_key, record FROM sync_pending "
        "WHERE source_id = $1 AND record IS NOT NULL ORDER BY id",
        source_id,
    )
    by_entity: dict[str, list[Item]] = defaultdict(list)
    for row in rows:
        by_entity[row["entity"]].append(Item(row["source_key"], decode_record(row["record"])))
    return by_entity


async def forget_unseen(conn: PgConnection, source_id: str, seen: Seen) -> None:
    """Waiting rows of an entity that left the source: not among the source keys `seen`
    read, of those that can have left it (`Seen.leaving`)."""
    leaving = seen.leaving(4)
    if leaving is None:
        return
    where, params = leaving
    await conn.execute(
        "DELETE FROM sync_pending WHERE source_id = $1 AND entity = $2 "
        "AND NOT (source_key = ANY($3::text[]))" + where,
        source_id,
        seen.binding.entity,
        list(seen.keys),
        *params,
    )


async def pending_sources(conn: PgConnection) -> set[str]:
    """The sources with rows waiting to be tried again (a parent, a refused value)."""
    rows = await conn.fetch("SELECT DISTINCT source_id FROM sync_pending WHERE record IS NOT NULL")
    return {r[0] for r in rows}
