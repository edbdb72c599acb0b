"""e-Monev Form A: each sub kegiatan's physical and financial progress per quarter, and the
quarters some OPD never reported (MONEV_REPORT_LATE)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from estate import names, rules
from estate.builder.draw import tenths
from estate.model import EstateProgress

if TYPE_CHECKING:
    from estate.builder.year import YearBuilder


def progress(year: YearBuilder) -> None:
    rng, ry = year.rng, year.ry
    last_q = 4 if year.closed else 3
    for sa in ry.sub_activities:
        if not (sa.in_plan and sa.has_budget):
            continue
        marker = year.latest.get(sa.code)
        quarters = last_q
        if marker is None:
            q1 = tenths(rng, 5, 25)
            q2 = tenths(rng, max(20, float(q1)), 50)
            q3 = tenths(rng, 50, 85)
            values = [q1, q2, q3, tenths(rng, 85, 100)]
        elif marker < 0 and year.closed:  # behind at Q4, on schedule before
            q4 = tenths(rng, 50, 74.9)
            q3 = tenths(rng, 45, min(65, float(q4)))
            q2 = tenths(rng, 15, min(35, float(q3)))
            values = [tenths(rng, 2, min(10, float(q2))), q2, q3, q4]
        elif marker < 0:  # behind at Q3 of the running year
            q3 = tenths(rng, 20, 40)
            q2 = tenths(rng, 15, float(q3))
            values = [tenths(rng, 2, min(10, float(q2))), q2, q3]
        else:  # paid ahead: reports stop at Q3, just under 50%
            quarters = 3
            q2 = tenths(rng, 15, 35)
            values = [tenths(rng, 2, 10), q2, marker]
        values = values[:quarters]
        year.latest[sa.code] = values[-1]
        for quarter, physical in enumerate(values, start=1):
            financial = (physical * rng.randint(60, 100) / 100).quantize(Decimal("0.1"))
            problem = rng.choice(names.PROBLEMS) if rng.random() < 0.12 else None
            ry.progress.append(
                EstateProgress(sa.code, sa.opd_code, quarter, physical, financial, problem)
            )


def missing_reports(year: YearBuilder) -> None:
    """MONEV_REPORT_LATE: OPD whose Form A of the first or second quarter never came (no
    sub kegiatan of theirs reports it), past its deadline on the estate's day. Every sub
    kegiatan reports at least to the third quarter, so its latest report, which the other
    rules and the simulator read, stays the same. Drawn from a generator of its own
    (`rules.OWN_DRAW_SEEDS`), after the rest of the year."""
    code = "MONEV_REPORT_LATE"
    rng = year.own_rng(code)
    ry = year.ry
    assert ry.as_of is not None
    opds = sorted({rep.opd_code for rep in ry.progress})
    lo, hi = year.r.plan.seeds
    for opd in rng.sample(opds, min(rng.randint(lo, hi), len(opds))):
        quarter = rng.randint(1, 2)
        month = quarter * 3
        if rules.form_a_due(year.fy, month) >= ry.as_of:
            continue
        ry.progress = [r for r in ry.progress if not (r.opd_code == opd and r.quarter == quarter)]
        year.seed(code, f"{year.r.region}/{year.fy}/{opd}/{year.fy}-{month:02d}")
