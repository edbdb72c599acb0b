"""When a source's scheduled reconciliation runs: the `reconcile_every` and `reconcile_at`
keys of its `[source]` table, read and checked, and the next time they name."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

DEFAULT_EVERY = 6 * 3600.0
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(value: Any) -> float | bool | None:
    """Seconds (≥ 60), "90m", "6h", "1d", or "never" (None); False when it is none of these."""
    if value == "never":
        return None
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return float(value) if value >= 60 else False
    match = DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        return False
    seconds = float(match.group(1)) * UNITS[match.group(2)]
    return seconds if seconds >= 60 else False


def reconcile_schedule(
    source: dict[str, Any],
) -> tuple[float | None, str | None, list[tuple[str, str]]]:
    """(seconds between two runs or None, local "HH:MM" or None, problems as (key, reason)).
    Neither key: every 6 hours. Both None: never."""
    every_value = source.get("reconcile_every")
    at_value = source.get("reconcile_at")
    wrong: list[tuple[str, str]] = []
    if every_value is not None and at_value is not None:
        wrong.append(("reconcile_at", "give reconcile_every or reconcile_at, not both"))
    if at_value is not None:
        if at_value == "never":
            return None, None, wrong
        if not isinstance(at_value, str) or not CLOCK.match(at_value):
            reason = 'reconcile_at must be a local time "HH:MM" (e.g. "02:00") or "never"'
            return DEFAULT_EVERY, None, [*wrong, ("reconcile_at", reason)]
        return None, at_value, wrong
    if every_value is None:
        return DEFAULT_EVERY, None, wrong
    seconds = parse_interval(every_value)
    if seconds is False:
        reason = 'reconcile_every must be seconds ≥ 60, a duration ("6h", "30m", "1d") or "never"'
        return DEFAULT_EVERY, None, [*wrong, ("reconcile_every", reason)]
    return (None if seconds is None else float(seconds)), None, wrong


def next_run(
    last: datetime | None, now: datetime, every: float | None, at: str | None
) -> datetime | None:
    """When the next reconciliation is due (`now` and `last` aware, in the hub's local time
    zone for `at`): `every` seconds after `last`; the first `at` after `last`; None: never.
    A source never reconciled is due `every` after `now` (its first sync read it all)."""
    if at is not None:
        match = CLOCK.match(at)
        assert match is not None
        since = last or now
        due = since.replace(
            hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0
        )
        if due <= since:
            due += timedelta(days=1)
        return due
    if every is None:
        return None
    return (last or now) + timedelta(seconds=every)
