"""Indonesia's time zones and the province's clock.

The province's day is the one due dates, deadlines, overdue follow-ups, the agenda and the
rules' reference day are counted in: a due date passes at midnight in Kupang, not at
midnight UTC (08:00 there). A legacy timestamp written without a zone is read in the
province's zone too (adapters/parsing.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")  # UTC+7, western Indonesia
WITA = ZoneInfo("Asia/Makassar")  # UTC+8, central Indonesia, including NTT
WIT = ZoneInfo("Asia/Jayapura")  # UTC+9, eastern Indonesia

PROVINCE_ZONE = WITA  # Nusa Tenggara Timur


def province_today() -> date:
    return datetime.now(PROVINCE_ZONE).date()


def province_offset() -> str:
    """The zone's offset as ISO 8601 writes it (`+08:00`); Indonesia keeps no summer time."""
    offset = PROVINCE_ZONE.utcoffset(datetime(2000, 1, 1)) or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
