"""SQLite's checksums per block, computed in worker processes of their own.

SQLite has no hash function in SQL, so its block sums call one in Python for every row of
the stream (`adapters/blocks.py`): about 8 µs a row, 0.6 s of CPU for a regency's finance
database at NTT scale. In the hub's own process that time holds the interpreter's lock,
and every other sync, look and subscription waits for it (three finance databases changed
at once took 2–3 s each). A worker process runs the statement on a connection of its own
(read-only, the functions registered) and returns the rows: the hub's process only waits
for the answer. The pool starts at the first use (spawned, so that no lock or thread of
the hub is copied into it), with at most two workers; a pool whose worker died is replaced
and the statement tried once more. Each worker opens the database for one statement and
closes it: a descriptor closed in another process drops none of the hub's SQLite locks.

The worker reads the file at the path, the sync's own connection the file it opened: a
database replaced between the two (an export moved into place, rsync's rename) would give
sums of the new file beside rows of the old, and the new sums, stored, would hide the
change from every later sync. So the worker is told which file the connection opened
(device and inode) and fails the statement when the path names another file once it has
read. A statement that outlives its deadline (the source's timeout) is interrupted in the
worker too, not left running there.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from adapters.blocks import sqlite_functions

WORKERS = 2
_pool: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            max_workers=max(1, min(WORKERS, os.cpu_count() or 1)),
            mp_context=multiprocessing.get_context("spawn"),
        )
    return _pool


def file_identity(path: Path) -> tuple[int, int]:
    """Which file `path` names now: its device and inode."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _rows(path: Path, sql: str, identity: tuple[int, int], deadline: float) -> list[dict[str, Any]]:
    """In a worker: the rows of `sql` on the database at `path` as dicts, if it is still
    the file `identity` names, before `deadline` (`time.time()`: the caller's, so that a
    statement queued behind others gets no more time than its caller waits)."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        conn.set_progress_handler(lambda: time.time() > deadline, 10_000)
        conn.execute("PRAGMA query_only = ON")
        for name, function in sqlite_functions().items():
            conn.create_function(name, -1, function, deterministic=True)
        cursor = conn.execute(sql)
        names = [column[0] for column in cursor.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()
    if file_identity(path) != identity:
        raise sqlite3.OperationalError(f"{path} was replaced by another file during the sync")
    return rows


async def sqlite_rows(
    path: Path, sql: str, identity: tuple[int, int], seconds: float
) -> list[dict[str, Any]]:
    """The rows of `sql` on the SQLite database at `path`, read-only, in a worker process,
    if `path` still names the file `identity` says (`file_identity`), within `seconds`.
    Raises `sqlite3.Error` as the statement's own connection would (interrupted past the
    deadline), and `OSError` when the workers die twice."""
    global _pool
    loop = asyncio.get_running_loop()
    deadline = time.time() + seconds
    for attempt in (1, 2):
        executor = _executor()
        try:
            return await loop.run_in_executor(executor, _rows, path, sql, identity, deadline)
        except BrokenProcessPool as exc:
            if _pool is executor:
                _pool = None
            if attempt == 2:
                raise OSError(f"the SQLite checksum worker died: {exc}") from exc
    raise AssertionError("unreachable")
