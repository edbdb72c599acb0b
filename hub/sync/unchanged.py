"""Sources whose files provably did not change since their last read are not read again.

A workbook source's *print* covers the names, sizes and modification times of its files
(decision 15); a SQLite source's, its database files' stamp (`adapters/filestamp.py`:
device, inode, size and times of the database, its `-wal` and `-journal`, and the log's
header; none while a file changed within the file system's tick). Both also cover the
source's mapping and the store's columns (`checksums.signature` of each stream): a mapping
that changed reads everything once, though the files did not.

The print is taken before the adapter opens, before any row is read, and stored on each
stream (`sync_state.fingerprint`) after a run whose every stream was read without an
error and whose deletions all went (rows that left the source but are still referred to
keep the old print, so the next run reads the source and tries again). A stream whose
stored print equals the run's is not read (mode `unchanged`); a source none of whose
streams is to be read is not even opened. A write made after the print was taken makes
the next print differ: it is read then, never hidden. `full` runs (`rantai sync --full`,
the scheduled reconciliation) read everything whatever the prints.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from adapters.base import Adapter
from adapters.filestamp import settles_at
from adapters.mapping import EntityMapping, SourceMapping
from hub.sync import checksums, state
from hub.sync.bindings import BY_ENTITY
from hub.sync.run import Seen, SourceRun
from hub.sync.streams import stream_id


def workbooks(source: SourceMapping) -> tuple[str, int] | None:
    """A spreadsheet source's files: the digest of their names, sizes and modification
    times, and when the last of them settles (`adapters.filestamp.settles_at`,
    nanoseconds); None for other sources."""
    config = source.config
    if config.kind not in ("xlsx", "csv") or not config.path:
        return None
    pattern = config.path if os.path.isabs(config.path) else str(config.base_dir / config.path)
    digest = hashlib.sha256()
    newest = 0
    for name in sorted(glob.glob(pattern)):
        stat = os.stat(name)
        digest.update(f"{Path(name).name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        newest = max(newest, settles_at(stat, stat.st_mtime_ns))
    return digest.hexdigest(), newest


def source_print(source: SourceMapping, adapter: Adapter) -> str | None:
    """The source's print (see the module), or None: its streams are read as usual."""
    books = workbooks(source)
    files = books[0] if books else adapter.change_stamp()
    if files is None:
        return None
    mapped = [
        checksums.signature(source, mapping, BY_ENTITY[mapping.spec.name])
        for mapping in source.entities
    ]
    return hashlib.sha256("\n".join([files, *mapped]).encode()).hexdigest()


def skipped(run: SourceRun, saved: state.StreamState | None) -> bool:
    """Whether a stream whose stored state is `saved` is not read in this run."""
    return (
        not run.full
        and run.prints is not None
        and saved is not None
        and saved.fingerprint == run.prints
    )


def every(run: SourceRun, mappings: Iterable[tuple[int, EntityMapping]]) -> bool:
    """Whether none of these streams (index, mapping) is read in this run."""
    return all(skipped(run, run.states.get(stream_id(m, i))) for i, m in mappings)


async def store(run: SourceRun, seens: Sequence[Seen]) -> None:
    """The run's print on each stream read, when every stream was read without an error
    and no row that left the source was kept."""
    streams = run.report.streams
    if run.prints is None or any(s.error is not None for s in streams):
        return
    if any(seen.kept for seen in seens):
        return
    for stream in streams:
        if stream.mode != "unchanged":
            await state.save_fingerprint(run.conn, run.source.id, stream.stream, run.prints)
