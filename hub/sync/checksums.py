"""Keyed-diff streams read only the blocks of keys whose checksum moved.

A keyed-diff stream of a PostgreSQL or MariaDB source (no watermark column) asks the
source, before reading any row, for a checksum per block of source keys
(`adapters/blocks.py`: row count and the sum of a hash of each row's mapped columns, per
prefix of the MD5 of its key), and compares them with the checksums stored at its last
read (`sync_state.checksums`). Only the blocks whose checksum differs are read and
compared with the store, and the store's rows of this source in those blocks that were
not read have left the source and are deleted (`scope`). A stream with nothing changed
reads no row.

Everything is read when there are no stored checksums (the first sync, after an upgrade
too), when the mapping or the store's columns changed since (`signature`), or when the run
is full (`rantai sync --full`, the scheduled reconciliation). Checksums are taken before
the rows are read and stored only after the run's deletions: a row changed meanwhile makes
its block differ next time (read again, a no-op), never the reverse.

The block of a key is computed twice, by the source's SQL (to read a block) and here (to
know which stored rows a block covers). Every row read carries the source's block, and a
row whose key the two compute differently (a key type the SQL renders unlike Python: a
timestamp with fractions, a boolean) turns the stream's checksums off until its mapping
changes: it is then read in full on every sync, as before. An entity read by several
streams of one source is read in full too (its stored rows could not be told apart by
stream).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from adapters.base import Adapter, Batch
from adapters.blocks import BLOCK_COLUMN, block_of, digits_for
from adapters.mapping import EntityMapping, SourceMapping
from hub.db import PgConnection
from hub.sync.bindings import Binding
from hub.sync.reports import StreamReport
from hub.sync.run import Seen, SourceRun
from hub.sync.types import TYPES

if TYPE_CHECKING:
    from hub.sync.state import StreamState

log = logging.getLogger("rantai.sync")

# Bump when what a checksum covers, or how a block is computed, changes: stored checksums
# of another version are ignored (the next sync reads everything).
VERSION = 1
FIRST_DIGITS = 2  # the width a first read's checksums are asked at (then fitted to its rows)


@dataclass
class BlockPlan:
    """One stream's read by blocks: the source's checksums taken before it, and the blocks
    to read (None: every row)."""

    signature: str
    digits: int
    sums: dict[str, str]
    read: frozenset[str] | None
    mismatch: str | None = None  # a key whose block the source computes differently


def signature(source: SourceMapping, mapping: EntityMapping, binding: Binding) -> str:
    """What the stored checksums are valid for: the mapping's query, key and field rules
    (not their line numbers) and the store table's columns. Computed once per mapping: a
    mapping is never changed in place (a changed file is a new Config), and the store's
    columns are the models' (`hub.sync.types.TYPES`)."""
    key = (id(mapping), source.kind, binding.table)
    known = _SIGNATURES.get(key)
    if known is not None and known[0] is mapping:
        return known[1]
    rules = sorted((name, repr(replace(rule, line=None))) for name, rule in mapping.fields.items())
    query = mapping.query
    parts = (
        VERSION,
        source.kind,
        query.table,
        query.query,
        query.columns,
        mapping.key_columns,
        rules,
        sorted(TYPES[binding.table]),
    )
    value = hashlib.sha256(repr(parts).encode()).hexdigest()
    if len(_SIGNATURES) > 4096:  # configurations loaded again and again: start afresh
        _SIGNATURES.clear()
    _SIGNATURES[key] = (mapping, value)  # the mapping held: its id is not reused meanwhile
    return value


_SIGNATURES: dict[tuple[int, str, str], tuple[EntityMapping, str]] = {}


def eligible(adapter: Adapter, mapping: EntityMapping, streams: int) -> bool:
    """Whether the stream is read by blocks: a keyed diff of a source that computes
    checksums, the entity's only stream in the source, with named columns and keys."""
    query = mapping.query
    return (
        query.watermark is None
        and streams == 1
        and bool(query.columns)
        and bool(mapping.key_columns)
        and not any(c.startswith("@") for c in mapping.key_columns)
        and adapter.supports_blocks()
    )


