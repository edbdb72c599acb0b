"""SPSE: a tender for each package that goes to SPSE, its schedule, bids and contract, the
addenda, and tenders SiRUP does not know (TENDER_WITHOUT_RUP)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING

from estate import names, rules
from estate.builder.draw import day_between, money
from estate.builder.packages import CONSOLIDATED, TENDER_ROLES
from estate.model import (
    EstateAmendment,
    EstateBid,
    EstateContract,
    EstatePackage,
    EstateTender,
    EstateVendor,
)

if TYPE_CHECKING:
    from estate.builder.year import YearBuilder


# The methods SPSE runs: packages of the others (E-Purchasing, Dikecualikan) get no tender.
SPSE_METHODS = ("Tender", "Seleksi", "Penunjukan Langsung", "Pengadaan Langsung")


def tenders(year: YearBuilder) -> None:
    ry = year.ry
    twins: dict[str, list[EstatePackage]] = defaultdict(list)
    for p in ry.packages:
        if p.role == CONSOLIDATED:
            twins[p.sa_code + p.account].append(p)
    done: set[int] = set()
    for p in list(ry.packages):
        if p.rup_code in done:
            continue
        spse = "Pengadaan Langsung" if p.role == "METHOD_DEVIATION" else p.method
        if spse not in SPSE_METHODS:
            continue
        group = twins[p.sa_code + p.account] if p.role == CONSOLIDATED else [p]
        done.update(g.rup_code for g in group)
        ry.tenders.append(tender(year, group, spse))
    for _ in range(year.k["TENDER_WITHOUT_RUP"]):
        ry.tenders.append(off_plan_tender(year))
    serial_losers(year)


def tender(year: YearBuilder, group: list[EstatePackage], method: str) -> EstateTender:
    rng, p = year.rng, group[0]
    role = p.role if p.role in TENDER_ROLES else None
    pagu = sum(g.pagu for g in group)
    hps = pagu * rng.randint(900, 990) // 1000 // 1000 * 1000
    competitive = method in ("Tender", "Seleksi")
    if competitive:
        lag = rng.randint(7, 30) if role else rng.randint(7, 45)
    else:
        lag = rng.randint(3, 20)
    announced = p.announced_on + timedelta(days=lag)
    closes = None
    if competitive:
        window = rng.randint(5, 12) if role == "SHORT_BID_WINDOW" else rng.randint(16, 30)
        closes = announced + timedelta(days=window)
        signed = closes + timedelta(days=rng.randint(5, 25))
        if role == "SLOW_AWARD":
            signed = announced + timedelta(days=rng.randint(75, 100))
    else:
        signed = announced + timedelta(days=rng.randint(5, 20))
    t = EstateTender(
        code=year.next_tender(),
        name=p.name.removesuffix(" Paket I") if len(group) > 1 else p.name,
        method=method,
        hps=hps,
        pagu=pagu,
        status="Selesai",
        version=2 if role == "RETENDER" else 1,
        announced_on=announced,
        bid_closes_on=closes,
        rup_codes=[g.rup_code for g in group],
        role=role or (CONSOLIDATED if len(group) > 1 else None),
    )
    if role == "TENDER_BEFORE_RUP":
        p.announced_on = announced + timedelta(days=rng.randint(3, 20))
        year.seed(role, str(t.code))
    elif role == "RETENDER" or role == "SHORT_BID_WINDOW" or role == "SLOW_AWARD":
        year.seed(role, str(t.code))
    elif p.role == "METHOD_DEVIATION":
        t.role = "METHOD_DEVIATION"
        year.seed("METHOD_DEVIATION", str(t.code))
    failed = competitive and role is None and rng.random() < 0.03
    if signed > year.cutoff or failed:
        t.status = "Gagal" if failed else "Berlangsung"
        t.bids = bids(year, t, None, None)
        return t
    if role == "CONTRACT_ABOVE_OWNER_ESTIMATE":
        value = hps * rng.randint(1010, 1060) // 1000 // 100 * 100
    elif role == "CONTRACT_NEAR_OWNER_ESTIMATE":
        value = hps - rng.randint(0, hps // 100 // 100) * 100
    elif role == "HEAVILY_DISCOUNTED_BID":  # far under HPS, and under every other bid
        value = hps * rng.randint(650, 720) // 1000 // 100 * 100
    else:
        value = hps * rng.randint(880, 980) // 1000 // 100 * 100
    winner = year.rng.choice(year.r.vendors)
    t.bids = bids(year, t, winner, value)
    year.contract_seq += 1
    opd = year.opd_by_code[p.opd_code]
    kind = "KONTRAK" if competitive else "SPK"
    starts = signed + timedelta(days=rng.randint(0, 7))
    length = rng.randint(60, 150) if p.category == "Pekerjaan Konstruksi" else rng.randint(14, 90)
    ends = min(starts + timedelta(days=length), date(year.fy, 12, 20))
    ends = max(ends, starts + timedelta(days=7))
    t.contract = EstateContract(
        f"{year.contract_seq:04d}/{kind}/{opd.short}/{year.fy}",
        t.code,
        winner,
        value,
        signed,
        starts,
        ends,
    )
    if role in ("CONTRACT_ABOVE_OWNER_ESTIMATE", "CONTRACT_NEAR_OWNER_ESTIMATE"):
        year.seed(role, f"{year.r.region}/{t.contract.number}")
    if role in (
        "SINGLE_BIDDER",
        "IDENTICAL_BIDS",
        "WINNER_NOT_LOWEST",
        "WINNER_CLOSE_TO_SECOND",
        "HEAVILY_DISCOUNTED_BID",
    ):
        year.seed(role, str(t.code))
    if rng.random() < 0.08:
        amend(year, t.contract, rng.randint(950, 1080))
    return t


def amend(year: YearBuilder, c: EstateContract, per_mille: int, versions: int = 1) -> None:
    mid = c.starts_on + (c.ends_on - c.starts_on) / 2
    signed = min(mid, year.cutoff)
    c.amendments = []
    for version in range(1, versions + 1):
        step = per_mille if version == versions else 1000 + (per_mille - 1000) // 3
        c.amendments.append(
            EstateAmendment(
                version,
                c.value * step // 1000 // 1000 * 1000,
                "Pekerjaan tambah kurang (CCO)" if step > 1000 else "Perubahan volume",
                min(signed + timedelta(days=version * 5), year.cutoff),
            )
        )


def bids(
    year: YearBuilder, t: EstateTender, winner: EstateVendor | None, value: int | None
) -> list[EstateBid]:
    """The bidders of a tender; the winner's corrected price is the contract value."""
    rng, role = year.rng, t.role
    hps = t.hps
    if t.method not in ("Tender", "Seleksi"):
        vendor = winner or rng.choice(year.r.vendors)
        amount = value if value is not None else hps * rng.randint(900, 980) // 1000
        return [EstateBid(vendor, amount, amount, winner is not None)]
    submitted = 1 if role == "SINGLE_BIDDER" else rng.randint(3 if role else 2, 5)
    registered = rng.randint(0, 6)
    others = [v for v in year.r.vendors if v is not winner]
    vendors = rng.sample(others, min(len(others), submitted + registered))
    reference = value if value is not None else hps * rng.randint(880, 980) // 1000
    used = {reference}

    def fresh(low: int, high: int) -> int:
        while True:
            amount = rng.randint(low // 100, max(low // 100, high // 100)) * 100
            if amount not in used:
                used.add(amount)
                return amount

    bids: list[EstateBid] = []
    if winner is not None:
        bids.append(EstateBid(winner, reference, reference, True))
    else:  # no award yet: the lowest bid is there, nobody is marked the winner
        bids.append(EstateBid(vendors.pop(), reference, reference, False))
    rest = submitted - 1
    # Other valid bids stay 2% to 17% above the winner's, so that neither
    # WINNER_CLOSE_TO_SECOND (≤ 1%) nor HEAVILY_DISCOUNTED_BID (≥ 25%) fires unseeded.
    above = reference * 102 // 100
    if role == "HEAVILY_DISCOUNTED_BID":  # and at least one valid bid that far above
        above = reference * 130 // 100
        far = fresh(above, above * 110 // 100)
        bids.append(EstateBid(vendors.pop(), far, far))
        rest -= 1
    if role == "WINNER_CLOSE_TO_SECOND":
        close = fresh(reference + 100, reference * 1005 // 1000)
        bids.append(EstateBid(vendors.pop(), close, close))
        rest -= 1
    if role == "IDENTICAL_BIDS":
        same = fresh(above, max(above, hps) * 103 // 100)
        bids += [EstateBid(vendors.pop(), same, same), EstateBid(vendors.pop(), same, same)]
        rest -= 2
    if role == "WINNER_NOT_LOWEST" or (
        t.method == "Seleksi" and winner is not None and rest > 0 and rng.random() < 0.3
    ):
        low = fresh(reference * 90 // 100, reference - 1000)
        bids.append(EstateBid(vendors.pop(), low, low))
        rest -= 1
    for _ in range(max(0, rest)):
        if rng.random() < 0.25:  # failed the administrative check: never corrected
            amount = fresh(reference * 85 // 100, reference * 105 // 100)
            bids.append(EstateBid(vendors.pop(), amount, None))
        else:
            amount = fresh(above, max(above + 2000, hps * 103 // 100))
            bids.append(EstateBid(vendors.pop(), amount, amount))
    for vendor in vendors[:registered]:
        bids.append(EstateBid(vendor, None, None))
    rng.shuffle(bids)
    return bids


def serial_losers(year: YearBuilder) -> None:
    """EXCESSIVE_UNSUCCESSFUL_BIDS: vendors that won least this year also bid, and lose,
    5–15% above the lowest valid bid of enough full tenders to reach ten valid bids with at
    most one win in ten. Tenders whose seed a new bid would change are left alone."""
    rng, ry = year.rng, year.ry
    keep = ("SINGLE_BIDDER", "HEAVILY_DISCOUNTED_BID")
    open_tenders = [
        t
        for t in ry.tenders
        if t.method in ("Tender", "Seleksi")
        and t.role not in keep
        and any(b.corrected is not None for b in t.bids)
    ]
    wins: dict[str, int] = {v.npwp: 0 for v in year.r.vendors}
    valid: dict[str, int] = {v.npwp: 0 for v in year.r.vendors}
    for t in ry.tenders:
        for b in t.bids:
            if b.corrected is not None:
                valid[b.vendor.npwp] += 1
                wins[b.vendor.npwp] += b.winner
    ranked = sorted(year.r.vendors, key=lambda v: (wins[v.npwp], v.npwp))
    for vendor in ranked[: year.k["EXCESSIVE_UNSUCCESSFUL_BIDS"]]:
        need = max(rules.UNSUCCESSFUL_MIN_BIDS, wins[vendor.npwp] * 10) - valid[vendor.npwp]
        free = [t for t in open_tenders if all(b.vendor is not vendor for b in t.bids)]
        if len(free) < need:
            continue
        for t in rng.sample(free, max(0, need)):
            low = min(b.corrected for b in t.bids if b.corrected is not None)
            used = {b.amount for b in t.bids}
            amount = low * rng.randint(1050, 1150) // 1000 // 100 * 100
            while amount in used:
                amount += 100
            t.bids.append(EstateBid(vendor, amount, amount))
        year.seed(
            "EXCESSIVE_UNSUCCESSFUL_BIDS", f"{year.r.region}/{year.fy}/{rules.digits(vendor.npwp)}"
        )


def off_plan_tender(year: YearBuilder) -> EstateTender:
    """TENDER_WITHOUT_RUP: no link, or a link to a RUP code SiRUP does not have."""
    rng = year.rng
    hps = money(rng, 500_000_000, 3_000_000_000)
    announced = day_between(rng, date(year.fy, 3, 1), date(year.fy, 9, 15))
    dangling = [] if rng.random() < 0.5 else [year.rup_seq + 400_000 + rng.randint(1, 9999)]
    t = EstateTender(
        code=year.next_tender(),
        name=f"Pembangunan {rng.choice(names.OBJECTS)}",
        method="Tender",
        hps=hps,
        pagu=hps * 100 // 95 // 1000 * 1000,
        status="Berlangsung",
        version=1,
        announced_on=announced,
        bid_closes_on=announced + timedelta(days=rng.randint(16, 30)),
        rup_codes=dangling,
        role="TENDER_WITHOUT_RUP",
    )
    t.bids = bids(year, t, None, None)
    year.seed("TENDER_WITHOUT_RUP", str(t.code))
    return t


def work_orders(year: YearBuilder) -> None:
    """WORK_STARTED_BEFORE_CONTRACT: contracts whose SPMK letter is dated before their
    signing. Drawn last, from a generator of its own (`rules.OWN_DRAW_SEEDS`), and read by
    no other rule, so every other seed and row stays as it was."""
    code = "WORK_STARTED_BEFORE_CONTRACT"
    rng = year.own_rng(code)
    lo, hi = year.r.plan.seeds
    contracts = sorted(
        (t.contract for t in year.ry.tenders if t.contract is not None), key=lambda c: c.number
    )
    for c in rng.sample(contracts, min(rng.randint(lo, hi), len(contracts))):
        c.spmk_on = c.signed_on - timedelta(days=rng.randint(1, 14))
        year.seed(code, f"{year.r.region}/{c.number}")
