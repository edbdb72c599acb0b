"""SP2D payments (contract terms, E-Purchasing, bills, GU and UP), and the contract seeds
they and the progress reports carry."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from estate import rules
from estate.builder.draw import day_between, money, tenths
from estate.builder.tenders import amend
from estate.model import EstateContract, EstatePayment, EstateTender

if TYPE_CHECKING:
    from estate.builder.year import YearBuilder


PLN = (  # the payee of the electricity bills (Dikecualikan packages)
    "PT. PLN (Persero) UP3 Kupang",
    "013330836092000",
)


def contract_roles(year: YearBuilder) -> None:
    rng, ry = year.rng, year.ry
    packages = {p.rup_code: p for p in ry.packages}
    pool = [
        (t, t.contract)
        for t in ry.tenders
        if t.contract is not None and t.role is None and len(t.rup_codes) == 1
    ]
    rng.shuffle(pool)

    def take(ok: str | None = None) -> tuple[EstateTender, EstateContract]:
        for i, (t, c) in enumerate(pool):
            sa = packages[t.rup_codes[0]].sa_code
            if sa in year.special_sas:
                continue
            if ok == "payable" and c.starts_on + timedelta(days=25) > year.cutoff:
                continue
            if ok == "before" and (
                (c.ends_on - c.starts_on).days < 20
                or c.starts_on + timedelta(days=12) > year.cutoff
            ):
                continue
            return pool.pop(i)
        raise RuntimeError(f"estate {year.r.region}/{year.fy}: too few contracts to seed")

    for _ in range(year.k["PAID_AHEAD_OF_PROGRESS"]):
        t, c = take("payable")
        sa = packages[t.rup_codes[0]].sa_code
        year.special_sas.add(sa)
        year.latest[sa] = tenths(rng, 46, 49.5)
        year.contract_role[c.number] = "PAID_AHEAD_OF_PROGRESS"
        year.seed("PAID_AHEAD_OF_PROGRESS", f"{year.r.region}/{c.number}")
    for _ in range(year.k["PAYMENT_BEFORE_HANDOVER"]):
        t, c = take("before")
        # Its sub-activity keeps normal progress: no other seed may lower it.
        year.special_sas.add(packages[t.rup_codes[0]].sa_code)
        year.contract_role[c.number] = "PAYMENT_BEFORE_HANDOVER"
        year.seed("PAYMENT_BEFORE_HANDOVER", f"{year.r.region}/{c.number}")
    for _ in range(year.k["AMENDMENT_ABOVE_10_PERCENT"]):
        _, c = take()
        amend(year, c, rng.randint(1150, 1300), versions=rng.randint(1, 2))
        year.contract_role[c.number] = "AMENDMENT_ABOVE_10_PERCENT"
        year.seed("AMENDMENT_ABOVE_10_PERCENT", f"{year.r.region}/{c.number}")
    year.payee_pool = [c for _, c in pool]
    # Sub-activities behind schedule: none of the above.
    reporting = [
        sa.code
        for sa in ry.sub_activities
        if sa.in_plan and sa.has_budget and sa.code not in year.special_sas
    ]
    for code in rng.sample(reporting, year.k["PROGRESS_BEHIND_SCHEDULE"]):
        year.special_sas.add(code)
        year.latest[code] = Decimal(-1)  # marker: behind schedule
        year.seed("PROGRESS_BEHIND_SCHEDULE", year.sa_key(code))


def payments(year: YearBuilder) -> None:
    rng, ry = year.rng, year.ry
    packages = {p.rup_code: p for p in ry.packages}
    raw: list[EstatePayment] = []

    def pay(day: date, amount: int, kind: str, **fields: str | None) -> None:
        raw.append(
            EstatePayment(
                "",
                day,
                amount,
                kind,
                fields.get("account"),
                fields.get("sa_code"),
                fields.get("contract_number"),
                fields.get("payee_name") or "",
                fields.get("payee_npwp"),
            )
        )

    for t in ry.tenders:
        c = t.contract
        if c is None:
            continue
        linked = [packages[code] for code in t.rup_codes]
        p = linked[0]
        progress = [year.latest[g.sa_code] for g in linked if g.sa_code in year.latest]
        physical = min(progress) if progress else Decimal(60)
        role = year.contract_role.get(c.number)
        for day, amount in contract_payments(year, c, physical, role):
            pay(
                day,
                amount,
                "LS",
                account=p.account,
                sa_code=p.sa_code,
                contract_number=c.number,
                payee_name=c.vendor.name,
                payee_npwp=c.vendor.npwp,
            )
    for p in ry.packages:
        day = p.announced_on + timedelta(days=rng.randint(20, 60))
        if p.method == "E-Purchasing" and day <= year.cutoff and p.role != "RUP_WITHOUT_DPA":
            vendor = rng.choice(year.r.vendors)
            pay(
                day,
                p.pagu * rng.randint(85, 100) // 100,
                "LS",
                account=p.account,
                sa_code=p.sa_code,
                payee_name=vendor.name,
                payee_npwp=vendor.npwp,
            )
        elif p.method == "Dikecualikan":
            for month in sorted(rng.sample(range(2, 12), 2)):
                day = date(year.fy, month, rng.randint(5, 25))
                if day <= year.cutoff:
                    pay(
                        day,
                        p.pagu * rng.randint(20, 45) // 100,
                        "LS",
                        account=p.account,
                        sa_code=p.sa_code,
                        payee_name=PLN[0],
                        payee_npwp=PLN[1],
                    )
    procured = year.procured_lines
    for line in ry.budget_lines:
        if (line.sa_code, line.account) in procured or line.account.startswith("5.2"):
            continue
        opd = year.opd_by_code[year.sa_by_code[line.sa_code].opd_code]
        share = rng.randint(10, 40)
        for _ in range(rng.randint(1, 3)):
            pay(
                day_between(rng, date(year.fy, 2, 1), year.cutoff),
                line.amount * share // 100 // 1000 * 1000,
                "GU",
                account=line.account,
                sa_code=line.sa_code,
                payee_name=f"Bendahara Pengeluaran {opd.name}",
            )
    for opd in year.r.opds:
        pay(
            date(year.fy, 1, rng.randint(10, 31)),
            money(rng, 50_000_000, 500_000_000),
            "UP",
            payee_name=f"Bendahara Pengeluaran {opd.name}",
        )
    raw.sort(key=lambda p: (p.paid_on, p.kind, p.amount))
    for n, payment in enumerate(raw, start=1):
        payment.number = f"{n:05d}/SP2D/{payment.kind}/{year.fy}"
    ry.payments = raw


def contract_payments(
    year: YearBuilder, c: EstateContract, physical: Decimal, role: str | None
) -> list[tuple[date, int]]:
    rng = year.rng
    total = c.effective_value
    first = c.starts_on + timedelta(days=10)
    if first > year.cutoff:
        return []
    if role == "PAID_AHEAD_OF_PROGRESS":
        paid = total * rng.randint(91, 99) // 100
        part = paid * rng.randint(30, 60) // 100
        days = sorted(day_between(rng, first, year.cutoff) for _ in range(2))
        return [(days[0], part), (days[1], paid - part)]
    if role == "PAYMENT_BEFORE_HANDOVER":
        last = min(c.ends_on - timedelta(days=1), year.cutoff)
        part = total * rng.randint(20, 50) // 100
        days = sorted(day_between(rng, first, last) for _ in range(2))
        return [(days[0], part), (days[1], total - part)]
    final = c.ends_on + timedelta(days=5)
    if physical >= 80 and final <= year.cutoff:
        out: list[tuple[date, int]] = []
        paid = 0
        if first < c.ends_on:
            for _ in range(rng.randint(0, 2)):
                amount = total * rng.randint(15, 35) // 100
                out.append((day_between(rng, first, c.ends_on - timedelta(days=1)), amount))
                paid += amount
        last = min(final + timedelta(days=20), year.cutoff)
        out.append((day_between(rng, final, last), total - paid))
        return out
    share = min(Decimal("0.85"), physical / 100 * rng.randint(50, 100) / 100)
    paid = int(total * share)
    if paid < 1_000_000:
        return []
    last = min(year.cutoff, c.ends_on + timedelta(days=30))
    if rng.random() < 0.5:
        return [(day_between(rng, first, last), paid)]
    part = paid * rng.randint(30, 70) // 100
    days = sorted(day_between(rng, first, last) for _ in range(2))
    return [(days[0], part), (days[1], paid - part)]


def payee_not_winner(year: YearBuilder) -> None:
    rng = year.rng
    by_contract: dict[str, list[EstatePayment]] = defaultdict(list)
    for p in year.ry.payments:
        if p.contract_number:
            by_contract[p.contract_number].append(p)
    pool = [c for c in year.payee_pool if by_contract.get(c.number)]
    for c in rng.sample(pool, year.k["PAYEE_NOT_WINNER"]):
        payment = rng.choice(by_contract[c.number])
        other = rng.choice([v for v in year.r.vendors if v.npwp != c.vendor.npwp])
        payment.payee_name, payment.payee_npwp = other.name, other.npwp
        year.seed("PAYEE_NOT_WINNER", f"{year.r.region}/{year.fy}/{payment.number}")


def handovers(year: YearBuilder) -> None:
    """HANDOVER_WITHOUT_LETTER: contracts paid in full whose BAST letter the e-office never
    got, though their end date is more than the grace before the estate's day. Drawn from a
    generator of its own (`rules.OWN_DRAW_SEEDS`); the only rule that reads the BAST's
    existence. PAYMENT_BEFORE_HANDOVER and the agenda fall back on the end date, the day the
    BAST would have had, so every other finding stays as it was."""
    code = "HANDOVER_WITHOUT_LETTER"
    rng = year.own_rng(code)
    ry = year.ry
    assert ry.as_of is not None
    paid: dict[str, int] = defaultdict(int)
    for p in ry.payments:
        if p.contract_number:
            paid[p.contract_number] += p.amount
    grace = timedelta(days=rules.HANDOVER_GRACE_DAYS)
    contracts = sorted(
        (
            c
            for c in ry.contracts
            if paid[c.number] >= c.effective_value and c.ends_on + grace < ry.as_of
        ),
        key=lambda c: c.number,
    )
    lo, hi = year.r.plan.seeds
    for c in rng.sample(contracts, min(rng.randint(lo, hi), len(contracts))):
        c.handover_letter = False
        year.seed(code, f"{year.r.region}/{c.number}")
