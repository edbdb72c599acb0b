"""Thresholds of the ketimpangan rules, from the `[discrepancies]` table of rantai.toml.

    [discrepancies]
    near_owner_estimate_percent = 99     # contract ≥ 99% of HPS (and ≤ HPS): price-fixing signal
    direct_ceiling = 200000000           # Pengadaan Langsung ceiling (Perpres 12/2021)
    as_of = 2026-11-28                   # the reference day; absent: today in WITA
    [discrepancies.severity]
    RETENDER = "WARNING"                 # any rule's severity: INFO, WARNING or CRITICAL

The defaults are the values DOMAIN.md and the demo estate use.

Some rules compare with a day: a deadline passed, a grace after an end date. They compare
with the reference day, `as_of`, never the clock directly: absent, it is today in the
province's time zone (WITA), read once per run; given, the findings are those of that day
whatever the calendar says (the demo estate states the day its data stands on). The day
of the following month by which an OPD's e-Monev Form A is due is the agenda's
(`Settings.monev_deadline_day`, RANTAI_MONEV_DEADLINE_DAY), not a key of this table.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hub.reference.clock import province_today

SEVERITIES = ("INFO", "WARNING", "CRITICAL")


class ThresholdError(ValueError):
    pass


def _monev_deadline_day() -> int:
    from hub.settings import get_settings

    return get_settings().monev_deadline_day


# Values the rules read that are set elsewhere, and where.
NOT_IN_TABLE = {"monev_deadline_day": "set RANTAI_MONEV_DEADLINE_DAY (the agenda's too)"}


@dataclass(frozen=True)
class Thresholds:
    near_owner_estimate_percent: Decimal = Decimal(99)
    slow_award_days: int = 70
    direct_ceiling: Decimal = Decimal(200_000_000)
    direct_method: str = "Pengadaan Langsung"
    split_window_days: int = 30
    amendment_percent: Decimal = Decimal(10)
    paid_percent: Decimal = Decimal(90)
    progress_percent: Decimal = Decimal(50)
    schedule_tolerance: Decimal = Decimal(20)
    indicator_percent: Decimal = Decimal(50)
    q3_end_month: int = 9
    q3_end_day: int = 30
    capital_account_prefix: str = "5.2"
    min_bid_window_days: int = 15
    # bid prices against each other (cardinal's R024, R058, R025 with a fixed threshold)
    close_bid_percent: Decimal = Decimal(1)  # second-lowest valid bid ≤ 1% above the winner
    discounted_bid_percent: Decimal = Decimal(25)  # … or ≥ 25% above it
    unsuccessful_min_bids: int = 10  # a vendor with ≥ 10 valid bids in a Pemda-year …
    unsuccessful_win_percent: Decimal = Decimal(10)  # … that won ≤ 10% of them
    bid_close_stage: str = "Upload Dokumen Penawaran"
    published_status: str = "Terumumkan"
    windowed_methods: tuple[str, ...] = ("Tender", "Seleksi")
    competitive_methods: tuple[str, ...] = ("Tender", "Seleksi", "Tender Cepat")
    price_only_methods: tuple[str, ...] = ("Tender", "Tender Cepat")
    method_rank: dict[str, int] = field(
        default_factory=lambda: {
            "Tender": 3,
            "Seleksi": 3,
            "Tender Cepat": 3,
            "E-Purchasing": 2,
            "Pengadaan Langsung": 2,
            "Penunjukan Langsung": 1,
            "Dikecualikan": 0,
        }
    )
    # cumulative physical progress expected at the end of each quarter (an S-curve)
    schedule: dict[int, Decimal] = field(
        default_factory=lambda: {1: Decimal(10), 2: Decimal(35), 3: Decimal(65), 4: Decimal(100)}
    )
    severity: dict[str, str] = field(default_factory=dict)  # rule code → severity
    # HANDOVER_WITHOUT_LETTER: fully paid, and no BAST letter more than this many days after
    # the contract's end date
    handover_grace_days: int = 30
    # MONEV_REPORT_LATE: the Form A of a month is due on this day of the next month
    monev_deadline_day: int = field(default_factory=_monev_deadline_day)
    as_of: date | None = None  # the reference day of the rules that compare with a day

    def reference_day(self) -> date:
        """`as_of`, else today in WITA (the province's day, not the server's)."""
        return self.as_of if self.as_of is not None else province_today()

    def on_reference_day(self) -> Thresholds:
        """These thresholds with the reference day fixed: one run compares with one day."""
        return replace(self, as_of=self.reference_day())

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str = "[discrepancies]") -> Thresholds:
        known = {f.name: f for f in fields(cls) if f.name not in NOT_IN_TABLE}
        values: dict[str, Any] = {}
        base = cls()
        for key, raw in table.items():
            if key in NOT_IN_TABLE:
                raise ThresholdError(f"{where}: {key} is not set here; {NOT_IN_TABLE[key]}")
            if key not in known:
                raise ThresholdError(f"{where}: unknown key {key!r}; one of {', '.join(known)}")
            default = getattr(base, key)
            try:
                values[key] = _convert(key, raw, default)
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise ThresholdError(f"{where}: {key} = {raw!r}: {exc}") from None
        return replace(base, **values)

    def severity_of(self, code: str, default: str) -> str:
        return self.severity.get(code, default)


def _convert(key: str, raw: Any, default: Any) -> Any:
    if key == "as_of":
        # A TOML date (as_of = 2026-11-28) or the same as text; never a date with a time.
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw)
            except ValueError:
                raise ValueError("a day, YYYY-MM-DD") from None
        if isinstance(raw, datetime) or not isinstance(raw, date):
            raise TypeError("a day, YYYY-MM-DD (a date without a time)")
        return raw
    if key == "severity":
        if not isinstance(raw, dict):
            raise TypeError("a table of RULE = severity")
        from hub.discrepancies.rules import BY_CODE

        for code, level in raw.items():
            if code not in BY_CODE:
                raise ValueError(f"unknown rule {code!r}")
            if level not in SEVERITIES:
                raise ValueError(f"{code}: severity must be one of {', '.join(SEVERITIES)}")
        return dict(raw)
    if isinstance(default, bool):
        raise TypeError("not configurable")
    if isinstance(default, int):
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise ValueError("a whole number ≥ 0")
        return raw
    if isinstance(default, Decimal):
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise TypeError("a number")
        value = Decimal(str(raw))
        if not value.is_finite() or value < 0:
            raise ValueError("a number ≥ 0")
        return value
    if isinstance(default, str):
        if not isinstance(raw, str) or not raw:
            raise TypeError("a non-empty string")
        return raw
    if isinstance(default, tuple):
        if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
            raise TypeError("a list of method names")
        return tuple(raw)
    if key == "method_rank":
        if not isinstance(raw, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in raw.values()
        ):
            raise TypeError("a table of method = rank (whole numbers)")
        return dict(raw)
    if key == "schedule":
        if not isinstance(raw, dict) or set(raw) != {"1", "2", "3", "4"}:
            raise TypeError('a table with keys "1" to "4" (quarters) and percentages')
        return {int(k): Decimal(str(v)) for k, v in raw.items()}
    raise TypeError("not configurable")


def load_thresholds(config_path: Path | None) -> Thresholds:
    """The `[discrepancies]` table of rantai.toml; the defaults when there is none."""
    if config_path is None or not config_path.exists():
        return Thresholds()
    with config_path.open("rb") as handle:
        data = tomllib.load(handle)
    table = data.get("discrepancies", {})
    if not isinstance(table, dict):
        raise ThresholdError(f"{config_path}: [discrepancies] must be a table")
    return Thresholds.from_table(table, f"{config_path}: [discrepancies]")
