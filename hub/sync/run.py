"""One source's sync run as its steps share it (`SourceRun`), what the streams of one entity
saw (`Seen`), the advisory lock that keeps one process at a time on a source, and when a
table's planner statistics are taken again."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapters.base import Adapter
from adapters.mapping import SourceMapping
from hub.db import PgConnection
from hub.sync.bindings import Binding
from hub.sync.reports import SourceReport
from hub.sync.writer import Writer

if TYPE_CHECKING:
    from hub.sync.state import StreamState

ANALYZE_AFTER = 1000  # rows created or deleted by one stream
_LOCK_BASE = 0x52414E54  # "RANT": advisory lock keys of sources are this + hash(id)


def source_lock_key(source_id: str) -> int:
    """The advisory lock held while a source is synced (one process at a time)."""
    return _LOCK_BASE * 2**32 + int(hashlib.sha1(source_id.encode()).hexdigest()[:7], 16)


@dataclass
class SourceRun:
    """One source's sync, as each of its steps needs it.

    `conn`, `writer` and `adapter` are the lane a step works on: the source's own
    connection, which holds its lock, or a detached stream's (`SyncEngine._detached`).
    """

    source: SourceMapping
    report: SourceReport
    full: bool  # read every row of every stream, watermark or not
    found_by: str  # sync, full or reconciliation (hub.sync.writer.FOUND_BY)
    prints: str | None  # the print of a workbook's or SQLite database's files (unchanged)
    conn: PgConnection
    writer: Writer
    adapter: Adapter
    # The streams' sync_state rows as the run found them, read in one round trip; each
    # stream takes its own out when it starts (a second stream of the same id reads it).
    states: dict[str, StreamState] = field(default_factory=dict)


@dataclass
class Seen:
    """What the streams of one entity read in a run. When every one of them read the
    source in full (`complete`), its rows not seen have left the source."""

    binding: Binding
    ids: set[int] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    complete: bool = True
    streams: int = 1  # the entity's streams in the source
    # Read by blocks of keys (hub.sync.checksums): only the store's rows in `scope` (the
    # blocks read, of `digits` hex digits) can have left the source; None: every row.
    scope: frozenset[str] | None = None
    digits: int = 0
    # Read by files (hub.sync.files): only the store's rows with these source keys (those
    # the files read or gone had) can have left the source; and the files to keep after.
    files: frozenset[str] | None = None
    file_memo: Any = None
    # Checksums to store once the run's deletions are done: (stream, value, checksums off).
    checksums: list[tuple[str, str, bool]] = field(default_factory=list)
    kept: bool = False  # rows left the source but other rows still refer to them

    def leaving(self, first: int) -> tuple[str, list[Any]] | None:
        """The condition on `source_key` choosing the stored rows that can have left the
        source, with its parameters from `$first` on ("" when every row can); None: none."""
        if self.scope is not None:
            return (
                (f" AND {in_blocks(first)}", [self.digits, sorted(self.scope)])
                if self.scope
                else None
            )
        if self.files is not None:
            return (
                (f" AND source_key = ANY(${first}::text[])", [sorted(self.files)])
                if self.files
                else None
            )
        return "", []


def in_blocks(first: int) -> str:
    """SQL: the row's `source_key` is in one of the blocks of parameter `first + 1`
    (text[]), of parameter `first` hex digits (the store's side of `block_of`)."""
    return f"left(md5(convert_to(source_key, 'UTF8')), ${first}::int) = ANY(${first + 1}::text[])"


async def stale_statistics(conn: PgConnection, table: str, written: int) -> bool:
    """Whether the table's statistics are missing, or older than `written` rows that are at
    least ANALYZE_AFTER and half the rows it had when they were taken (a table several
    sources write to is analysed again when it has grown by half, not after each of them)."""
    rows = await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = $1::regclass", table)
    return rows is None or rows < 0 or written >= max(ANALYZE_AFTER, rows / 2)
