"""The chain's tables: plan (Pemda, OPD, program, kegiatan, sub kegiatan, indicators),
budget (DPA lines, payments), procurement (RUP packages, tenders, bids, contracts, vendors)
and monev (progress reports).

Identity is natural (ARCHITECTURE.md §3): every synced table carries a unique natural key
and provenance columns (source, source key, the source's own updated-at, synced-at).
Surrogate integer ids exist for joins and global ids only.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Column, Index, Numeric, String, UniqueConstraint
from sqlmodel import Field

from hub.store.models.columns import PERCENT, Synced, fk, money, pk


class RegionRow(Synced, table=True):
    """Pemda: a province (provinsi) or a regency/city (kabupaten/kota)."""

    __tablename__ = "region"

    id: int | None = pk()
    code: str = Field(sa_column=Column(String(8), nullable=False, unique=True))
    name: str
    level: str = Field(sa_column=Column(String(10), nullable=False))  # PROVINCE REGENCY CITY
    parent_code: str | None = Field(default=None, sa_column=Column(String(8)))
    parent_id: int | None = fk("region.id", nullable=True, ondelete="SET NULL")


class OpdRow(Synced, table=True):
    """Organisasi Perangkat Daerah (OPD / SKPD / satker), identified by (region, code)."""

    __tablename__ = "opd"
    __table_args__ = (UniqueConstraint("region_id", "code"),)

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    code: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    name: str


class ProgramRow(Synced, table=True):
    """Program of the yearly nomenclature (Permendagri 90/2019)."""

    __tablename__ = "program"
    __table_args__ = (UniqueConstraint("region_id", "fiscal_year", "code"),)

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    fiscal_year: int
    code: str = Field(sa_column=Column(String(16), nullable=False))
    name: str


class ActivityRow(Synced, table=True):
    """Kegiatan."""

    __tablename__ = "activity"
    __table_args__ = (UniqueConstraint("region_id", "fiscal_year", "code"),)

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    program_id: int = fk("program.id", ondelete="RESTRICT")
    fiscal_year: int
    code: str = Field(sa_column=Column(String(20), nullable=False))
    name: str


class SubActivityRow(Synced, table=True):
    """Sub kegiatan: every chain hangs from one. Keyed on (region, fiscal year, code)."""

    __tablename__ = "sub_activity"
    __table_args__ = (
        UniqueConstraint("region_id", "fiscal_year", "code"),
        Index("ix_sub_activity_fiscal_year_code_id", "fiscal_year", "code", "id"),
    )

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    opd_id: int = fk("opd.id", ondelete="RESTRICT")
    activity_id: int = fk("activity.id", ondelete="RESTRICT")
    fiscal_year: int
    code: str = Field(sa_column=Column(String(24), nullable=False))
    name: str
    planned_amount: Decimal | None = money(nullable=True)  # pagu indikatif


class IndicatorRow(Synced, table=True):
    """Indikator kinerja of a sub-activity, with target and realisation (capaian)."""

    __tablename__ = "indicator"
    __table_args__ = (UniqueConstraint("region_id", "fiscal_year", "sub_activity_code", "seq"),)

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    fiscal_year: int
    sub_activity_code: str = Field(sa_column=Column(String(24), nullable=False))
    sub_activity_id: int | None = fk("sub_activity.id", nullable=True, ondelete="SET NULL")
    seq: int
    description: str
    unit: str | None = None
    target: Decimal | None = Field(default=None, sa_column=Column(Numeric(20, 4)))
    achieved: Decimal | None = Field(default=None, sa_column=Column(Numeric(20, 4)))


class BudgetLineRow(Synced, table=True):
    """A DPA line: (sub-activity, kode rekening, amount)."""

    __tablename__ = "budget_line"
    __table_args__ = (
        UniqueConstraint("region_id", "fiscal_year", "sub_activity_code", "account_code"),
    )

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    fiscal_year: int
    sub_activity_code: str = Field(sa_column=Column(String(24), nullable=False))
    # Null while no sub kegiatan has the code (BUDGET_WITHOUT_PLAN).
    sub_activity_id: int | None = fk("sub_activity.id", nullable=True, ondelete="SET NULL")
    account_code: str = Field(sa_column=Column(String(24), nullable=False, index=True))
    account_name: str | None = None
    amount: Decimal = money()
    dpa_number: str | None = None
    # The OPD (kd_skpd) when the source gives it: a line without its sub kegiatan still
    # counts in that OPD's summary (ChainSummary.unlinkedAllocated).
    opd_code: str | None = Field(default=None, sa_column=Column(String(40)))


class VendorRow(Synced, table=True):
    """Penyedia. Keyed on NPWP when known, else on the normalised name."""

    __tablename__ = "vendor"

    id: int | None = pk()
    vendor_key: str = Field(sa_column=Column(String(120), nullable=False, unique=True))
    name: str
    tax_id: str | None = Field(default=None, sa_column=Column(String(20), index=True))  # NPWP


class ProcurementPackageRow(Synced, table=True):
    """Paket RUP (SiRUP); kd_rup is unique within SiRUP."""

    __tablename__ = "procurement_package"

    id: int | None = pk()
    rup_code: str = Field(sa_column=Column(String(20), nullable=False, unique=True))
    region_id: int = fk("region.id", ondelete="RESTRICT")
    opd_code: str | None = Field(default=None, sa_column=Column(String(40)))
    opd_id: int | None = fk("opd.id", nullable=True, ondelete="SET NULL")
    # The sub kegiatan of its lowest `mak` whose sub kegiatan exists; null until one does.
    sub_activity_id: int | None = fk("sub_activity.id", nullable=True, ondelete="SET NULL")
    fiscal_year: int
    name: str
    method: str  # metode_pengadaan
    category: str | None = None  # jenis_pengadaan
    ceiling: Decimal = money()  # pagu
    funding_source: str | None = None  # sumber_dana
    announced_on: date | None = None


class PackageBudgetRow(Synced, table=True):
    """A RUP package's budget row; `mak` = sub-activity code + account code + '.'."""

    __tablename__ = "package_budget_row"
    __table_args__ = (UniqueConstraint("rup_code", "mak"),)

    id: int | None = pk()
    rup_code: str = Field(sa_column=Column(String(20), nullable=False))
    package_id: int | None = fk("procurement_package.id", nullable=True, ondelete="SET NULL")
    mak: str = Field(sa_column=Column(String(48), nullable=False, index=True))
    sub_activity_code: str
    account_code: str
    amount: Decimal = money()
    budget_line_id: int | None = fk("budget_line.id", nullable=True, ondelete="SET NULL")


