"""The ketimpangan rules as the demo estate seeds them: codes, thresholds, and a checker.

`detect` evaluates every rule on one region and fiscal year of the in-memory estate, in
canonical terms (what the hub holds after a sync). The generator runs it after seeding and
refuses to write an estate whose findings differ from what it seeded, so the counts in the
manifest are exact. README.md states each trigger condition in words; keep both in step.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from estate import names, nomenclature
from estate.model import EstateContract, EstatePackage, EstatePayment, EstateTender, RegionYear

# DOMAIN.md family → rule codes
FAMILIES: dict[int, tuple[str, ...]] = {
    1: ("BUDGET_WITHOUT_PLAN", "PLAN_WITHOUT_BUDGET"),
    2: ("RUP_ABOVE_DPA", "RUP_WITHOUT_DPA"),
    3: ("TENDER_WITHOUT_RUP", "TENDER_BEFORE_RUP"),
    4: ("METHOD_DEVIATION",),
    5: ("CONTRACT_ABOVE_OWNER_ESTIMATE", "CONTRACT_NEAR_OWNER_ESTIMATE"),
    6: ("SINGLE_BIDDER",),
    7: (
        "IDENTICAL_BIDS",
        "WINNER_NOT_LOWEST",
        "WINNER_CLOSE_TO_SECOND",
        "HEAVILY_DISCOUNTED_BID",
        "EXCESSIVE_UNSUCCESSFUL_BIDS",
    ),
    8: ("RETENDER", "SLOW_AWARD", "SHORT_BID_WINDOW", "WORK_STARTED_BEFORE_CONTRACT"),
    9: ("SPLIT_PROCUREMENT",),
    10: ("AMENDMENT_ABOVE_10_PERCENT",),
    11: (
        "PAID_AHEAD_OF_PROGRESS",
        "PAYEE_NOT_WINNER",
        "PAYMENT_BEFORE_HANDOVER",
        "HANDOVER_WITHOUT_LETTER",
    ),
    12: (
        "NOT_PROCURED_BY_Q3",
        "PROGRESS_BEHIND_SCHEDULE",
        "INDICATOR_BELOW_TARGET",
        "MONEV_REPORT_LATE",
    ),
    13: ("PUBLISHED_VALUE_CHANGED",),
    14: ("CODE_NOT_IN_NOMENCLATURE",),  # not in DOMAIN.md: codes against the reference data
}
# Seeded with PLAN_WITHOUT_BUDGET's plan-only sub kegiatan of a regency or city, whose codes
# the nomenclature does not have (builder/plan.py); not drawn on its own.
DERIVED_SEEDS = frozenset({"CODE_NOT_IN_NOMENCLATURE"})
# Drawn from a random generator of their own, after the rest of the year is built: a rule
# added later leaves every other draw, and so the rest of the estate, as it was.
OWN_DRAW_SEEDS = frozenset(
    {"WORK_STARTED_BEFORE_CONTRACT", "HANDOVER_WITHOUT_LETTER", "MONEV_REPORT_LATE"}
)
RULES: tuple[str, ...] = tuple(code for codes in FAMILIES.values() for code in codes)

# Competitiveness of a selection method (METHOD_DEVIATION: SPSE rank < RUP rank).
METHOD_RANK = {
    "Tender": 3,
    "Seleksi": 3,
    "Tender Cepat": 3,
    "E-Purchasing": 2,
    "Pengadaan Langsung": 2,
    "Penunjukan Langsung": 1,
    "Dikecualikan": 0,
}
COMPETITIVE = ("Tender", "Seleksi", "Tender Cepat")  # SINGLE_BIDDER
PRICE_ONLY = ("Tender", "Tender Cepat")  # WINNER_NOT_LOWEST (Seleksi weighs quality)
WINDOWED = ("Tender", "Seleksi")  # SHORT_BID_WINDOW
NEAR_HPS_PERCENT = 99  # CONTRACT_NEAR_OWNER_ESTIMATE: 99% × HPS ≤ value ≤ HPS
SLOW_AWARD_DAYS = 70  # SLOW_AWARD: contract signed > 70 days after announcement
MIN_BID_WINDOW_DAYS = 15  # SHORT_BID_WINDOW: bid closing − announcement < 15 days
DIRECT_CEILING = 200_000_000  # Pengadaan Langsung ceiling (Perpres 12/2021), all categories
SPLIT_WINDOW_DAYS = 30
AMENDMENT_PERCENT = 110  # latest amendment value > 110% of the signed value
PAID_PERCENT = 90  # PAID_AHEAD_OF_PROGRESS: paid ≥ 90% of the effective value …
PROGRESS_PERCENT = Decimal(50)  # … while the latest physical progress < 50%
SCHEDULE = {1: Decimal(10), 2: Decimal(35), 3: Decimal(65), 4: Decimal(100)}  # S-curve
SCHEDULE_TOLERANCE = Decimal(20)  # behind: latest physical < SCHEDULE[q] − 20
INDICATOR_RATIO = Decimal("0.5")  # achieved < 50% of target
PUBLISHED = "Terumumkan"
# Bid prices against each other (price-only methods, the winner's the lowest valid bid):
CLOSE_BID_PERCENT = 1  # WINNER_CLOSE_TO_SECOND: second-lowest valid ≤ winner + 1%
DISCOUNTED_BID_PERCENT = 25  # HEAVILY_DISCOUNTED_BID: second-lowest valid ≥ winner + 25%
UNSUCCESSFUL_MIN_BIDS = 10  # EXCESSIVE_UNSUCCESSFUL_BIDS: ≥ 10 valid bids in a Pemda-year …
UNSUCCESSFUL_WIN_PERCENT = 10  # … of which ≤ 10% won
# The rules that compare with the estate's day (model.as_of, the hub's reference day):
HANDOVER_GRACE_DAYS = 30  # HANDOVER_WITHOUT_LETTER: paid, no BAST > 30 days after the end
MONEV_DEADLINE_DAY = 10  # MONEV_REPORT_LATE: a month's Form A is due on the 10th of the next


def q3_end(fiscal_year: int) -> date:
    return date(fiscal_year, 9, 30)


def form_a_due(fiscal_year: int, month: int) -> date:
    """The deadline of the e-Monev Form A of `month`: MONEV_DEADLINE_DAY of the next month."""
    return date(fiscal_year + month // 12, month % 12 + 1, MONEV_DEADLINE_DAY)


def digits(text: str | None) -> str:
    return re.sub(r"\D", "", text or "")


def detect(ry: RegionYear) -> dict[str, list[str]]:
    """Every rule's findings in one region and fiscal year, as sorted natural keys."""
    found: dict[str, set[str]] = {code: set() for code in RULES}
    r, fy = ry.region, ry.fiscal_year
    as_of = ry.as_of or ry.cutoff

    plan = {sa.code for sa in ry.sub_activities if sa.in_plan}
    budget = {line.sa_code for line in ry.budget_lines}
    found["BUDGET_WITHOUT_PLAN"] = {f"{r}/{fy}/{c}" for c in budget - plan}
    found["PLAN_WITHOUT_BUDGET"] = {f"{r}/{fy}/{c}" for c in plan - budget}
    if names.REGION_LEVELS[r] != "PROVINCE" and fy >= nomenclature.FIRST_YEAR:
        # The hub checks a regency's plan codes against the shipped regency/city annex.
        codes = plan | {p.code for p in ry.programs} | {a.code for a in ry.activities}
        known = nomenclature.regency_codes()
        found["CODE_NOT_IN_NOMENCLATURE"] = {f"{r}/{fy}/{c}" for c in codes - known}

    lines = {(line.sa_code, line.account): line for line in ry.budget_lines}
    by_mak: dict[tuple[str, str], int] = defaultdict(int)
    for p in ry.packages:
        by_mak[(p.sa_code, p.account)] += p.pagu
        if (p.sa_code, p.account) not in lines:
            found["RUP_WITHOUT_DPA"].add(str(p.rup_code))
        first = next((h for h in sorted(p.history) if h[2] == PUBLISHED), None)
        if first is not None and first[1] != p.pagu:
            found["PUBLISHED_VALUE_CHANGED"].add(str(p.rup_code))
    for (sa_code, account), total in by_mak.items():
        line = lines.get((sa_code, account))
        if line is not None and total > line.amount:
            found["RUP_ABOVE_DPA"].add(f"{r}/{fy}/{sa_code}.{account}.")

    packages = {p.rup_code: p for p in ry.packages}
    latest = _latest_progress(ry)
    by_contract: dict[str, list[EstatePayment]] = defaultdict(list)
    for pay in ry.payments:
        if pay.contract_number:
            by_contract[pay.contract_number].append(pay)
    contracts: dict[str, tuple[EstateContract, EstateTender]] = {}
    for t in ry.tenders:
        linked = [packages[c] for c in t.rup_codes if c in packages]
        _tender_rules(t, linked, found)
        c = t.contract
        if c is None:
            continue
        contracts[c.number] = (c, t)
        key = f"{r}/{c.number}"
        if c.value > t.hps:
            found["CONTRACT_ABOVE_OWNER_ESTIMATE"].add(key)
        elif c.value * 100 >= t.hps * NEAR_HPS_PERCENT:
            found["CONTRACT_NEAR_OWNER_ESTIMATE"].add(key)
        if (c.signed_on - t.announced_on).days > SLOW_AWARD_DAYS:
            found["SLOW_AWARD"].add(str(t.code))
        if (c.spmk_on or c.starts_on) < c.signed_on:  # the SPMK letter's day
            found["WORK_STARTED_BEFORE_CONTRACT"].add(key)
        if c.amendments and c.effective_value * 100 > c.value * AMENDMENT_PERCENT:
            found["AMENDMENT_ABOVE_10_PERCENT"].add(key)
        progress = [latest[g.sa_code] for g in linked if g.sa_code in latest]
        paid = by_contract.get(c.number, [])
        total = sum(pay.amount for pay in paid)
        if (
            progress
            and total * 100 >= c.effective_value * PAID_PERCENT
            and min(progress) < PROGRESS_PERCENT
        ):
            found["PAID_AHEAD_OF_PROGRESS"].add(key)
        running = 0
        for pay in sorted(paid, key=lambda x: (x.paid_on, x.number)):
            running += pay.amount
            if running >= c.effective_value:
                if pay.paid_on < c.ends_on:
                    found["PAYMENT_BEFORE_HANDOVER"].add(key)
                break
        bast = c.handover_letter and c.ends_on <= ry.cutoff  # the e-office has its BAST
        if (
            total >= c.effective_value
            and not bast
            and as_of > c.ends_on + timedelta(days=HANDOVER_GRACE_DAYS)
        ):
            found["HANDOVER_WITHOUT_LETTER"].add(key)
    for pay in ry.payments:
        if pay.contract_number in contracts:
            winner = contracts[pay.contract_number][0].vendor
            if digits(pay.payee_npwp) != digits(winner.npwp):
                found["PAYEE_NOT_WINNER"].add(f"{r}/{fy}/{pay.number}")

    found["EXCESSIVE_UNSUCCESSFUL_BIDS"] = {
        f"{r}/{fy}/{npwp}" for npwp in serial_losers(ry.tenders)
    }
    found["SPLIT_PROCUREMENT"] = {f"{r}/{fy}/{g}" for g in _split_groups(ry.packages)}

    procured: dict[tuple[str, str], bool] = defaultdict(bool)
    for p in ry.packages:
        if p.announced_on <= q3_end(fy):
            procured[(p.sa_code, p.account)] = True
    for line in ry.budget_lines:
        if line.account.startswith("5.2") and not procured[(line.sa_code, line.account)]:
            found["NOT_PROCURED_BY_Q3"].add(f"{r}/{fy}/{line.sa_code}/{line.account}")

    last_quarter: dict[str, int] = {}
    for rep in ry.progress:
        last_quarter[rep.sa_code] = max(last_quarter.get(rep.sa_code, 0), rep.quarter)
    for rep in ry.progress:
        if rep.quarter == last_quarter[rep.sa_code] and rep.physical < (
            SCHEDULE[rep.quarter] - SCHEDULE_TOLERANCE
        ):
            found["PROGRESS_BEHIND_SCHEDULE"].add(f"{r}/{fy}/{rep.sa_code}")

    for ind in ry.indicators:
        if (
            ind.achieved is not None
            and ind.target > 0
            and ind.achieved < ind.target * INDICATOR_RATIO
        ):
            found["INDICATOR_BELOW_TARGET"].add(f"{r}/{fy}/{ind.sa_code}/{ind.seq}")
    found["MONEV_REPORT_LATE"] = _late_reports(ry, as_of)
    return {code: sorted(keys) for code, keys in found.items()}


