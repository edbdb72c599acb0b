"""OCP's red-flag indicators computed on compiled OCDS releases as cardinal's documentation
defines them (cardinal.readthedocs.io, "indicators"): R003, R018, R024, R025, R028, R058.

Why not cardinal itself: the PyPI package `ocdscardinal` (0.0.8) is a Python binding that
exposes only `coverage`; the `indicators` command is the Rust crate's command-line tool,
which needs crates.io to build or install, and this machine reaches only PyPI, Debian and
npm. tests/test_ocds.py runs `ocdscardinal.coverage` over the same file and this module for
the indicators, with cardinal's settings written out below.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Settings:
    """cardinal's settings file, as the hub's thresholds set them ([R003] threshold …)."""

    r003_threshold_days: int = 15  # [R003] threshold (cardinal's default)
    r018_methods: tuple[str, ...] = ("open", "selective")  # [R018] procurement_methods
    r024_threshold: float = 0.01  # [R024] threshold = close_bid_percent / 100
    r058_threshold: float = 0.25  # [R058] threshold = discounted_bid_percent / 100
    r025_threshold: float = 0.10  # [R025] threshold = unsuccessful_win_percent / 100
    r025_percentile: int = 75  # [R025] percentile (cardinal's default)


SUBMITTED = {"pending", "valid", "disqualified"}


def _days(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 86400


def _single_award(release: dict[str, Any]) -> dict[str, Any] | None:
    active = [a for a in release.get("awards", []) if a.get("status") == "active"]
    if len(active) != 1 or len(active[0].get("suppliers", [])) != 1:
        return None
    return active[0]


def _gap(release: dict[str, Any]) -> float | None:
    """(second-lowest valid bid − winning bid) / winning bid, under cardinal's exclusions."""
    award = _single_award(release)
    details = release.get("bids", {}).get("details", [])
    if award is None or any(len(b.get("tenderers", [])) != 1 for b in details):
        return None
    winner_id = award["suppliers"][0]["id"]
    valid = [b for b in details if b.get("status") == "valid" and "value" in b]
    won = [b["value"]["amount"] for b in valid if b["tenderers"][0]["id"] == winner_id]
    others = sorted(b["value"]["amount"] for b in valid if b["tenderers"][0]["id"] != winner_id)
    if len(won) != 1 or not others or won[0] <= 0 or min(others) < won[0]:
        return None  # the winning bid is not the lowest
    return float((others[0] - won[0]) / won[0])


def process_flags(releases: list[dict[str, Any]], s: Settings) -> dict[str, set[str]]:
    """R003, R018, R024, R028, R058: the ocids each flags."""
    flags: dict[str, set[str]] = defaultdict(set)
    for r in releases:
        tender = r.get("tender", {})
        method = tender.get("procurementMethod")
        period = tender.get("tenderPeriod", {})
        dated = method == "open" and period.get("startDate") and period.get("endDate")
        if dated and _days(period["startDate"], period["endDate"]) < s.r003_threshold_days:
            flags["R003"].add(r["ocid"])
        details = r.get("bids", {}).get("details", [])
        submitted = [b for b in details if b.get("status") in SUBMITTED]
        tenderers = {t["id"] for b in submitted for t in b.get("tenderers", [])}
        if method in s.r018_methods and len(tenderers) == 1:
            flags["R018"].add(r["ocid"])
        gap = _gap(r)
        if gap is not None and gap <= s.r024_threshold:
            flags["R024"].add(r["ocid"])
        if gap is not None and gap >= s.r058_threshold:
            flags["R058"].add(r["ocid"])
        prices: dict[Any, set[str]] = defaultdict(set)
        for b in submitted:
            if "value" in b:
                prices[b["value"]["amount"]].update(t["id"] for t in b.get("tenderers", []))
        if any(len(ids) > 1 for ids in prices.values()):
            flags["R028"].add(r["ocid"])
    return flags


def tenderer_flags(releases: list[dict[str, Any]], s: Settings) -> set[str]:
    """R025: tenderers (party ids) whose valid bids reach the percentile of all tenderers'
    and whose share of wins is at most the threshold."""
    valid: dict[str, int] = defaultdict(int)
    wins: dict[str, int] = defaultdict(int)
    for r in releases:
        award = _single_award(r)
        details = r.get("bids", {}).get("details", [])
        if award is None or any(len(b.get("tenderers", [])) != 1 for b in details):
            continue
        winner = award["suppliers"][0]["id"]
        for b in details:
            if b.get("status") == "valid":
                who = b["tenderers"][0]["id"]
                valid[who] += 1
                wins[who] += who == winner
    if len(valid) < 2:
        return set()
    fence = statistics.quantiles(valid.values(), n=100, method="inclusive")[s.r025_percentile - 1]
    return {t for t, n in valid.items() if n >= fence and wins[t] / n <= s.r025_threshold}
