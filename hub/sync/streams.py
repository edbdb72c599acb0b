"""A source's streams as the engine reads them: their ids, a batch of rows mapped to the
writer's items, and where a watermarked read starts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from adapters.base import Batch
from adapters.field_rules import RecordError
from adapters.mapping import EntityMapping
from hub.sync.writer import Item

# Legacy servers in NTT keep local time (WITA) in columns without a time zone.
SOURCE_TIMEZONE = ZoneInfo("Asia/Makassar")


def stream_id(mapping: EntityMapping, index: int) -> str:
    q = mapping.query
    path = None
    if q.http is not None:  # the same path may be read for several years, or Pemda
        path = q.http.path + (f"?{urlencode(q.http.params)}" if q.http.params else "")
    where = q.table or q.sheet or path or (f"query{index}" if q.query else f"#{index}")
    return f"{mapping.spec.name}:{where}"


def to_items(
    mapping: EntityMapping, batch: Batch, watermark: str | None
) -> tuple[list[Item | tuple[Item, str]], list[Any]]:
    """The batch's rows as items (a row the mapping refuses: with the reason it waits),
    and the watermark values of the rows, in their order."""
    items: list[Item | tuple[Item, str]] = []
    marks: list[Any] = []
    for row in batch.rows:
        key = mapping.source_key(row)
        mark = row.get(watermark) if watermark else None
        if mark is not None:
            marks.append(mark)
        try:
            record = mapping.record(row)
        except RecordError as exc:
            items.append((Item(key, {}), f"bad row: {exc}"))
            continue
        items.append(Item(key, record, _aware(mark)))
    return items, marks


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=SOURCE_TIMEZONE)
    return None


def overlapped(watermark: Any, seconds: int) -> Any:
    """Where a watermarked read starts: `seconds` before a time watermark (a date one: the
    days that cover them; an ISO text one, as text in the same form). Rows committed late
    with a value below the stored watermark (stragglers) are in that window; other kinds of
    watermark (version numbers) are returned as they are."""
    if seconds <= 0 or watermark is None:
        return watermark
    if isinstance(watermark, datetime):
        return watermark - timedelta(seconds=seconds)
    if isinstance(watermark, date):
        return watermark - timedelta(days=-(-seconds // 86400))
    if isinstance(watermark, str):
        try:
            parsed = datetime.fromisoformat(watermark)
        except ValueError:
            return watermark
        earlier = parsed - timedelta(seconds=seconds)
        if len(watermark) == 10:  # a date as text
            return (parsed.date() - timedelta(days=-(-seconds // 86400))).isoformat()
        return earlier.isoformat(sep="T" if "T" in watermark else " ")
    return watermark


def later(value: Any, than: Any) -> bool:
    """Whether watermark `value` is past `than` (None is before everything; values that do
    not compare are taken as past, as before the overlap)."""
    if value is None:
        return False
    if than is None:
        return True
    try:
        return bool(value > than)
    except TypeError:
        return True
