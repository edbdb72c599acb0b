"""SQLite's checksums per block, computed in worker processes of their own.

SQLite has no hash function in SQL, so its block sums call one in Python for every row of
the stream (`adapters/blocks.py`): about 8 µs a row, 0.6 s of CPU for a regency's finance
database at NTT scale. In the hub's own process that time holds the interpreter's lock,
and every other sync, look and subscription waits for it (three finance databases changed
at once took 2–3 s each). A worker process runs the statement on a connection of its own
(read-only, the functions registered) and returns the rows: the hub's process only waits
for the answer. The pool starts at the first use (spawned, so that no lock or thread of
the hub is copied into it), with at most two workers, and a worker that died is replaced
by a new pool at the next use. Each worker opens the database for one statement and closes
it: a descriptor closed in another process drops none of the hub's SQLite locks.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
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


def _rows(uri: str, sql: str) -> list[dict[str, Any]]:
    """In a worker: the rows of `sql` on the database at `uri`, as dicts."""
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.execute("PRAGMA query_only = ON")
        for name, function in sqlite_functions().items():
            conn.create_function(name, -1, function, deterministic=True)
        cursor = conn.execute(sql)
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


async def sqlite_rows(path: Path, sql: str) -> list[dict[str, Any]]:
    """The rows of `sql` on the SQLite database at `path`, read-only, in a worker process.
    Raises `sqlite3.Error` as the statement's own connection would, and `OSError` when the
    worker died (the next call starts a new pool)."""
    global _pool
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_executor(), _rows, f"{path.as_uri()}?mode=ro", sql)
    except BrokenProcessPool as exc:
        _pool = None
        raise OSError(f"the SQLite checksum worker died: {exc}") from exc
