"""A source fed by uploads (`uploads = true`): the workbooks its OPD sent, kept in the
store (`upload`), written to a folder of their own for the run and read from there as any
workbook source's files. Of the uploads of one file name the latest is read (a file sent
again under its name replaces it, as on a disk); each file keeps its upload's time as its
modification time, so a run with no new upload finds the same files (decision 15)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from adapters.mapping import SourceMapping
from hub.db import PgConnection

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()-]+")


def file_name(name: str, upload_id: int) -> str:
    """A name safe in a folder, unique, still the sender's: `Form A Juni.xlsx`."""
    stem = _UNSAFE.sub("_", Path(name).stem).strip(" ._") or "upload"
    return f"{stem[:80]}.{upload_id}.xlsx"


@asynccontextmanager
async def uploaded(
    conn: PgConnection, source: SourceMapping
) -> AsyncIterator[SourceMapping | None]:
    """`source` reading its uploads (the source itself when it takes none; None when it
    takes uploads and has none yet); the files are gone after the run."""
    if not source.uploads:
        yield source
        return
    rows = await conn.fetch(
        "SELECT DISTINCT ON (file_name) id, file_name, content, uploaded_at FROM upload "
        "WHERE source_id = $1 ORDER BY file_name, id DESC",
        source.id,
    )
    if not rows:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix=f"rantai-{source.id}-") as folder:
        for row in rows:
            path = Path(folder) / file_name(row["file_name"], row["id"])
            path.write_bytes(row["content"])
            stamp = row["uploaded_at"].timestamp()
            os.utime(path, (stamp, stamp))
        config = replace(source.config, path=str(Path(folder) / "*.xlsx"), base_dir=Path(folder))
        yield replace(source, config=config)
