"""The DPA: one line per mak that packages plan on, lines no package procures, and the
budget seeds (RUP above DPA, RUP without DPA, not procured by Q3)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING

from estate import names
from estate.builder.draw import day_between, money
from estate.builder.packages import new_package
from estate.model import EstateBudgetLine, EstateSubActivity

if TYPE_CHECKING:
    from estate.builder.year import YearBuilder


def dpa_number(year: YearBuilder, opd_code: str) -> str:
    index = next(i for i, o in enumerate(year.r.opds) if o.code == opd_code)
    return f"DPA/A.1/{opd_code}/{index + 1:03d}/{year.fy}"


def budget(year: YearBuilder) -> None:
    rng, ry = year.rng, year.ry
    by_mak: dict[tuple[str, str], int] = defaultdict(int)
    for p in ry.packages:
        by_mak[(p.sa_code, p.account)] += p.pagu
    lines_by_sa: dict[str, list[EstateBudgetLine]] = defaultdict(list)
    for (sa_code, account_code), total in by_mak.items():
        amount = math.ceil(total * 1000 / rng.randint(750, 970) / 1000) * 1000
        line = EstateBudgetLine(
            sa_code,
            account_code,
            names.ACCOUNT_BY_CODE[account_code].name,
            amount,
            dpa_number(year, year.sa_by_code[sa_code].opd_code),
        )
        lines_by_sa[sa_code].append(line)
    for sa in ry.sub_activities:
        for account in rng.sample(names.NON_PROCURABLE, rng.randint(1, 2)):
            lines_by_sa[sa.code].append(
                EstateBudgetLine(
                    sa.code,
                    account.code,
                    account.name,
                    money(rng, 5_000_000, 300_000_000),
                    dpa_number(year, sa.opd_code),
                )
            )
    for sa in ry.sub_activities:
        ry.budget_lines.extend(lines_by_sa[sa.code])
    # RUP_ABOVE_DPA: the DPA line is cut below what SiRUP plans on its mak.
    procured = [line for line in ry.budget_lines if (line.sa_code, line.account) in by_mak]
    for line in rng.sample(procured, year.k["RUP_ABOVE_DPA"]):
        total = by_mak[(line.sa_code, line.account)]
        line.amount = total * rng.randint(80, 95) // 100 // 1000 * 1000
        year.seed("RUP_ABOVE_DPA", f"{year.r.region}/{year.fy}/{line.sa_code}.{line.account}.")
    year.procured_lines = {(line.sa_code, line.account) for line in procured}
    # NOT_PROCURED_BY_Q3: a capital line with no package, or one announced after Q3.
    capital = [a for a in names.ACCOUNTS if a.code.startswith("5.2")]
    for n, (sa, account) in enumerate(free_accounts(year, capital, "NOT_PROCURED_BY_Q3")):
        line = EstateBudgetLine(
            sa.code,
            account.code,
            account.name,
            money(rng, 200_000_000, 2_000_000_000),
            dpa_number(year, sa.opd_code),
        )
        ry.budget_lines.append(line)
        if n % 2:
            p = new_package(year, sa, "E-Purchasing")
            p.account, p.category = account.code, account.categories[0]
            p.pagu = line.amount * rng.randint(60, 90) // 100 // 1000 * 1000
            last = min(date(year.fy, 11, 20), year.cutoff - timedelta(days=5))
            p.announced_on = day_between(rng, date(year.fy, 10, 1), last)
            p.role = "NOT_PROCURED_BY_Q3"
            ry.packages.append(p)
        year.seed("NOT_PROCURED_BY_Q3", f"{year.sa_key(sa.code)}/{account.code}")
    # RUP_WITHOUT_DPA: a package on an account the sub-activity has no DPA line for.
    goods = names.OPERATING_GOODS + names.CAPITAL_GOODS
    for sa, account in free_accounts(year, goods, "RUP_WITHOUT_DPA"):
        p = new_package(year, sa, "E-Purchasing")
        p.account, p.category = account.code, account.categories[0]
        p.announced_on = day_between(rng, date(year.fy, 2, 1), date(year.fy, 8, 31))
        p.role = "RUP_WITHOUT_DPA"
        ry.packages.append(p)
        year.seed("RUP_WITHOUT_DPA", str(p.rup_code))


def free_accounts(
    year: YearBuilder, accounts: list[names.Account], code: str
) -> list[tuple[EstateSubActivity, names.Account]]:
    """`k[code]` distinct sub-activities, each with an account it has no DPA line for."""
    rng = year.rng
    have: dict[str, set[str]] = defaultdict(set)
    for line in year.ry.budget_lines:
        have[line.sa_code].add(line.account)
    out: list[tuple[EstateSubActivity, names.Account]] = []
    for sa in rng.sample(year.ry.sub_activities, len(year.ry.sub_activities)):
        if len(out) == year.k[code]:
            break
        free = [a for a in accounts if a.code not in have[sa.code]]
        if free:
            out.append((sa, rng.choice(free)))
    return out