class TenderRow(Synced, table=True):
    """SPSE tender or non-tender; kd_tender is unique within SPSE."""

    __tablename__ = "tender"

    id: int | None = pk()
    code: str = Field(sa_column=Column(String(24), nullable=False, unique=True))
    region_id: int = fk("region.id", ondelete="RESTRICT")
    name: str
    method: str  # mtd_pemilihan
    owner_estimate: Decimal | None = money(nullable=True)  # HPS
    ceiling: Decimal | None = money(nullable=True)  # pagu
    status: str  # status_tender
    version: int = 1  # versi_tender
    announced_on: date | None = None
    winner_vendor_id: int | None = fk("vendor.id", nullable=True, ondelete="SET NULL")


class TenderPackageRow(Synced, table=True):
    """Which RUP packages a tender covers (many to many)."""

    __tablename__ = "tender_package"
    __table_args__ = (UniqueConstraint("tender_code", "rup_code"),)

    id: int | None = pk()
    tender_code: str = Field(sa_column=Column(String(24), nullable=False))
    rup_code: str = Field(sa_column=Column(String(20), nullable=False))
    tender_id: int | None = fk("tender.id", nullable=True, ondelete="SET NULL")
    # Null while SiRUP has no package with the code (TENDER_WITHOUT_RUP).
    package_id: int | None = fk("procurement_package.id", nullable=True, ondelete="SET NULL")


class PackageVersionRow(Synced, table=True):
    """Versi paket RUP: SiRUP's history of a package (its pagu per version, draft or
    announced), kept by code; PUBLISHED_VALUE_CHANGED reads it."""

    __tablename__ = "package_version"
    __table_args__ = (UniqueConstraint("rup_code", "version"),)

    id: int | None = pk()
    rup_code: str = Field(sa_column=Column(String(20), nullable=False, index=True))
    version: int
    ceiling: Decimal | None = money(nullable=True)
    status: str | None = None
    version_date: date | None = None


