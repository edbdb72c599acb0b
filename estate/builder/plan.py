"""The plan (e-planning): sub kegiatan with their programs and kegiatan, those only in the
plan or only in the DPA (family 1), and indicators."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from estate import names, nomenclature
from estate.builder.budget import dpa_number
from estate.builder.draw import money
from estate.model import (
    EstateActivity,
    EstateBudgetLine,
    EstateIndicator,
    EstateProgram,
    EstateSubActivity,
)

if TYPE_CHECKING:
    from estate.builder.year import YearBuilder


def plan_rows(year: YearBuilder) -> None:
    rng, ry = year.rng, year.ry
    programs: dict[str, EstateProgram] = {}
    activities: dict[str, EstateActivity] = {}
    for entry in year.r.catalogue:
        if rng.random() >= 0.94:
            continue
        opd = year.r.opds[entry.opd]
        if entry.program not in programs:
            programs[entry.program] = EstateProgram(
                entry.program, entry.program_name, year.unique_id(10_000, 99_999)
            )
        if entry.activity not in activities:
            activities[entry.activity] = EstateActivity(
                entry.activity, entry.activity_name, year.unique_id(100_000, 999_999)
            )
        internal = year.unique_id(1_000_000, 9_999_999)
        sa = EstateSubActivity(entry.code, entry.name, opd.code, internal)
        ry.sub_activities.append(sa)
        year.sa_by_code[sa.code] = sa
    ry.opds = list(year.r.opds)
    ry.programs = list(programs.values())
    ry.activities = list(activities.values())


def special_sub_activities(year: YearBuilder) -> None:
    """Sub-activities only in the plan, or only in the DPA (family 1)."""
    rng, ry = year.rng, year.ry
    anchors = rng.sample(
        ry.sub_activities, year.k["PLAN_WITHOUT_BUDGET"] + year.k["BUDGET_WITHOUT_PLAN"]
    )
    seq = 9000
    for n, anchor in enumerate(anchors):
        seq += rng.randint(1, 9)
        code = f"{anchor.code.rsplit('.', 1)[0]}.{seq:04d}"
        internal = year.unique_id(1_000_000, 9_999_999)
        name = f"{rng.choice(names.WORKS)} {rng.choice(names.OBJECTS)}"
        sa = EstateSubActivity(code, name, anchor.opd_code, internal)
        year.sa_by_code[code] = sa
        if n < year.k["PLAN_WITHOUT_BUDGET"]:
            sa.has_budget = False
            sa.planned = money(rng, 50_000_000, 1_000_000_000)
            year.seed("PLAN_WITHOUT_BUDGET", year.sa_key(code))
            if year.r.level_digit == 2 and year.fy >= nomenclature.FIRST_YEAR:
                # A code from 9001 up is in no nomenclature: a regency's plan row with one
                # is CODE_NOT_IN_NOMENCLATURE too (a province's codes are not checked).
                year.seed("CODE_NOT_IN_NOMENCLATURE", year.sa_key(code))
        else:
            sa.in_plan = False
            for account in rng.sample(names.NON_PROCURABLE, rng.randint(1, 2)):
                ry.budget_lines.append(
                    EstateBudgetLine(
                        code,
                        account.code,
                        account.name,
                        money(rng, 10_000_000, 400_000_000),
                        dpa_number(year, anchor.opd_code),
                    )
                )
            year.seed("BUDGET_WITHOUT_PLAN", year.sa_key(code))
        ry.sub_activities.append(sa)
    totals: dict[str, int] = defaultdict(int)
    for line in ry.budget_lines:
        totals[line.sa_code] += line.amount
    for sa in ry.sub_activities:
        if sa.has_budget:
            sa.planned = totals[sa.code] * rng.randint(90, 110) // 100 // 1000 * 1000


def indicators(year: YearBuilder) -> None:
    rng, ry = year.rng, year.ry
    for sa in ry.sub_activities:
        if not sa.in_plan:
            continue
        for seq in range(1, rng.randint(*year.r.plan.indicators) + 1):
            description, unit = rng.choice(names.INDICATORS)
            target = Decimal(100 if unit == "Persen" else rng.randint(1, 60))
            achieved = None
            if year.closed and sa.has_budget:
                achieved = (target * rng.randint(60, 120) / 100).quantize(Decimal("0.1"))
            ry.indicators.append(EstateIndicator(sa.code, seq, description, unit, target, achieved))
    measured = [i for i in ry.indicators if i.achieved is not None]
    for ind in rng.sample(measured, year.k["INDICATOR_BELOW_TARGET"]):
        ind.achieved = (ind.target * rng.randint(10, 40) / 100).quantize(Decimal("0.1"))
        year.seed("INDICATOR_BELOW_TARGET", f"{year.sa_key(ind.sa_code)}/{ind.seq}")
