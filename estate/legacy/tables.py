"""What the writers take from every legacy system: tables with their column kinds, Form A
workbooks as rows, and the clock that stamps rows with unique update times."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

# column kinds → engine types (see writers.py)
Kind = str  # int | bigint | smallint | text | money | decimal | date | timestamp | bool


@dataclass
class Table:
    name: str
    columns: list[tuple[str, Kind]]
    key: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def add(self, *values: Any) -> None:
        self.rows.append(values)


@dataclass
class Workbook:
    path: str  # relative to the region's monev folder
    rows: list[list[Any]]  # sheet rows from row 1, [] for an empty row
    sheet: str = "Form A"


class Clock:
    """Unique, increasing update timestamps per table and fiscal year (a watermark needs
    no two rows on one instant, or a resumed sync could skip the rest of that instant)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def series(self, fy: int, last: date, count: int) -> list[datetime]:
        start = datetime(fy, 1, 5, 7)
        span = max(
            count, int((datetime(last.year, last.month, last.day, 17) - start).total_seconds())
        )
        step = max(1, span // max(1, count))
        return [
            start + timedelta(seconds=i * step + self.rng.randint(0, step - 1))
            for i in range(count)
        ]
