"""E-Jadwal: the agenda the chain already knows, for a Pemda or one OPD and a span of days.

Five kinds of item, each with its date, OPD, the object it concerns and whether it is late
(the day is before the province's today, WITA, and what it waits for has not come):
- TENDER_STAGE: a stage of an SPSE tender's jadwal (on its last day); never late, SPSE
  keeps its own schedule;
- CONTRACT_END: a contract's end date; late without a BAST letter (E-Surat) by then;
- MONEV_DEADLINE: the e-Monev Form A of a month, due on `monev_deadline_day` of the next
  month; late while no report of the OPD covers that month (a monthly one, or its
  quarter's; of its sub kegiatan, or sent as its upload), as the rule MONEV_REPORT_LATE
  has it: an OPD that reports by quarter (no monthly report that year) is late only with
  the quarter's, on the months that end one;
- FOLLOW_UP_DUE: a follow-up's due date (tindak lanjut); late when overdue;
- DPA_MILESTONE: the end of each quarter of a fiscal year, by which an OPD should have paid
  its share of its DPA (`MILESTONES`); late when its SP2D fell short by then.
Rows are read through the viewer's scope (a tender, contract or follow-up it may not see
is not on its agenda); realisation and reports are aggregates per OPD, as summaries are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text

from hub.errors import BadUserInput
from hub.reference.clock import province_today
from hub.store import relations as rel
from hub.store.access import DataAccess
from hub.store.codec import global_id
from hub.store.models.followup import AWAITING_ANSWER
from resolvers.planning import opd_ids, region_and_children

T = rel.T
MAX_DAYS = 400  # a fiscal year and the Form A deadline of its last month
FIRST_YEAR, LAST_YEAR = 2000, 2100  # fiscal years the chain can hold
# Share of an OPD's DPA paid by the end of each quarter (an S-curve, as the physical
# progress rules expect).
MILESTONES = {3: Decimal(10), 6: Decimal(35), 9: Decimal(65), 12: Decimal(100)}
KINDS = ("TENDER_STAGE", "CONTRACT_END", "MONEV_DEADLINE", "FOLLOW_UP_DUE", "DPA_MILESTONE")


@dataclass(frozen=True)
class Item:
    kind: str
    on: date
    title: str
    late: bool
    region_code: str
    opd_id: int | None
    subject: str  # global id of what it concerns


def today() -> date:
    return province_today()


def _month_end(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)


async def agenda(
    access: DataAccess,
    region_code: str,
    opd_code: str | None,
    start: date,
    end: date,
    deadline_day: int,
) -> list[Item]:
    if end < start:
        raise BadUserInput("`to` is before `from`.", argument="to")
    for name, value in (("from", start), ("to", end)):
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise BadUserInput(
                f"`{name}` {value.isoformat()} is outside {FIRST_YEAR}–{LAST_YEAR}.",
                argument=name,
            )
    if (end - start).days > MAX_DAYS:
        raise BadUserInput(f"At most {MAX_DAYS} days at once.", argument="to")
    region, opd = T["region"], T["opd"]
    regions = region_and_children(region_code)
    opds = access.select(opd, opd.c.id, opd.c.code, opd.c.name, opd.c.region_id).where(
        opd.c.region_id.in_(regions)
    )
    if opd_code is not None:
        opds = opds.where(opd.c.id.in_(opd_ids(opd_code, region_code)))
    opd_rows = list(await access.all(opds))
    codes = {r.id: r for r in await access.all(select(region.c.id, region.c.code))}
    wanted = [r.id for r in opd_rows]
    items: list[Item] = []
    items += await _tender_stages(access, regions, wanted, opd_code, start, end, codes)
    items += await _contract_ends(access, regions, wanted, opd_code, start, end, codes)
    items += await _follow_ups(access, wanted, start, end, codes)
    items += await _monev(access, opd_rows, start, end, deadline_day, codes)
    items += await _milestones(access, opd_rows, start, end, codes)
    return sorted(items, key=lambda i: (i.on, KINDS.index(i.kind), i.subject))


def _first_opd(tender_code: Any) -> Any:
    link, package = T["tender_package"], T["procurement_package"]
    return (
        select(func.min(package.c.opd_id))
        .select_from(link.join(package, package.c.rup_code == link.c.rup_code))
        .where(link.c.tender_code == tender_code)
        .scalar_subquery()
    )


async def _tender_stages(
    access: DataAccess, regions: Any, opds: list[int], opd_code: str | None,
    start: date, end: date, codes: dict[int, Any],
) -> list[Item]:  # fmt: skip
    stage, tender = T["tender_schedule"], T["tender"]
    on = func.coalesce(stage.c.ends_on, stage.c.starts_on)
    owner = _first_opd(tender.c.code)
    stmt = access.restrict(
        select(
            tender.c.id,
            tender.c.code,
            tender.c.region_id,
            stage.c.stage,
            on.label("on"),
            owner.label("opd_id"),
        )
        .select_from(stage.join(tender, tender.c.code == stage.c.tender_code))
        .where(tender.c.region_id.in_(regions), on.between(start, end)),
        stage,
    )
    if opd_code is not None:
        stmt = stmt.where(owner.in_(opds))
    return [
        Item(
            "TENDER_STAGE",
            r.on,
            f"Tender {r.code}: {r.stage}",
            False,
            codes[r.region_id].code,
            r.opd_id,
            global_id("Tender", r.id),
        )
        for r in await access.all(stmt)
    ]


async def _contract_ends(
    access: DataAccess, regions: Any, opds: list[int], opd_code: str | None,
    start: date, end: date, codes: dict[int, Any],
) -> list[Item]:  # fmt: skip
    contract, sa, letter = T["contract"], T["sub_activity"], T["letter"]
    bast = (
        select(func.min(letter.c.dated_on))
        .where(letter.c.contract_id == contract.c.id, letter.c.kind == "BAST")
        .scalar_subquery()
    )
    owner = select(sa.c.opd_id).where(sa.c.id == contract.c.sub_activity_id).scalar_subquery()
    stmt = access.restrict(
        select(
            contract.c.id,
            contract.c.number,
            contract.c.region_id,
            contract.c.ends_on,
            bast.label("bast"),
            owner.label("opd_id"),
        ).where(contract.c.region_id.in_(regions), contract.c.ends_on.between(start, end)),
        contract,
    )
    if opd_code is not None:
        stmt = stmt.where(owner.in_(opds))
    now = today()
    return [
        Item(
            "CONTRACT_END",
            r.ends_on,
            f"Akhir kontrak {r.number}",
            r.ends_on < now and (r.bast is None or r.bast > r.ends_on),
            codes[r.region_id].code,
            r.opd_id,
            global_id("Contract", r.id),
        )
        for r in await access.all(stmt)
    ]


async def _follow_ups(
    access: DataAccess, opds: list[int], start: date, end: date, codes: dict[int, Any]
) -> list[Item]:
    f = T["follow_up"]
    stmt = access.restrict(
        select(f.c.id, f.c.region_id, f.c.opd_id, f.c.due_on, f.c.state).where(
            f.c.opd_id.in_(opds), f.c.due_on.between(start, end),
            f.c.state.in_(AWAITING_ANSWER),
        ),
        f,
    )  # fmt: skip
    now = today()
    return [
        Item(
            "FOLLOW_UP_DUE",
            r.due_on,
            "Batas jawaban tindak lanjut ketimpangan",
            r.due_on < now,
            codes[r.region_id].code,
            r.opd_id,
            global_id("DiscrepancyFollowUp", r.id),
        )
        for r in await access.all(stmt)
    ]


def _months(start: date, end: date, deadline_day: int) -> list[tuple[int, int, date]]:
    """(year, month, deadline) of the months whose Form A falls due within [start, end]."""
    out: list[tuple[int, int, date]] = []
    year, month = start.year, start.month - 1
    if month == 0:
        year, month = year - 1, 12
    while True:
        due = date(year + month // 12, month % 12 + 1, deadline_day)
        if due > end:
            return out
        if due >= start:
            out.append((year, month, due))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


async def _monev(
    access: DataAccess, opds: list[Any], start: date, end: date, deadline_day: int,
    codes: dict[int, Any],
) -> list[Item]:  # fmt: skip
    months = _months(start, end, deadline_day)
    if not opds or not months:
        return []
    covered: set[tuple[int, str]] = {
        (r.opd_id, r.period)
        for r in await access.aggregate(
            text("""SELECT s.opd_id, p.period FROM progress_report p
                    JOIN sub_activity s ON s.id = p.sub_activity_id
                    WHERE s.opd_id = ANY(:opds)
                    UNION
                    SELECT o.id, p.period FROM progress_report p
                    JOIN (SELECT DISTINCT source_id, region_code, opd_code FROM upload) u
                         ON u.source_id = p.source_id
                    JOIN region r ON r.code = u.region_code
                    JOIN opd o ON o.region_id = r.id AND o.code = u.opd_code
                    WHERE o.id = ANY(:opds)"""),
            {"opds": [o.id for o in opds]},
        )
    }
    monthly = {(opd, period[:4]) for opd, period in covered if "Q" not in period}
    now = today()
    items = []
    for year, month, due in months:
        periods = (f"{year}-{month:02d}", f"{year}-Q{(month - 1) // 3 + 1}")
        for o in opds:
            owed = month % 3 == 0 or (o.id, str(year)) in monthly
            missing = owed and not any((o.id, p) in covered for p in periods)
            items.append(
                Item(
                    "MONEV_DEADLINE",
                    due,
                    f"Laporan e-Monev Form A {periods[0]}",
                    due < now and missing,
                    codes[o.region_id].code,
                    o.id,
                    global_id("Opd", o.id),
                )
            )
    return items


async def _milestones(
    access: DataAccess, opds: list[Any], start: date, end: date, codes: dict[int, Any]
) -> list[Item]:
    ends = [
        (year, month, _month_end(year, month))
        for year in range(start.year, end.year + 1)
        for month in MILESTONES
        if start <= _month_end(year, month) <= end
    ]
    if not opds or not ends:
        return []
    rows = await access.aggregate(
        text("""SELECT s.opd_id, s.fiscal_year, q.q,
                   (SELECT COALESCE(sum(b.amount), 0) FROM budget_line b
                    WHERE b.sub_activity_id = ANY(array_agg(s.id))) AS allocated,
                   (SELECT COALESCE(sum(p.amount), 0) FROM payment p
                    WHERE p.sub_activity_id = ANY(array_agg(s.id)) AND p.paid_on <= q.q) AS paid
                FROM sub_activity s
                JOIN unnest(CAST(:ends AS date[])) AS q(q) ON extract(year FROM q.q) = s.fiscal_year
                WHERE s.opd_id = ANY(:opds) GROUP BY s.opd_id, s.fiscal_year, q.q"""),
        {"opds": [o.id for o in opds], "ends": [e[2] for e in ends]},
    )
    found = {(r.opd_id, r.q): r for r in rows}
    now = today()
    items = []
    for _, month, on in ends:
        share = MILESTONES[month]
        for o in opds:
            r = found.get((o.id, on))
            if r is None or not r.allocated:
                continue
            short = r.paid * 100 < r.allocated * share
            items.append(
                Item(
                    "DPA_MILESTONE",
                    on,
                    f"Target realisasi DPA triwulan {month // 3}: {share}% dari pagu",
                    on < now and short,
                    codes[o.region_id].code,
                    o.id,
                    global_id("Opd", o.id),
                )
            )
    return items
