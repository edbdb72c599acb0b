"""`rantai sources check`: every mapping against its live source, problems with their lines.

What needs the store (would the rows find their Pemda, OPD, kegiatan, parent package?) is
checked by `hub.sync.preflight`, after this.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from adapters.base import Adapter, AdapterError, Batch, MissingTable, open_adapter
from adapters.field_rules import RecordError
from adapters.inspect import watermark_stats
from adapters.mapping import EntityMapping, Problem, SourceMapping

SAMPLE_ROWS = 200  # rows converted per entity to catch format problems early
# Legacy servers keep local time without a zone (hub/sync/streams.py reads them so too).
SOURCE_TIMEZONE = ZoneInfo("Asia/Makassar")
FUTURE_SLACK = timedelta(hours=1)  # clocks drift: a watermark this far ahead is not "future"


async def check_source(source: SourceMapping) -> list[Problem]:
    """Connect, then check tables/sheets, columns, the watermark and a sample of rows."""
    if source.uploads:  # its files come with each upload, checked as they come
        return []
    problems: list[Problem] = []
    url_line = source.locator.line("source", "url") or source.locator.line("source", "path")
    adapter = open_adapter(source.config)
    try:
        await asyncio.wait_for(adapter.open(), source.config.timeout_seconds)
    except (AdapterError, TimeoutError, OSError) as exc:
        reason = str(exc) or "timed out"
        return [Problem(source.file, url_line, f"cannot open source {source.id}: {reason}")]
    try:
        for entity in source.entities:
            problems += await _check_entity(source, entity, adapter)
    finally:
        await adapter.close()
    return problems


async def _check_entity(
    source: SourceMapping, entity: EntityMapping, adapter: Adapter
) -> list[Problem]:
    query = entity.query
    where = query.table or query.sheet or "query"
    line_of_table = (
        entity.lines.get("table") or entity.lines.get("sheet") or entity.lines.get("query")
    )
    try:
        offered = set(await adapter.columns(query))
    except MissingTable as exc:
        return [Problem(source.file, line_of_table or entity.line, f"{entity.spec.name}: {exc}")]
    except AdapterError as exc:
        return [Problem(source.file, line_of_table or entity.line, f"{entity.spec.name}: {exc}")]
    problems: list[Problem] = []
    for name, rule in entity.fields.items():
        for column in rule.source_columns():
            if column not in offered:
                problems.append(
                    Problem(
                        source.file,
                        rule.line,
                        f"{entity.spec.name}.{name}: {where} has no column {column!r}",
                    )
                )
    if query.watermark and query.watermark not in offered:
        problems.append(
            Problem(
                source.file,
                entity.lines.get("watermark"),
                f"{entity.spec.name}: watermark column {query.watermark!r} is not in {where}",
            )
        )
    for column in entity.key_columns:
        if column not in offered:
            problems.append(
                Problem(
                    source.file,
                    entity.lines.get("key") or entity.line,
                    f"{entity.spec.name}: key column {column!r} is not in {where}",
                )
            )
    if problems:
        return problems
    batches = adapter.stream(query)
    try:
        problems = await _check_rows(source, entity, batches, problems)
    finally:
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()
    return problems + await _check_watermark(source, entity, adapter)


async def _check_watermark(
    source: SourceMapping, entity: EntityMapping, adapter: Adapter
) -> list[Problem]:
    """Warnings for a watermark that a sync cannot trust: empty on some rows (read on the
    first sync only, never after) or ahead of now (rows changed meanwhile are skipped until
    that time has passed)."""
    column = entity.query.watermark
    if column is None:
        return []
    try:
        rows, empty, highest = await watermark_stats(adapter, entity.query)
    except AdapterError as exc:
        return [Problem(source.file, entity.lines.get("watermark"), f"{entity.spec.name}: {exc}")]
    line, name = entity.lines.get("watermark") or entity.line, entity.spec.name
    found: list[Problem] = []
    if empty:
        found.append(
            Problem(
                source.file,
                line,
                f"{name}: watermark column {column!r} is empty in {empty} of {rows} rows: a "
                "sync reads such rows only once and never sees them change; leave watermark "
                "out (keyed diff) unless the application always sets it",
                warning=True,
            )
        )
    if _in_future(highest):
        found.append(
            Problem(
                source.file,
                line,
                f"{name}: watermark column {column!r} holds values in the future (up to "
                f"{highest}): rows changed before that time are not read until it has passed",
                warning=True,
            )
        )
    return found


def _in_future(value: object) -> bool:
    now = datetime.now(SOURCE_TIMEZONE)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=SOURCE_TIMEZONE)
        return aware > now + FUTURE_SLACK
    if isinstance(value, date):
        return value > now.date()
    if isinstance(value, str):
        try:
            return _in_future(datetime.fromisoformat(value))
        except ValueError:
            return False
    return False


async def _check_rows(
    source: SourceMapping,
    entity: EntityMapping,
    batches: AsyncIterator[Batch],
    problems: list[Problem],
) -> list[Problem]:
    seen = 0
    async for batch in batches:
        for row in batch.rows:
            try:
                entity.record(row)
            except RecordError as exc:
                field_name = str(exc).split(":", 1)[0]
                rule = entity.fields.get(field_name)
                problems.append(
                    Problem(
                        source.file,
                        rule.line if rule else entity.line,
                        f"{entity.spec.name}: row {entity.source_key(row)!r}: {exc}",
                    )
                )
                if len(problems) >= 5:
                    return problems
            seen += 1
            if seen >= SAMPLE_ROWS:
                return problems
    return problems


async def check_all(sources: list[SourceMapping]) -> dict[str, list[Problem]]:
    results = await asyncio.gather(*(check_source(s) for s in sources))
    return {s.id: r for s, r in zip(sources, results, strict=True)}