class TenderScheduleRow(Synced, table=True):
    """Jadwal tender: one stage of an SPSE tender's schedule (e.g. "Upload Dokumen
    Penawaran", which closes the bid window), kept by code; SHORT_BID_WINDOW reads it."""

    __tablename__ = "tender_schedule"
    __table_args__ = (UniqueConstraint("tender_code", "stage"),)

    id: int | None = pk()
    tender_code: str = Field(sa_column=Column(String(24), nullable=False, index=True))
    stage: str
    starts_on: date | None = None
    ends_on: date | None = None


class BidRow(Synced, table=True):
    """Penawaran: one bidder's offer in a tender."""

    __tablename__ = "bid"
    __table_args__ = (UniqueConstraint("tender_code", "vendor_id"),)

    id: int | None = pk()
    tender_code: str = Field(sa_column=Column(String(24), nullable=False))
    tender_id: int | None = fk("tender.id", nullable=True, ondelete="SET NULL")
    vendor_id: int = fk("vendor.id", ondelete="RESTRICT")
    amount: Decimal | None = money(nullable=True)  # nilai_penawaran
    corrected_amount: Decimal | None = money(nullable=True)  # nilai_terkoreksi
    is_winner: bool = False


class ContractRow(Synced, table=True):
    """Kontrak (eKontrak). `value` is the current value, after addenda."""

    __tablename__ = "contract"
    __table_args__ = (UniqueConstraint("region_id", "number"),)

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    number: str  # no_kontrak
    # Indexed: the rules look up a tender's contracts by its code (SLOW_AWARD, the
    # contracts of a Pemda-year's tenders).
    tender_code: str | None = Field(default=None, sa_column=Column(String(24), index=True))
    tender_id: int | None = fk("tender.id", nullable=True, ondelete="SET NULL")
    # The sub-activity the contract is counted against (its tender's first package's).
    sub_activity_id: int | None = fk("sub_activity.id", nullable=True, ondelete="SET NULL")
    vendor_id: int | None = fk("vendor.id", nullable=True, ondelete="SET NULL")
    signed_on: date | None = None
    value: Decimal = money()
    original_value: Decimal | None = money(nullable=True)
    starts_on: date | None = None
    ends_on: date | None = None


class ContractAmendmentRow(Synced, table=True):
    """Addendum kontrak."""

    __tablename__ = "contract_amendment"
    __table_args__ = (UniqueConstraint("region_id", "contract_number", "version"),)

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    contract_number: str
    contract_id: int | None = fk("contract.id", nullable=True, ondelete="SET NULL")
    version: int
    value: Decimal = money()
    reason: str | None = None
    signed_on: date | None = None


class PaymentRow(Synced, table=True):
    """SP2D: a disbursement order, keyed on (region, fiscal year, SP2D number)."""

    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("region_id", "fiscal_year", "sp2d_number"),)

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    fiscal_year: int
    sp2d_number: str
    paid_on: date
    amount: Decimal = money()
    kind: str | None = None  # jenis: LS, UP, GU, TU
    account_code: str | None = None
    sub_activity_code: str | None = Field(default=None, sa_column=Column(String(24)))
    sub_activity_id: int | None = fk("sub_activity.id", nullable=True, ondelete="SET NULL")
    contract_number: str | None = None
    contract_id: int | None = fk("contract.id", nullable=True, ondelete="SET NULL")
    payee_vendor_id: int | None = fk("vendor.id", nullable=True, ondelete="SET NULL")
    payee_name: str | None = None
    payee_tax_id: str | None = None
    opd_code: str | None = Field(default=None, sa_column=Column(String(40)))  # as budget_line


class ProgressReportRow(Synced, table=True):
    """e-Monev realisation of a sub-activity for a month or a quarter."""

    __tablename__ = "progress_report"
    __table_args__ = (UniqueConstraint("region_id", "fiscal_year", "sub_activity_code", "period"),)

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    fiscal_year: int
    sub_activity_code: str = Field(sa_column=Column(String(24), nullable=False))
    sub_activity_id: int | None = fk("sub_activity.id", nullable=True, ondelete="SET NULL")
    period: str = Field(sa_column=Column(String(10), nullable=False))  # 2025-Q2 or 2025-06
    physical_percent: Decimal = Field(sa_column=Column(PERCENT, nullable=False))
    financial_percent: Decimal = Field(sa_column=Column(PERCENT, nullable=False))
    problems: str | None = None  # permasalahan
