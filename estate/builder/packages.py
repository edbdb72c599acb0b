"""SiRUP packages: method, ceiling and announcement date of each, their version history, the
seeds that live on packages (split procurement, method deviation), and the packages whose
tenders will carry the tender seeds."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING

from estate import names, rules
from estate.builder.draw import day_between, money
from estate.model import EstatePackage, EstateSubActivity

if TYPE_CHECKING:
    from estate.builder.year import YearBuilder


# (RUP method, weight): most packages are E-Purchasing or Pengadaan Langsung (DOMAIN.md).
METHOD_WEIGHTS = [
    ("E-Purchasing", 240),
    ("Pengadaan Langsung", 60),
    ("Tender", 2),
    ("Seleksi", 1),
    ("Penunjukan Langsung", 1),
    ("Dikecualikan", 60),
]
# Rules seeded on a tender (its package is marked here) and on a contract.
TENDER_ROLES = (
    "CONTRACT_ABOVE_OWNER_ESTIMATE",
    "CONTRACT_NEAR_OWNER_ESTIMATE",
    "SINGLE_BIDDER",
    "IDENTICAL_BIDS",
    "WINNER_NOT_LOWEST",
    "WINNER_CLOSE_TO_SECOND",
    "HEAVILY_DISCOUNTED_BID",
    "RETENDER",
    "SLOW_AWARD",
    "SHORT_BID_WINDOW",
    "TENDER_BEFORE_RUP",
)
CONTRACT_ROLES = (
    "PAID_AHEAD_OF_PROGRESS",
    "PAYMENT_BEFORE_HANDOVER",
    "AMENDMENT_ABOVE_10_PERCENT",
    "PAYEE_NOT_WINNER",
)
CONSOLIDATED = "consolidated"  # a clean tender covering two RUP packages (not a rule)


def new_package(year: YearBuilder, sa: EstateSubActivity, method: str) -> EstatePackage:
    rng = year.rng
    opd = year.opd_by_code[sa.opd_code]
    if method == "Tender":
        account = rng.choice(names.CONSTRUCTION)
        pagu = money(rng, 400_000_000, 12_000_000_000)
    elif method == "Seleksi":
        account = rng.choice(names.CONSULTANCY)
        pagu = money(rng, 150_000_000, 2_000_000_000)
    elif method == "Penunjukan Langsung":
        account = rng.choice(names.SERVICES[:2] + names.CAPITAL_GOODS)
        pagu = money(rng, 100_000_000, 900_000_000)
    elif method == "Pengadaan Langsung":
        pool = names.OPERATING_GOODS + names.SERVICES[:3] + names.CAPITAL_GOODS
        account = rng.choice(pool)
        pagu = money(rng, 5_000_000, 150_000_000)
    elif method == "Dikecualikan":
        account = names.BILLS
        pagu = money(rng, 10_000_000, 500_000_000)
    else:
        account = rng.choice(names.OPERATING_GOODS + names.CAPITAL_GOODS)
        pagu = money(rng, 2_000_000, 800_000_000)
    category = account.categories[0]
    if method == "Dikecualikan":
        name = f"Pembayaran Tagihan Listrik {opd.name}"
    elif method == "E-Purchasing":
        name = f"Belanja {account.name.split('-')[-1].replace('Belanja ', '')} {opd.short}"
    else:
        name = f"{rng.choice(names.WORKS)} {rng.choice(names.OBJECTS)}"
    funding = "BLUD" if opd.short == "RSUD" else ("APBDP" if rng.random() < 0.08 else "APBD")
    return EstatePackage(
        year.next_rup(),
        opd.code,
        opd.name,
        sa.code,
        account.code,
        name,
        method,
        category,
        pagu,
        funding,
    )


def convert(year: YearBuilder, p: EstatePackage, method: str) -> None:
    sa = year.sa_by_code[p.sa_code]
    fresh = new_package(year, sa, method)
    p.method, p.account, p.category, p.pagu, p.name = (
        fresh.method,
        fresh.account,
        fresh.category,
        fresh.pagu,
        fresh.name,
    )


def packages(year: YearBuilder) -> None:
    rng, ry = year.rng, year.ry
    pool = [m for m, w in METHOD_WEIGHTS for _ in range(w)]
    mean_extra = max(0.1, year.r.plan.rup_per_sa - 1)
    for sa in ry.sub_activities:
        count = min(15, 1 + int(rng.expovariate(1 / mean_extra)))
        for _ in range(count):
            ry.packages.append(new_package(year, sa, rng.choice(pool)))
    # Enough full tenders and direct procurements to carry the seeds.
    need_tenders = sum(year.k[c] for c in TENDER_ROLES) + year.r.plan.clean_tenders
    need_direct = sum(year.k[c] for c in CONTRACT_ROLES) + year.k["METHOD_DEVIATION"] + 4
    epurchasing = [p for p in ry.packages if p.method == "E-Purchasing"]
    rng.shuffle(epurchasing)
    for method, need in (("Tender", need_tenders), ("Pengadaan Langsung", need_direct)):
        have = sum(1 for p in ry.packages if p.method == method)
        while have < need and epurchasing:
            convert(year, epurchasing.pop(), method)
            have += 1
    dates(year)
    split_seeds(year)
    consolidate(year)
    tender_roles(year)
    method_deviation(year)


def dates(year: YearBuilder) -> None:
    rng, fy = year.rng, year.fy
    groups: dict[tuple[str, str], list[tuple[date, int]]] = defaultdict(list)
    first, last = date(fy, 1, 5), date(fy, 8, 31)
    for p in year.ry.packages:
        if p.method != "Pengadaan Langsung":
            p.announced_on = day_between(rng, first, last)
            continue
        items = groups[(p.opd_code, p.account)]
        for _ in range(12):
            day = day_between(rng, first, last)
            if rules.window_fits(items, day, p.pagu):
                break
        else:
            p.method, p.category = "E-Purchasing", "Barang"
            p.account = rng.choice(names.OPERATING_GOODS).code
            p.announced_on = day_between(rng, first, last)
            continue
        p.announced_on = day
        items.append((day, p.pagu))


def split_seeds(year: YearBuilder) -> None:
    rng, ry = year.rng, year.ry
    used: set[tuple[str, str]] = set()
    planned = list(ry.sub_activities)
    for _ in range(year.k["SPLIT_PROCUREMENT"]):
        for _ in range(100):
            sa = rng.choice(planned)
            account = rng.choice(names.OPERATING_GOODS)
            if (sa.opd_code, account.code) not in used:
                break
        used.add((sa.opd_code, account.code))
        start = day_between(rng, date(year.fy, 2, 1), date(year.fy, 7, 31))
        work = rng.choice(["Pengadaan", "Penyediaan"])
        for part in range(3):
            p = new_package(year, sa, "Pengadaan Langsung")
            p.account, p.category = account.code, account.categories[0]
            p.pagu = rng.randint(75_000, 99_000) * 1000
            p.name = f"{work} {account.name.split('-')[-1]} Tahap {part + 1}"
            p.announced_on = start + timedelta(days=rng.randint(0, 14))
            p.role = "SPLIT_PROCUREMENT"
            ry.packages.append(p)
        year.seed("SPLIT_PROCUREMENT", f"{year.r.region}/{year.fy}/{sa.opd_code}/{account.code}")


def consolidate(year: YearBuilder) -> None:
    """A few tenders cover two packages of the same sub-activity (Paket I and II)."""
    tenders = [p for p in year.ry.packages if p.method == "Tender" and p.role is None]
    count = max(1, len(tenders) // 25)
    for p in year.rng.sample(tenders, min(count, len(tenders))):
        twin = new_package(year, year.sa_by_code[p.sa_code], "Tender")
        twin.account, twin.category = p.account, p.category
        twin.name = f"{p.name} Paket II"
        p.name = f"{p.name} Paket I"
        twin.announced_on = p.announced_on
        p.role = twin.role = CONSOLIDATED
        year.ry.packages.append(twin)


def tender_roles(year: YearBuilder) -> None:
    rng = year.rng
    clean = [p for p in year.ry.packages if p.method == "Tender" and p.role is None]
    rng.shuffle(clean)
    for code in TENDER_ROLES:
        for _ in range(year.k[code]):
            p = clean.pop()
            p.role = code
            # Early in the year, so late awards and moved RUP dates stay inside it.
            p.announced_on = day_between(rng, date(year.fy, 2, 1), date(year.fy, 4, 30))


def method_deviation(year: YearBuilder) -> None:
    direct = [p for p in year.ry.packages if p.method == "Pengadaan Langsung" and p.role is None]
    year.rng.shuffle(direct)
    for _ in range(year.k["METHOD_DEVIATION"]):
        p = direct.pop()
        p.role = "METHOD_DEVIATION"
        p.method = "Tender"  # the RUP says Tender; SPSE will run Pengadaan Langsung


def histories(year: YearBuilder) -> None:
    rng, ry = year.rng, year.ry
    published = rules.PUBLISHED
    plain = [p for p in ry.packages if p.method == "E-Purchasing" and p.role is None]
    changed = {p.rup_code for p in rng.sample(plain, year.k["PUBLISHED_VALUE_CHANGED"])}
    for p in ry.packages:
        day = p.announced_on
        later = min(day + timedelta(days=rng.randint(10, 60)), year.cutoff)
        if p.rup_code in changed:
            factor = rng.choice([rng.randint(70, 90), rng.randint(110, 130)])
            before = p.pagu * factor // 100 // 1000 * 1000
            p.history = [(1, before, published, day), (2, p.pagu, published, later)]
            year.seed("PUBLISHED_VALUE_CHANGED", str(p.rup_code))
            continue
        draw = rng.random()
        if draw < 0.1:
            draft = p.pagu * rng.randint(80, 120) // 100 // 1000 * 1000
            drafted = max(date(year.fy, 1, 2), day - timedelta(days=rng.randint(10, 40)))
            p.history = [(1, draft, "Draft", drafted), (2, p.pagu, published, day)]
        elif draw < 0.15:
            p.history = [(1, p.pagu, published, day), (2, p.pagu, published, later)]
        else:
            p.history = [(1, p.pagu, published, day)]
