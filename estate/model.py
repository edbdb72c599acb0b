"""The estate in memory, in canonical form (normalised codes, whole-rupiah amounts).

The generator builds one `RegionYear` per Pemda and fiscal year; the writers turn it into each
legacy system's own shape and the rule checker (`rules.py`) reads it to prove the seeded
discrepancies are exactly the ones present.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal


@dataclass(slots=True)
class EstateVendor:
    key: int  # kd_penyedia
    name: str
    npwp: str  # 15 digits


@dataclass(slots=True)
class EstateOpd:
    code: str
    name: str
    short: str
    id_skpd: int


@dataclass(slots=True)
class EstateProgram:
    code: str
    name: str
    internal_id: int


@dataclass(slots=True)
class EstateActivity:
    code: str
    name: str
    internal_id: int


@dataclass(slots=True)
class EstateSubActivity:
    code: str
    name: str
    opd_code: str
    internal_id: int  # id_sub_giat: changes every year
    planned: int = 0
    in_plan: bool = True  # False: only in the DPA (BUDGET_WITHOUT_PLAN)
    has_budget: bool = True  # False: only in the plan (PLAN_WITHOUT_BUDGET)


@dataclass(slots=True)
class EstateIndicator:
    sa_code: str
    seq: int
    description: str
    unit: str
    target: Decimal
    achieved: Decimal | None


@dataclass(slots=True)
class EstateBudgetLine:
    sa_code: str
    account: str
    account_name: str
    amount: int
    dpa_number: str


@dataclass(slots=True)
class EstatePackage:
    """A SiRUP package with one budget row (its `mak`)."""

    rup_code: int
    opd_code: str
    opd_name: str
    sa_code: str
    account: str
    name: str
    method: str
    category: str
    pagu: int
    funding: str
    announced_on: date = date(2000, 1, 1)
    # (versi, pagu, status_umumkan, date) — SiRUP's history of the package
    history: list[tuple[int, int, str, date]] = field(default_factory=list)
    role: str | None = None

    @property
    def mak(self) -> str:
        return f"{self.sa_code}.{self.account}."


@dataclass(slots=True)
class EstateBid:
    vendor: EstateVendor
    amount: int | None  # nilai_penawaran; None: registered, no bid submitted
    corrected: int | None  # nilai_terkoreksi; None: not evaluated (failed earlier)
    winner: bool = False


@dataclass(slots=True)
class EstateAmendment:
    version: int
    value: int
    reason: str
    signed_on: date


@dataclass(slots=True)
class EstateContract:
    number: str
    tender_code: int
    vendor: EstateVendor
    value: int
    signed_on: date
    starts_on: date
    ends_on: date
    amendments: list[EstateAmendment] = field(default_factory=list)
    # The SPMK letter's day when it is not the start day (WORK_STARTED_BEFORE_CONTRACT).
    spmk_on: date | None = None
    # False: the e-office has no BAST of it (HANDOVER_WITHOUT_LETTER).
    handover_letter: bool = True

    @property
    def effective_value(self) -> int:
        """The value of the latest amendment, else the signed value."""
        if self.amendments:
            return max(self.amendments, key=lambda a: a.version).value
        return self.value


@dataclass(slots=True)
class EstateTender:
    code: int
    name: str
    method: str
    hps: int
    pagu: int
    status: str
    version: int
    announced_on: date
    bid_closes_on: date | None  # end of "Upload Dokumen Penawaran"; None for non-tenders
    rup_codes: list[int]
    bids: list[EstateBid] = field(default_factory=list)
    contract: EstateContract | None = None
    role: str | None = None


@dataclass(slots=True)
class EstatePayment:
    number: str
    paid_on: date
    amount: int
    kind: str
    account: str | None
    sa_code: str | None
    contract_number: str | None
    payee_name: str
    payee_npwp: str | None


@dataclass(slots=True)
class EstateProgress:
    sa_code: str
    opd_code: str
    quarter: int
    physical: Decimal
    financial: Decimal
    problems: str | None


@dataclass
class RegionYear:
    region: str
    fiscal_year: int
    cutoff: date  # the last day the data covers
    as_of: date | None = None  # the day the whole estate stands on: its rules' reference day
    opds: list[EstateOpd] = field(default_factory=list)
    programs: list[EstateProgram] = field(default_factory=list)
    activities: list[EstateActivity] = field(default_factory=list)
    sub_activities: list[EstateSubActivity] = field(default_factory=list)
    indicators: list[EstateIndicator] = field(default_factory=list)
    budget_lines: list[EstateBudgetLine] = field(default_factory=list)
    packages: list[EstatePackage] = field(default_factory=list)
    tenders: list[EstateTender] = field(default_factory=list)
    payments: list[EstatePayment] = field(default_factory=list)
    progress: list[EstateProgress] = field(default_factory=list)
    # rule code → natural keys of the rows seeded to trigger it
    seeded: dict[str, list[str]] = field(default_factory=dict)

    @property
    def contracts(self) -> list[EstateContract]:
        return [t.contract for t in self.tenders if t.contract is not None]

    def seed(self, code: str, key: str) -> None:
        self.seeded.setdefault(code, []).append(key)


def as_of(fiscal_years: Iterable[int]) -> date:
    """The day the estate stands on: 28 November of its latest fiscal year (Q1–Q3 reported,
    the year not closed). The hub's rules take it as their reference day (rantai.toml)."""
    return date(max(fiscal_years), 11, 28)


def stamp(day: date, seconds: int) -> datetime:
    """A timestamp on `day`, `seconds` after 07:00 (office hours)."""
    return datetime(day.year, day.month, day.day, 7) + timedelta(seconds=seconds)
