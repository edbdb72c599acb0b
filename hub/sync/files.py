"""A workbook source's keyed-diff streams read only the files that changed.

An e-Monev folder holds a workbook per OPD and year (56 per Pemda at NTT scale): an edit
to one made the sync parse, map and compare every row of all of them (23,000 rows, about
1.5 s of this process's CPU for one changed cell), as a folder's print only tells that
*something* changed (`hub.sync.unchanged`). The sync engine remembers, per stream, each
file's stamp (inode, size, modification and status-change times, as `adapters/filestamp.py`
takes them) and the source keys its rows had at the last read. A run then reads the files
whose stamp moved, or that are new, and the store's rows that can have left the source are
those the changed or removed files had (`Seen.files`): a row gone from a file that changed
is deleted; rows of the files not read are not touched.

What a sync engine remembers is lost with it: its first run of a stream, and any run after
one that failed or kept rows that left the source, reads every file, as does a full run
(`rantai sync --full`, the scheduled reconciliation). A file written within the file
system's tick has no stamp: it is read again next time. Names must be unique among the
source's files (a recursive pattern can match two `2026_dinkes.xlsx`): otherwise every
file is read. What is remembered costs about 80 bytes a row (the row's source key).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from adapters.base import Adapter, Batch
from adapters.filestamp import settled
from adapters.mapping import EntityMapping
from adapters.spreadsheet import SpreadsheetAdapter
from hub.sync import checksums
from hub.sync.reports import StreamReport
from hub.sync.run import Seen, SourceRun

# file name → (stamp or None, the source keys of its rows)
Memo = dict[str, tuple[str | None, tuple[str, ...]]]
# What one sync engine remembers: (source, stream, signature) → its files
Memos = dict[tuple[str, str, str], Memo]


@dataclass
class FilePlan:
    key: tuple[str, str, str]
    stamps: dict[str, str | None]  # every file of the source now
    read: frozenset[str] | None  # the files to read; None: every one
    keys: dict[str, set[str]] = field(default_factory=dict)  # source keys read, per file


def _stamp(path: str, now_ns: int) -> str | None:
    st = os.stat(path)
    if not settled(max(st.st_mtime_ns, st.st_ctime_ns), now_ns):
        return None
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def begin(
    memos: Memos, run: SourceRun, seen: Seen, mapping: EntityMapping, stream: StreamReport
) -> FilePlan | None:
    """The plan of a workbook stream's read (None: not read by files); a read of the
    changed files only is the stream's mode `files`, and scopes its deletions."""
    adapter = run.adapter
    if (
        stream.mode != "diff"
        or not isinstance(adapter, SpreadsheetAdapter)
        or mapping.query.watermark is not None
        or seen.streams != 1
        or not mapping.key_columns
    ):
        return None
    paths = adapter.files
    if len({p.name for p in paths}) != len(paths):
        return None
    now = time.time_ns()
    stamps = {p.name: _stamp(str(p), now) for p in paths}
    key = (run.source.id, stream.stream, checksums.signature(run.source, mapping, seen.binding))
    memo = memos.pop(key, None)  # back once the run's deletions are done (`store`)
    if memo is None or run.full:
        return FilePlan(key, stamps, None)
    changed = {n for n, s in stamps.items() if s is None or memo.get(n, (None,))[0] != s}
    gone = set(memo) - set(stamps)
    plan = FilePlan(key, stamps, frozenset(changed))
    stream.mode = "files"
    seen.files = frozenset(k for n in changed | gone if n in memo for k in memo[n][1])
    seen.file_memo = (plan, {n: v for n, v in memo.items() if n in stamps})
    return plan


async def rows(adapter: Adapter, mapping: EntityMapping, plan: FilePlan) -> AsyncIterator[Batch]:
    """The stream's rows, of the planned files only; the keys of each file's rows noted."""
    assert isinstance(adapter, SpreadsheetAdapter)  # as `begin` found it
    async for batch in adapter.stream(mapping.query, files=plan.read):
        plan.keys.setdefault(batch.origin, set()).update(mapping.source_key(r) for r in batch.rows)
        yield batch


def end(seen: Seen, plan: FilePlan) -> None:
    """After the stream's read: what to remember of its files, kept until the run's
    deletions are done (`store`)."""
    kept: Memo = {} if plan.read is None else dict(seen.file_memo[1]) if seen.file_memo else {}
    for name in plan.stamps if plan.read is None else plan.read:
        kept[name] = (plan.stamps[name], tuple(sorted(plan.keys.get(name, ()))))
    seen.file_memo = (plan, kept)


def store(memos: Memos, seens: Sequence[Seen]) -> None:
    """Remember the files of the streams read without an error and whose rows that left
    the source all went; the others read every file next time."""
    for seen in seens:
        if seen.file_memo is not None and seen.complete and not seen.kept:
            plan, memo = seen.file_memo
            memos[plan.key] = memo