def _stored(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    data = json.loads(value) if isinstance(value, str) else dict(value)
    return data if isinstance(data, dict) else None


async def plan(
    adapter: Adapter,
    source: SourceMapping,
    mapping: EntityMapping,
    binding: Binding,
    stored: Any,
    full: bool,
) -> BlockPlan | None:
    """How to read the stream: by blocks (the changed ones, or all of them to store
    checksums), or None: every row as before (checksums off for this stream)."""
    sign = signature(source, mapping, binding)
    saved = _stored(stored)
    if saved is not None and saved.get("signature") == sign and saved.get("off"):
        return None
    timeout = source.config.timeout_seconds
    query, key = mapping.query, mapping.key_columns
    if full or saved is None or saved.get("signature") != sign:
        async with asyncio.timeout(timeout):
            sums = await adapter.block_sums(query, key, FIRST_DIGITS)
        digits = digits_for(sum(int(v.split(":", 1)[0]) for v in sums.values()))
        if digits != FIRST_DIGITS:
            async with asyncio.timeout(timeout):
                sums = await adapter.block_sums(query, key, digits)
        return BlockPlan(sign, digits, sums, None)
    digits = int(saved["digits"])
    old: dict[str, str] = saved.get("sums") or {}
    async with asyncio.timeout(timeout):
        sums = await adapter.block_sums(query, key, digits)
    changed = frozenset(b for b in old.keys() | sums.keys() if old.get(b) != sums.get(b))
    return BlockPlan(sign, digits, sums, changed)


async def rows(adapter: Adapter, mapping: EntityMapping, blocks: BlockPlan) -> AsyncIterator[Batch]:
    """The plan's rows in the adapter's batches, each row checked to be in the block the
    hub computes for its source key (the block column is taken off the row)."""
    read = None if blocks.read is None else sorted(blocks.read)
    batches = adapter.block_rows(mapping.query, mapping.key_columns, blocks.digits, read)
    try:
        async for batch in batches:
            for row in batch.rows:
                theirs = row.pop(BLOCK_COLUMN, None)
                if blocks.mismatch is None:
                    key = mapping.source_key(row)
                    if block_of(key, blocks.digits) != theirs:
                        blocks.mismatch = key
            yield batch
    finally:
        await batches.aclose()  # type: ignore[attr-defined]


def state(blocks: BlockPlan) -> str:
    """What `sync_state.checksums` keeps after the stream's read of `blocks`."""
    if blocks.mismatch is not None:
        return json.dumps({"signature": blocks.signature, "off": blocks.mismatch})
    return json.dumps(
        {
            "version": VERSION,
            "signature": blocks.signature,
            "digits": blocks.digits,
            "sums": blocks.sums,
        }
    )


async def save(conn: PgConnection, source_id: str, stream: str, value: str | None) -> None:
    """The stream's checksums (None: none, the next sync reads everything)."""
    await conn.execute(
        """INSERT INTO sync_state (source_id, stream, checksums) VALUES ($1, $2, $3::jsonb)
        ON CONFLICT (source_id, stream) DO UPDATE
        SET checksums = excluded.checksums, updated_at = now()""",
        source_id,
        stream,
        value,
    )


async def begin(
    run: SourceRun,
    seen: Seen,
    mapping: EntityMapping,
    stream: StreamReport,
    saved: StreamState | None,
) -> BlockPlan | None:
    """The plan of a keyed-diff stream's read, if it is read by blocks; a read of the
    changed blocks only is the stream's mode `blocks`, and scopes its deletions."""
    if stream.mode != "diff" or not eligible(run.adapter, mapping, seen.streams):
        return None
    stored = None if saved is None else saved.stored_checksums
    blocks = await plan(run.adapter, run.source, mapping, seen.binding, stored, run.full)
    if blocks is not None and blocks.read is not None:
        stream.mode = "blocks"
        seen.scope, seen.digits = blocks.read, blocks.digits
    return blocks


def end(run: SourceRun, seen: Seen, stream: StreamReport, blocks: BlockPlan) -> None:
    """After the stream's read: its checksums wait for the run's deletions (`store`)."""
    if blocks.mismatch is not None:
        log.warning(
            "%s %s: source key %r is in another block by the source's SQL than by the "
            "hub's: this stream is read in full on every sync until its mapping changes",
            run.source.id,
            stream.stream,
            blocks.mismatch,
        )
        if blocks.read is not None:
            seen.complete = False  # which stored rows the blocks cover is unsure: no deletes
    seen.checksums.append((stream.stream, state(blocks), blocks.mismatch is not None))


async def store(conn: PgConnection, source_id: str, seens: Sequence[Seen]) -> None:
    """The checksums of the run's streams, once its deletions are done: those of an entity
    read in full or by blocks without an error; none (read it all next time) where rows
    that left the source are still referred to, so their deletion is tried again."""
    for seen in seens:
        for stream, value, off in seen.checksums:
            if off or (seen.complete and not seen.kept):
                await save(conn, source_id, stream, value)
            elif seen.kept:
                await save(conn, source_id, stream, None)
