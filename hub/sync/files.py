"""A workbook source's keyed-diff streams read only the files that changed.

An e-Monev folder holds a workbook per OPD and year (56 per Pemda at NTT scale): an edit
to one made the sync parse, map and compare every row of all of them (23,000 rows, about
1.5 s of this process's CPU for one changed cell), as a folder's print only tells that
*something* changed (`hub.sync.unchanged`). The store keeps, per stream (`sync_file`),
each file's stamp (device, inode, size, modification and status-change times:
`adapters/filestamp.file_stamp`) and the source keys its rows had at the last read. A
run then reads the files whose stamp moved, or that are new, and the store's rows that can
have left the source are those the changed or removed files had and no other file holds
(`Seen.files`): a row gone from a file that changed is deleted; rows of the files not read
are not touched.

A stream's first read, a run after one that kept rows that left the source (still
referred to), and a read with another mapping, sheet or header row read every file; a
stream read in full for another reason (another stream of the entity beside it) forgets
its files, as does a full run (`rantai sync
--full`, the scheduled reconciliation). The files are written after the run's deletions:
a run stopped before them reads its files again. A file written within the file
system's tick has no stamp: it is read again next time. Names must be unique among the
source's files (a recursive pattern can match two `2026_dinkes.xlsx`): otherwise every
file is read. What is kept costs the store about the size of the rows' source keys.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adapters.base import Adapter, Batch
from adapters.filestamp import file_stamp, settled
from adapters.mapping import EntityMapping
from adapters.spreadsheet import SpreadsheetAdapter
from hub.db import PgConnection
from hub.sync import checksums
from hub.sync.reports import StreamReport
from hub.sync.run import Seen, SourceRun

# file name → (stamp or None, the source keys of its rows)
Memo = dict[str, tuple[str | None, Sequence[str]]]


@dataclass
class FilePlan:
    stream: str
    signature: str
    stamps: dict[str, str | None]  # every file of the source now
    read: frozenset[str] | None  # the files to read; None: every one
    keys: dict[str, set[str]] = field(default_factory=dict)  # source keys read, per file


def _stamp(path: Path, now_ns: int) -> str | None:
    part, settles = file_stamp(path)
    return part if settled(settles, now_ns) else None


async def _forget(conn: PgConnection, source: str, stream: str) -> None:
    await conn.execute("DELETE FROM sync_file WHERE source_id = $1 AND stream = $2", source, stream)


async def _remembered(conn: PgConnection, source: str, stream: str, signature: str) -> Memo | None:
    rows = await conn.fetch(
        "SELECT name, signature, stamp, keys FROM sync_file WHERE source_id = $1 AND stream = $2",
        source,
        stream,
    )
    if not rows or any(r["signature"] != signature for r in rows):
        return None
    return {r["name"]: (r["stamp"], r["keys"]) for r in rows}


async def begin(
    run: SourceRun, seen: Seen, mapping: EntityMapping, stream: StreamReport
) -> FilePlan | None:
    """The plan of a workbook stream's read (None: not read by files); a read of the
    changed files only is the stream's mode `files`, and scopes its deletions."""
    adapter = run.adapter
    if stream.mode != "diff" or not isinstance(adapter, SpreadsheetAdapter):
        return None
    paths = adapter.files
    if (
        mapping.query.watermark is not None
        or seen.streams != 1
        or not mapping.key_columns
        or len({p.name for p in paths}) != len(paths)
    ):
        # Read in full: what was kept of its files (when it was read alone) no longer
        # tells which stored rows they hold.
        await _forget(run.conn, run.source.id, stream.stream)
        return None
    now = time.time_ns()
    stamps = {p.name: _stamp(p, now) for p in paths}
    query = mapping.query  # the sheet and header row a file's rows were read from
    signature = checksums.signature(run.source, mapping, seen.binding)
    signature += f"/{query.sheet}/{query.header_row}"
    memo = (
        None if run.full else await _remembered(run.conn, run.source.id, stream.stream, signature)
    )
    if memo is None:
        return FilePlan(stream.stream, signature, stamps, None)
    changed = {n for n, s in stamps.items() if s is None or memo.get(n, (None,))[0] != s}
    gone = set(memo) - set(stamps)
    plan = FilePlan(stream.stream, signature, stamps, frozenset(changed))
    stream.mode = "files"
    # A key another file not read still holds has not left the source (a row copied to
    # another file, then removed from the first).
    held = {k for n, (_, keys) in memo.items() if n in stamps and n not in changed for k in keys}
    seen.files = frozenset(
        k for n in changed | gone if n in memo for k in memo[n][1] if k not in held
    )
    if gone:  # forgotten with the run's deletions, whether or not a file is read
        seen.file_memo = (plan, {})
    return plan


async def rows(adapter: Adapter, mapping: EntityMapping, plan: FilePlan) -> AsyncIterator[Batch]:
    """The stream's rows, of the planned files only; the keys of each file's rows noted."""
    assert isinstance(adapter, SpreadsheetAdapter)  # as `begin` found it
    async for batch in adapter.stream(mapping.query, files=plan.read):
        plan.keys.setdefault(batch.origin, set()).update(mapping.source_key(r) for r in batch.rows)
        yield batch


def end(seen: Seen, plan: FilePlan) -> None:
    """After the stream's read: the files read, to remember once the run's deletions are
    done (`store`)."""
    read = plan.stamps if plan.read is None else plan.read
    seen.file_memo = (plan, {n: (plan.stamps[n], sorted(plan.keys.get(n, ()))) for n in read})


async def store(conn: PgConnection, source_id: str, seens: Sequence[Seen]) -> None:
    """Keep the files read by the streams read without an error and whose rows that left
    the source all went, and forget the files gone. A read that failed keeps what was kept
    (its files' stamps moved: they are read again); where rows that left the source are
    still referred to, every file is forgotten (the next read reads them all)."""
    for seen in seens:
        if seen.file_memo is None or not seen.complete:
            continue
        plan, written = seen.file_memo
        async with conn.transaction():
            if seen.kept:
                await _forget(conn, source_id, plan.stream)
                continue
            await conn.execute(
                "DELETE FROM sync_file WHERE source_id = $1 AND stream = $2 "
                "AND (name = ANY($3::text[]) OR NOT name = ANY($4::text[]) OR $5)",
                source_id,
                plan.stream,
                list(written),
                list(plan.stamps),
                plan.read is None,
            )
            await conn.executemany(
                "INSERT INTO sync_file (source_id, stream, name, signature, stamp, keys) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    (source_id, plan.stream, name, plan.signature, stamp, keys)
                    for name, (stamp, keys) in written.items()
                ],
            )