def _late_reports(ry: RegionYear, as_of: date) -> set[str]:
    """The OPD with a sub kegiatan in plan and in the DPA owe a Form A per month; the estate's
    reports are quarterly, so each owes the months that end a quarter, covered by the
    quarter's report of any of its sub kegiatan."""
    budget = {line.sa_code for line in ry.budget_lines}
    owing = {sa.opd_code for sa in ry.sub_activities if sa.in_plan and sa.code in budget}
    reported = {(rep.opd_code, rep.quarter) for rep in ry.progress}
    fy = ry.fiscal_year
    return {
        f"{ry.region}/{fy}/{opd}/{fy}-{month:02d}"
        for opd in owing
        for month in (3, 6, 9, 12)
        if as_of > form_a_due(fy, month) and (opd, month // 3) not in reported
    }


def _tender_rules(t: EstateTender, linked: list[EstatePackage], found: dict[str, set[str]]) -> None:
    code = str(t.code)
    if not linked:
        found["TENDER_WITHOUT_RUP"].add(code)
    if any(t.announced_on < p.announced_on for p in linked):
        found["TENDER_BEFORE_RUP"].add(code)
    if any(METHOD_RANK[t.method] < METHOD_RANK[p.method] for p in linked):
        found["METHOD_DEVIATION"].add(code)
    submitted = [(b.amount, b.vendor.npwp) for b in t.bids if b.amount is not None]
    if t.method in COMPETITIVE and len(submitted) == 1:
        found["SINGLE_BIDDER"].add(code)
    seen: dict[int, set[str]] = defaultdict(set)
    for amount, npwp in submitted:
        seen[amount].add(npwp)
    if any(len(vendors) > 1 for vendors in seen.values()):
        found["IDENTICAL_BIDS"].add(code)
    if t.method in PRICE_ONLY:
        winner = next((b for b in t.bids if b.winner and b.corrected is not None), None)
        valid = [b.corrected for b in t.bids if b.corrected is not None]
        if winner is not None and winner.corrected is not None and min(valid) < winner.corrected:
            found["WINNER_NOT_LOWEST"].add(code)
    gap = bid_gap(t)
    if gap is not None and t.method in PRICE_ONLY:
        if gap * 100 <= CLOSE_BID_PERCENT:
            found["WINNER_CLOSE_TO_SECOND"].add(code)
        if gap * 100 >= DISCOUNTED_BID_PERCENT:
            found["HEAVILY_DISCOUNTED_BID"].add(code)
    if t.version > 1:
        found["RETENDER"].add(code)
    if (
        t.method in WINDOWED
        and t.bid_closes_on is not None
        and (t.bid_closes_on - t.announced_on).days < MIN_BID_WINDOW_DAYS
    ):
        found["SHORT_BID_WINDOW"].add(code)


def _latest_progress(ry: RegionYear) -> dict[str, Decimal]:
    best: dict[str, tuple[int, Decimal]] = {}
    for rep in ry.progress:
        if rep.sa_code not in best or rep.quarter > best[rep.sa_code][0]:
            best[rep.sa_code] = (rep.quarter, rep.physical)
    return {code: value for code, (_, value) in best.items()}


def _split_groups(packages: Iterable[EstatePackage]) -> set[str]:
    """(OPD, account) groups holding a split: ≥2 Pengadaan Langsung packages each under the
    ceiling, announced within 30 days of each other, together over the ceiling."""
    groups: dict[tuple[str, str], list[tuple[date, int]]] = defaultdict(list)
    for p in packages:
        if p.method == "Pengadaan Langsung" and p.pagu < DIRECT_CEILING:
            groups[(p.opd_code, p.account)].append((p.announced_on, p.pagu))
    hits: set[str] = set()
    for (opd, account), items in groups.items():
        items.sort()
        for i, (start, _) in enumerate(items):
            window = [v for d, v in items[i:] if (d - start).days <= SPLIT_WINDOW_DAYS]
            if len(window) >= 2 and sum(window) > DIRECT_CEILING:
                hits.add(f"{opd}/{account}")
                break
    return hits


def window_fits(items: list[tuple[date, int]], day: date, pagu: int) -> bool:
    """Whether a Pengadaan Langsung package of `pagu` on `day` keeps every 30-day window of
    its (OPD, account) group at or under the ceiling (the generator's clean-data guard)."""
    trial = [*items, (day, pagu)]
    for anchor, _ in trial:
        total = sum(v for d, v in trial if 0 <= (d - anchor).days <= SPLIT_WINDOW_DAYS)
        if total > DIRECT_CEILING:
            return False
    return True


def bid_gap(t: EstateTender) -> Decimal | None:
    """(second-lowest valid bid − winner's) / winner's, when the tender's one winner offered
    the lowest valid price; None otherwise."""
    winners = [b for b in t.bids if b.winner]
    valid = sorted(b.corrected for b in t.bids if b.corrected is not None and not b.winner)
    if len(winners) != 1 or not valid:
        return None
    won = winners[0].corrected
    if won is None or won <= 0 or valid[0] < won:
        return None
    return Decimal(valid[0] - won) / Decimal(won)


def serial_losers(tenders: Iterable[EstateTender]) -> set[str]:
    """NPWP digits of the vendors with at least UNSUCCESSFUL_MIN_BIDS valid bids that won at
    most UNSUCCESSFUL_WIN_PERCENT of them."""
    valid: dict[str, int] = defaultdict(int)
    won: dict[str, int] = defaultdict(int)
    for t in tenders:
        for b in t.bids:
            if b.corrected is not None:
                valid[digits(b.vendor.npwp)] += 1
                won[digits(b.vendor.npwp)] += b.winner
    return {
        v
        for v, n in valid.items()
        if n >= UNSUCCESSFUL_MIN_BIDS and won[v] * 100 <= n * UNSUCCESSFUL_WIN_PERCENT
    }
